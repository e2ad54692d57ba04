//! The JSON Schema (draft 2020-12) of result.json, generated from the [`RunResult`] types so
//! it cannot drift from them; `docs/result.schema.json` is this output, checked by a test.

use super::RunResult;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// The JSON Schema of result.json as written (serialization contract): every object closed
/// (`additionalProperties: false`), every always-written field required, so a renamed or
/// dropped field fails validation.
pub fn result_schema() -> Value {
    let schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<RunResult>();
    let mut value = schema.to_value();
    close_objects(&mut value);
    value
}

/// The schema as the pretty-printed text committed in docs/result.schema.json.
pub fn result_schema_text() -> String {
    serde_json::to_string_pretty(&result_schema()).unwrap_or_default() + "\n"
}

/// Sets `additionalProperties: false` on every object schema that lists its properties and
/// says nothing about others; schemas composed with `allOf`/`oneOf`/`anyOf` (a flattened
/// tagged enum) get `unevaluatedProperties: false` instead, which sees through them.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let composed = ["allOf", "oneOf", "anyOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            let open = !map.contains_key("additionalProperties")
                && !map.contains_key("unevaluatedProperties");
            if open && map.contains_key("properties") {
                if composed {
                    map.insert("unevaluatedProperties".into(), Value::Bool(false));
                } else {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for (key, child) in map.iter_mut() {
                // Variants of a composition are checked by the parent's unevaluatedProperties.
                if matches!(key.as_str(), "allOf" | "oneOf" | "anyOf") && composed {
                    if let Value::Array(items) = child {
                        items.iter_mut().for_each(close_nested);
                    }
                } else {
                    close_objects(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Inside a composition: leave the variant itself open, close what it contains.
fn close_nested(v: &mut Value) {
    if let Value::Object(map) = v {
        for child in map.values_mut() {
            close_objects(child);
        }
    }
}
