//! The admin API: a Toxiproxy-compatible REST API over the process's named TCP proxies.
//!
//! Resources, JSON shapes and status codes follow Toxiproxy's (`/proxies`, `/proxies/{name}`,
//! `/proxies/{name}/toxics[/{toxic}]`, `/populate`, `/reset`, `/version`), so its clients
//! drive breakerbox unchanged. It listens on loopback unless told otherwise; a bearer token
//! guards it, and is required for any other address unless explicitly waived.
//! breakerbox's own resources sit beside them: HTTP fault proxies (`/http-proxies`), their
//! faults, profiles, schedules on a runner's clock, taps and decision logs ([`http`]).
//! docs/proxy-api.md documents every call.

pub mod http;
pub mod proxies;

pub use http::{HttpProxies, HttpProxyConfig};
pub use proxies::{ApiError, Proxies, ProxyConfig, ProxyUpdate};

use ::http::{Method, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The largest request body the API reads.
const MAX_BODY: usize = 1 << 20;

/// How to start the admin API.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Where to listen (`127.0.0.1:8474` is Toxiproxy's default).
    pub listen: SocketAddr,
    /// A bearer token every request must carry (`Authorization: Bearer TOKEN`).
    pub token: Option<String>,
    /// Listen beyond loopback without a token anyway (anyone reaching it can then open
    /// listeners and cut connections on this host).
    pub allow_exposed_without_token: bool,
    /// Seed for toxicity rolls and toxic randomness.
    pub seed: u64,
}

impl AdminOptions {
    /// Loopback at `listen`, no token, seed 0.
    pub fn new(listen: SocketAddr) -> Self {
        AdminOptions {
            listen,
            token: None,
            allow_exposed_without_token: false,
            seed: 0,
        }
    }
}

/// Why the admin API could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A non-loopback address without a token, and not forced.
    #[error("admin API on {0} would be open to other hosts: give it a token (--token-file), or force it")]
    Exposed(SocketAddr),
    /// The address is taken or not ours.
    #[error("admin API cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The token file is unreadable or empty.
    #[error("token file {path}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads a bearer token from a file (surrounding whitespace trimmed; empty is an error).
pub fn read_token_file(path: &Path) -> Result<String, AdminError> {
    let token = std::fs::read_to_string(path).map_err(|e| AdminError::Token {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(AdminError::Token {
            path: path.display().to_string(),
            reason: "empty".into(),
        });
    }
    Ok(token.to_string())
}

/// A running admin API; dropping it stops the API and every proxy it made.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    proxies: Arc<Proxies>,
    http_proxies: Arc<HttpProxies>,
    accept_loop: JoinHandle<()>,
}

impl AdminServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, e.g. `http://127.0.0.1:8474`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxies it manages (to create some at startup without going through HTTP).
    pub fn proxies(&self) -> Arc<Proxies> {
        self.proxies.clone()
    }

    /// The HTTP fault proxies it manages (to register one at startup).
    pub fn http_proxies(&self) -> Arc<HttpProxies> {
        self.http_proxies.clone()
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

struct State {
    proxies: Arc<Proxies>,
    http_proxies: Arc<HttpProxies>,
    token: Option<String>,
}

/// Starts the admin API with no proxies yet, as `toxiproxy-server` does.
pub async fn start(options: AdminOptions) -> Result<AdminServer, AdminError> {
    if !options.listen.ip().is_loopback()
        && options.token.is_none()
        && !options.allow_exposed_without_token
    {
        return Err(AdminError::Exposed(options.listen));
    }
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| AdminError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AdminError::Bind {
        addr: options.listen,
        source,
    })?;
    crate::accept::warn_if_exposed("admin API", addr);
    let proxies = Arc::new(Proxies::new(options.seed));
    let http_proxies = Arc::new(HttpProxies::new(options.seed));
    let state = Arc::new(State {
        proxies: proxies.clone(),
        http_proxies: http_proxies.clone(),
        token: options.token,
    });
    let accept_loop = tokio::spawn(crate::accept::serve_http1(
        listener,
        "admin API",
        state,
        |state, request| async move { handle(&state, request).await },
    ));
    tracing::info!(%addr, "admin API listening");
    Ok(AdminServer {
        addr,
        proxies,
        http_proxies,
        accept_loop,
    })
}

/// One answer: a status and a JSON body (none for 204).
type Answer = Result<(StatusCode, Option<Value>), ApiError>;

async fn handle(state: &State, request: ::http::Request<Incoming>) -> Response<Full<Bytes>> {
    let answer = match guard(state, &request) {
        Err(e) => Err(e),
        Ok(()) => route(state, request).await,
    };
    match answer {
        Ok((status, body)) => respond(status, body),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(status, Some(e.to_json()))
        }
    }
}

/// The token, and Toxiproxy's refusal of browsers (a page must not drive the API).
fn guard(state: &State, request: &::http::Request<Incoming>) -> Result<(), ApiError> {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.trim().as_bytes(), token.as_bytes()) {
            return Err(ApiError::new(401, "missing or wrong bearer token"));
        }
    }
    let browser = request
        .headers()
        .get(::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"));
    if browser {
        return Err(ApiError::new(403, "User agent not allowed"));
    }
    Ok(())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn route(state: &State, request: ::http::Request<Incoming>) -> Answer {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if parts.first() == Some(&"http-proxies") {
        return route_http(state, request, &parts).await;
    }
    let p = &state.proxies;
    let update = method == Method::POST || method == Method::PATCH;
    match parts.as_slice() {
        ["version"] if method == Method::GET => Ok((
            StatusCode::OK,
            Some(serde_json::json!({"version": env!("CARGO_PKG_VERSION")})),
        )),
        ["reset"] if method == Method::POST => {
            p.reset().await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ["populate"] if method == Method::POST => {
            let configs: Vec<ProxyConfig> = parse(body(request).await?)?;
            let (done, error) = p.populate(configs).await;
            let mut out = serde_json::json!({ "proxies": done });
            let status = match error {
                None => StatusCode::CREATED,
                Some(e) => {
                    out["error"] = Value::from(e.message.clone());
                    out["status"] = Value::from(e.status);
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }
            };
            Ok((status, Some(out)))
        }
        ["proxies"] if method == Method::GET => Ok((StatusCode::OK, Some(p.list().await))),
        ["proxies"] if method == Method::POST => {
            let config: ProxyConfig = parse(body(request).await?)?;
            Ok((StatusCode::CREATED, Some(p.create(config).await?)))
        }
        ["proxies", name] if method == Method::GET => {
            Ok((StatusCode::OK, Some(p.get(name).await?)))
        }
        ["proxies", name] if update => {
            let name = name.to_string();
            let change: ProxyUpdate = parse(body(request).await?)?;
            Ok((StatusCode::OK, Some(p.update(&name, change).await?)))
        }
        ["proxies", name] if method == Method::DELETE => {
            p.delete(name).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ["proxies", name, "toxics"] if method == Method::GET => {
            Ok((StatusCode::OK, Some(p.toxics(name).await?)))
        }
        ["proxies", name, "toxics"] if method == Method::POST => {
            let name = name.to_string();
            // Unknown proxy before a bad body, as Toxiproxy answers.
            p.get(&name).await?;
            let value = parse(body(request).await?)?;
            Ok((StatusCode::OK, Some(p.add_toxic(&name, value).await?)))
        }
        ["proxies", name, "toxics", toxic] if method == Method::GET => {
            Ok((StatusCode::OK, Some(p.toxic(name, toxic).await?)))
        }
        ["proxies", name, "toxics", toxic] if update => {
            let (name, toxic) = (name.to_string(), toxic.to_string());
            p.toxic(&name, &toxic).await?;
            let value = parse(body(request).await?)?;
            Ok((
                StatusCode::OK,
                Some(p.update_toxic(&name, &toxic, value).await?),
            ))
        }
        ["proxies", name, "toxics", toxic] if method == Method::DELETE => {
            p.remove_toxic(name, toxic).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ["version"]
        | ["reset"]
        | ["populate"]
        | ["proxies"]
        | ["proxies", _]
        | ["proxies", _, "toxics"]
        | ["proxies", _, "toxics", _] => Err(ApiError::new(
            405,
            format!("method {method} not allowed on {path}"),
        )),
        _ => Err(ApiError::new(404, format!("no such resource: {path}"))),
    }
}

/// The `/http-proxies` resources.
async fn route_http(state: &State, request: ::http::Request<Incoming>, parts: &[&str]) -> Answer {
    let method = request.method().clone();
    let h = &state.http_proxies;
    let json = |v: Result<_, serde_json::Error>| v.map_err(|e| ApiError::new(500, e.to_string()));
    let ok = |v: Value| Ok((StatusCode::OK, Some(v)));
    match parts {
        ["http-proxies"] if method == Method::GET => {
            ok(json(serde_json::to_value(h.list().await))?)
        }
        ["http-proxies"] if method == Method::POST => {
            let config: HttpProxyConfig = parse(body(request).await?)?;
            let view = json(serde_json::to_value(h.create(config).await?))?;
            Ok((StatusCode::CREATED, Some(view)))
        }
        ["http-proxies", name] if method == Method::GET => {
            ok(json(serde_json::to_value(h.get(name).await?))?)
        }
        ["http-proxies", name] if method == Method::DELETE => {
            h.delete(name).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ["http-proxies", name, "faults"] if method == Method::GET => {
            ok(json(serde_json::to_value(h.faults(name).await?))?)
        }
        ["http-proxies", name, "faults"] if method == Method::PUT => {
            h.get(name).await?;
            let value = parse(body(request).await?)?;
            ok(json(serde_json::to_value(
                h.put_faults(name, value).await?,
            ))?)
        }
        ["http-proxies", name, "faults"] if method == Method::DELETE => {
            h.clear_faults(name).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        ["http-proxies", name, "profile"] if method == Method::PUT => {
            h.get(name).await?;
            let bytes = body(request).await?;
            let text = std::str::from_utf8(&bytes).map_err(ApiError::bad_body)?;
            ok(json(serde_json::to_value(
                h.put_profile(name, text).await?,
            ))?)
        }
        ["http-proxies", name, "schedule"] if method == Method::PUT => {
            h.get(name).await?;
            let value = parse(body(request).await?)?;
            ok(json(serde_json::to_value(
                h.put_schedule(name, value).await?,
            ))?)
        }
        ["http-proxies", name, "start"] if method == Method::POST => {
            ok(json(serde_json::to_value(h.start(name).await?))?)
        }
        ["http-proxies", name, "tap"] if method == Method::GET => {
            ok(json(serde_json::to_value(h.tap(name).await?))?)
        }
        ["http-proxies", name, "decisions"] if method == Method::GET => {
            let (since, limit) = http::page_query(request.uri().query())?;
            ok(json(serde_json::to_value(
                h.decisions(name, since, limit).await?,
            ))?)
        }
        ["http-proxies"]
        | ["http-proxies", _]
        | ["http-proxies", _, "faults" | "profile" | "schedule" | "start" | "tap" | "decisions"] => {
            Err(ApiError::new(
                405,
                format!("method {method} not allowed on {}", request.uri().path()),
            ))
        }
        _ => Err(ApiError::new(
            404,
            format!("no such resource: {}", request.uri().path()),
        )),
    }
}

/// The request body, at most [`MAX_BODY`] bytes.
async fn body(request: ::http::Request<Incoming>) -> Result<Bytes, ApiError> {
    Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(413, format!("request body over {MAX_BODY} bytes"))
            } else {
                ApiError::bad_body(e)
            }
        })
}

fn parse<T: serde::de::DeserializeOwned>(body: Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(&body).map_err(ApiError::bad_body)
}

fn respond(status: StatusCode, body: Option<Value>) -> Response<Full<Bytes>> {
    let bytes = body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string()));
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(
            ::http::header::CONTENT_TYPE,
            ::http::HeaderValue::from_static("application/json"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }

    #[tokio::test]
    async fn exposed_without_token_is_refused_unless_forced() {
        let addr: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        assert!(matches!(
            start(AdminOptions::new(addr)).await,
            Err(AdminError::Exposed(_))
        ));
        let forced = AdminOptions {
            allow_exposed_without_token: true,
            ..AdminOptions::new(addr)
        };
        assert!(start(forced).await.is_ok());
        let with_token = AdminOptions {
            token: Some("t".into()),
            ..AdminOptions::new(addr)
        };
        assert!(start(with_token).await.is_ok());
    }
}
