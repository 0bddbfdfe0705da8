//! `GET /metrics` speaks Prometheus and counts exactly what happened. Alone in its test
//! binary: the metrics recorder is global to a process.

mod common;

use std::time::Duration;

use common::*;
use fanout::http::RunningService;
use futures_util::FutureExt;
use redis::AsyncCommands;
use serde_json::Value;

async fn metrics(base: &str) -> String {
    let mut response = awc::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), awc::http::StatusCode::OK);
    String::from_utf8(response.body().await.unwrap().to_vec()).unwrap()
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
}

async fn post_and_finish(base: &str, service: &RunningService, body: &str) {
    let mut response = awc::Client::new()
        .post(format!("{base}/photos"))
        .send_body(body.to_owned())
        .await
        .unwrap();
    let accepted: Value = response.json().await.unwrap();
    wait(
        service.fanout(),
        fanout::FanoutId(accepted["fanout_id"].as_u64().unwrap()),
    )
    .await;
}

/// One clean fan-out, one with a retried batch, one with a dead-lettered range: every
/// counter moves by exactly what happened, and the gauges are there.
#[actix_rt::test]
async fn every_metric_counts_what_happened() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.batch_size = 1_000;
    // Photo 2's range 1 panics on its first attempt: one failed and retried batch.
    config.settings.fault = hook(|_, batch| {
        let fail = batch.photo_id == 2 && batch.range.index == 1 && batch.attempt == 1;
        async move {
            if fail {
                panic!("injected");
            }
        }
        .boxed()
    });
    let service = RunningService::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", service.addr());
    seed(&mut c, 1, 1, 3_000).await;
    let before = metrics(&base).await;
    assert_eq!(value(&before, "fanout_accepted_total"), 0.0);

    post_and_finish(&base, &service, r#"{"user_id": 1, "photo_id": 1}"#).await;
    post_and_finish(&base, &service, r#"{"user_id": 1, "photo_id": 2}"#).await;
    let _: () = c.set("homefeed:2500", "not a feed").await.unwrap();
    post_and_finish(&base, &service, r#"{"user_id": 1, "photo_id": 3}"#).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await; // gauges refresh every second
    let text = metrics(&base).await;

    assert_eq!(value(&text, "fanout_accepted_total"), 3.0);
    assert_eq!(value(&text, "fanout_completed_total"), 2.0);
    assert_eq!(value(&text, "fanout_failed_total"), 1.0);
    assert_eq!(value(&text, "fanout_batches_done_total"), 8.0);
    assert_eq!(value(&text, "fanout_batches_failed_total"), 2.0);
    assert_eq!(value(&text, "fanout_batches_retried_total"), 1.0);
    assert_eq!(value(&text, "fanout_feeds_written_total"), 8_000.0);
    assert_eq!(value(&text, "fanout_writer_restarts_total"), 1.0);
    assert_eq!(value(&text, "fanout_duration_seconds_count"), 3.0);
    assert_eq!(value(&text, "fanout_queue_depth"), 0.0);
    assert_eq!(value(&text, "fanout_batches_in_flight"), 0.0);
    assert_eq!(value(&text, "fanout_active_jobs"), 0.0);
    assert!(
        text.contains("fanout_duration_seconds_bucket{le=\"1\"}"),
        "{text}"
    );
    service.shutdown().await.unwrap();
}
