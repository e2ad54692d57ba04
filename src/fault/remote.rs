//! A fault proxy in another process, driven through its admin API.
//!
//! `breakerbox run` with `[proxy] admin = "http://host:8474"` does not start a proxy of its
//! own: it installs the drill's fault schedule on the named HTTP proxy there
//! (`PUT /http-proxies/{name}/schedule`), starts that schedule at the run's epoch
//! (`POST .../start`), so both sides count from the same instant, and reads the proxy's tap
//! back at the end (`GET .../tap`) for the witnesses and the breaker inference. The load
//! generator and the proxy can so sit on different hosts of a staging environment.

use super::admin::http::TapReport;
use super::decisions::DecisionPage;
use super::{TapBucket, UpstreamSeries};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long one admin API call may take before the run gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the remote proxy could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The admin API did not answer (refused, timed out, not HTTP).
    #[error("remote proxy admin API {admin}: {why}")]
    Unreachable {
        /// The admin API's base URL.
        admin: String,
        /// What went wrong.
        why: String,
    },
    /// The admin API answered with an error.
    #[error("remote proxy admin API {admin}: {call} answered {status}: {message}")]
    Refused {
        /// The admin API's base URL.
        admin: String,
        /// The call, e.g. `PUT /http-proxies/default/schedule`.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The API's error message.
        message: String,
    },
    /// The admin API has no HTTP proxy by that name, and the drill gave nothing to create one.
    #[error("remote proxy admin API {admin} has no HTTP proxy named \"{name}\": start it with `breakerbox proxy --listen ADDR --upstream URL --admin ADDR` (it registers `default`), or give [proxy] listen and upstream so the run creates it")]
    Missing {
        /// The admin API's base URL.
        admin: String,
        /// The proxy's name.
        name: String,
    },
    /// An answer that is not what the API documents.
    #[error("remote proxy admin API {admin}: {call} answered something unexpected: {why}")]
    Garbled {
        /// The admin API's base URL.
        admin: String,
        /// The call.
        call: String,
        /// What is wrong with the answer.
        why: String,
    },
}

/// One fault of a schedule, as the remote proxy takes it.
#[derive(Debug, Clone, Copy)]
pub struct RemoteRule<'a> {
    /// The id the tap counts its injections under.
    pub id: usize,
    /// Window start, from the run epoch.
    pub from: Duration,
    /// Window end (exclusive), from the run epoch.
    pub until: Duration,
    /// The `[[faults]]` entry as written; the remote proxy validates it itself.
    pub fault: &'a toml::Table,
}

/// What to create when the remote has no proxy by the name.
#[derive(Debug, Clone)]
pub struct CreateProxy {
    /// Where it listens (on the remote host).
    pub listen: String,
    /// Its upstream's base URL (as the remote host reaches it).
    pub upstream: String,
    /// Its own upstream timeout.
    pub upstream_timeout: Duration,
}

/// The remote proxy's counts, moved onto the run's clock.
#[derive(Debug, Clone, Default)]
pub struct RemoteTap {
    /// The 100 ms buckets.
    pub buckets: Vec<TapBucket>,
    /// Attempts and outcomes per 10 ms slot, and the call log near failures.
    pub upstream: UpstreamSeries,
    /// Per fault id, when it first injected.
    pub first_injection: Vec<Option<Duration>>,
}

/// A named HTTP proxy behind a remote admin API.
#[derive(Debug)]
pub struct RemoteProxy {
    client: reqwest::Client,
    admin: String,
    name: String,
    token: Option<String>,
    listen: String,
    /// How far the remote schedule's epoch lies after the run's (half the start call).
    offset: Duration,
}

impl RemoteProxy {
    /// Finds the proxy `name` behind `admin` (creating it from `create` when it is missing
    /// and the drill said how), checking the API answers.
    pub async fn connect(
        admin: &str,
        name: &str,
        token: Option<String>,
        create: Option<CreateProxy>,
    ) -> Result<RemoteProxy, RemoteError> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .no_proxy()
            .retry(reqwest::retry::never())
            .build()
            .map_err(|e| RemoteError::Unreachable {
                admin: admin.to_string(),
                why: e.to_string(),
            })?;
        let mut remote = RemoteProxy {
            client,
            admin: admin.trim_end_matches('/').to_string(),
            name: name.to_string(),
            token,
            listen: String::new(),
            offset: Duration::ZERO,
        };
        let path = remote.path("");
        let found = match remote.call(reqwest::Method::GET, &path, None).await {
            Ok(found) => found,
            Err(RemoteError::Refused { status: 404, .. }) => match create {
                Some(c) => {
                    let body = json!({
                        "name": name,
                        "listen": c.listen,
                        "upstream": c.upstream,
                        "upstream_timeout": format!("{}ms", c.upstream_timeout.as_millis()),
                    });
                    remote
                        .call(reqwest::Method::POST, "/http-proxies", Some(body))
                        .await?
                }
                None => {
                    return Err(RemoteError::Missing {
                        admin: remote.admin,
                        name: remote.name,
                    })
                }
            },
            Err(e) => return Err(e),
        };
        remote.listen = found
            .get("listen")
            .and_then(Value::as_str)
            .ok_or_else(|| remote.garbled(&path, "no `listen` address"))?
            .to_string();
        Ok(remote)
    }

    /// The base URL a service's dependency should point at, as the remote host listens;
    /// a wildcard listen address is replaced by the admin API's host.
    pub fn url(&self) -> String {
        let host = reqwest::Url::parse(&self.admin)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        match self.listen.rsplit_once(':') {
            Some(("0.0.0.0" | "[::]", port)) if !host.is_empty() => {
                format!("http://{host}:{port}")
            }
            _ => format!("http://{}", self.listen),
        }
    }

    /// Installs `rules` on the remote proxy with their absolute windows; nothing is injected
    /// until [`RemoteProxy::start`].
    pub async fn install(
        &self,
        seed: u64,
        span: Duration,
        rules: &[RemoteRule<'_>],
    ) -> Result<(), RemoteError> {
        let rules: Vec<Value> = rules
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "from_ms": r.from.as_millis() as u64,
                    "until_ms": r.until.as_millis() as u64,
                    "fault": r.fault,
                })
            })
            .collect();
        let body = json!({"seed": seed, "span_ms": span.as_millis() as u64, "rules": rules});
        self.call(reqwest::Method::PUT, &self.path("/schedule"), Some(body))
            .await
            .map(drop)
    }

    /// Starts the installed schedule; call it at the run's epoch. The remote epoch is taken
    /// to lie half the call's round trip after `epoch`, and the tap is moved back by that.
    pub async fn start(&mut self, epoch: Instant) -> Result<(), RemoteError> {
        let sent = epoch.elapsed();
        self.call(reqwest::Method::POST, &self.path("/start"), None)
            .await?;
        let answered = epoch.elapsed();
        self.offset = (sent + answered) / 2;
        tracing::info!(
            proxy = %self.name,
            offset_ms = self.offset.as_secs_f64() * 1e3,
            "remote proxy schedule started"
        );
        Ok(())
    }

    /// Reads the remote tap and moves it onto the run's clock.
    pub async fn tap(&self) -> Result<RemoteTap, RemoteError> {
        let path = self.path("/tap");
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let report: TapReport =
            serde_json::from_value(answer).map_err(|e| self.garbled(&path, e))?;
        Ok(shift(report, self.offset))
    }

    /// Every decision the remote proxy's log still holds, page by page, with times moved
    /// onto the run's clock; read it before [`clear`](Self::clear), which starts a new log.
    pub async fn decisions(&self) -> Result<DecisionPage, RemoteError> {
        let mut all = DecisionPage {
            next: 0,
            dropped: 0,
            decisions: Vec::new(),
        };
        loop {
            let path = self.path(&format!("/decisions?since={}", all.next));
            let answer = self.call(reqwest::Method::GET, &path, None).await?;
            let page: DecisionPage =
                serde_json::from_value(answer).map_err(|e| self.garbled(&path, e))?;
            let done = page.decisions.is_empty() || page.next <= all.next;
            all.next = page.next.max(all.next);
            all.dropped += page.dropped;
            let offset_ms = self.offset.as_secs_f64() * 1e3;
            all.decisions
                .extend(page.decisions.into_iter().map(|mut d| {
                    d.at_ms = ((d.at_ms + offset_ms) * 1e3).round() / 1e3;
                    d
                }));
            if done {
                return Ok(all);
            }
        }
    }

    /// Removes every fault from the remote proxy (the run is over, or was stopped).
    pub async fn clear(&self) -> Result<(), RemoteError> {
        self.call(reqwest::Method::DELETE, &self.path("/faults"), None)
            .await
            .map(drop)
    }

    fn path(&self, rest: &str) -> String {
        format!("/http-proxies/{}{rest}", self.name)
    }

    fn garbled(&self, call: &str, why: impl std::fmt::Display) -> RemoteError {
        RemoteError::Garbled {
            admin: self.admin.clone(),
            call: call.to_string(),
            why: why.to_string(),
        }
    }

    /// One call: the JSON answer (`null` for 204), or the API's error.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, RemoteError> {
        let call = format!("{method} {path}");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .header(reqwest::header::USER_AGENT, "breakerbox-run");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| RemoteError::Unreachable {
            admin: self.admin.clone(),
            why: if e.is_connect() {
                "refused the connection (is `breakerbox proxy --admin` running there?)".into()
            } else if e.is_timeout() {
                format!("no answer within {CALL_TIMEOUT:?}")
            } else {
                e.to_string()
            },
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.garbled(&call, e))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| self.garbled(&call, e))?
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value.get("error").and_then(Value::as_str).map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            str::to_string,
        );
        Err(RemoteError::Refused {
            admin: self.admin.clone(),
            call,
            status,
            message,
        })
    }
}

/// Moves a remote tap, counted from the remote epoch, onto a run clock `offset` earlier.
fn shift(report: TapReport, offset: Duration) -> RemoteTap {
    let slots = (offset.as_millis() / crate::series::SLOT.as_millis()) as usize;
    let buckets_late = (offset.as_millis() / super::tap::BUCKET.as_millis()) as u64;
    let pad = |v: Vec<u32>| {
        let mut out = vec![0; slots];
        out.extend(v);
        out
    };
    let upstream = report.upstream;
    RemoteTap {
        buckets: report
            .buckets
            .into_iter()
            .map(|mut b| {
                b.at_ms += buckets_late * super::tap::BUCKET.as_millis() as u64;
                b
            })
            .collect(),
        upstream: UpstreamSeries {
            attempts: pad(upstream.attempts),
            failed: pad(upstream.failed),
            succeeded: pad(upstream.succeeded),
            calls: upstream
                .calls
                .into_iter()
                .map(|(at, event)| (at + offset, event))
                .collect(),
            calls_complete: upstream.calls_complete,
        },
        first_injection: report
            .first_injection_ms
            .into_iter()
            .map(|ms| ms.map(|ms| Duration::from_millis(ms) + offset))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::CallEvent;

    #[test]
    fn a_remote_tap_moves_onto_the_run_clock() {
        let report = TapReport {
            elapsed_ms: Some(300),
            bucket_ms: 100,
            slot_ms: 10,
            buckets: vec![TapBucket {
                at_ms: 100,
                received: 3,
                ..TapBucket::default()
            }],
            upstream: UpstreamSeries {
                attempts: vec![1, 2],
                failed: vec![0, 1],
                succeeded: vec![1, 1],
                calls: vec![(Duration::from_millis(12), CallEvent::Failed)],
                calls_complete: true,
            },
            first_injection_ms: vec![None, Some(15)],
        };
        let tap = shift(report, Duration::from_millis(125));
        assert_eq!(tap.buckets[0].at_ms, 200, "whole buckets only");
        assert_eq!(
            tap.upstream.attempts,
            vec![0; 12].into_iter().chain([1, 2]).collect::<Vec<_>>()
        );
        assert_eq!(tap.upstream.calls[0].0, Duration::from_millis(137));
        assert_eq!(
            tap.first_injection,
            vec![None, Some(Duration::from_millis(140))]
        );
    }

    #[test]
    fn a_wildcard_listen_address_is_reached_through_the_admin_host() {
        let remote = |listen: &str| RemoteProxy {
            client: reqwest::Client::new(),
            admin: "http://10.0.0.5:8474".into(),
            name: "default".into(),
            token: None,
            listen: listen.into(),
            offset: Duration::ZERO,
        };
        assert_eq!(remote("0.0.0.0:9000").url(), "http://10.0.0.5:9000");
        assert_eq!(remote("127.0.0.1:9000").url(), "http://127.0.0.1:9000");
    }
}
