//! A per-connection timeout that costs no timer per request: one sleep, moved only when it
//! fires early.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// One connection's timer for bounding waits of a fixed length.
#[derive(Debug)]
pub(super) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    limit: Duration,
}

/// The wait took longer than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Elapsed;

impl Deadline {
    /// A timer for waits of at most `limit`.
    pub(super) fn new(limit: Duration) -> Self {
        Deadline {
            sleep: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }

    /// Runs `work`, giving up `limit` after now. Each wait ends later than the one before,
    /// so the sleep only ever fires early (then it is moved on), never late.
    pub(super) async fn run<F: Future>(&mut self, work: F) -> Result<F::Output, Elapsed> {
        let until = Instant::now() + self.limit;
        let sleep = &mut self.sleep;
        let expired = async move {
            loop {
                sleep.as_mut().await;
                if Instant::now() >= until {
                    return;
                }
                sleep.as_mut().reset(until);
            }
        };
        tokio::select! {
            biased;
            out = work => Ok(out),
            () = expired => Err(Elapsed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_wait_gets_its_whole_limit() {
        let ms = Duration::from_millis;
        let mut d = Deadline::new(ms(300));
        tokio::time::sleep(ms(200)).await;
        // Started at 200 ms: must not end at 300 ms, when the sleep first fires.
        let started = Instant::now();
        let out = d.run(tokio::time::sleep(ms(250))).await;
        assert_eq!(out, Ok(()));
        let out = d.run(std::future::pending::<()>()).await;
        assert_eq!(out, Err(Elapsed));
        assert!(started.elapsed() >= ms(550), "{:?}", started.elapsed());
    }
}
