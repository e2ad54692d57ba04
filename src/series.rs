//! Fine-grained counters on the run clock, shared lock-free by many writers.
//!
//! Breaker transitions happen in milliseconds, so the evidence behind them (upstream
//! attempts at the proxy, client requests at the load engine) is counted per 10 ms slot.
//! The series is sized once for the planned run, so recording is one atomic add and no
//! allocation; later events land in the last slot rather than being lost.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Width of one slot.
pub const SLOT: Duration = Duration::from_millis(10);

/// Slots kept past the planned end (requests still draining, a late Ctrl-C).
const GRACE: Duration = Duration::from_secs(30);

/// Largest number of slots one series holds (about 12 hours), so a typo'd duration cannot
/// allocate without bound; events after it share the last slot.
const MAX_SLOTS: usize = 12 * 3600 * 100;

/// The slot `at` falls in.
pub fn slot_of(at: Duration) -> usize {
    (at.as_micros() / SLOT.as_micros()) as usize
}

/// The part of a per-slot column that covers `[from, until)`.
pub fn window(column: &[u32], from: Duration, until: Duration) -> &[u32] {
    let hi = slot_of(until).min(column.len());
    column.get(slot_of(from)..hi).unwrap_or(&[])
}

/// The sum of a per-slot column over `[from, until)`.
pub fn sum(column: &[u32], from: Duration, until: Duration) -> u64 {
    window(column, from, until)
        .iter()
        .map(|&n| u64::from(n))
        .sum()
}

/// `fields` counters per 10 ms slot, written concurrently with atomic adds and maxima.
#[derive(Debug)]
pub struct AtomicSeries {
    fields: usize,
    cells: Box<[AtomicU32]>,
}

impl AtomicSeries {
    /// A series for a run of `span`, with `fields` counters per slot.
    pub fn new(fields: usize, span: Duration) -> Self {
        let slots = (((span + GRACE).as_millis() / SLOT.as_millis()) as usize).clamp(1, MAX_SLOTS);
        AtomicSeries {
            fields,
            cells: (0..slots * fields).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The slot index of `at` (clamped to the last slot).
    pub fn slot(&self, at: Duration) -> usize {
        slot_of(at).min(self.slots().saturating_sub(1))
    }

    fn cell(&self, at: Duration, field: usize) -> Option<&AtomicU32> {
        (field < self.fields).then(|| &self.cells[self.slot(at) * self.fields + field])
    }

    /// Adds one to `field` in the slot of `at`.
    pub fn add(&self, at: Duration, field: usize) {
        if let Some(c) = self.cell(at, field) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Raises `field` in the slot of `at` to at least `value`.
    pub fn max(&self, at: Duration, field: usize, value: u32) {
        if let Some(c) = self.cell(at, field) {
            c.fetch_max(value, Ordering::Relaxed);
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.cells.len() / self.fields.max(1)
    }

    /// One field's values, slot by slot, up to the last non-zero slot of any field.
    pub fn column(&self, field: usize) -> Vec<u32> {
        let used = self.used_slots();
        (0..used)
            .map(|s| {
                self.cells
                    .get(s * self.fields + field)
                    .map_or(0, |c| c.load(Ordering::Relaxed))
            })
            .collect()
    }

    fn used_slots(&self) -> usize {
        self.cells
            .iter()
            .rposition(|c| c.load(Ordering::Relaxed) != 0)
            .map_or(0, |i| i / self.fields.max(1) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_slot_and_overflow_into_the_last() {
        let s = AtomicSeries::new(2, Duration::from_millis(100));
        s.add(Duration::from_millis(5), 0);
        s.add(Duration::from_millis(9), 0);
        s.add(Duration::from_millis(10), 1);
        s.max(Duration::from_millis(25), 1, 7);
        s.max(Duration::from_millis(26), 1, 3);
        assert_eq!(s.column(0), vec![2, 0, 0]);
        assert_eq!(s.column(1), vec![0, 1, 7]);
        s.add(Duration::from_secs(3600), 0);
        assert_eq!(s.column(0).len(), s.slots());
        assert_eq!(s.column(0).last(), Some(&1));
        s.add(Duration::ZERO, 5); // no such field: ignored
    }
}
