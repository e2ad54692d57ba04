//! The named proxies of one process and their toxics, as the admin API manages them.
//!
//! Every operation follows Toxiproxy's rules: a proxy is enabled (listening) or not,
//! enabling binds its listen address and disabling closes it along with its connections;
//! toxics change the running connections at once.

use crate::fault::tcp::accept::{Listening, Route};
use crate::fault::tcp::{self, Attributes, Chain, Direction, ToxicSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Mutex};

/// An API error: Toxiproxy's `{"error": ..., "status": ...}` body and status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What went wrong, for the client.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
}

impl ApiError {
    /// An error with this status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            status,
        }
    }

    /// 400 `bad request body: ...`.
    pub fn bad_body(detail: impl std::fmt::Display) -> Self {
        ApiError::new(400, format!("bad request body: {detail}"))
    }

    /// 400 `missing required field: ...`.
    pub fn missing(field: impl std::fmt::Display) -> Self {
        ApiError::new(400, format!("missing required field: {field}"))
    }

    fn proxy_not_found() -> Self {
        ApiError::new(404, "proxy not found")
    }

    fn toxic_not_found() -> Self {
        ApiError::new(404, "toxic not found")
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        json!({"error": self.message, "status": self.status})
    }
}

/// A proxy as asked for: the `POST /proxies` and `/populate` body.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct ProxyConfig {
    /// Unique name.
    #[serde(default)]
    pub name: String,
    /// `host:port` to listen on (default `127.0.0.1:0`: loopback, any free port).
    #[serde(default)]
    pub listen: String,
    /// `host:port` to connect each client to.
    #[serde(default)]
    pub upstream: String,
    /// Listen at once (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A `POST /proxies/{name}` body: the fields to change.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ProxyUpdate {
    /// New listen address.
    pub listen: Option<String>,
    /// New upstream.
    pub upstream: Option<String>,
    /// Enable (listen) or disable (close the listener and connections).
    pub enabled: Option<bool>,
}

#[derive(Debug)]
struct Proxy {
    name: String,
    /// The listen address as given, or as bound once enabled (the real port).
    listen: String,
    upstream: String,
    toxics: Vec<Arc<ToxicSpec>>,
    chain: watch::Sender<Chain>,
    connections: Arc<AtomicU64>,
    running: Option<Listening>,
}

impl Proxy {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.running.is_some(),
            "toxics": self.toxics_json(),
        })
    }

    fn toxics_json(&self) -> Value {
        Value::Array(self.toxics.iter().map(|t| toxic_json(t)).collect())
    }

    fn publish(&self) {
        self.chain.send_replace(Arc::new(self.toxics.clone()));
    }

    async fn start(&mut self, seed: u64) -> Result<(), ApiError> {
        if self.running.is_none() {
            let addr = resolve(&self.listen).await?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| ApiError::new(409, format!("cannot listen on {addr}: {e}")))?;
            let route = Route {
                upstream: self.upstream.clone(),
                chain: self.chain.subscribe(),
                seed,
                connections: self.connections.clone(),
            };
            let running = Listening::start(listener, route)
                .map_err(|e| ApiError::new(500, format!("cannot listen on {addr}: {e}")))?;
            crate::accept::warn_if_exposed("tcp proxy", running.addr());
            self.listen = running.addr().to_string();
            self.running = Some(running);
            tracing::info!(proxy = %self.name, listen = %self.listen, upstream = %self.upstream, "tcp proxy listening");
        }
        self.follow_refuse().await
    }

    /// Closes the listener while a `refuse` toxic is on and opens it again (same address)
    /// once none is; a disabled proxy stays closed either way.
    async fn follow_refuse(&mut self) -> Result<(), ApiError> {
        let refuse = self.toxics.iter().any(|t| t.toxic.refuses());
        let Some(running) = &mut self.running else {
            return Ok(());
        };
        if refuse && running.is_listening() {
            running.refuse().await;
            tracing::info!(proxy = %self.name, "tcp proxy refusing connections");
        } else if !refuse && !running.is_listening() {
            running.listen_again().await.map_err(|e| {
                let addr = running.addr();
                ApiError::new(409, format!("cannot listen again on {addr}: {e}"))
            })?;
            tracing::info!(proxy = %self.name, listen = %self.listen, "tcp proxy listening again");
        }
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
            tracing::info!(proxy = %self.name, "tcp proxy stopped");
        }
    }

    fn find(&self, toxic: &str) -> Option<usize> {
        self.toxics.iter().position(|t| t.name == toxic)
    }
}

fn toxic_json(t: &ToxicSpec) -> Value {
    json!({
        "name": t.name,
        "type": t.kind,
        "stream": t.stream.as_str(),
        "toxicity": t.toxicity,
        "attributes": Value::Object(t.attributes.0.clone()),
    })
}

/// The first address `listen` names; an empty one means `127.0.0.1:0`.
pub(super) async fn resolve(listen: &str) -> Result<SocketAddr, ApiError> {
    let listen = if listen.is_empty() {
        "127.0.0.1:0"
    } else {
        listen
    };
    let bad = || ApiError::new(400, format!("listen address \"{listen}\" is not host:port"));
    let mut addrs = tokio::net::lookup_host(listen).await.map_err(|_| bad())?;
    addrs.next().ok_or_else(bad)
}

/// Checks an upstream is `host:port` with a valid port.
fn check_upstream(upstream: &str) -> Result<(), ApiError> {
    let ok = upstream
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            format!("upstream \"{upstream}\" is not host:port"),
        ))
    }
}

fn check_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing(field));
    }
    if name.contains('/') {
        return Err(ApiError::new(
            400,
            format!("name \"{name}\" must not contain '/'"),
        ));
    }
    Ok(())
}

/// Every proxy of the process, by name.
#[derive(Debug)]
pub struct Proxies {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    seed: u64,
    uids: AtomicU64,
}

impl Proxies {
    /// No proxies yet; toxicity rolls and toxic randomness derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Proxies {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            uids: AtomicU64::new(1),
        }
    }

    /// `GET /proxies`: every proxy with its toxics, by name.
    pub async fn list(&self) -> Value {
        let proxies = self.proxies.lock().await;
        Value::Object(
            proxies
                .iter()
                .map(|(name, p)| (name.clone(), p.to_json()))
                .collect::<Map<_, _>>(),
        )
    }

    /// `POST /proxies`: creates a proxy (409 if the name is taken), listening if enabled.
    pub async fn create(&self, config: ProxyConfig) -> Result<Value, ApiError> {
        check_name(&config.name, "name")?;
        if config.upstream.is_empty() {
            return Err(ApiError::missing("upstream"));
        }
        check_upstream(&config.upstream)?;
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&config.name) {
            return Err(ApiError::new(409, "proxy already exists"));
        }
        let proxy = self.build(config).await?;
        let shown = proxy.to_json();
        proxies.insert(proxy.name.clone(), proxy);
        Ok(shown)
    }

    async fn build(&self, config: ProxyConfig) -> Result<Proxy, ApiError> {
        let (chain, _) = watch::channel(Chain::default());
        let mut proxy = Proxy {
            name: config.name,
            listen: config.listen,
            upstream: config.upstream,
            toxics: Vec::new(),
            chain,
            connections: Arc::new(AtomicU64::new(0)),
            running: None,
        };
        if config.enabled.unwrap_or(true) {
            proxy.start(self.seed).await?;
        } else {
            // Checked now, so a disabled proxy cannot hold an address it can never bind.
            resolve(&proxy.listen).await?;
        }
        Ok(proxy)
    }

    /// `GET /proxies/{name}`.
    pub async fn get(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        proxies
            .get(name)
            .map(Proxy::to_json)
            .ok_or_else(ApiError::proxy_not_found)
    }

    /// `POST`/`PATCH /proxies/{name}`: a new listen address or upstream restarts the
    /// proxy; `enabled` opens or closes its listener.
    pub async fn update(&self, name: &str, update: ProxyUpdate) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let enabled = update.enabled.unwrap_or(proxy.running.is_some());
        if let Some(listen) = update.listen {
            let new = resolve(&listen).await?;
            if proxy.listen.parse::<SocketAddr>().ok() != Some(new) {
                proxy.stop().await;
                proxy.listen = listen;
            }
        }
        if let Some(upstream) = update.upstream {
            check_upstream(&upstream)?;
            if upstream != proxy.upstream {
                proxy.stop().await;
                proxy.upstream = upstream;
            }
        }
        if enabled {
            proxy.start(self.seed).await?;
        } else {
            proxy.stop().await;
        }
        Ok(proxy.to_json())
    }

    /// `DELETE /proxies/{name}`: stops and forgets it.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut proxy = proxies.remove(name).ok_or_else(ApiError::proxy_not_found)?;
        proxy.stop().await;
        Ok(())
    }

    /// `POST /populate`: creates or replaces each proxy (one with the same listen address
    /// and upstream is kept as it is). Returns the proxies done, and the error that
    /// stopped the rest, if any.
    pub async fn populate(&self, configs: Vec<ProxyConfig>) -> (Vec<Value>, Option<ApiError>) {
        for (i, c) in configs.iter().enumerate() {
            if let Err(e) = check_name(&c.name, &format!("name at proxy {}", i + 1)) {
                return (Vec::new(), Some(e));
            }
            if c.upstream.is_empty() {
                return (
                    Vec::new(),
                    Some(ApiError::missing(format!("upstream at proxy {}", i + 1))),
                );
            }
            if let Err(e) = check_upstream(&c.upstream) {
                return (Vec::new(), Some(e));
            }
        }
        let mut done = Vec::new();
        let mut proxies = self.proxies.lock().await;
        for config in configs {
            if let Some(existing) = proxies.get_mut(&config.name) {
                let same_listen = match resolve(&config.listen).await {
                    Ok(addr) => existing.listen.parse::<SocketAddr>().ok() == Some(addr),
                    Err(e) => return (done, Some(e)),
                };
                if same_listen && existing.upstream == config.upstream {
                    done.push(existing.to_json());
                    continue;
                }
                existing.stop().await;
                proxies.remove(&config.name);
            }
            match self.build(config).await {
                Ok(proxy) => {
                    done.push(proxy.to_json());
                    proxies.insert(proxy.name.clone(), proxy);
                }
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// `POST /reset`: every proxy enabled again, every toxic removed.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            proxy.toxics.clear();
            proxy.publish();
            proxy.start(self.seed).await?;
        }
        Ok(())
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, name: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
        Ok(proxy.toxics_json())
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn toxic(&self, name: &str, toxic: &str) -> Result<Value, ApiError> {
        let proxies = self.proxies.lock().await;
        let proxy = proxies.get(name).ok_or_else(ApiError::proxy_not_found)?;
        let i = proxy.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        Ok(toxic_json(&proxy.toxics[i]))
    }

    /// `POST /proxies/{name}/toxics`: adds a toxic (`stream` downstream and `toxicity` 1
    /// by default; name `{type}_{stream}` by default; 409 if the name is taken).
    pub async fn add_toxic(&self, name: &str, body: Value) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let Value::Object(body) = body else {
            return Err(ApiError::bad_body("expected a JSON object"));
        };
        let stream = match body.get("stream") {
            None | Some(Value::Null) => Direction::Downstream,
            Some(Value::String(s)) if s.is_empty() => Direction::Downstream,
            Some(Value::String(s)) => Direction::parse(s).ok_or_else(invalid_stream)?,
            Some(_) => return Err(invalid_stream()),
        };
        let kind = match body.get("type") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(v) => {
                return Err(ApiError::bad_body(format!(
                    "type must be a string, not {v}"
                )))
            }
        };
        let toxic_name = match body.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                format!("{kind}_{}", stream.as_str())
            }
            Some(v) => {
                return Err(ApiError::bad_body(format!(
                    "name must be a string, not {v}"
                )))
            }
        };
        let toxic_type =
            tcp::lookup(&kind).ok_or_else(|| ApiError::new(400, "invalid toxic type"))?;
        if proxy.find(&toxic_name).is_some() {
            return Err(ApiError::new(409, "toxic already exists"));
        }
        let toxicity = toxicity(body.get("toxicity"), 1.0)?;
        let given = attributes(body.get("attributes"))?;
        let spec = self.spec(toxic_name, toxic_type, stream, toxicity, &given)?;
        let shown = toxic_json(&spec);
        proxy.toxics.push(Arc::new(spec));
        proxy.publish();
        proxy.follow_refuse().await?;
        Ok(shown)
    }

    /// `POST`/`PATCH /proxies/{name}/toxics/{toxic}`: changes attributes (merged over the
    /// current ones) and toxicity; connections start it afresh, with a new roll.
    pub async fn update_toxic(
        &self,
        name: &str,
        toxic: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let i = proxy.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        let Value::Object(body) = body else {
            return Err(ApiError::bad_body("expected a JSON object"));
        };
        let old = proxy.toxics[i].clone();
        let toxic_type =
            tcp::lookup(&old.kind).ok_or_else(|| ApiError::new(400, "invalid toxic type"))?;
        let toxicity = toxicity(body.get("toxicity"), old.toxicity)?;
        let mut merged = old.attributes.0.clone();
        merged.extend(attributes(body.get("attributes"))?.0);
        let spec = self.spec(
            old.name.clone(),
            toxic_type,
            old.stream,
            toxicity,
            &Attributes(merged),
        )?;
        let shown = toxic_json(&spec);
        proxy.toxics[i] = Arc::new(spec);
        proxy.publish();
        proxy.follow_refuse().await?;
        Ok(shown)
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn remove_toxic(&self, name: &str, toxic: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        let i = proxy.find(toxic).ok_or_else(ApiError::toxic_not_found)?;
        proxy.toxics.remove(i);
        proxy.publish();
        proxy.follow_refuse().await
    }

    fn spec(
        &self,
        name: String,
        toxic_type: &tcp::ToxicType,
        stream: Direction,
        toxicity: f32,
        given: &Attributes,
    ) -> Result<ToxicSpec, ApiError> {
        let attributes = given.complete(toxic_type.keys);
        let toxic = (toxic_type.parse)(&attributes).map_err(ApiError::bad_body)?;
        if toxic.refuses() && toxicity < 1.0 {
            // A closed port refuses every connect: a share of them cannot be refused.
            return Err(ApiError::bad_body(format!(
                "toxicity of {} must be 1: it closes the proxy's port to every client",
                toxic_type.name
            )));
        }
        Ok(ToxicSpec {
            uid: self.uids.fetch_add(1, Ordering::Relaxed),
            name,
            kind: toxic_type.name.to_string(),
            stream,
            toxicity,
            attributes,
            toxic,
        })
    }
}

fn invalid_stream() -> ApiError {
    ApiError::new(
        400,
        "stream was invalid, can be either upstream or downstream",
    )
}

fn toxicity(value: Option<&Value>, default: f32) -> Result<f32, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Ok(t as f32),
            _ => Err(ApiError::bad_body(format!(
                "toxicity must be a number from 0 to 1, not {v}"
            ))),
        },
    }
}

fn attributes(value: Option<&Value>) -> Result<Attributes, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Attributes::default()),
        Some(Value::Object(map)) => Ok(Attributes(map.clone())),
        Some(v) => Err(ApiError::bad_body(format!(
            "attributes must be an object, not {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn proxies_work_without_the_http_api() {
        let proxies = Proxies::new(1);
        let p = proxies
            .create(ProxyConfig {
                name: "db".into(),
                upstream: "127.0.0.1:5432".into(),
                enabled: Some(false),
                ..ProxyConfig::default()
            })
            .await
            .expect("created");
        assert_eq!(p["enabled"], json!(false));
        let t = proxies
            .add_toxic(
                "db",
                json!({"type": "limit_data", "stream": "UPSTREAM", "attributes": {"bytes": 5, "extra": 1}}),
            )
            .await
            .expect("added");
        assert_eq!(t["name"], json!("limit_data_upstream"));
        assert_eq!(t["attributes"], json!({"bytes": 5}), "unknown keys dropped");
        let e = proxies
            .update("nope", ProxyUpdate::default())
            .await
            .expect_err("unknown");
        assert_eq!(
            e.to_json(),
            json!({"error": "proxy not found", "status": 404})
        );
    }
}
