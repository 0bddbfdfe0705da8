//! `GET /metrics`: the core's metrics (`fanout::telemetry`) as Prometheus text.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use fanout::http::error;

/// Bucket bounds of the fan-out duration histogram, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

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
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            fanout::telemetry::describe();
            Some(handle)
        })
        .clone()
}

pub(super) async fn render(handle: web::Data<Option<PrometheusHandle>>) -> HttpResponse {
    match handle.as_ref() {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => error(
            StatusCode::NOT_FOUND,
            "metrics are recorded by the host application",
            None,
        ),
    }
}
