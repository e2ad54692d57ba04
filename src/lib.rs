//! breakerbox: drills that prove a service's circuit breaker, cache and fallback work.
//!
//! A drill drives staged load at a service (the SUT), injects faults into its upstream
//! dependency through a fault proxy, watches the breaker move CLOSED → OPEN → HALF_OPEN →
//! CLOSED, and judges the run against the drill's expectations.
//!
//! Data flows one way through the modules:
//!
//! ```text
//! config ─► plan ─► load (+ stub, fault proxy, demo SUT) ─► observe ─► metrics ─► verdict ─► report
//! ```
//!
//! [`drill`] wires the stages together for one run. No module depends on a later stage,
//! with one deliberate exception: the load engine hands each response to `observe` and
//! records it into its worker's `metrics::Recorder` as it arrives, so the hot path needs no
//! channel or lock.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod accept;
pub mod breaker_state;
pub mod budget;
pub mod clock;
pub mod config;
pub mod demo;
pub mod drill;
pub mod fault;
pub mod forecast;
pub mod live;
pub mod load;
pub mod metrics;
pub mod observe;
pub mod plan;
pub mod quick;
pub mod report;
pub mod rng;
pub mod runs;
pub mod series;
pub mod stub;
pub mod tls;
pub mod verdict;
