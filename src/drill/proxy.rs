//! The drill's fault proxy: one started here, or one in another process driven through its
//! admin API; either way the run gets the same tap back.

use super::DrillError;
use crate::clock::RunClock;
use crate::config::{ProxySettings, RemoteProxySettings};
use crate::fault::decisions::DecisionPage;
use crate::fault::remote::{CreateProxy, RemoteProxy, RemoteRule, RemoteTap};
use crate::fault::{
    FaultLayer, FaultProxy, ListenTls, ProxyOptions, Rule, Rules, Tap, TapBucket, UpstreamSeries,
    UpstreamTls,
};
use crate::plan::Plan;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The proxy a drill uses.
#[derive(Debug)]
pub(super) enum ProxyPart {
    /// Started by this run, in this process.
    Local(FaultProxy),
    /// Running elsewhere; the run installed its schedule there.
    Remote(RemoteProxy),
}

/// What the proxy counted, on the run's clock.
#[derive(Debug, Default)]
pub(super) struct TapData {
    /// The 100 ms buckets.
    pub buckets: Vec<TapBucket>,
    /// Attempts and outcomes per 10 ms slot.
    pub upstream: UpstreamSeries,
    /// Per fault id, when it first injected.
    pub first_injection: Vec<Option<Duration>>,
    /// The decision log, when asked for.
    pub decisions: Option<DecisionPage>,
}

impl ProxyPart {
    /// Starts the proxy `settings` describe (or reaches the remote one and installs the
    /// plan's schedule there), forwarding to `upstream` (the stub when the drill names none).
    pub(super) async fn start(
        settings: &ProxySettings,
        plan: &Plan,
        clock: &RunClock,
        stub_url: Option<String>,
    ) -> Result<ProxyPart, DrillError> {
        let upstream = settings.upstream.clone().or(stub_url).unwrap_or_default();
        if let Some(remote) = &settings.remote {
            return Ok(ProxyPart::Remote(
                reach_remote(remote, settings, plan, upstream).await?,
            ));
        }
        let tap = Arc::new(Tap::new(plan.faults.len(), plan.total_duration()));
        let rules = Rules::new(
            plan.faults
                .iter()
                .map(|s| Rule {
                    id: s.id,
                    from: s.from,
                    until: s.until,
                    fault: s.fault.clone(),
                })
                .collect(),
        );
        let layer = FaultLayer::new(rules, clock.clone(), plan.seed, tap);
        let options = ProxyOptions {
            upstream_tls: UpstreamTls {
                ca_file: settings.upstream_ca.clone(),
                insecure: settings.upstream_insecure,
            },
            listen_tls: settings.tls.as_ref().map(|t| ListenTls {
                cert: t.cert.clone(),
                key: t.key.clone(),
            }),
            ..ProxyOptions::default()
        };
        let proxy = FaultProxy::start_with(
            settings.listen,
            &upstream,
            layer,
            settings.upstream_timeout,
            options,
        )
        .await?;
        Ok(ProxyPart::Local(proxy))
    }

    /// The base URL to point the service's dependency at.
    pub(super) fn url(&self) -> String {
        match self {
            ProxyPart::Local(p) => p.url(),
            ProxyPart::Remote(r) => r.url(),
        }
    }

    /// Puts a remote proxy's schedule on the run's clock; call it right after the epoch.
    /// A failure is logged, not fatal: the load runs, and the witnesses then show that no
    /// fault fired.
    pub(super) async fn started(&mut self, epoch: Instant) {
        if let ProxyPart::Remote(r) = self {
            if let Err(e) = r.start(epoch).await {
                tracing::error!(error = %e, "the remote proxy's schedule did not start");
            }
        }
    }

    /// What the proxy counted, and its decision log if `keep_decisions`. A remote proxy's
    /// faults are cleared afterwards, so a stopped run leaves nothing injecting; an
    /// unreadable remote tap or log is logged and reads as empty.
    pub(super) async fn finish(&self, faults: usize, keep_decisions: bool) -> TapData {
        match self {
            ProxyPart::Local(p) => {
                let tap = p.tap();
                let upstream = tap.upstream();
                let first_injection = (0..faults).map(|id| tap.first_injection(id));
                TapData {
                    buckets: tap.snapshot(),
                    first_injection: first_injection.collect(),
                    upstream,
                    decisions: keep_decisions.then(|| p.decisions()),
                }
            }
            ProxyPart::Remote(r) => {
                let tap = r.tap().await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read the remote proxy's tap");
                    RemoteTap::default()
                });
                let decisions = match keep_decisions {
                    true => r
                        .decisions()
                        .await
                        .map_err(|e| {
                            tracing::error!(error = %e, "cannot read the remote proxy's decisions")
                        })
                        .ok(),
                    false => None,
                };
                if let Err(e) = r.clear().await {
                    tracing::error!(error = %e, "cannot clear the remote proxy's faults");
                }
                TapData {
                    buckets: tap.buckets,
                    upstream: tap.upstream,
                    first_injection: tap.first_injection,
                    decisions,
                }
            }
        }
    }
}

/// Reaches the remote proxy (creating it when the drill says how) and installs the plan's
/// schedule there, not started yet.
async fn reach_remote(
    remote: &RemoteProxySettings,
    settings: &ProxySettings,
    plan: &Plan,
    upstream: String,
) -> Result<RemoteProxy, DrillError> {
    let token = match &remote.token_file {
        Some(path) => Some(crate::fault::admin::read_token_file(path)?),
        None => None,
    };
    let create = remote.create.then(|| CreateProxy {
        listen: settings.listen.to_string(),
        upstream,
        upstream_timeout: settings.upstream_timeout,
    });
    let proxy = RemoteProxy::connect(&remote.admin, &remote.name, token, create).await?;
    let rules: Vec<RemoteRule> = plan
        .faults
        .iter()
        .map(|s| RemoteRule {
            id: s.id,
            from: s.from,
            until: s.until,
            fault: &s.fault.source,
        })
        .collect();
    proxy
        .install(plan.seed, plan.total_duration(), &rules)
        .await?;
    Ok(proxy)
}
