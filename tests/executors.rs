//! The executors against a loopback target that records what it sees: a closed model holds
//! its virtual users (one connection each, never more requests in flight), an open-model
//! ramp sends exactly its timetable, shaped as the ramp says.

use breakerbox::config::{self, EmbeddedProfiles};
use breakerbox::drill::{PreparedDrill, Stop};
use breakerbox::plan::Overrides;
use breakerbox::report::RunResult;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the target saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
}

/// An HTTP/1.1 keep-alive target answering every request `200 ok` after `delay`.
async fn target(delay: Duration) -> (SocketAddr, Arc<Seen>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let seen = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Requests carry no body: each ends at its blank line.
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    buf.drain(..end + 4);
                    seen.arrivals.lock().expect("lock").push(Instant::now());
                    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.most_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen, server)
}

async fn run(target: SocketAddr, phase: &str) -> RunResult {
    run_phases(target, &format!("[[phases]]\nname = \"p\"\n{phase}"))
        .await
        .0
}

/// Runs a drill of `phases` (whole `[[phases]]` tables) against `target`; also returns
/// how long the run took, start to result.
async fn run_phases(target: SocketAddr, phases: &str) -> (RunResult, Duration) {
    let text = format!(
        "name = \"executors\"\ntarget = \"http://{target}\"\nrequest_timeout = \"4s\"\n\n[[requests]]\nname = \"any\"\npath = \"/\"\n\n{phases}\n"
    );
    let drill =
        config::parse_drill("executors.toml", &text, &EmbeddedProfiles(&[])).expect("valid drill");
    let prepared = PreparedDrill::prepare(drill, &Overrides::default())
        .await
        .expect("target accepts connections");
    let started = Instant::now();
    let result = prepared.execute(Stop::new()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "bounded: {took:?}");
    (result, took)
}

/// Seconds from the first arrival to each arrival.
fn offsets(seen: &Seen) -> Vec<f64> {
    let arrivals = seen.arrivals.lock().expect("lock").clone();
    let first = arrivals.first().copied();
    arrivals
        .iter()
        .map(|t| first.map_or(0.0, |f| t.duration_since(f).as_secs_f64()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_vus_keep_their_users_and_no_more() {
    let (addr, seen, server) = target(Duration::from_millis(50)).await;
    let result = run(
        addr,
        "executor = \"constant-vus\"\nvus = 3\nduration = \"1s\"",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(phase.executor, "constant-vus");
    let requests = phase.all.requests;
    assert_eq!(phase.all.errors, 0, "{:?}", phase.all);
    // Closed model: each user waits for its answer, so never more than 3 in flight and at
    // most 3 × (1 s / 50 ms) requests; each user kept its one connection.
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 3);
    assert!((6..=63).contains(&requests), "{requests} requests");
    // The preflight's connection is one more than the users'.
    assert!(seen.connections.load(Ordering::SeqCst) <= 3 + 1);
    assert_eq!(seen.arrivals.lock().expect("lock").len() as u64, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramping_arrival_rate_sends_its_timetable() {
    let (addr, seen, server) = target(Duration::ZERO).await;
    // 0 → 100/s over 1 s (50 requests), then 100/s for 0.5 s (50 more).
    let result = run(
        addr,
        "executor = \"ramping-arrival-rate\"\nmax_vus = 20\nstages = [{ duration = \"1s\", target = 100 }, { duration = \"500ms\", target = 100 }]",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(phase.executor, "ramping-arrival-rate");
    assert_eq!(phase.all.requests, 100, "{:?}", phase.all);
    assert_eq!(phase.dropped, 0);
    assert_eq!(phase.all.errors, 0);
    // The shape: the timetable puts 13 requests in the first third and 50 in the last.
    // Dispatch lag on a busy machine only moves requests later, so the test allows it.
    let arrivals = seen.arrivals.lock().expect("lock").clone();
    assert_eq!(arrivals.len(), 100);
    let first = arrivals[0];
    let third = |from: u64, to: u64| {
        arrivals
            .iter()
            .filter(|t| {
                let at = t.duration_since(first);
                at >= Duration::from_millis(from) && at < Duration::from_millis(to)
            })
            .count()
    };
    let (early, late) = (third(0, 500), third(1_000, 60_000));
    assert!(early < 25, "{early} in the first third");
    assert!(
        late > 2 * early,
        "{late} in the last third, {early} in the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_vu_iterations_run_exactly_theirs_and_the_phase_keeps_its_slot() {
    let (addr, seen, server) = target(Duration::from_millis(5)).await;
    // 3 users × 4 iterations, done in well under the 1.5 s slot; the next phase (one
    // shared iteration) still starts at 1.5 s on the run clock.
    let (result, _) = run_phases(
        addr,
        "[[phases]]\nname = \"each\"\nexecutor = \"per-vu-iterations\"\nvus = 3\niterations = 4\nthink_time = \"10ms\"\nmax_duration = \"1500ms\"\n\n[[phases]]\nname = \"after\"\nexecutor = \"shared-iterations\"\nvus = 1\niterations = 1\nmax_duration = \"1s\"",
    )
    .await;
    server.abort();
    let each = &result.phases[0];
    assert_eq!(each.executor, "per-vu-iterations");
    assert_eq!(each.all.requests, 12, "{each:?}");
    assert_eq!((each.iterations, each.planned_iterations), (12, Some(12)));
    assert_eq!(
        (each.interrupted, each.all.errors, each.peak_vus),
        (0, 0, 3)
    );
    let done = each.done_s.expect("done early");
    assert!(done < 1.5, "done at {done}");
    assert_eq!(each.duration_s, 1.5);
    let after = &result.phases[1];
    assert_eq!((after.all.requests, after.done_s.is_some()), (1, true));
    let at = offsets(&seen);
    assert_eq!(at.len(), 13);
    // Dispatch lag only moves the second phase later.
    assert!(at[12] >= 1.4, "the next phase started at {}", at[12]);
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_iterations_run_exactly_the_count_across_the_users() {
    let (addr, seen, server) = target(Duration::from_millis(20)).await;
    let result = run(
        addr,
        "executor = \"shared-iterations\"\nvus = 4\niterations = 10\nmax_duration = \"3s\"",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(phase.all.requests, 10, "{phase:?}");
    assert_eq!(seen.arrivals.lock().expect("lock").len(), 10);
    assert_eq!((phase.iterations, phase.planned_iterations), (10, Some(10)));
    assert_eq!((phase.peak_vus, phase.interrupted), (4, 0));
    assert!(phase.done_s.is_some_and(|d| d < 3.0), "{:?}", phase.done_s);
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_lets_in_flight_iterations_finish_then_cuts_them() {
    // Within the bound: each user's request (600 ms) outlives the 300 ms phase and ends.
    let (addr, _, server) = target(Duration::from_millis(600)).await;
    let (result, took) = run_phases(
        addr,
        "[[phases]]\nname = \"p\"\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"300ms\"\ngraceful_stop = \"3s\"",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!((phase.all.requests, phase.interrupted), (2, 0), "{phase:?}");
    assert!(took >= Duration::from_millis(550), "{took:?}");

    // Past the bound: the 2 s requests are cut 200 ms after the phase end, counted as
    // interrupted, not as errors, and the run does not wait for them.
    let (addr, seen, server) = target(Duration::from_secs(2)).await;
    let (result, took) = run_phases(
        addr,
        "[[phases]]\nname = \"p\"\nexecutor = \"constant-vus\"\nvus = 2\nduration = \"300ms\"\ngraceful_stop = \"200ms\"",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!(seen.arrivals.lock().expect("lock").len(), 2);
    assert_eq!((phase.all.requests, phase.all.errors), (0, 0), "{phase:?}");
    assert_eq!(phase.interrupted, 2);
    assert!(took < Duration::from_millis(1_800), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_above_a_falling_ramp_finish_their_iteration_within_the_ramp_down() {
    // 2 users start a 1 s request each; by 0.3 s the ramp wants none.
    let phases = |ramp_down: &str| {
        format!("[[phases]]\nname = \"p\"\nexecutor = \"ramping-vus\"\nstart_vus = 2\ngraceful_ramp_down = \"{ramp_down}\"\nstages = [{{ duration = \"200ms\", target = 2 }}, {{ duration = \"100ms\", target = 0 }}, {{ duration = \"1300ms\", target = 0 }}]")
    };
    // A generous bound: both requests finish, and the users then idle.
    let (addr, seen, server) = target(Duration::from_secs(1)).await;
    let (result, _) = run_phases(addr, &phases("3s")).await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!((phase.all.requests, phase.interrupted), (2, 0), "{phase:?}");
    assert_eq!(seen.arrivals.lock().expect("lock").len(), 2);

    // A short one: both are cut ~0.2 s after the ramp down, long before the phase ends.
    let (addr, seen, server) = target(Duration::from_secs(1)).await;
    let (result, _) = run_phases(addr, &phases("200ms")).await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!((phase.all.requests, phase.all.errors), (0, 0), "{phase:?}");
    assert_eq!(phase.interrupted, 2);
    assert_eq!(seen.arrivals.lock().expect("lock").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_allocated_workers_start_with_the_phase() {
    let (addr, _, server) = target(Duration::ZERO).await;
    let phase = |pool: &str| {
        format!("executor = \"constant-arrival-rate\"\nrate = 20\nduration = \"500ms\"\n{pool}")
    };
    let result = run(addr, &phase("pre_allocated_vus = 6\nmax_vus = 6")).await;
    let asked = &result.phases[0];
    assert_eq!((asked.all.requests, asked.dropped), (10, 0), "{asked:?}");
    assert_eq!(asked.peak_vus, 6);
    // By default 50 ms of 20/s: one worker, and a fast target needs hardly more.
    let result = run(addr, &phase("")).await;
    server.abort();
    let default = &result.phases[0];
    assert_eq!(
        (default.all.requests, default.dropped),
        (10, 0),
        "{default:?}"
    );
    assert!(default.peak_vus < 6, "{}", default.peak_vus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_no_worker_can_take_on_time_are_dropped_not_queued() {
    // 20 requests due over 1 s, 2 workers, 500 ms per request: most cannot start within
    // 100 ms of their due time.
    let (addr, seen, server) = target(Duration::from_millis(500)).await;
    let result = run(
        addr,
        "executor = \"constant-arrival-rate\"\nrate = 20\nduration = \"1s\"\npre_allocated_vus = 2\nmax_vus = 2",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    eprintln!(
        "sent {}, dropped {}, interrupted {}",
        phase.all.requests, phase.dropped, phase.interrupted
    );
    assert_eq!(
        phase.all.requests + phase.dropped + phase.interrupted,
        20,
        "{phase:?}"
    );
    assert!(phase.dropped >= 10, "{phase:?}");
    assert!(phase.all.requests >= 2, "{phase:?}");
    assert_eq!((phase.all.errors, phase.peak_vus), (0, 2));
    assert!(seen.most_in_flight.load(Ordering::SeqCst) <= 2);
    // What was sent left within the bound: latency from the intended start stays under
    // 500 ms + 100 ms plus the loaded machine's slack.
    assert!(
        phase.all.latency_ms.max < 1_500.0,
        "{:?}",
        phase.all.latency_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_normal_peak_stress_recovery_chain_on_one_clock() {
    // tests/fixtures/shapes/lifecycle.toml, scaled from minutes to 400 ms phases.
    let (addr, _, server) = target(Duration::ZERO).await;
    let (result, _) = run_phases(
        addr,
        "[[phases]]\nname = \"warm-up\"\nexecutor = \"ramping-arrival-rate\"\nstages = [{ duration = \"400ms\", target = 50 }]\n\n\
         [[phases]]\nname = \"normal\"\nexecutor = \"constant-arrival-rate\"\nrate = 50\nduration = \"400ms\"\n\n\
         [[phases]]\nname = \"peak\"\nexecutor = \"ramping-arrival-rate\"\nstart_rate = 50\nstages = [{ duration = \"400ms\", target = 200 }]\npre_allocated_vus = 5\n\n\
         [[phases]]\nname = \"stress\"\nexecutor = \"ramping-vus\"\nstart_vus = 5\nstages = [{ duration = \"400ms\", target = 20 }]\nthink_time = \"20ms\"\n\n\
         [[phases]]\nname = \"recovery\"\nexecutor = \"constant-arrival-rate\"\nrate = 50\nduration = \"400ms\"",
    )
    .await;
    server.abort();
    let summary: Vec<(&str, f64, u64, u64)> = result
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.start_s, p.all.requests, p.dropped))
        .collect();
    let starts: Vec<f64> = summary.iter().map(|s| s.1).collect();
    assert_eq!(starts, vec![0.0, 0.4, 0.8, 1.2, 1.6]);
    // The open-model phases send exactly their timetables (0 → 50/s over 0.4 s is 10).
    let open: Vec<(u64, u64)> = [0, 1, 2, 4]
        .iter()
        .map(|&i| (summary[i].2, summary[i].3))
        .collect();
    assert_eq!(
        open,
        vec![(10, 0), (20, 0), (50, 0), (20, 0)],
        "{summary:?}"
    );
    assert!(summary[3].2 >= 20, "{summary:?}");
    assert!(result.phases.iter().all(|p| p.all.errors == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_from_10_to_500_users_in_a_second() {
    // tests/fixtures/shapes/spike.toml's spike, held 1 s instead of a minute.
    let (addr, seen, server) = target(Duration::from_millis(5)).await;
    let result = run(
        addr,
        "executor = \"ramping-vus\"\nstart_vus = 10\nthink_time = \"500ms\"\nstages = [{ duration = \"1s\", target = 500 }, { duration = \"1s\", target = 500 }]",
    )
    .await;
    server.abort();
    let phase = &result.phases[0];
    assert_eq!((phase.peak_vus, phase.all.errors), (500, 0), "{phase:?}");
    // Every user, on its own connection, sent at least once while held at 500.
    let connections = seen.connections.load(Ordering::SeqCst);
    assert!((500..=501).contains(&connections), "{connections}");
    assert!(phase.all.requests >= 1_000, "{}", phase.all.requests);
    // The ramp: about a tenth of the users by 0.1 s, all of them by 1 s.
    let at = offsets(&seen);
    let early = at.iter().filter(|t| **t < 0.1).count();
    assert!(early < 150, "{early} requests in the first 100 ms");
}
