//! Prints the JSON Schema of result.json; `docs/result.schema.json` is its output:
//! `cargo run --example result_schema > docs/result.schema.json`.

fn main() {
    print!("{}", breakerbox::report::schema::result_schema_text());
}
