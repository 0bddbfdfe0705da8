//! The HTTP service over real HTTP on loopback, with a real Redis: every endpoint and every
//! error status, and fairness between a celebrity and a small account.

mod common;

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use common::*;
use fanout::config::Config;
use fanout::http::RunningService;
use fanout_actors::FeedLayout;
use futures_util::FutureExt;
use redis::AsyncCommands;
use serde_json::{json, Value};

async fn start(config: Config) -> (RunningService, String) {
    let service = RunningService::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", service.addr());
    (service, base)
}

async fn post_json(base: &str, body: &str) -> (StatusCode, Value, Option<String>) {
    let mut response = awc::Client::new()
        .post(format!("{base}/photos"))
        .insert_header(("content-type", "application/json"))
        .send_body(body.to_owned())
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    (response.status(), body, retry_after)
}

async fn get(base: &str, path: &str) -> (StatusCode, Value) {
    let mut response = awc::Client::new()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Polls `GET /fanouts/{id}` until the fan-out is completed or failed.
async fn wait_done(base: &str, status_url: &str) -> Value {
    within(60, async {
        loop {
            let (code, body) = get(base, status_url).await;
            assert_eq!(code, StatusCode::OK, "{body}");
            if body["state"] == "completed" || body["state"] == "failed" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// POST /photos answers 202 with the fan-out; its status URL tracks it to completion; the
/// feeds endpoint shows the photo newest first, limited and capped.
#[actix_rt::test]
async fn posting_tracking_and_reading_feeds() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.max_len = 5;
    let (service, base) = start(config).await;
    seed(&mut c, 343, 1, 20_007).await;
    let _: () = c.rpush("homefeed:7", &[4, 3, 2, 1]).await.unwrap();

    let (code, accepted, _) = post_json(&base, r#"{"user_id": 343, "photo_id": 777}"#).await;

    assert_eq!(code, StatusCode::ACCEPTED, "{accepted}");
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
    assert_exactly_once(&mut c, 1..20_008, 777, FeedLayout::List).await;

    let (code, again, _) = post_json(&base, r#"{"user_id": 343, "photo_id": 777}"#).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!(again["already_posted"], true);
    assert_eq!(again["fanout_id"], accepted["fanout_id"]);

    let (code, feed) = get(&base, "/users/7/feed").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(feed, json!({"user_id": 7, "photo_ids": [777, 4, 3, 2, 1]}));
    let (_, feed) = get(&base, "/users/7/feed?limit=2").await;
    assert_eq!(feed["photo_ids"], json!([777, 4]));
    let (_, feed) = get(&base, "/users/7/feed?limit=1000").await;
    assert_eq!(
        feed["photo_ids"].as_array().unwrap().len(),
        5,
        "at most feed.max_len"
    );
    let (_, feed) = get(&base, "/users/99999999/feed").await;
    assert_eq!(feed["photo_ids"], json!([]));
    service.shutdown().await.unwrap();
}

/// Bad bodies get 400 naming the field, big ones 413, unknown things 404, and nothing is
/// enqueued for any of them.
#[actix_rt::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let (service, base) = start(config(&redis)).await;
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
        let (code, error, _) = post_json(&base, body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["field"], field, "{body}: {error}");
        assert!(error["error"].is_string());
    }
    let big = format!(
        r#"{{"user_id": 1, "photo_id": 5, "pad": "{}"}}"#,
        "x".repeat(17 * 1024)
    );
    let (code, error, _) = post_json(&base, &big).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{error}");
    let ids: Option<u64> = c.get("fanout:next_id").await.unwrap();
    assert_eq!(ids, None, "nothing was enqueued");

    for path in ["/fanouts/12345", "/fanouts/abc", "/nowhere"] {
        let (code, body) = get(&base, path).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    for path in [
        "/users/abc/feed",
        "/users/1/feed?limit=0",
        "/users/1/feed?limit=many",
    ] {
        let (code, _) = get(&base, path).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}");
    }
    service.shutdown().await.unwrap();
}

/// A full coordinator answers 503 with Retry-After; a follower key of the wrong type 500
/// naming it.
#[actix_rt::test]
async fn overload_and_bad_data_statuses() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.max_active_jobs = 1;
    let open = gate(&mut config);
    let (service, base) = start(config).await;
    seed(&mut c, 1, 1, 10).await;
    let _: () = c.set("followers:2", "oops").await.unwrap();

    let (first, _, _) = post_json(&base, r#"{"user_id": 1, "photo_id": 1}"#).await;
    let (code, error, retry_after) = post_json(&base, r#"{"user_id": 1, "photo_id": 2}"#).await;

    assert_eq!(first, StatusCode::ACCEPTED);
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    open.send(true).unwrap();
    let (code, error, _) = within(10, async {
        loop {
            let answer = post_json(&base, r#"{"user_id": 2, "photo_id": 3}"#).await;
            if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["error"], "followers:2 is a string, expected a list");
    service.shutdown().await.unwrap();
}

/// Redis down: posts get 503 and /healthz 503 naming Redis; back up: 200 again.
#[actix_rt::test]
async fn redis_down_means_503_and_an_unhealthy_service() {
    let mut redis = redis();
    let mut c = conn(&redis).await;
    let (service, base) = start(default_config(&redis)).await;
    let (code, health) = get(&base, "/healthz").await;
    assert_eq!(code, StatusCode::OK, "{health}");
    assert_eq!(health["writers"], json!({"healthy": 2, "total": 2}));

    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query_async(&mut c)
        .await;
    redis.wait_for_exit(Duration::from_secs(10)).unwrap();
    let (code, error, _) = post_json(&base, r#"{"user_id": 1, "photo_id": 1}"#).await;
    let (health_code, health) = get(&base, "/healthz").await;
    let (status_code, _) = get(&base, "/fanouts/999").await;
    assert_eq!(
        status_code,
        StatusCode::SERVICE_UNAVAILABLE,
        "unknown is not the same as unanswerable"
    );

    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("Redis is unavailable"),
        "{error}"
    );
    assert_eq!(health_code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "unavailable");
    assert_ne!(health["redis"], "ok");
    redis.restart().unwrap();
    let healthy = within(20, async {
        loop {
            let (code, _) = get(&base, "/healthz").await;
            if code == StatusCode::OK {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(healthy);
    service.shutdown().await.unwrap();
}

/// Every writer broken (degraded): /healthz says so with 503.
#[actix_rt::test]
async fn degraded_writers_make_the_service_unhealthy() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let mut config = config(&redis);
    config.settings.writers = 2;
    config.settings.max_restarts = 0;
    config.settings.fault = hook(|_, _| async { panic!("broken writer") }.boxed());
    let (service, base) = start(config).await;
    seed(&mut c, 1, 1, 100).await;
    let _ = post_json(&base, r#"{"user_id": 1, "photo_id": 1}"#).await;

    let health = within(10, async {
        loop {
            let (code, health) = get(&base, "/healthz").await;
            if code == StatusCode::SERVICE_UNAVAILABLE {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    assert_eq!(health["redis"], "ok");
    assert_eq!(health["writers"], json!({"healthy": 0, "total": 2}));
    drop(service);
}

/// A 10-follower post made while a 1,500,000-follower fan-out runs completes in under a
/// second, seen through the HTTP status endpoint.
#[actix_rt::test]
async fn a_small_post_completes_quickly_beside_a_celebrity() {
    let redis = redis();
    let mut c = conn(&redis).await;
    let (service, base) = start(default_config(&redis)).await;
    seed(&mut c, 1, 1, 1_500_000).await;
    seed(&mut c, 2, 2_000_000, 10).await;
    let (_, big, _) = post_json(&base, r#"{"user_id": 1, "photo_id": 100}"#).await;
    let big_url = big["status_url"].as_str().unwrap().to_owned();
    wait_for_ranges(
        service.fanout(),
        fanout::FanoutId(big["fanout_id"].as_u64().unwrap()),
        2,
    )
    .await;

    let started = Instant::now();
    let (_, small, _) = post_json(&base, r#"{"user_id": 2, "photo_id": 200}"#).await;
    let small = wait_done(&base, small["status_url"].as_str().unwrap()).await;
    let took = started.elapsed();
    let (_, big_then) = get(&base, &big_url).await;

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
