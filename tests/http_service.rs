//! The HTTP service over real HTTP on loopback, with a real Redis: every endpoint and every
//! error status, and fairness between a celebrity and a small account.

mod support;

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fanout::FanoutId;
use redis::AsyncCommands;
use serde_json::{json, Value};
use support::*;

/// Polls `GET /fanouts/{id}` until the fan-out is completed or failed.
async fn wait_done(base: &str, status_url: &str) -> Value {
    wait_for!(60, {
        let reply = http_get(base, status_url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let state = &reply.json["state"];
        (state == "completed" || state == "failed").then_some(reply.json)
    })
}

/// POST /photos answers 202 with the fan-out; its status URL tracks it to completion; the
/// feeds endpoint shows the photo newest first, limited and capped.
#[actix_rt::test]
async fn posting_tracking_and_reading_feeds() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(settings(&redis, |s| s.feed.max_len = 5)).await;
    seed(&mut c, 343, 1, 20_007).await;
    let _: () = c.rpush("homefeed:7", &[4, 3, 2, 1]).await.unwrap();

    let posted = http_post(&base, "/photos", r#"{"user_id": 343, "photo_id": 777}"#).await;

    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.text);
    let accepted = posted.json;
    assert_eq!(accepted["followers"], 20_007);
    assert_eq!(accepted["already_posted"], false);
    let status_url = accepted["status_url"].as_str().unwrap().to_owned();
    assert_eq!(status_url, format!("/fanouts/{}", accepted["fanout_id"]));
    let done = wait_done(&base, &status_url).await;
    assert_eq!(done["state"], "completed");
    assert_eq!(done["ranges_total"], 3);
    assert_eq!(done["ranges_done"], 3);
    assert_eq!(done["feeds_written"], 20_007);
    assert_eq!(done["dead_ranges"], json!([]));
    assert_exactly_once(&mut c, 1..20_008, 777).await;

    let again = http_post(&base, "/photos", r#"{"user_id": 343, "photo_id": 777}"#).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.json["already_posted"], true);
    assert_eq!(again.json["fanout_id"], accepted["fanout_id"]);

    let feed = http_get(&base, "/users/7/feed").await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(
        feed.json,
        json!({"user_id": 7, "photo_ids": [777, 4, 3, 2, 1], "next_before": null})
    );
    let feed = http_get(&base, "/users/7/feed?limit=2").await.json;
    assert_eq!(feed["photo_ids"], json!([777, 4]));
    let feed = http_get(&base, "/users/7/feed?limit=1000").await.json;
    assert_eq!(
        feed["photo_ids"].as_array().unwrap().len(),
        5,
        "at most feed.max_len"
    );
    let feed = http_get(&base, "/users/99999999/feed").await.json;
    assert_eq!(feed["photo_ids"], json!([]));
    service.shutdown().await.unwrap();
}

/// Bad bodies get 400 naming the field, big ones 413, unknown things 404, and nothing is
/// enqueued for any of them.
#[actix_rt::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(settings(&redis, as_is)).await;
    seed(&mut c, 1, 1, 10).await;

    for (body, field) in [
        (r#"{"user_id": 1"#, Value::Null),
        (r#"[1, 2]"#, Value::Null),
        (r#"{"photo_id": 5}"#, json!("user_id")),
        (r#"{"user_id": 1}"#, json!("photo_id")),
        (r#"{"user_id": 0, "photo_id": 5}"#, json!("user_id")),
        (r#"{"user_id": -1, "photo_id": 5}"#, json!("user_id")),
        (r#"{"user_id": "1", "photo_id": 5}"#, json!("user_id")),
        (r#"{"user_id": 1, "photo_id": 2.5}"#, json!("photo_id")),
    ] {
        let refused = http_post(&base, "/photos", body).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.json["field"], field, "{body}: {}", refused.text);
        assert!(refused.json["error"].is_string());
    }
    let big = format!(
        r#"{{"user_id": 1, "photo_id": 5, "pad": "{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let refused = http_post(&base, "/photos", &big).await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        refused.text
    );
    assert!(job_ids(&mut c).await.is_empty(), "nothing was enqueued");

    for path in ["/fanouts/12345", "/fanouts/abc", "/nowhere"] {
        let missing = http_get(&base, path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            missing.json["error"].is_string(),
            "{path}: {}",
            missing.text
        );
    }
    for path in [
        "/users/abc/feed",
        "/users/1/feed?limit=0",
        "/users/1/feed?limit=many",
    ] {
        let refused = http_get(&base, path).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{path}");
    }
    service.shutdown().await.unwrap();
}

/// A full coordinator answers 503 with Retry-After; a follower key of the wrong type 500
/// naming it.
#[actix_rt::test]
async fn overload_and_bad_data_statuses() {
    let (redis, mut c) = redis_and_conn().await;
    let (open, held) = gate();
    let (service, base) = serve(settings(&redis, |s| {
        s.fanout.max_active_jobs = 1;
        s.fault = held;
    }))
    .await;
    seed(&mut c, 1, 1, 10).await;
    let _: () = c.set("followers:2", "oops").await.unwrap();

    let first = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 1}"#).await;
    let second = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 2}"#).await;

    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(
        second.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        second.text
    );
    assert_eq!(second.retry_after.as_deref(), Some("1"));
    open.open();
    let third = wait_for!(10, {
        let reply = http_post(&base, "/photos", r#"{"user_id": 2, "photo_id": 3}"#).await;
        (reply.status != StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
    });
    assert_eq!(third.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        third.json["error"],
        "followers:2 is a string, expected a list"
    );
    service.shutdown().await.unwrap();
}

/// Redis down: posts get 503 and /healthz 503 naming Redis; back up: 200 again.
#[actix_rt::test]
async fn redis_down_means_503_and_an_unhealthy_service() {
    let (mut redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(default_settings(&redis)).await;
    let health = http_get(&base, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_eq!(health.json["writers"], json!({"healthy": 2, "total": 2}));

    let _ = shut_down(&mut redis, &mut c, "NOSAVE").await;
    let posted = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 1}"#).await;
    let health = http_get(&base, "/healthz").await;
    let status = http_get(&base, "/fanouts/999").await;
    assert_eq!(
        status.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "unknown is not the same as unanswerable"
    );

    assert_eq!(
        posted.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        posted.text
    );
    assert!(
        posted.json["error"]
            .as_str()
            .unwrap()
            .contains("Redis is unavailable"),
        "{}",
        posted.text
    );
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json["status"], "unavailable");
    assert_ne!(health.json["redis"], "ok");
    redis.restart().unwrap();
    wait_until!(
        20,
        http_get(&base, "/healthz").await.status == StatusCode::OK
    );
    service.shutdown().await.unwrap();
}

/// Every writer broken (degraded): /readyz (and /healthz) say so with 503, naming the
/// writers; /livez stays 200: restarting the process is not what fixes this probe.
#[actix_rt::test]
async fn degraded_writers_make_the_service_unhealthy() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(settings(&redis, |s| {
        s.fanout.writers = 2;
        s.supervision.max_restarts = 0;
        s.fault = panic_if(|_, _| true, "broken writer");
    }))
    .await;
    seed(&mut c, 1, 1, 100).await;
    let _ = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 1}"#).await;

    let health = wait_for!(10, {
        let reply = http_get(&base, "/healthz").await;
        (reply.status == StatusCode::SERVICE_UNAVAILABLE && reply.json["writers"]["healthy"] == 0)
            .then_some(reply.json)
    });

    assert_eq!(health["redis"], "ok");
    assert_eq!(health["writers"], json!({"healthy": 0, "total": 2}));
    assert_eq!(
        health["problems"],
        json!(["2 of 2 feed writers degraded (restarting too often after panics)"])
    );
    let ready = http_get(&base, "/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["status"], "unavailable");
    let live = http_get(&base, "/livez").await;
    assert_eq!(
        (live.status, live.json),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    drop(service);
}

/// A 10-follower post made while a 1,500,000-follower fan-out runs completes in under a
/// second, seen through the HTTP status endpoint.
#[actix_rt::test]
async fn a_small_post_completes_quickly_beside_a_celebrity() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(default_settings(&redis)).await;
    seed(&mut c, 1, 1, 1_500_000).await;
    seed(&mut c, 2, 2_000_000, 10).await;
    let big = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 100}"#)
        .await
        .json;
    let big_url = big["status_url"].as_str().unwrap().to_owned();
    let big_id = FanoutId(big["fanout_id"].as_u64().unwrap());
    wait_for_ranges(service.fanout(), big_id, 2).await;

    let started = Instant::now();
    let small = http_post(&base, "/photos", r#"{"user_id": 2, "photo_id": 200}"#)
        .await
        .json;
    let small = wait_done(&base, small["status_url"].as_str().unwrap()).await;
    let took = started.elapsed();
    let big_then = http_get(&base, &big_url).await.json;

    assert_eq!(small["state"], "completed");
    assert!(
        took < Duration::from_secs(1),
        "the small post took {took:?}"
    );
    assert_eq!(big_then["state"], "running");
    println!("10-follower post beside a 1,500,000-follower fan-out: completed in {took:?}");
    wait_done(&base, &big_url).await;
    service.shutdown().await.unwrap();
}
