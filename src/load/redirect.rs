//! Where a redirect leads: only to the same target (scheme, host and port, under its base
//! path). Anything else is not followed and the 3xx is what the request records.

/// The path (relative to the target's base path) that `location` leads to from `current`
/// (also relative to the base path), if it stays on the target at `scheme://authority/base`.
pub(super) fn resolve(
    location: &str,
    current: &str,
    scheme: &str,
    authority: &str,
    base: &str,
) -> Option<String> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or("");
    let full_current = format!("{base}{current}");
    let path = if let Some(rest) = location.strip_prefix("//") {
        on_target(rest, authority)?
    } else if let Some((given_scheme, rest)) = location.split_once("://") {
        if !given_scheme.eq_ignore_ascii_case(scheme) {
            return None;
        }
        on_target(rest, authority)?
    } else if location.starts_with('/') {
        location.to_string()
    } else if location.is_empty() {
        full_current
    } else if location.starts_with('?') {
        let without_query = full_current.split('?').next().unwrap_or("/");
        format!("{without_query}{location}")
    } else {
        let without_query = full_current.split('?').next().unwrap_or("/");
        let dir = &without_query[..without_query.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{location}", if dir.is_empty() { "/" } else { dir })
    };
    let path = remove_dot_segments(&path);
    if base.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(base)?;
    match rest.chars().next() {
        None => Some("/".into()),
        Some('/') => Some(rest.to_string()),
        Some('?') => Some(format!("/{rest}")),
        Some(_) => None,
    }
}

/// The path of `host[:port]/path…` when the host and port are the target's.
fn on_target(rest: &str, authority: &str) -> Option<String> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (given, path) = rest.split_at(end);
    if !given.eq_ignore_ascii_case(authority) {
        return None;
    }
    Some(if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    })
}

/// Resolves `.` and `..` segments of the path part (RFC 3986, 5.2.4), keeping the query.
fn remove_dot_segments(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if !path.contains("/.") {
        return match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if let Some(q) = query {
        result.push('?');
        result.push_str(q);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(location: &str, current: &str, base: &str) -> Option<String> {
        resolve(location, current, "http", "127.0.0.1:8080", base)
    }

    #[test]
    fn same_target_redirects_resolve_to_paths() {
        assert_eq!(go("/b", "/a", "").as_deref(), Some("/b"));
        assert_eq!(
            go("http://127.0.0.1:8080/b?x=1", "/a", "").as_deref(),
            Some("/b?x=1")
        );
        assert_eq!(go("HTTP://127.0.0.1:8080", "/a", "").as_deref(), Some("/"));
        assert_eq!(go("//127.0.0.1:8080/c", "/a", "").as_deref(), Some("/c"));
        assert_eq!(
            go("next", "/dir/page?q=1", "").as_deref(),
            Some("/dir/next")
        );
        assert_eq!(go("../up", "/a/b/c", "").as_deref(), Some("/a/up"));
        assert_eq!(
            go("?page=2", "/list?page=1", "").as_deref(),
            Some("/list?page=2")
        );
        assert_eq!(go("/b#frag", "/a", "").as_deref(), Some("/b"));
    }

    #[test]
    fn base_paths_are_kept_and_left_targets_are_not_followed() {
        assert_eq!(go("/api/v2/x", "/v1", "/api").as_deref(), Some("/v2/x"));
        assert_eq!(go("/api", "/v1", "/api").as_deref(), Some("/"));
        assert_eq!(go("other", "/v1/a", "/api").as_deref(), Some("/v1/other"));
        assert_eq!(go("/apix", "/v1", "/api"), None, "outside the base path");
        assert_eq!(go("/login", "/v1", "/api"), None);
        assert_eq!(go("http://example.com/b", "/a", ""), None, "another host");
        assert_eq!(
            go("http://127.0.0.1:9090/b", "/a", ""),
            None,
            "another port"
        );
        assert_eq!(
            go("https://127.0.0.1:8080/b", "/a", ""),
            None,
            "another scheme"
        );
    }
}
