use super::*;

fn options(url: &str, model: Model) -> QuickOptions {
    QuickOptions {
        url: url.into(),
        model,
        duration: Duration::from_secs(10),
        method: Method::GET,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        timeout: Duration::from_secs(5),
        insecure: false,
        permission: Permission::default(),
    }
}

#[test]
fn headers_and_think_times_parse_or_say_why_not() {
    let (name, value) = parse_header("X-Token:  abc ").expect("parses");
    assert_eq!(
        (name.as_str(), value.to_str().ok()),
        ("x-token", Some("abc"))
    );
    assert!(parse_header("no colon").is_err());
    assert!(parse_header("bad name: x").is_err());
    let think = parse_think("1s-5s").expect("parses");
    assert_eq!(
        think,
        ThinkTime::Uniform {
            min: Duration::from_secs(1),
            max: Duration::from_secs(5)
        }
    );
    assert_eq!(
        parse_think("250ms").expect("parses"),
        ThinkTime::Constant(Duration::from_millis(250))
    );
    assert!(parse_think("5s-1s").is_err());
    assert!(parse_think("soon").is_err());
    assert!(parse_rate("0").is_err());
    assert!(parse_rate("-3").is_err());
    assert!(parse_rate("NaN").is_err());
    assert_eq!(parse_rate("2500").ok(), Some(2500.0));
}

#[test]
fn loopback_targets_leave_half_the_cores_to_the_server() {
    assert_eq!(default_threads("http://127.0.0.1:8080/", 2), 1);
    assert_eq!(default_threads("http://localhost/", 8), 4);
    assert_eq!(default_threads("http://[::1]:80/", 1), 1);
    assert_eq!(default_threads("https://staging.example.test/", 8), 8);
    assert_eq!(
        default_threads("http://127.0.0.1:1/{{random_int 1 2}}", 4),
        2
    );
}

#[test]
fn the_url_splits_into_target_and_request_path() {
    let d = options("http://127.0.0.1:8080/api/x?q=1", Model::Connections(4))
        .drill()
        .expect("valid");
    assert_eq!(d.target.as_deref(), Some("http://127.0.0.1:8080"));
    let render = |t: &Template| {
        let mut rng = crate::rng::Rng::new(1, 1);
        let mut cx = crate::config::template::Context {
            rng: &mut rng,
            vu: 1,
            iteration: 0,
            data: &[],
            rows: &[],
            captures: &[],
        };
        let mut out = String::new();
        t.render(&mut cx, &mut out).map(|_| out).ok()
    };
    assert_eq!(render(&d.requests[0].path).as_deref(), Some("/api/x?q=1"));
    let d = options("https://example.test", Model::Connections(1))
        .drill()
        .expect("valid");
    assert_eq!(d.target.as_deref(), Some("https://example.test"));
    assert!(options("ftp://x", Model::Connections(1)).drill().is_err());
    let d = options(
        "http://127.0.0.1:1/item/{{random_int 5 5}}?q=1",
        Model::Connections(1),
    )
    .drill()
    .expect("placeholders in the path");
    assert_eq!(render(&d.requests[0].path).as_deref(), Some("/item/5?q=1"));
    let d = options("http://127.0.0.1:1?q=1", Model::Connections(1))
        .drill()
        .expect("query only");
    assert_eq!(d.target.as_deref(), Some("http://127.0.0.1:1"));
    let bad = options("http://127.0.0.1:1/{{nope}}", Model::Connections(1)).drill();
    assert!(bad.is_err());
    assert!(options("http://x/", Model::Connections(0)).drill().is_err());
}

#[test]
fn users_with_think_time_ramp_over_the_longest_pause() {
    let think = parse_think("1s-5s").expect("parses");
    let d = options("http://127.0.0.1:1/", Model::Users { vus: 10_000, think })
        .drill()
        .expect("valid");
    let LoadShape::RampingVus {
        start_vus,
        stages,
        think_time,
        ..
    } = &d.phases[0].load
    else {
        panic!("closed model expected");
    };
    assert_eq!(*start_vus, 0);
    // The longest pause (5 s), but at most a quarter of the 10 s run.
    assert_eq!(stages[0].duration, Duration::from_millis(2500));
    assert_eq!(stages[1].duration, Duration::from_millis(7500));
    assert_eq!(*think_time, think);
    let open = options(
        "http://127.0.0.1:1/",
        Model::Rate {
            rate: 50.0,
            max_in_flight: default_max_in_flight(50.0),
        },
    )
    .drill()
    .expect("valid");
    assert_eq!(
        open.phases[0].load,
        LoadShape::ConstantArrivalRate {
            rate: 50.0,
            pool: OpenPool {
                pre_allocated_vus: 3,
                max_vus: 100
            }
        }
    );
}
