use super::*;
use crate::config::data::{DataMode, DataSet};

fn render(t: &Template, captures: &[Option<String>]) -> Result<String, Missing> {
    let mut rng = Rng::new(1, 1);
    let mut out = String::new();
    let mut cx = Context {
        rng: &mut rng,
        vu: 7,
        iteration: 3,
        data: &[],
        rows: &[],
        captures,
    };
    t.render(&mut cx, &mut out).map(|()| out)
}

#[test]
fn renders_literals_and_random_ints_in_range() {
    let t =
        Template::parse_path("/api/item/{{random_int 3 5}}?x=1", &Names::EMPTY).expect("parses");
    let mut rng = Rng::new(1, 1);
    let mut out = String::new();
    for _ in 0..50 {
        t.render_plain(&mut rng, &mut out);
        let id: i64 = out["/api/item/".len()..out.len() - 4].parse().expect("int");
        assert!((3..=5).contains(&id), "{out}");
        assert!(out.ends_with("?x=1"));
    }
}

#[test]
fn random_strings_uuids_vu_and_iteration() {
    let t = Template::parse(
        "{{random_string 12}} {{uuid}} {{vu}}/{{iteration}}",
        Escape::None,
        &Names::EMPTY,
    )
    .expect("parses");
    let out = render(&t, &[]).expect("renders");
    let words: Vec<&str> = out.split(' ').collect();
    assert_eq!(words[0].len(), 12);
    assert!(words[0].bytes().all(|b| b.is_ascii_alphanumeric()), "{out}");
    let uuid = words[1];
    assert_eq!(uuid.len(), 36, "{uuid}");
    let groups: Vec<&str> = uuid.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(groups[2].starts_with('4'), "version 4: {uuid}");
    assert!("89ab".contains(&groups[3][..1]), "variant: {uuid}");
    assert_eq!(words[2], "7/3");
}

#[test]
fn captures_render_escaped_and_missing_ones_stop_rendering() {
    let captures = ["token".to_string(), "id".to_string()];
    let names = Names {
        data: &[],
        captures: &captures,
        env: &|name| (name == "API_KEY").then(|| "k y".to_string()),
    };
    let t = Template::parse("Bearer {{capture.token}}", Escape::None, &names).expect("ok");
    assert_eq!(
        render(&t, &[Some("a\"b".into()), None]).as_deref(),
        Ok("Bearer a\"b")
    );
    assert_eq!(render(&t, &[None, None]), Err(Missing::Capture(0)));
    let json = Template::parse("{\"t\":\"{{capture.token}}\"}", Escape::Json, &names).expect("ok");
    assert_eq!(
        render(&json, &[Some("a\"b\n".into()), None]).as_deref(),
        Ok("{\"t\":\"a\\\"b\\n\"}")
    );
    let path = Template::parse_path("/item/{{capture.id}}?k={{env.API_KEY}}", &names).expect("ok");
    assert_eq!(
        render(&path, &[None, Some("a b/c?".into())]).as_deref(),
        Ok("/item/a%20b/c%3F?k=k%20y")
    );
    let comp = Template::parse("{{capture.id}}", Escape::Component, &names).expect("ok");
    assert_eq!(
        render(&comp, &[None, Some("a b/c".into())]).as_deref(),
        Ok("a%20b%2Fc")
    );
}

#[test]
fn data_columns_render_from_the_current_row() {
    let set = Arc::new(
        DataSet::parse("users", DataMode::Sequential, "name,pass\nann,a1\nbob,b2\n").expect("csv"),
    );
    let data = [set];
    let names = Names {
        data: &data,
        captures: &[],
        env: &|_| None,
    };
    let t = Template::parse(
        "{{data.users.name}}:{{data.users.pass}}",
        Escape::None,
        &names,
    )
    .expect("ok");
    assert_eq!(t.data_sets().collect::<Vec<_>>(), [0, 0]);
    let mut rng = Rng::new(1, 1);
    let mut out = String::new();
    for (row, want) in [(Some(1), Ok("bob:b2")), (None, Err(Missing::Data(0)))] {
        out.clear();
        let rows = [row];
        let mut cx = Context {
            rng: &mut rng,
            vu: 1,
            iteration: 0,
            data: &data,
            rows: &rows,
            captures: &[],
        };
        assert_eq!(t.render(&mut cx, &mut out).map(|()| out.as_str()), want);
    }
    let err = |text: &str| {
        Template::parse(text, Escape::None, &names)
            .expect_err("bad")
            .message
    };
    assert!(err("{{data.users.mail}}").contains("no column \"mail\""));
    assert!(err("{{data.people.name}}").contains("unknown data set"));
    assert!(err("{{data.users}}").contains("a set and a column"));
}

#[test]
fn rejects_bad_placeholders_with_their_offset() {
    let err = |text: &str| Template::parse_path(text, &Names::EMPTY).expect_err("bad");
    assert!(err("api").message.contains("start with '/'"));
    assert!(err("/{{random_int 1}}").message.contains("two integers"));
    assert!(err("/{{random_int 5 1}}").message.contains("below"));
    let unknown = err("/a/{{uid}}");
    assert!(
        unknown.message.contains("unknown placeholder"),
        "{unknown:?}"
    );
    assert_eq!(unknown.offset, 3);
    assert!(err("/{{random_int 1 2").message.contains("unclosed"));
    assert!(err("/{{capture.x}}").message.contains("unknown capture"));
    let env = err("/{{vu}}{{env.BREAKERBOX_SURELY_UNSET}}");
    assert_eq!(env.offset, 7);
    assert!(env.message.contains("is not set"), "{env:?}");
    assert!(err("/{{random_string 0}}").message.contains("between 1"));
}

#[test]
fn literal_templates_are_recognised() {
    let t = Template::parse(
        "/a{{env.X}}b",
        Escape::Path,
        &Names {
            env: &|_| Some("x y".into()),
            ..Names::EMPTY
        },
    )
    .expect("ok");
    assert_eq!(t.as_literal(), Some("/ax%20yb"));
    assert!(Template::parse("{{vu}}", Escape::None, &Names::EMPTY)
        .expect("ok")
        .is_number());
}
