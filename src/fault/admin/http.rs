//! The named HTTP fault proxies of one process, as the admin API manages them: created and
//! deleted over REST, given faults (JSON tables, a TOML profile, or a schedule on a clock a
//! runner starts), and read back (the tap, the decision log).
//!
//! Installing faults swaps the proxy's whole session (rules, clock, seed, tap, log) while
//! it keeps serving on the same port.

mod tables;
pub mod wire;

pub use wire::{
    DecisionPage, DecisionRecord, FaultsBody, HttpProxyView, RuleView, RulesBody, ScheduleBody,
    ScheduledRule, StartAnswer, TapReport,
};

use super::proxies::resolve;
use super::ApiError;
use crate::clock::{self, RunClock};
use crate::config::{self, Fault};
use crate::fault::{FaultLayer, FaultProxy, ProxyError, ProxyOptions, Rule, Rules, Session, Tap};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a tap keeps 10 ms slots when no span is given; later calls share the last one.
pub const DEFAULT_SPAN: Duration = Duration::from_secs(3600);

/// Default wait for the upstream's response headers.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Decisions one page returns unless asked for fewer or more.
pub const DEFAULT_DECISIONS: usize = 1000;

/// Most decisions one page returns.
pub const MAX_DECISIONS: usize = 10_000;

/// Highest rule id a schedule may use (the tap keeps a column per id up to it).
pub const MAX_RULE_ID: usize = 10_000;

/// An HTTP proxy as asked for: the `POST /http-proxies` body.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct HttpProxyConfig {
    /// Unique name.
    #[serde(default)]
    pub name: String,
    /// `host:port` to listen on (default `127.0.0.1:0`).
    #[serde(default)]
    pub listen: Option<String>,
    /// Base URL to forward to, e.g. `http://127.0.0.1:9090`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Longest wait for the upstream's response headers, e.g. `"30s"` (default 30 s).
    #[serde(default)]
    pub upstream_timeout: Option<String>,
    /// Seed of every roll (default: the admin server's seed).
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug)]
struct HttpProxy {
    name: String,
    upstream: String,
    upstream_timeout: Duration,
    /// The seed faults and profiles are installed with.
    seed: u64,
    proxy: FaultProxy,
    /// The installed rules with their tables, as `GET .../faults` shows them.
    rules: RulesBody,
}

impl HttpProxy {
    fn session(&self) -> Arc<Session> {
        self.proxy.live().load()
    }

    fn view(&self) -> HttpProxyView {
        let session = self.session();
        let elapsed = session.elapsed();
        HttpProxyView {
            name: self.name.clone(),
            listen: self.proxy.addr().to_string(),
            upstream: self.upstream.clone(),
            upstream_timeout_ms: millis(self.upstream_timeout),
            seed: session.seed,
            started: elapsed.is_some(),
            elapsed_ms: elapsed.map(millis),
            rules: self.rules.rules.len(),
        }
    }

    /// Makes `rules` current on `clock`, with a fresh tap for `slots` ids over `span`.
    fn install(&mut self, rules: Vec<(Rule, Value)>, clock: RunClock, seed: u64, span: Duration) {
        let slots = rules.iter().map(|(r, _)| r.id + 1).max().unwrap_or(0);
        let view = RulesBody {
            rules: rules
                .iter()
                .map(|(rule, table)| RuleView {
                    id: rule.id,
                    from_ms: millis(rule.from),
                    until_ms: (rule.until != Duration::MAX).then(|| millis(rule.until)),
                    kind: rule.fault.kind_name().to_string(),
                    fault: table.clone(),
                })
                .collect(),
        };
        let rules = Rules::new(rules.into_iter().map(|(rule, _)| rule).collect());
        let tap = Arc::new(Tap::new(slots, span));
        self.proxy
            .live()
            .install(Session::new(rules, clock, seed, tap));
        self.rules = view;
        tracing::info!(proxy = %self.name, rules = self.rules.rules.len(), "http proxy faults installed");
    }

    /// Installs `faults` with windows from their own start and duration, on a clock
    /// started now.
    fn install_from_start(&mut self, faults: Vec<(Fault, Value)>) -> RulesBody {
        let (faults, tables): (Vec<Fault>, Vec<Value>) = faults.into_iter().unzip();
        let rules = Rules::from_start(faults).rules().to_vec();
        let clock = RunClock::new();
        clock.start();
        self.install(
            rules.into_iter().zip(tables).collect(),
            clock,
            self.seed,
            DEFAULT_SPAN,
        );
        self.rules.clone()
    }
}

/// The HTTP fault proxies of the admin API, by name.
#[derive(Debug)]
pub struct HttpProxies {
    seed: u64,
    proxies: Mutex<BTreeMap<String, HttpProxy>>,
}

impl HttpProxies {
    /// No proxies yet; `seed` is the default of those created.
    pub fn new(seed: u64) -> Self {
        HttpProxies {
            seed,
            proxies: Mutex::new(BTreeMap::new()),
        }
    }

    /// Starts a proxy (serving at once, no faults) and registers it.
    pub async fn create(&self, config: HttpProxyConfig) -> Result<HttpProxyView, ApiError> {
        check_name(&config.name)?;
        let upstream = match config.upstream.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => return Err(ApiError::missing("upstream")),
        };
        let upstream_timeout = match &config.upstream_timeout {
            Some(text) => config::parse_duration(text)
                .map_err(|e| ApiError::new(400, format!("upstream_timeout: {e}")))?,
            None => DEFAULT_UPSTREAM_TIMEOUT,
        };
        if upstream_timeout.is_zero() {
            return Err(ApiError::new(400, "upstream_timeout: must be above zero"));
        }
        let seed = config.seed.unwrap_or(self.seed);
        let listen = resolve(config.listen.as_deref().unwrap_or("")).await?;
        self.add(
            &config.name,
            listen,
            &upstream,
            upstream_timeout,
            seed,
            ProxyOptions::default(),
        )
        .await
    }

    /// Starts proxy `name` on `listen` in front of `upstream` (serving at once, no faults)
    /// and registers it: [`HttpProxies::create`] once its fields are read, and the
    /// standalone proxy's way to expose itself.
    pub async fn add(
        &self,
        name: &str,
        listen: SocketAddr,
        upstream: &str,
        upstream_timeout: Duration,
        seed: u64,
        options: ProxyOptions,
    ) -> Result<HttpProxyView, ApiError> {
        check_name(name)?;
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(name) {
            return Err(ApiError::new(409, "proxy already exists"));
        }
        let layer = FaultLayer::starting_now(Rules::default(), seed, DEFAULT_SPAN);
        let proxy = FaultProxy::start_with(listen, upstream, layer, upstream_timeout, options)
            .await
            .map_err(|e| match e {
                ProxyError::Upstream(_) | ProxyError::UpstreamTls(_) | ProxyError::ListenTls(_) => {
                    ApiError::new(400, e.to_string())
                }
                ProxyError::Bind { addr, source } => {
                    ApiError::new(500, format!("cannot listen on {addr}: {source}"))
                }
            })?;
        let entry = HttpProxy {
            name: name.to_string(),
            upstream: upstream.to_string(),
            upstream_timeout,
            seed,
            proxy,
            rules: RulesBody { rules: Vec::new() },
        };
        let view = entry.view();
        proxies.insert(name.to_string(), entry);
        Ok(view)
    }

    /// Every proxy, by name.
    pub async fn list(&self) -> BTreeMap<String, HttpProxyView> {
        let proxies = self.proxies.lock().await;
        proxies
            .iter()
            .map(|(name, p)| (name.clone(), p.view()))
            .collect()
    }

    /// One proxy.
    pub async fn get(&self, name: &str) -> Result<HttpProxyView, ApiError> {
        let proxies = self.proxies.lock().await;
        Ok(find(&proxies, name)?.view())
    }

    /// Stops a proxy listening and forgets it.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let removed = self.proxies.lock().await.remove(name);
        match removed {
            Some(p) => {
                tracing::info!(proxy = %p.name, "http proxy deleted");
                Ok(())
            }
            None => Err(not_found()),
        }
    }

    /// The installed rules.
    pub async fn faults(&self, name: &str) -> Result<RulesBody, ApiError> {
        let proxies = self.proxies.lock().await;
        Ok(find(&proxies, name)?.rules.clone())
    }

    /// Replaces the faults with `body`'s tables, on a clock started now.
    pub async fn put_faults(&self, name: &str, body: Value) -> Result<RulesBody, ApiError> {
        let body: FaultsBody = serde_json::from_value(body).map_err(ApiError::bad_body)?;
        let faults = body
            .faults
            .into_iter()
            .enumerate()
            .map(|(i, table)| Ok((tables::from_json(&format!("faults[{i}]"), &table)?, table)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let mut proxies = self.proxies.lock().await;
        Ok(find_mut(&mut proxies, name)?.install_from_start(faults))
    }

    /// Replaces the faults with a TOML profile's, on a clock started now.
    pub async fn put_profile(&self, name: &str, text: &str) -> Result<RulesBody, ApiError> {
        let faults = tables::from_profile(text)?;
        let mut proxies = self.proxies.lock().await;
        Ok(find_mut(&mut proxies, name)?.install_from_start(faults))
    }

    /// Removes every fault (a fresh, started clock and tap).
    pub async fn clear_faults(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        find_mut(&mut proxies, name)?.install_from_start(Vec::new());
        Ok(())
    }

    /// Installs `body`'s rules with their absolute windows, on a clock that waits for
    /// [`HttpProxies::start`].
    pub async fn put_schedule(&self, name: &str, body: Value) -> Result<RulesBody, ApiError> {
        let body: ScheduleBody = serde_json::from_value(body).map_err(ApiError::bad_body)?;
        let mut rules = Vec::with_capacity(body.rules.len());
        let mut ids = std::collections::BTreeSet::new();
        for (i, scheduled) in body.rules.into_iter().enumerate() {
            let label = format!("rules[{i}]");
            if scheduled.id > MAX_RULE_ID {
                return Err(ApiError::new(
                    400,
                    format!("{label}: id {} is over {MAX_RULE_ID}", scheduled.id),
                ));
            }
            if !ids.insert(scheduled.id) {
                return Err(ApiError::new(
                    400,
                    format!("{label}: id {} is used twice", scheduled.id),
                ));
            }
            if scheduled.until_ms.is_some_and(|u| u < scheduled.from_ms) {
                return Err(ApiError::new(
                    400,
                    format!("{label}: until_ms is before from_ms"),
                ));
            }
            let fault = tables::from_json(&format!("{label}.fault"), &scheduled.fault)?;
            let rule = Rule {
                id: scheduled.id,
                from: Duration::from_millis(scheduled.from_ms),
                until: scheduled
                    .until_ms
                    .map_or(Duration::MAX, Duration::from_millis),
                fault,
            };
            rules.push((rule, scheduled.fault));
        }
        let span = body.span_ms.map_or(DEFAULT_SPAN, Duration::from_millis);
        let mut proxies = self.proxies.lock().await;
        let proxy = find_mut(&mut proxies, name)?;
        let seed = body.seed.unwrap_or(proxy.seed);
        proxy.install(rules, RunClock::new(), seed, span);
        Ok(proxy.rules.clone())
    }

    /// Starts the installed faults' clock now (the first call only) and gives its epoch.
    pub async fn start(&self, name: &str) -> Result<StartAnswer, ApiError> {
        let session = self.session(name).await?;
        session.clock.start();
        let wall = session
            .clock
            .wall_epoch()
            .ok_or_else(|| ApiError::new(500, "the clock did not start"))?;
        Ok(StartAnswer {
            started_unix_ms: clock::unix_ms_at(wall, Duration::ZERO),
        })
    }

    /// The installed faults' tap.
    pub async fn tap(&self, name: &str) -> Result<TapReport, ApiError> {
        let session = self.session(name).await?;
        let tap = &session.tap;
        Ok(TapReport {
            elapsed_ms: session.elapsed().map(millis),
            bucket_ms: millis(crate::fault::tap::BUCKET),
            slot_ms: millis(crate::series::SLOT),
            buckets: tap.snapshot(),
            upstream: tap.upstream(),
            first_injection_ms: (0..tap.faults())
                .map(|id| tap.first_injection(id).map(millis))
                .collect(),
        })
    }

    /// A page of the installed faults' decision log: up to `limit` entries from `since`.
    pub async fn decisions(
        &self,
        name: &str,
        since: u64,
        limit: usize,
    ) -> Result<DecisionPage, ApiError> {
        let session = self.session(name).await?;
        Ok(session.decisions.page(since, limit.clamp(1, MAX_DECISIONS)))
    }

    async fn session(&self, name: &str) -> Result<Arc<Session>, ApiError> {
        let proxies = self.proxies.lock().await;
        Ok(find(&proxies, name)?.session())
    }
}

fn find<'a>(
    proxies: &'a BTreeMap<String, HttpProxy>,
    name: &str,
) -> Result<&'a HttpProxy, ApiError> {
    proxies.get(name).ok_or_else(not_found)
}

fn find_mut<'a>(
    proxies: &'a mut BTreeMap<String, HttpProxy>,
    name: &str,
) -> Result<&'a mut HttpProxy, ApiError> {
    proxies.get_mut(name).ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::new(404, "proxy not found")
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing("name"));
    }
    if name.contains('/') {
        return Err(ApiError::new(400, "name: must not contain '/'"));
    }
    Ok(())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `since` and `limit` from a decisions query string (`since=SEQ&limit=N`).
pub fn page_query(query: Option<&str>) -> Result<(u64, usize), ApiError> {
    let (mut since, mut limit) = (0, DEFAULT_DECISIONS);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || ApiError::new(400, format!("{key}: \"{value}\" is not a whole number"));
        match key {
            "since" => since = value.parse().map_err(|_| bad())?,
            "limit" => limit = value.parse().map_err(|_| bad())?,
            _ => {}
        }
    }
    Ok((since, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_queries() {
        assert_eq!(page_query(None), Ok((0, DEFAULT_DECISIONS)));
        assert_eq!(page_query(Some("since=5&limit=20")), Ok((5, 20)));
        assert_eq!(page_query(Some("limit=3&x=y")), Ok((0, 3)));
        assert_eq!(page_query(Some("since=-1")).map_err(|e| e.status), Err(400));
    }
}
