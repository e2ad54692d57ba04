//! Addresses and URLs as people type them. One place decides what `localhost:8080`,
//! `:8080`, `[::1]:8080` and `host:port/path` mean, for command-line flags and drill files
//! alike:
//!
//! - a socket address (`--listen`, `--admin`, `listen = ...`) is `IP:PORT`, `[IPv6]:PORT`,
//!   `localhost:PORT` (read as 127.0.0.1) or `:PORT` (also 127.0.0.1: loopback, never every
//!   interface by accident). Other host names are refused rather than looked up, so reading a
//!   drill never touches the network.
//! - a URL (`--target`, `--upstream`, `target = ...`) that names no scheme is `http://`:
//!   `localhost:8080/api` is `http://localhost:8080/api`.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses a socket address as described in the module documentation.
pub fn parse_socket_addr(given: &str) -> Result<SocketAddr, String> {
    let text = given.trim();
    let refuse = || {
        format!(
            "\"{given}\" is not an address: give IP:PORT, [IPv6]:PORT, localhost:PORT or :PORT \
             (e.g. 127.0.0.1:9090)"
        )
    };
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(refuse)?;
    let port: u16 = port.parse().map_err(|_| refuse())?;
    if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    } else {
        Err(refuse())
    }
}

/// `given` with `http://` in front when it names no scheme (`host:port[/path]`); a URL with
/// a scheme is returned as it is, surrounding blanks removed.
pub fn with_scheme(given: &str) -> String {
    let text = given.trim();
    if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_as_typed() {
        let v4 = |p| SocketAddr::from(([127, 0, 0, 1], p));
        assert_eq!(parse_socket_addr("127.0.0.1:9090"), Ok(v4(9090)));
        assert_eq!(parse_socket_addr("localhost:8080"), Ok(v4(8080)));
        assert_eq!(parse_socket_addr("LocalHost:0"), Ok(v4(0)));
        assert_eq!(parse_socket_addr(":8080"), Ok(v4(8080)));
        assert_eq!(
            parse_socket_addr(" 10.0.0.5:1 "),
            Ok("10.0.0.5:1".parse().unwrap())
        );
        assert_eq!(
            parse_socket_addr("[::1]:8080"),
            Ok("[::1]:8080".parse().unwrap())
        );
        for bad in [
            "localhost",
            "8080",
            "example.com:80",
            "localhost:http",
            "::1:80",
            ":",
        ] {
            let why = parse_socket_addr(bad).unwrap_err();
            assert!(why.contains("localhost:PORT"), "{bad}: {why}");
        }
    }

    #[test]
    fn urls_without_a_scheme_are_http() {
        assert_eq!(with_scheme("localhost:8080"), "http://localhost:8080");
        assert_eq!(
            with_scheme("localhost:8080/api"),
            "http://localhost:8080/api"
        );
        assert_eq!(with_scheme("10.1.2.3:80"), "http://10.1.2.3:80");
        assert_eq!(with_scheme("https://x.test"), "https://x.test");
        assert_eq!(with_scheme(" http://a:1/ "), "http://a:1/");
    }
}
