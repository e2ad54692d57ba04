use super::*;
use crate::demo::transition_log::millis;
use std::time::UNIX_EPOCH;
use BreakerState::{Closed, HalfOpen, Open};

fn rate_breaker(
    failure_rate: f64,
    minimum_calls: u32,
    window: u32,
    half_open_calls: u32,
    open_duration: Duration,
) -> RateBreaker {
    let settings = RateSettings {
        failure_rate,
        minimum_calls,
        window,
        half_open_calls,
    };
    RateBreaker::new(
        settings,
        open_duration,
        Arc::new(TransitionLog::new(DemoBreaker::Rate, None)),
    )
}

/// Makes one call at `now` with outcome `failed`; whether it was admitted.
fn call_at(b: &RateBreaker, now: Instant, failed: bool) -> bool {
    match b.try_acquire_at(now) {
        Some(permit) => {
            permit.record_at(failed, now);
            true
        }
        None => false,
    }
}

fn states(b: &RateBreaker) -> Vec<BreakerState> {
    b.log.transitions().iter().map(|t| t.to).collect()
}

/// Opens `b` (rate 0.5, min 4) with four failures at `now`.
fn open_it(b: &RateBreaker, now: Instant) {
    for _ in 0..4 {
        assert!(call_at(b, now, true));
    }
    assert_eq!(b.log.state(), Open);
}

#[test]
fn waits_for_the_minimum_number_of_calls() {
    let b = rate_breaker(0.5, 5, 10, 2, Duration::from_secs(60));
    let now = Instant::now();
    for _ in 0..4 {
        assert!(call_at(&b, now, true));
        assert_eq!(b.log.state(), Closed, "4 failures are below minimum_calls");
    }
    assert!(call_at(&b, now, true));
    assert_eq!(b.log.state(), Open);
    assert_eq!(states(&b), [Closed, Open]);
}

#[test]
fn opens_at_the_failure_rate_over_the_window() {
    let b = rate_breaker(0.5, 4, 4, 1, Duration::from_secs(60));
    let now = Instant::now();
    // S F S: below the minimum. S: 1 of 4 failed. F: window [F S S F] = 2 of 4 = 0.5.
    for failed in [false, true, false, false] {
        assert!(call_at(&b, now, failed));
        assert_eq!(b.log.state(), Closed);
    }
    assert!(call_at(&b, now, true));
    assert_eq!(b.log.state(), Open, "2 of the last 4 failed");
}

#[test]
fn old_outcomes_slide_out_of_the_window() {
    let b = rate_breaker(0.5, 4, 4, 1, Duration::from_secs(60));
    let now = Instant::now();
    // F S S S S S F: the first failure has left the window when the second comes.
    for failed in [true, false, false, false, false, false, true] {
        assert!(call_at(&b, now, failed));
        assert_eq!(b.log.state(), Closed);
    }
}

#[test]
fn open_rejects_until_the_wait_then_half_opens_lazily() {
    let wait = Duration::from_secs(60);
    let b = rate_breaker(0.5, 4, 10, 2, wait);
    let t0 = Instant::now();
    open_it(&b, t0);
    assert!(!call_at(&b, t0, false));
    assert!(!call_at(&b, t0 + wait / 2, false));
    assert_eq!(b.log.rejected(), 2);
    // The wait is over, but nothing happens until a call arrives.
    assert_eq!(b.log.state(), Open);
    let permit = b
        .try_acquire_at(t0 + wait)
        .expect("first call after the wait");
    assert!(permit.half_open());
    assert_eq!(b.log.state(), HalfOpen);
    drop(permit);
}

#[test]
fn half_open_admits_only_the_permitted_calls_and_closes_after_them() {
    let wait = Duration::from_millis(10);
    let b = rate_breaker(0.5, 4, 10, 3, wait);
    let t0 = Instant::now();
    open_it(&b, t0);
    let later = t0 + wait;
    let trials: Vec<_> = (0..3)
        .map(|_| b.try_acquire_at(later).expect("a trial slot"))
        .collect();
    assert!(trials.iter().all(RatePermit::half_open));
    assert!(b.try_acquire_at(later).is_none(), "a 4th call is rejected");
    let mut trials = trials.into_iter();
    for permit in trials.by_ref().take(2) {
        permit.record(false);
        assert_eq!(b.log.state(), HalfOpen, "waits for every trial call");
    }
    trials.for_each(|p| p.record(false));
    assert_eq!(b.log.state(), Closed);
    assert_eq!(states(&b), [Closed, Open, HalfOpen, Closed]);
    // Closing cleared the window: three failures are below the minimum again.
    for _ in 0..3 {
        assert!(call_at(&b, later, true));
    }
    assert_eq!(b.log.state(), Closed);
}

#[test]
fn half_open_reopens_when_the_trials_fail_at_the_rate() {
    let wait = Duration::from_millis(10);
    let b = rate_breaker(0.5, 4, 10, 2, wait);
    let t0 = Instant::now();
    open_it(&b, t0);
    let t1 = t0 + wait;
    assert!(call_at(&b, t1, false));
    assert!(call_at(&b, t1, true));
    assert_eq!(b.log.state(), Open, "1 of 2 trials failed: 0.5");
    assert!(!call_at(&b, t1, false), "open again: the wait restarted");
    let t2 = t1 + wait;
    assert!(call_at(&b, t2, false));
    assert!(call_at(&b, t2, false));
    assert_eq!(states(&b), [Closed, Open, HalfOpen, Open, HalfOpen, Closed]);
}

#[test]
fn a_dropped_trial_call_frees_its_slot_and_stale_outcomes_are_ignored() {
    let wait = Duration::from_millis(10);
    let b = rate_breaker(0.5, 4, 10, 1, wait);
    let t0 = Instant::now();
    // Admitted while closed, completes after the breaker opened: ignored.
    let slow = b.try_acquire_at(t0).expect("closed admits");
    open_it(&b, t0);
    slow.record(true);
    let t1 = t0 + wait;
    let cancelled = b.try_acquire_at(t1).expect("the one trial slot");
    assert!(b.try_acquire_at(t1).is_none());
    drop(cancelled);
    assert!(call_at(&b, t1, false), "the slot came back");
    assert_eq!(b.log.state(), Closed);
}

#[test]
fn real_time_cycle_with_a_short_open_duration() {
    let b = rate_breaker(1.0, 2, 2, 1, Duration::from_millis(30));
    for _ in 0..2 {
        let p = b.try_acquire().expect("closed");
        p.record(true);
    }
    assert_eq!(b.log.state(), Open);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(b.log.state(), Open, "half-open is lazy");
    let p = b.try_acquire().expect("the wait is over");
    assert_eq!(b.log.state(), HalfOpen);
    p.record(false);
    assert_eq!(b.log.state(), Closed);
}

#[test]
fn transitions_are_logged_as_json_lines() {
    let dir = std::env::temp_dir().join(format!("breakerbox-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("transitions.jsonl");
    let _ = std::fs::remove_file(&path);
    let settings = DemoSettings {
        breaker: DemoBreaker::Rate,
        rate: RateSettings {
            failure_rate: 0.5,
            minimum_calls: 1,
            window: 1,
            half_open_calls: 1,
        },
        transition_log: Some(path.clone()),
        ..DemoSettings::default()
    };
    let breaker = Breaker::from_settings(&settings)
        .expect("log opens")
        .expect("a breaker");
    let Kind::Rate(r) = &breaker.kind else {
        panic!("a rate breaker");
    };
    assert!(call_at(r, Instant::now(), true));
    let text = std::fs::read_to_string(&path).expect("log written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["from"], serde_json::Value::Null);
    assert_eq!(lines[0]["to"], "closed");
    assert_eq!(lines[1]["from"], "closed");
    assert_eq!(lines[1]["to"], "open");
    assert_eq!(lines[1]["breaker"], "rate");
    let unix_ms = lines[1]["unix_ms"].as_u64().expect("unix_ms");
    let time = lines[1]["time"].as_str().expect("time");
    let parsed = humantime::parse_rfc3339(time).expect("RFC 3339");
    assert_eq!(
        millis(parsed.duration_since(UNIX_EPOCH).expect("after 1970")),
        unix_ms
    );
    assert!(time.ends_with('Z') && time.len() == "2026-11-30T16:00:00.123Z".len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_consecutive_breaker_labels_the_first_half_open_call_as_the_probe() {
    let b = Breaker::consecutive(2, Duration::from_millis(100), None);
    for _ in 0..2 {
        let r = b.call(async { Err::<(), _>("down") }).await;
        assert!(matches!(r, Err(CallError::Failed { .. })));
    }
    assert_eq!(b.state(), Open);
    assert!(matches!(
        b.call(async { Ok::<_, ()>(()) }).await,
        Err(CallError::Rejected)
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (admission, ()) = b
        .call(async { Ok::<_, ()>(()) })
        .await
        .expect("the probe passes");
    assert!(admission.probe);
    assert_eq!(b.state(), Closed);
    let states: Vec<_> = b.log().transitions().iter().map(|t| t.to).collect();
    assert_eq!(states, [Closed, Open, HalfOpen, Closed]);
    assert_eq!(b.log().rejected(), 1);
}
