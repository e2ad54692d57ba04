use crate::config::*;

const PHASE: &str = "\n[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{ duration = \"1s\", target = 1 }]\n";

fn parse(file: &str, body: &str) -> Result<Drill, ConfigError> {
    let text = format!("target = \"http://127.0.0.1:1\"\n{body}{PHASE}");
    parse_drill(file, &text, &EmbeddedProfiles(&[]))
}

/// `line:col: message` of each problem of a drill whose first table starts on line 2.
fn problems(body: &str) -> Vec<String> {
    match parse("d.toml", body) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics()
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
    }
}

fn valid(body: &str) -> Drill {
    parse("d.toml", body).unwrap_or_else(|e| panic!("valid: {e}"))
}

fn render(t: &Template, captures: &[Option<String>]) -> String {
    let mut rng = crate::rng::Rng::new(1, 1);
    let mut out = String::new();
    let mut cx = template::Context {
        rng: &mut rng,
        vu: 1,
        iteration: 0,
        data: &[],
        rows: &[],
        captures,
    };
    t.render(&mut cx, &mut out).expect("renders");
    out
}

#[test]
fn a_plain_request_file_still_reads_as_before() {
    let d = valid(
        "[[requests]]\nname = \"item\"\npath = \"/api/item/{{random_int 1 9}}\"\nweight = 3\n",
    );
    let r = &d.requests[0];
    assert_eq!(
        (r.name.as_str(), r.weight, r.method.as_str()),
        ("item", 3, "GET")
    );
    assert!(r.headers.is_empty() && r.body.is_none() && r.captures.is_empty());
    assert!(r.follow_redirects && r.timeout.is_none() && r.checks.is_empty());
    assert!(d.journey.users.is_empty());
    assert_eq!(d.journey.user_types(&d.requests)[0].name, "default");
}

#[test]
fn query_headers_bodies_tags_and_options_are_read() {
    let d = valid(
        r#"[[requests]]
name = "search"
method = "post"
path = "/search?fixed=1"
query = { q = "a b", page = 2 }
headers = { "X-Trace" = "t-{{vu}}", accept = "application/json" }
form = { user = "ann&co", n = "{{iteration}}" }
tags = ["read", "api"]
timeout = "750ms"
follow_redirects = false
check = { status = [200, 201], body_contains = "ok", max_duration = "1s" }
"#,
    );
    let r = &d.requests[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(render(&r.path, &[]), "/search?fixed=1&page=2&q=a%20b");
    assert_eq!(r.headers.len(), 2);
    assert_eq!(r.headers[0].name, "x-trace");
    assert!(r.headers[0].fixed.is_none());
    assert_eq!(
        r.headers[1]
            .fixed
            .as_ref()
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/json")
    );
    let body = r.body.as_ref().expect("body");
    assert_eq!(render(&body.template, &[]), "n=0&user=ann%26co");
    assert_eq!(
        body.content_type.as_ref().map(|v| v.to_str().unwrap_or("")),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.tags, ["read", "api"]);
    assert_eq!(r.timeout, Some(Duration::from_millis(750)));
    assert!(!r.follow_redirects);
    assert_eq!(r.checks.status, [200, 201]);
    assert_eq!(r.checks.count(), 3);
}

#[test]
fn json_bodies_keep_types_and_numeric_placeholders_are_numbers() {
    let d = valid(
        r#"[[requests]]
name = "init"
method = "POST"
path = "/init"
json = { stock = 100, price = 2.5, open = true, name = "shop \"1\"", ids = [1, "{{random_int 5 5}}"], owner = { vu = "{{vu}}", tag = "v{{vu}}" } }
"#,
    );
    let body = d.requests[0].body.as_ref().expect("body");
    let text = render(&body.template, &[]);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        v,
        serde_json::json!({"stock": 100, "price": 2.5, "open": true, "name": "shop \"1\"",
            "ids": [1, 5], "owner": {"vu": 1, "tag": "v1"}})
    );
    assert!(body.fixed.is_none());
    let fixed = valid("[[requests]]\nname = \"a\"\npath = \"/\"\njson = { a = 1 }\n");
    assert_eq!(
        fixed.requests[0]
            .body
            .as_ref()
            .and_then(|b| b.fixed.clone()),
        Some(bytes::Bytes::from_static(b"{\"a\":1}"))
    );
}

#[test]
fn users_think_times_captures_and_setup_are_read() {
    let d = valid(
        r#"[[setup]]
name = "init"
method = "POST"
path = "/init"
capture = { shop = { json = "/shop" } }

[[requests]]
name = "login"
method = "POST"
path = "/login"
capture = { token = { json = "/token" }, sid = { header = "x-session" } }

[[requests]]
name = "me"
path = "/shops/{{capture.shop}}/me"
headers = { authorization = "Bearer {{capture.token}}" }

[[requests]]
name = "health"
path = "/health"
weight = 5

[[users]]
name = "member"
weight = 3
on_start = ["login"]
flow = ["me", "me"]
think_time = { min = "1s", max = "3s" }

[[users]]
name = "browser"
tasks = ["health", { request = "me", weight = 0 }, "login"]
think_time = { pacing = "5s" }

[[teardown]]
name = "reset"
method = "DELETE"
path = "/shops/{{capture.shop}}"
"#,
    );
    assert_eq!(d.journey.captures, ["shop", "sid", "token"]);
    let users = &d.journey.users;
    assert_eq!(users[0].on_start, [0]);
    assert_eq!(users[0].work, Work::Flow(vec![1, 1]));
    assert_eq!(
        users[0].think_time,
        Some(ThinkTime::Uniform {
            min: Duration::from_secs(1),
            max: Duration::from_secs(3)
        })
    );
    assert_eq!(users[1].weight, 1);
    assert_eq!(users[1].work, Work::Tasks(vec![(2, 5), (1, 0), (0, 1)]));
    assert_eq!(
        users[1].think_time,
        Some(ThinkTime::Pacing(Duration::from_secs(5)))
    );
    assert_eq!(
        d.journey.cells_used(&d.requests),
        2 + 3,
        "member: login, me; browser: 3"
    );
    assert_eq!(d.journey.setup[0].captures[0].slot, 0);
    assert_eq!(d.journey.teardown[0].reads_captures(), [0]);
    assert_eq!(d.requests[1].reads_captures(), [0, 2]);
}

#[test]
fn phase_think_times_take_three_forms() {
    let think = |value: &str| {
        let text = format!(
            "target = \"http://127.0.0.1:1\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstages = [{{ duration = \"1s\", target = 1 }}]\nthink_time = {value}\n"
        );
        match parse_drill("d.toml", &text, &EmbeddedProfiles(&[])) {
            Ok(d) => match &d.phases[0].load {
                LoadShape::RampingVus { think_time, .. } => Ok(*think_time),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        }
    };
    assert_eq!(
        think("\"1s\""),
        Ok(ThinkTime::Constant(Duration::from_secs(1)))
    );
    assert_eq!(
        think("{ min = \"100ms\", max = \"2s\" }"),
        Ok(ThinkTime::Uniform {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2)
        })
    );
    assert_eq!(
        think("{ pacing = \"3s\" }"),
        Ok(ThinkTime::Pacing(Duration::from_secs(3)))
    );
    let e = think("{ min = \"2s\", max = \"1s\" }").expect_err("bad");
    assert!(
        e.starts_with("d.toml:9:34: think_time max is below min"),
        "{e}"
    );
    let e = think("{ min = \"1s\" }").expect_err("bad");
    assert!(e.contains("both min and max"), "{e}");
    let e = think("5").expect_err("bad");
    assert!(e.starts_with("d.toml:9:14: "), "{e}");
}

#[test]
fn bad_journeys_are_reported_where_they_are() {
    let got = problems(
        r#"[[requests]]
name = "login"
path = "/login"
capture = { token = { json = "token" }, id = { regex = "id=(\\d+" }, x = { header = "a b" } }

[[requests]]
name = "view"
path = "/items/{{capture.item}}?t={{uid}}"
check = { body_pointer = "/a~2b", status = 700 }

[[users]]
name = "a"
weight = 0
flow = ["view", "nope"]
"#,
    );
    let want = [
        "5:56: bad regex: unclosed group",
        "5:30: \"token\" is not a JSON pointer: it starts with '/', e.g. \"/token\"",
        "5:85: \"a b\" is not a valid HTTP header name",
        "9:8: unknown capture \"item\": no request captures it (captured: id, token, x)",
        "10:44: status 700 is not an HTTP status (100-599)",
        "10:26: \"/a~2b\" is not a JSON pointer: '~' must be followed by 0 or 1 (~0 for '~', ~1 for '/')",
        "15:17: no request named \"nope\" (requests: login, view)",
        "14:10: the weights of [[users]] add up to 0: no virtual user would have a type",
    ];
    assert_eq!(got, want);
}

#[test]
fn captures_must_be_made_before_a_flow_uses_them() {
    let got = problems(
        r#"[[requests]]
name = "create"
method = "POST"
path = "/items"
capture = { id = { json = "/id" } }

[[requests]]
name = "view"
path = "/items/{{capture.id}}"

[[users]]
name = "writer"
flow = ["view", "create", "view"]

[[users]]
name = "reader"
tasks = ["view"]

[[teardown]]
name = "cleanup"
method = "DELETE"
path = "/items/{{capture.id}}"
"#,
    );
    let want = [
        "21:8: request \"cleanup\" uses capture \"id\", but no earlier teardown request captures it (teardown runs once, outside any virtual user)",
        "14:9: request \"view\" uses capture \"id\", but no earlier request in the flow of user \"writer\" (or its on_start, or setup) captures it",
        "18:10: request \"view\" uses capture \"id\", but no request of user \"reader\" (its tasks, on_start, or setup) captures it",
    ];
    assert_eq!(got, want);
}

#[test]
fn data_files_are_read_beside_the_drill() {
    let dir = std::env::temp_dir().join(format!("breakerbox-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("users.csv"), "name,pass\nann,a1\nbob,b2\n").expect("csv");
    let drill = dir.join("d.toml");
    let ok = parse(
        &drill.display().to_string(),
        "[data.users]\nfile = \"users.csv\"\nmode = \"unique\"\n[[requests]]\nname = \"login\"\npath = \"/login?u={{data.users.name}}\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok.journey.data[0].rows(), 2);
    assert_eq!(ok.journey.data[0].mode, DataMode::Unique);
    assert_eq!(ok.requests[0].reads_data(), [0]);
    let e = parse(
        &drill.display().to_string(),
        "[data.users]\nfile = \"nope.csv\"\nmode = \"shuffled\"\n[[requests]]\nname = \"login\"\npath = \"/login?u={{data.users.name}}&p={{data.users.pwd}}\"\n",
    )
    .expect_err("bad")
    .to_string();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].ends_with(
            ":4:8: unknown mode \"shuffled\": use \"sequential\", \"random\" or \"unique\""
        ),
        "{e}"
    );
    assert!(lines[1].contains(":3:8: cannot read data file "), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn environment_variables_are_resolved_when_the_drill_is_read() {
    // PATH is set wherever tests run; a variable that is not is an error at its place.
    let d = valid(
        "[[requests]]\nname = \"a\"\npath = \"/\"\nheaders = { x-path = \"{{env.PATH}}\" }\n",
    );
    assert!(d.requests[0].headers[0].fixed.is_some());
    assert_eq!(
        problems("[[requests]]\nname = \"a\"\npath = \"/{{env.BREAKERBOX_NEVER_SET_42}}\"\n"),
        ["4:8: environment variable BREAKERBOX_NEVER_SET_42 is not set"]
    );
}

#[test]
fn thresholds_select_users_tags_and_the_check_rate() {
    let d = valid(
        "[[requests]]\nname = \"a\"\npath = \"/\"\ntags = [\"api\"]\ncheck = { status = 200 }\n[[users]]\nname = \"u\"\nflow = [\"a\"]\n[[expect.thresholds]]\nuser = \"u\"\ntag = \"api\"\nmin_check_rate = 0.99\n",
    );
    let t = &d.expect.thresholds[0];
    assert_eq!(
        (t.user.as_deref(), t.tag.as_deref()),
        (Some("u"), Some("api"))
    );
    assert_eq!(t.metric, Metric::MinCheckRate);
    let got = problems(
        "[[requests]]\nname = \"a\"\npath = \"/\"\n[[expect.thresholds]]\nuser = \"x\"\ntag = \"y\"\nmin_check_rate = 0.99\nwindow = \"5s\"\n",
    );
    assert_eq!(
        got,
        [
            "6:8: no user type named \"x\" (user types: default)",
            "7:7: no request carries the tag \"y\"",
            "9:10: window applies to whole phases or runs, not to one request group, user type or tag",
            "8:18: window and abort_on_fail work with error, cache-hit and fallback rates, not the check rate: split this threshold",
            "8:18: min_check_rate: no request has a [requests.check]",
        ]
    );
}
