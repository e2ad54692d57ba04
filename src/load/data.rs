//! Handing out data-file rows to virtual users: a shared cursor for `sequential`, the
//! user's own random stream for `random`, and a pool of free rows for `unique`.

use crate::config::{DataMode, DataSet};
use crate::rng::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The run's data sets and where each stands.
#[derive(Debug, Default)]
pub(super) struct DataRuntime {
    /// The sets, by index.
    pub sets: Vec<Arc<DataSet>>,
    cursors: Vec<AtomicUsize>,
    /// Free rows of each `unique` set (empty for the others), lowest row last.
    free: Vec<Mutex<Vec<usize>>>,
}

impl DataRuntime {
    /// Rows of `sets`, none taken yet.
    pub fn new(sets: &[Arc<DataSet>]) -> Self {
        DataRuntime {
            sets: sets.to_vec(),
            cursors: sets.iter().map(|_| AtomicUsize::new(0)).collect(),
            free: sets
                .iter()
                .map(|s| {
                    Mutex::new(match s.mode {
                        DataMode::Unique => (0..s.rows()).rev().collect(),
                        _ => Vec::new(),
                    })
                })
                .collect(),
        }
    }

    /// The row set `set` gives one iteration; `lease` is the virtual user's own row of a
    /// `unique` set, taken on first use and kept. `None`: every unique row is taken.
    pub fn pick(&self, set: usize, rng: &mut Rng, lease: &mut Option<usize>) -> Option<usize> {
        let data = self.sets.get(set)?;
        let rows = data.rows().max(1);
        match data.mode {
            DataMode::Sequential => Some(self.cursors[set].fetch_add(1, Ordering::Relaxed) % rows),
            DataMode::Random => Some(rng.range_inclusive(0, rows as i64 - 1) as usize),
            DataMode::Unique => {
                if lease.is_none() {
                    *lease = self.free[set]
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop();
                }
                *lease
            }
        }
    }

    /// Gives a unique row back (its virtual user is gone).
    pub fn release(&self, set: usize, row: usize) {
        if let Some(free) = self.free.get(set) {
            free.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(mode: DataMode) -> DataRuntime {
        let set = DataSet::parse("u", mode, "name\na\nb\nc\n").expect("csv");
        DataRuntime::new(&[Arc::new(set)])
    }

    #[test]
    fn sequential_rows_wrap_round_across_users() {
        let d = runtime(DataMode::Sequential);
        let mut rng = Rng::new(1, 1);
        let rows: Vec<_> = (0..5).map(|_| d.pick(0, &mut rng, &mut None)).collect();
        assert_eq!(rows, [Some(0), Some(1), Some(2), Some(0), Some(1)]);
    }

    #[test]
    fn random_rows_stay_in_range_and_follow_the_seed() {
        let d = runtime(DataMode::Random);
        let draw = |seed| {
            let mut rng = Rng::new(seed, 1);
            (0..50)
                .map(|_| d.pick(0, &mut rng, &mut None).expect("row"))
                .collect::<Vec<_>>()
        };
        assert!(draw(1).iter().all(|r| *r < 3));
        assert_eq!(draw(1), draw(1));
        assert!((0..3).all(|r| draw(1).contains(&r)));
    }

    #[test]
    fn unique_rows_are_held_until_released() {
        let d = runtime(DataMode::Unique);
        let mut rng = Rng::new(1, 1);
        let mut leases = [None, None, None, None];
        let rows: Vec<_> = leases.iter_mut().map(|l| d.pick(0, &mut rng, l)).collect();
        assert_eq!(
            rows,
            [Some(0), Some(1), Some(2), None],
            "three rows, four users"
        );
        assert_eq!(
            d.pick(0, &mut rng, &mut leases[1]),
            Some(1),
            "a user keeps its row"
        );
        d.release(0, 1);
        assert_eq!(
            d.pick(0, &mut rng, &mut leases[3]),
            Some(1),
            "a freed row is reused"
        );
    }
}
