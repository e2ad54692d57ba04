//! Fault-profile files and their faults.

use super::status_code;
use super::{duration, opt_duration, positive_duration, Checker};
use crate::config::raw;
use crate::config::*;
use std::ops::Range;
use toml::Spanned;

/// The fault kinds the proxy can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKindName {
    Status,
    Latency,
    Reset,
}

/// Validates one fault-profile file.
pub(super) fn profile(name: &str, file: &str, text: &str) -> Result<FaultProfile, Vec<Diagnostic>> {
    let mut c = Checker::new(file, text);
    let Some(raw) = c.parse::<raw::ProfileFile>() else {
        return Err(c.problems);
    };
    if raw.faults.is_empty() {
        c.whole_file("the profile has no [[faults]]");
    }
    let faults = raw.faults.iter().map(|f| fault(&mut c, f)).collect();
    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    Ok(FaultProfile {
        name: raw.name.unwrap_or_else(|| name.to_string()),
        description: raw.description.trim().to_string(),
        faults,
    })
}

fn fault(c: &mut Checker, f: &raw::FaultFile) -> Fault {
    let kind_name = f.kind.get_ref().as_str();
    let kind = match kind_name {
        "status" => FaultKindName::Status,
        "latency" => FaultKindName::Latency,
        "reset" => FaultKindName::Reset,
        other => {
            c.at(
                f.kind.span(),
                format!("unknown fault kind \"{other}\" (known: status, latency, reset)"),
            );
            FaultKindName::Reset
        }
    };
    let mut not_for = |span: Option<Range<usize>>, key: &str| {
        if let Some(span) = span {
            c.at(
                span,
                format!("`{key}` does not apply to a {kind_name} fault"),
            );
        }
    };
    match kind {
        FaultKindName::Status => {
            not_for(f.delay.as_ref().map(Spanned::span), "delay");
            not_for(f.jitter.as_ref().map(Spanned::span), "jitter");
        }
        FaultKindName::Latency => {
            not_for(f.status.as_ref().map(Spanned::span), "status");
            not_for(f.body.as_ref().map(Spanned::span), "body");
        }
        FaultKindName::Reset => {
            not_for(f.status.as_ref().map(Spanned::span), "status");
            not_for(f.body.as_ref().map(Spanned::span), "body");
            not_for(f.delay.as_ref().map(Spanned::span), "delay");
            not_for(f.jitter.as_ref().map(Spanned::span), "jitter");
        }
    }
    let action = match kind {
        FaultKindName::Status => {
            let code = match &f.status {
                Some(s) => status_code(c, s),
                None => {
                    c.at(f.kind.span(), "a status fault needs `status` (e.g. 500)");
                    500
                }
            };
            FaultAction::Status {
                code,
                body: f
                    .body
                    .as_ref()
                    .map(|b| b.get_ref().clone())
                    .unwrap_or_else(|| {
                        format!("{{\"error\":\"injected by breakerbox\",\"status\":{code}}}")
                    }),
            }
        }
        FaultKindName::Latency => {
            let delay = match &f.delay {
                Some(d) => positive_duration(c, d, "delay"),
                None => {
                    c.at(
                        f.kind.span(),
                        "a latency fault needs `delay` (e.g. \"200ms\")",
                    );
                    Duration::ZERO
                }
            };
            let jitter = f
                .jitter
                .as_ref()
                .and_then(|j| duration(c, j))
                .unwrap_or_default();
            if let Some(j) = &f.jitter {
                if jitter > delay {
                    c.at(j.span(), "jitter must not exceed delay");
                }
            }
            FaultAction::Latency { delay, jitter }
        }
        FaultKindName::Reset => FaultAction::Reset,
    };
    let probability = match &f.probability {
        None => 1.0,
        Some(p) => {
            let v = *p.get_ref();
            if !(0.0..=1.0).contains(&v) {
                c.at(
                    p.span(),
                    format!("probability must be between 0.0 and 1.0, not {v}"),
                );
            }
            v
        }
    };
    if let Some(p) = &f.path {
        if !p.get_ref().starts_with('/') {
            c.at(
                p.span(),
                format!("path \"{}\" must start with '/'", p.get_ref()),
            );
        }
    }
    Fault {
        action,
        probability,
        path_prefix: f.path.as_ref().map(|p| p.get_ref().clone()),
        start: opt_duration(c, &f.start).unwrap_or_default(),
        duration: f
            .duration
            .as_ref()
            .map(|d| positive_duration(c, d, "duration")),
    }
}
