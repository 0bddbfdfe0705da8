//! The coordinator's view of its writer pool: each writer's address, its batches in flight
//! and whether it is degraded, and which writer gets the next batch.

use std::time::Instant;

use actix::Addr;

use crate::feed_writer::FeedWriter;

/// One writer, as the coordinator sees it.
pub(super) struct WriterSlot {
    pub(super) addr: Addr<FeedWriter>,
    /// Batches sent and not yet reported on (a timed-out batch still counts: the writer is
    /// still busy with it).
    pub(super) in_flight: usize,
    /// Restarting too often: no work until then.
    pub(super) degraded_until: Option<Instant>,
}

impl WriterSlot {
    pub(super) fn new(addr: Addr<FeedWriter>) -> Self {
        Self {
            addr,
            in_flight: 0,
            degraded_until: None,
        }
    }

    pub(super) fn healthy(&self, now: Instant) -> bool {
        self.degraded_until.is_none_or(|until| now >= until)
    }
}

/// The least-loaded healthy writer with fewer than `cap` batches in flight.
pub(super) fn least_loaded(writers: &[WriterSlot], now: Instant, cap: usize) -> Option<usize> {
    writers
        .iter()
        .enumerate()
        .filter(|(_, w)| w.healthy(now) && w.in_flight < cap)
        .min_by_key(|(_, w)| w.in_flight)
        .map(|(i, _)| i)
}
