//! Guard rails on where a drill may send load: loopback and private networks by default,
//! anything else only when the drill allows it by name or the command line says so, and
//! hosts that look like production only with an explicit acknowledgement.
//!
//! Decided from the URL alone, so `validate` reports it without sending anything.

use std::net::IpAddr;

/// What the command line allows beyond the drill's `allow_targets`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permission {
    /// `--allow-remote`: any host outside loopback and private networks.
    pub remote: bool,
    /// `--i-know-this-is-production`: hosts that look like production.
    pub production: bool,
}

/// Labels that mark a host as not production even when it also says `prod` or `api`.
const STAGING_MARKERS: [&str; 10] = [
    "staging", "stage", "stg", "dev", "test", "qa", "sandbox", "preprod", "uat", "local",
];

/// The host of a URL (`http://user:pass@host:port/…` → `host`), lower-cased, without brackets.
pub fn host_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    Some(
        uri.host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}

/// Whether `host` is on this machine or a private network: loopback, RFC 1918, link-local,
/// IPv6 unique-local, or `localhost`.
pub fn is_local(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
        Err(_) => false,
    }
}

/// Whether a host name looks like production: a `prod`/`production` label, or `www.`/`api.`
/// in front, and no staging marker anywhere.
pub fn looks_like_production(host: &str) -> bool {
    if host.parse::<IpAddr>().is_ok() {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let staging = labels.iter().any(|l| {
        STAGING_MARKERS
            .iter()
            .any(|m| l == m || l.starts_with(&format!("{m}-")) || l.ends_with(&format!("-{m}")))
    });
    if staging {
        return false;
    }
    let prod_label = labels.iter().any(|l| {
        matches!(*l, "prod" | "production") || l.starts_with("prod-") || l.ends_with("-prod")
    });
    prod_label || host.starts_with("www.") || host.starts_with("api.")
}

/// Checks that load may go to `url`; the error says what would allow it.
pub fn check_target(url: &str, allow: &[String], permission: Permission) -> Result<(), String> {
    let Some(host) = host_of(url) else {
        return Ok(());
    };
    if is_local(&host) {
        return Ok(());
    }
    let allowed = allow.iter().any(|a| a.eq_ignore_ascii_case(&host));
    if !allowed && !permission.remote {
        return Err(format!(
            "target host \"{host}\" is outside loopback and private networks: name it in allow_targets = [\"{host}\"] or pass --allow-remote"
        ));
    }
    if looks_like_production(&host) && !permission.production {
        return Err(format!(
            "target host \"{host}\" looks like production: pass --i-know-this-is-production if it really is the one to drill"
        ));
    }
    Ok(())
}

/// The URL with any password replaced by `***`, for printing and storing.
pub fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_need_no_permission() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "http://10.1.2.3",
            "http://192.168.0.7:80/base",
            "http://172.20.0.1",
        ] {
            assert_eq!(
                check_target(url, &[], Permission::default()),
                Ok(()),
                "{url}"
            );
        }
    }

    #[test]
    fn remote_hosts_need_an_allow_list_entry_or_the_flag() {
        let url = "http://staging.example.com:8080";
        let err = check_target(url, &[], Permission::default()).expect_err("refused");
        assert!(
            err.contains("allow_targets = [\"staging.example.com\"]"),
            "{err}"
        );
        assert_eq!(
            check_target(url, &["staging.example.com".into()], Permission::default()),
            Ok(())
        );
        let remote = Permission {
            remote: true,
            production: false,
        };
        assert_eq!(check_target(url, &[], remote), Ok(()));
        assert!(check_target("http://8.8.8.8", &[], Permission::default()).is_err());
    }

    #[test]
    fn production_looking_hosts_need_the_acknowledgement() {
        for host in [
            "api.example.com",
            "www.example.com",
            "shop.prod.example.com",
            "orders-prod.example.com",
        ] {
            assert!(looks_like_production(host), "{host}");
        }
        for host in [
            "api.staging.example.com",
            "preprod.example.com",
            "orders.example.com",
            "10.0.0.1",
            "api-dev.example.com",
        ] {
            assert!(!looks_like_production(host), "{host}");
        }
        let allow = vec!["api.example.com".to_string()];
        let err = check_target("http://api.example.com", &allow, Permission::default())
            .expect_err("refused");
        assert!(err.contains("--i-know-this-is-production"), "{err}");
        let both = Permission {
            remote: false,
            production: true,
        };
        assert_eq!(check_target("http://api.example.com", &allow, both), Ok(()));
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_credentials("http://user:secret@127.0.0.1:80/x"),
            "http://user:***@127.0.0.1:80/x"
        );
        assert_eq!(
            mask_credentials("http://127.0.0.1:80/a@b"),
            "http://127.0.0.1:80/a@b"
        );
        assert_eq!(
            mask_credentials("http://token@host"),
            "http://token:***@host"
        );
    }
}
