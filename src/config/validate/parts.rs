//! The built-in parts: stub routes, fault proxy, demo service and its breaker settings.

use super::{
    check_base_url, check_target_url, method, opt_duration, positive_duration, status_code, Checker,
};
use crate::config::address;
use crate::config::raw;
use crate::config::*;
use toml::Spanned;

fn listen_addr(c: &mut Checker, listen: &Option<Spanned<String>>) -> SocketAddr {
    let default = SocketAddr::from(([127, 0, 0, 1], 0));
    match listen {
        None => default,
        Some(s) => address::parse_socket_addr(s.get_ref()).unwrap_or_else(|why| {
            c.at(s.span(), format!("listen address {why}"));
            default
        }),
    }
}

pub(super) fn parts(c: &mut Checker, raw: &raw::DrillFile) -> Parts {
    let stub = raw.parts.stub.then(|| StubSettings {
        listen: listen_addr(c, &raw.stub.listen),
        routes: raw.stub.routes.iter().map(|r| stub_route(c, r)).collect(),
    });
    // A remote proxy (`[proxy] admin`) is the drill's proxy even without `[parts] proxy`.
    let proxy = (raw.parts.proxy || raw.proxy.admin.is_some()).then(|| proxy(c, &raw.proxy));
    if raw.proxy.admin.is_none() {
        for key in [&raw.proxy.name, &raw.proxy.token_file]
            .into_iter()
            .flatten()
        {
            c.at(
                key.span(),
                "`name` and `token_file` apply to a remote proxy: set `admin` too",
            );
        }
    }
    if let Some(p) = &proxy {
        let remote_exists = p.remote.as_ref().is_some_and(|r| !r.create);
        if p.upstream.is_none() && stub.is_none() && raw.proxy.upstream.is_none() && !remote_exists
        {
            c.whole_file("the proxy needs an upstream: set [proxy] upstream or start the stub ([parts] stub = true)");
        }
    }
    let demo = raw.parts.demo.then(|| demo(c, &raw.demo));
    if let (Some(_), Some(p)) = (&demo, &proxy) {
        if p.tls.is_some() {
            c.whole_file("the demo service calls its upstream over plain HTTP: drop [proxy] tls_cert and tls_key, or [parts] demo");
        }
    }
    if demo.is_some() && proxy.is_none() && stub.is_none() {
        c.whole_file("the demo service needs an upstream: start the proxy or the stub in [parts]");
    }
    Parts { stub, proxy, demo }
}

/// `[proxy] admin`, `name`, `token_file`: a proxy in another process.
fn remote_proxy(c: &mut Checker, p: &raw::ProxyFile) -> Option<RemoteProxySettings> {
    let admin = p.admin.as_ref()?;
    let url = check_base_url(admin.get_ref())
        .map_err(|why| c.at(admin.span(), why.replace("target", "admin API")))
        .unwrap_or_default();
    let name = match &p.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            c.at(n.span(), "the remote proxy's name must not be empty");
            String::new()
        }
        Some(n) => n.get_ref().clone(),
        None => "default".into(),
    };
    let dir = Path::new(c.file).parent().unwrap_or(Path::new(""));
    Some(RemoteProxySettings {
        admin: url,
        name,
        token_file: p.token_file.as_ref().map(|f| dir.join(f.get_ref())),
        create: p.listen.is_some() || p.upstream.is_some(),
    })
}

fn proxy(c: &mut Checker, p: &raw::ProxyFile) -> ProxySettings {
    let upstream = p.upstream.as_ref().and_then(|u| {
        check_target_url(u.get_ref())
            .map_err(|why| c.at(u.span(), why.replace("target", "upstream")))
            .ok()
    });
    let https = upstream
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    // Certificate files are read now, so a bad one is reported at its line, not at start.
    let upstream_ca = p.upstream_ca.as_ref().and_then(|f| {
        let path = pem_file(c, f, crate::tls::read_certificates)?;
        if !https {
            c.at(f.span(), "upstream_ca applies to an https:// upstream only");
        }
        Some(path)
    });
    let upstream_insecure = p.upstream_insecure.as_ref().is_some_and(|i| {
        if *i.get_ref() && !https {
            c.at(
                i.span(),
                "upstream_insecure applies to an https:// upstream only",
            );
        }
        *i.get_ref()
    });
    let cert = p
        .tls_cert
        .as_ref()
        .map(|f| (f.span(), pem_file(c, f, crate::tls::read_certificates)));
    let key = p
        .tls_key
        .as_ref()
        .map(|f| (f.span(), pem_file(c, f, crate::tls::read_private_key)));
    let tls = match (cert, key) {
        (Some((_, Some(cert))), Some((_, Some(key)))) => Some(ProxyTlsFiles { cert, key }),
        (Some((span, _)), None) => {
            c.at(
                span,
                "tls_cert needs tls_key (the certificate's private key)",
            );
            None
        }
        (None, Some((span, _))) => {
            c.at(
                span,
                "tls_key needs tls_cert (the certificate it belongs to)",
            );
            None
        }
        _ => None,
    };
    if p.admin.is_some() {
        let tls_keys = [&p.upstream_ca, &p.tls_cert, &p.tls_key];
        let spans = tls_keys.into_iter().flatten().map(|k| k.span());
        for span in spans.chain(p.upstream_insecure.as_ref().map(|k| k.span())) {
            c.at(span, "the TLS keys apply to a proxy this run starts; a remote proxy (`admin`) takes them on its own command line");
        }
    }
    ProxySettings {
        listen: listen_addr(c, &p.listen),
        upstream,
        upstream_timeout: p
            .upstream_timeout
            .as_ref()
            .map_or(ProxySettings::DEFAULT_UPSTREAM_TIMEOUT, |t| {
                positive_duration(c, t, "upstream_timeout")
            }),
        remote: remote_proxy(c, p),
        upstream_ca,
        upstream_insecure,
        tls,
    }
}

/// A PEM file named in the drill, relative to the drill's folder, checked with `read`.
fn pem_file<T>(
    c: &mut Checker,
    file: &Spanned<String>,
    read: fn(&Path) -> Result<T, crate::tls::PemError>,
) -> Option<PathBuf> {
    let dir = Path::new(c.file).parent().unwrap_or(Path::new(""));
    let path = dir.join(file.get_ref());
    match read(&path) {
        Ok(_) => Some(path),
        Err(why) => {
            c.at(file.span(), why.to_string());
            None
        }
    }
}

fn stub_route(c: &mut Checker, r: &raw::StubRouteFile) -> StubRoute {
    let method = method(c, &r.method);
    if !r.path.get_ref().starts_with('/') {
        c.at(
            r.path.span(),
            format!("stub path \"{}\" must start with '/'", r.path.get_ref()),
        );
    }
    let status = r.status.as_ref().map(|s| status_code(c, s)).unwrap_or(200);
    StubRoute {
        method,
        path: r.path.get_ref().clone(),
        status,
        body: r.body.clone().unwrap_or_default(),
        content_type: r
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".into()),
        delay: opt_duration(c, &r.delay).unwrap_or_default(),
    }
}

fn demo(c: &mut Checker, d: &raw::DemoFile) -> DemoSettings {
    let defaults = DemoSettings::default();
    let failure_threshold = match &d.failure_threshold {
        Some(t) if *t.get_ref() == 0 => {
            c.at(t.span(), "failure_threshold must be at least 1");
            1
        }
        Some(t) => *t.get_ref(),
        None => defaults.failure_threshold,
    };
    let breaker = match &d.breaker {
        None => defaults.breaker,
        Some(b) => DemoBreaker::parse(b.get_ref()).unwrap_or_else(|| {
            c.at(
                b.span(),
                format!(
                    "unknown breaker \"{}\": use {}",
                    b.get_ref(),
                    DemoBreaker::VALID
                ),
            );
            defaults.breaker
        }),
    };
    let rate = rate_settings(c, d);
    let state_header = match &d.state_header {
        None => defaults.state_header,
        Some(h) => StateHeader::parse(h.get_ref()).unwrap_or_else(|| {
            c.at(
                h.span(),
                format!(
                    "unknown state_header \"{}\": use {}",
                    h.get_ref(),
                    StateHeader::VALID
                ),
            );
            defaults.state_header
        }),
    };
    let transition_log = d.transition_log.as_ref().and_then(|p| {
        if p.get_ref().trim().is_empty() {
            c.at(p.span(), "transition_log must name a file");
            None
        } else {
            Some(PathBuf::from(p.get_ref()))
        }
    });
    DemoSettings {
        listen: listen_addr(c, &d.listen),
        breaker,
        failure_threshold,
        open_duration: d
            .open_duration
            .as_ref()
            .map(|o| positive_duration(c, o, "open_duration"))
            .unwrap_or(defaults.open_duration),
        rate,
        cache_ttl: opt_duration(c, &d.cache_ttl).unwrap_or(defaults.cache_ttl),
        upstream_timeout: d
            .upstream_timeout
            .as_ref()
            .map(|t| positive_duration(c, t, "upstream_timeout"))
            .unwrap_or(defaults.upstream_timeout),
        fallback: d.fallback.unwrap_or(defaults.fallback),
        state_header,
        label_probe: d.label_probe.unwrap_or(defaults.label_probe),
        transition_log,
    }
}

/// The rate breaker's keys; they are read whatever `breaker` says, so `--breaker rate`
/// can switch a drill over.
fn rate_settings(c: &mut Checker, d: &raw::DemoFile) -> RateSettings {
    let defaults = RateSettings::default();
    let failure_rate = match &d.failure_rate {
        None => defaults.failure_rate,
        Some(r) => {
            let rate = *r.get_ref();
            if rate > 0.0 && rate <= 1.0 {
                rate
            } else {
                c.at(
                    r.span(),
                    format!("failure_rate is a fraction above 0 and at most 1, not {rate:?}"),
                );
                defaults.failure_rate
            }
        }
    };
    let mut count = |value: &Option<Spanned<i64>>, key: &str, max: u32, default: u32| {
        // Both bounds fit in u32, so the count does too.
        c.count(value, key, 1..=i64::from(max), default as usize) as u32
    };
    let window_max = RateSettings::MAX_WINDOW;
    let minimum_calls = count(
        &d.minimum_calls,
        "minimum_calls",
        window_max,
        defaults.minimum_calls,
    );
    let window = count(&d.window, "window", window_max, defaults.window);
    let half_open_calls = count(
        &d.half_open_calls,
        "half_open_calls",
        RateSettings::MAX_HALF_OPEN_CALLS,
        defaults.half_open_calls,
    );
    let settings = RateSettings {
        failure_rate,
        minimum_calls,
        window,
        half_open_calls,
    };
    if let Some(why) = settings.inconsistency() {
        let span = d
            .minimum_calls
            .as_ref()
            .or(d.window.as_ref())
            .map(Spanned::span)
            .unwrap_or(0..0);
        c.at(span, why);
    }
    settings
}
