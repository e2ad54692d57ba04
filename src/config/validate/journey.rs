//! Requests and journeys: request parts (query, headers, bodies, captures, checks), data
//! files, user types, think times, setup and teardown, and the order captures are made and
//! used in.

use super::request::request;
use super::{duration, positive_duration, Checker};
use crate::config::raw;
use crate::config::template::Names;
use crate::config::*;
use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// Everything `[[requests]]`, `[[users]]`, `[[setup]]`, `[[teardown]]` and `[data.*]` say.
pub(super) fn journey(c: &mut Checker, raw: &raw::DrillFile) -> (Vec<RequestSpec>, Journey) {
    if raw.requests.is_empty() {
        c.whole_file("no [[requests]]: a drill needs at least one request to send");
    }
    let (data, broken_data) = data_sets(c, raw);
    let captures = capture_names(c, raw);
    let env = |name: &str| std::env::var(name).ok();
    let names = Names {
        data: &data,
        captures: &captures,
        env: &env,
    };
    let parse = |c: &mut Checker, list: &[raw::RequestFile], what: &str| {
        let mut seen = HashSet::new();
        list.iter()
            .map(|r| {
                c.unique(&mut seen, &r.name, what);
                request(c, r, &names, &broken_data)
            })
            .collect::<Vec<_>>()
    };
    let setup = parse(c, &raw.setup, "setup request name");
    let requests = parse(c, &raw.requests, "request name");
    let teardown = parse(c, &raw.teardown, "teardown request name");

    // Setup runs before every virtual user and sees only its own earlier captures;
    // teardown sees setup's and its own earlier ones.
    let mut known: BTreeSet<usize> = BTreeSet::new();
    ordered(c, &raw.setup, &setup, &mut known, &captures, "setup");
    let from_setup = known.clone();
    ordered(
        c,
        &raw.teardown,
        &teardown,
        &mut known,
        &captures,
        "teardown",
    );

    let users = users(c, raw, &requests, &from_setup, &captures);
    if raw.users.is_empty() {
        // One implicit user drawing from every request: any capture may have been made by
        // an earlier request of the same user, or not yet (then the request is skipped).
        let all: BTreeSet<usize> = from_setup
            .iter()
            .copied()
            .chain(
                requests
                    .iter()
                    .flat_map(|r| r.captures.iter().map(|c| c.slot)),
            )
            .collect();
        for (r, spec) in raw.requests.iter().zip(&requests) {
            unmade(
                c,
                r.name.span(),
                spec,
                &all,
                &captures,
                "no request captures it",
            );
        }
    }
    (
        requests,
        Journey {
            users,
            setup,
            teardown,
            data,
            captures,
        },
    )
}

/// Reports captures `spec` reads that are not in `available`.
fn unmade(
    c: &mut Checker,
    span: Range<usize>,
    spec: &RequestSpec,
    available: &BTreeSet<usize>,
    captures: &[String],
    why: &str,
) {
    for slot in spec.reads_captures() {
        if !available.contains(&slot) {
            c.at(
                span.clone(),
                format!(
                    "request \"{}\" uses capture \"{}\", but {why}",
                    spec.name, captures[slot]
                ),
            );
        }
    }
}

/// Checks a list run in order (setup, teardown): each request may read what an earlier
/// one (or `known` already) captured; adds its own captures to `known`.
fn ordered(
    c: &mut Checker,
    raw: &[raw::RequestFile],
    specs: &[RequestSpec],
    known: &mut BTreeSet<usize>,
    captures: &[String],
    what: &str,
) {
    for (r, spec) in raw.iter().zip(specs) {
        let why = format!(
            "no earlier {what} request captures it ({what} runs once, outside any virtual user)"
        );
        unmade(c, r.name.span(), spec, known, captures, &why);
        known.extend(spec.captures.iter().map(|c| c.slot));
    }
}

/// A name fit for `{{capture.NAME}}` and `{{data.NAME.…}}`: letters, digits, `_`, `-`.
fn identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn capture_names(c: &mut Checker, raw: &raw::DrillFile) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let all = raw.setup.iter().chain(&raw.requests).chain(&raw.teardown);
    for r in all {
        for (name, source) in r.capture.iter().flatten() {
            if !identifier(name) {
                c.at(
                    source.span(),
                    format!("capture name \"{name}\" must be letters, digits, '_' or '-'"),
                );
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// Reads every `[data.NAME]`; also returns the names whose file could not be read, so
/// their placeholders are not reported a second time.
fn data_sets(c: &mut Checker, raw: &raw::DrillFile) -> (Vec<Arc<DataSet>>, Vec<String>) {
    let dir = Path::new(c.file).parent().unwrap_or(Path::new(""));
    let mut sets = Vec::new();
    let mut broken = Vec::new();
    for (name, d) in &raw.data {
        if !identifier(name) {
            c.at(
                d.file.span(),
                format!("data set name \"{name}\" must be letters, digits, '_' or '-'"),
            );
        }
        let mode = match &d.mode {
            None => DataMode::Sequential,
            Some(m) => DataMode::parse(m.get_ref()).unwrap_or_else(|| {
                c.at(
                    m.span(),
                    format!("unknown mode \"{}\": use {}", m.get_ref(), DataMode::VALID),
                );
                DataMode::Sequential
            }),
        };
        let path = dir.join(d.file.get_ref());
        match DataSet::read(name, mode, &path) {
            Ok(set) => sets.push(Arc::new(set)),
            Err(why) => {
                c.at(d.file.span(), why);
                broken.push(name.clone());
            }
        }
    }
    (sets, broken)
}

/// Reads a think time: `"1s"`, `{ min, max }` or `{ pacing }`.
pub(super) fn think_time(c: &mut Checker, t: &Spanned<raw::ThinkFile>) -> ThinkTime {
    match t.get_ref() {
        raw::ThinkFile::Constant(text) => {
            let spanned = Spanned::new(t.span(), text.clone());
            ThinkTime::Constant(duration(c, &spanned).unwrap_or_default())
        }
        raw::ThinkFile::Uniform { min, max } => {
            let (low, high) = (
                duration(c, min).unwrap_or_default(),
                duration(c, max).unwrap_or_default(),
            );
            if high < low {
                c.at(max.span(), "think_time max is below min");
            }
            ThinkTime::Uniform {
                min: low,
                max: high.max(low),
            }
        }
        raw::ThinkFile::Pacing(p) => ThinkTime::Pacing(positive_duration(c, p, "pacing")),
    }
}

fn users(
    c: &mut Checker,
    raw: &raw::DrillFile,
    requests: &[RequestSpec],
    from_setup: &BTreeSet<usize>,
    captures: &[String],
) -> Vec<UserType> {
    let mut names = HashSet::new();
    let known_requests = || {
        raw.requests
            .iter()
            .map(|r| r.name.get_ref().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |c: &mut Checker, name: &str, span: Range<usize>| -> Option<usize> {
        let found = requests.iter().position(|r| r.name == name);
        if found.is_none() {
            c.at(
                span,
                format!(
                    "no request named \"{name}\" (requests: {})",
                    known_requests()
                ),
            );
        }
        found
    };
    let mut users = Vec::new();
    for u in &raw.users {
        c.unique(&mut names, &u.name, "user type name");
        let weight = u.weight.as_ref().map_or(1, |w| *w.get_ref());
        let mut available = from_setup.clone();
        let user = u.name.get_ref();
        let mut on_start = Vec::new();
        for step in u.on_start.iter().flatten() {
            if let Some(i) = find(c, step.get_ref(), step.span()) {
                let why =
                    format!("no earlier request of user \"{user}\" (or of setup) captures it");
                unmade(c, step.span(), &requests[i], &available, captures, &why);
                available.extend(requests[i].captures.iter().map(|c| c.slot));
                on_start.push(i);
            }
        }
        let work = match (&u.flow, &u.tasks) {
            (Some(flow), None) => {
                if flow.get_ref().is_empty() {
                    c.at(flow.span(), "flow must name at least one request");
                }
                let mut steps = Vec::new();
                for step in flow.get_ref() {
                    if let Some(i) = find(c, step.get_ref(), step.span()) {
                        let why = format!(
                            "no earlier request in the flow of user \"{user}\" (or its on_start, or setup) captures it"
                        );
                        unmade(c, step.span(), &requests[i], &available, captures, &why);
                        available.extend(requests[i].captures.iter().map(|c| c.slot));
                        steps.push(i);
                    }
                }
                Work::Flow(steps)
            }
            (None, Some(tasks)) => {
                if tasks.get_ref().is_empty() {
                    c.at(tasks.span(), "tasks must name at least one request");
                }
                let mut set = Vec::new();
                for t in tasks.get_ref() {
                    let entry = t.get_ref();
                    if let Some(i) = find(c, &entry.request, t.span()) {
                        let w = entry
                            .weight
                            .as_ref()
                            .map_or(requests[i].weight, |w| *w.get_ref());
                        set.push((i, w, t.span()));
                    }
                }
                if !set.is_empty() && set.iter().all(|(_, w, _)| *w == 0) {
                    c.at(tasks.span(), "the task weights add up to 0");
                }
                // A weighted set has no order: a task may read what on_start, setup or
                // any task of the set captures (until then it is skipped).
                available.extend(
                    set.iter()
                        .flat_map(|(i, _, _)| requests[*i].captures.iter().map(|c| c.slot)),
                );
                for (i, _, span) in &set {
                    let why = format!(
                        "no request of user \"{user}\" (its tasks, on_start, or setup) captures it"
                    );
                    unmade(c, span.clone(), &requests[*i], &available, captures, &why);
                }
                Work::Tasks(set.into_iter().map(|(i, w, _)| (i, w)).collect())
            }
            (Some(flow), Some(_)) => {
                c.at(
                    flow.span(),
                    "give flow (in order) or tasks (weighted), not both",
                );
                Work::Flow(Vec::new())
            }
            (None, None) => {
                c.at(
                    u.name.span(),
                    format!("user type \"{user}\" needs flow = [...] (in order) or tasks = [...] (weighted)"),
                );
                Work::Flow(Vec::new())
            }
        };
        users.push(UserType {
            name: user.clone(),
            weight,
            on_start,
            work,
            think_time: u.think_time.as_ref().map(|t| think_time(c, t)),
        });
    }
    if !users.is_empty() && users.iter().all(|u| u.weight == 0) {
        let span = raw.users[0]
            .weight
            .as_ref()
            .map_or(raw.users[0].name.span(), Spanned::span);
        c.at(
            span,
            "the weights of [[users]] add up to 0: no virtual user would have a type",
        );
    }
    users
}

#[cfg(test)]
mod tests {
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
}
