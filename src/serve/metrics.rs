//! `GET /metrics`: the core's metrics (`fanout::telemetry`) and the service's request
//! metrics (`access.rs`) as Prometheus text. Each scrape first reads the ledger's dead
//! letters into their gauges (one pipelined round trip), since what a job has dead-lettered
//! is what Redis holds, whichever instance ran it.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::Mutex;

use fanout::http::error;
use fanout::operator::Operator;

use super::access::{HTTP_BUCKETS, HTTP_DURATION};

/// Bucket bounds of the fan-out duration histogram, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Failed jobs looked at per scrape for the dead-letter gauges.
const FAILED_JOBS_SCANNED: usize = 10_000;

/// Installs the Prometheus recorder once per process; `None` when the host installed
/// another recorder first (its metrics are its own business then).
pub(super) fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(fanout::telemetry::DURATION.to_owned()),
                    DURATION_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            fanout::telemetry::describe();
            Some(handle)
        })
        .clone()
}

/// What a scrape needs: the recorder's handle and a connection to the ledger.
pub(super) struct Scrape {
    handle: Option<PrometheusHandle>,
    ledger: Mutex<Operator>,
}

impl Scrape {
    pub(super) fn new(handle: Option<PrometheusHandle>, ledger: Operator) -> Self {
        Self {
            handle,
            ledger: Mutex::new(ledger),
        }
    }
}

pub(super) async fn render(scrape: web::Data<Scrape>) -> HttpResponse {
    let Some(handle) = &scrape.handle else {
        return error(
            StatusCode::NOT_FOUND,
            "metrics are recorded by the host application",
            None,
        );
    };
    // Redis down: the gauges keep their last values, the rest still renders.
    if let Err(e) = scrape
        .ledger
        .lock()
        .await
        .dead_letter_totals(FAILED_JOBS_SCANNED)
        .await
    {
        tracing::debug!(error = %e, "dead-letter gauges not refreshed");
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
