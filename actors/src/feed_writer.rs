//! `FeedWriter`: writes one batch at a time into follower feeds over its own Redis
//! connection and reports the outcome to whoever sent it work, through the `Recipient`s in
//! [`ReportTo`] (the coordinator, without this file knowing it: no import cycle).
//!
//! Runs under actix's `Supervisor`, which restarts a stopped actor at once and without
//! limit, and does not catch panics. So a writer catches a panic in its batch itself,
//! reports the batch failed and stops; on restart it waits (backoff) before taking work,
//! and once it has restarted more than `max_restarts` times within `restart_window` it says
//! so (`WriterDegraded`); the coordinator then sends it no work for a `restart_window`.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix::prelude::*;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::backoff::RestartWindow;
use crate::messages::{BatchDone, BatchFailed, BatchFailure, BatchFanOut, WriterDegraded};
use crate::settings::Settings;
use crate::store::FeedStore;

/// Where a writer sends its reports.
#[derive(Clone)]
pub(crate) struct ReportTo {
    /// A batch is written.
    pub(crate) done: Recipient<BatchDone>,
    /// A batch failed.
    pub(crate) failed: Recipient<BatchFailed>,
    /// The writer restarts too often.
    pub(crate) degraded: Recipient<WriterDegraded>,
}

/// One writer of the pool. See the module docs.
pub(crate) struct FeedWriter {
    index: usize,
    store: FeedStore,
    report_to: ReportTo,
    settings: Settings,
    restarts: RestartWindow,
}

impl FeedWriter {
    pub(crate) fn new(
        index: usize,
        store: FeedStore,
        report_to: ReportTo,
        settings: Settings,
    ) -> Self {
        Self {
            index,
            store,
            report_to,
            restarts: RestartWindow::new(
                settings.supervision.max_restarts,
                settings.supervision.restart_window(),
            ),
            settings,
        }
    }
}

impl Actor for FeedWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.fanout.in_flight_per_writer.max(1));
        let recent = self.restarts.recent();
        if recent > 0 {
            // `wait` holds the mailbox, so no batch runs before the delay is over.
            let delay = self
                .settings
                .supervision
                .restart_backoff()
                .delay(recent, &mut rand::rng());
            tracing::warn!(
                writer = self.index,
                restarts = recent,
                ?delay,
                "writer restarted"
            );
            ctx.wait(actix::fut::wrap_future(tokio::time::sleep(delay)));
        }
    }
}

impl Supervised for FeedWriter {
    fn restarting(&mut self, ctx: &mut Self::Context) {
        // Over the intensity: tell the coordinator (again, on every further restart, which
        // extends its cool-down).
        crate::telemetry::writer_restarted();
        if self.restarts.record(Instant::now()) {
            let restarts = self.restarts.recent();
            tracing::error!(
                writer = self.index,
                restarts,
                "writer degraded: restarting too often"
            );
            let notice = self.report_to.degraded.send(WriterDegraded {
                writer: self.index,
                restarts,
            });
            ctx.spawn(actix::fut::wrap_future(notice).map(|_, _, _| ()));
        }
    }
}

impl Handler<BatchFanOut> for FeedWriter {
    type Result = ();

    fn handle(&mut self, batch: BatchFanOut, ctx: &mut Self::Context) {
        let span = tracing::info_span!(
            parent: &batch.span,
            "batch",
            fanout_id = %batch.fanout_id,
            writer = self.index,
            range = batch.range.index,
            start = batch.range.start,
            stop = batch.range.stop,
            attempt = batch.attempt,
        );
        let mut store = self.store.clone();
        let report_to = self.report_to.clone();
        let writer = self.index;
        #[cfg(feature = "fault-injection")]
        let fault = self.settings.fault.clone();
        let work = async move {
            let started = Instant::now();
            let outcome = AssertUnwindSafe(async {
                #[cfg(feature = "fault-injection")]
                if let Some(fault) = fault {
                    let about = crate::settings::FaultBatch {
                        fanout_id: batch.fanout_id,
                        photo_id: batch.record.photo_id,
                        range: batch.range,
                        attempt: batch.attempt,
                        kind: batch.record.kind,
                    };
                    fault(writer, &about).await;
                }
                store.write_batch(&batch).await
            })
            .catch_unwind()
            .await;
            let panicked = outcome.is_err();
            let (written, stopped, failure) = match outcome {
                Ok(Ok((written, stopped))) => (written, stopped, None),
                Ok(Err(e)) => (e.written, false, Some(BatchFailure::Store(e.error))),
                Err(panic) => (
                    0,
                    false,
                    Some(BatchFailure::Panicked(panic_message(&panic))),
                ),
            };
            let delivered = match failure {
                None => {
                    report_to
                        .done
                        .send(BatchDone {
                            fanout_id: batch.fanout_id,
                            range: batch.range,
                            attempt: batch.attempt,
                            writer,
                            written,
                            stopped,
                            elapsed: started.elapsed(),
                        })
                        .await
                }
                Some(error) => {
                    report_to
                        .failed
                        .send(BatchFailed {
                            fanout_id: batch.fanout_id,
                            range: batch.range,
                            attempt: batch.attempt,
                            writer,
                            written,
                            error,
                        })
                        .await
                }
            };
            if delivered.is_err() {
                tracing::warn!(writer, "coordinator gone; batch report dropped");
            }
            panicked
        };
        ctx.wait(actix::fut::wrap_future(work.instrument(span)).map(
            |panicked, _, ctx: &mut Context<Self>| {
                if panicked {
                    // The supervisor restarts us (after the backoff in `started`).
                    ctx.stop();
                }
            },
        ));
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
