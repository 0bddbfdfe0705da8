//! `GET /metrics` speaks Prometheus and counts exactly what happened. Alone in its test
//! binary: the metrics recorder is global to a process.

mod support;

use std::time::Duration;

use awc::http::StatusCode;
use fanout::FanoutId;
use support::*;

/// The current `/metrics` text.
async fn metrics(base: &str) -> String {
    let reply = http_get(base, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.text
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
}

/// One clean fan-out, one with a retried batch, one with a feed of the wrong type (skipped
/// by itself: its batch is done, one feed short): every counter moves by exactly what
/// happened, and the gauges are there.
#[actix_rt::test]
async fn every_metric_counts_what_happened() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(settings(&redis, |s| {
        s.fanout.batch_size = 1_000;
        // Photo 2 (the second fan-out) has range 1 panic on its first attempt: one failed
        // and retried batch.
        s.fault = panic_if(
            |_, batch| batch.photo_id == 2 && batch.range.index == 1 && batch.attempt == 1,
            "injected",
        );
    }))
    .await;
    seed(&mut c, 1, 1, 3_000).await;
    let before = metrics(&base).await;
    assert_eq!(value(&before, "fanout_accepted_total"), 0.0);

    for photo in 1..=3 {
        if photo == 3 {
            break_feed(&mut c, 2_500).await;
        }
        let body = format!(r#"{{"user_id": 1, "photo_id": {photo}}}"#);
        let accepted = http_post(&base, "/photos", &body).await.json;
        let id = accepted["fanout_id"].as_u64().expect("a fan-out id");
        wait(service.fanout(), FanoutId(id)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await; // gauges refresh every second
    let text = metrics(&base).await;

    for (name, expected) in [
        ("fanout_accepted_total", 3.0),
        ("fanout_completed_total", 2.0),
        ("fanout_failed_total", 1.0),
        ("fanout_batches_done_total", 9.0),
        ("fanout_batches_failed_total", 1.0),
        ("fanout_batches_retried_total", 1.0),
        ("fanout_feeds_written_total", 8_999.0),
        ("fanout_writer_restarts_total", 1.0),
        ("fanout_duration_seconds_count", 3.0),
        ("fanout_queue_depth", 0.0),
        ("fanout_batches_in_flight", 0.0),
        ("fanout_active_jobs", 0.0),
    ] {
        assert_eq!(value(&text, name), expected, "{name}");
    }
    assert!(
        text.contains("fanout_duration_seconds_bucket{le=\"1\"}"),
        "{text}"
    );
    service.shutdown().await.unwrap();
}
