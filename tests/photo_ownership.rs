//! A photo id belongs to the author who posted it: another author's post of it is refused
//! with a clear error (CLI: non-zero exit; HTTP: 409 with JSON), and nothing is written.

mod support;

use awc::http::StatusCode;
use support::*;

/// `fanout post` of author 1's photo by author 2 exits non-zero naming both authors, and
/// none of author 2's followers gets anything.
#[actix_rt::test]
async fn another_authors_photo_id_is_a_conflict_on_the_cli() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    seed(&mut c, 2, 101, 10).await;
    fanout_post(1, 5).redis(&redis).run().assert_ok();
    let before = keys(&mut c).await;

    let ran = fanout_post(2, 5).redis(&redis).run();

    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stderr.contains("photo 5 was posted by author 1")
            && ran.stderr.contains("not by author 2"),
        "{}",
        ran.stderr
    );
    assert_eq!(keys(&mut c).await, before, "nothing was written");
    assert_nobody_has(&mut c, 101..111, 5).await;
}

/// `POST /photos` of another author's photo id answers 409 with a JSON error; the owner's
/// repeat is still the existing fan-out (202).
#[actix_rt::test]
async fn another_authors_photo_id_is_a_409_over_http() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    seed(&mut c, 2, 101, 10).await;
    let (service, base) = serve(settings(&redis, as_is)).await;
    let first = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 5}"#).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);

    let taken = http_post(&base, "/photos", r#"{"user_id": 2, "photo_id": 5}"#).await;
    let repeat = http_post(&base, "/photos", r#"{"user_id": 1, "photo_id": 5}"#).await;

    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    let message = taken.json["error"].as_str().unwrap_or_default();
    assert!(message.contains("posted by author 1"), "{}", taken.text);
    assert_eq!(taken.json["field"], "photo_id", "{}", taken.text);
    assert_eq!(repeat.status, StatusCode::ACCEPTED);
    assert_eq!(repeat.json["already_posted"], true);
    assert_eq!(repeat.json["fanout_id"], first.json["fanout_id"]);
    wait(
        service.fanout(),
        fanout::FanoutId(first.json["fanout_id"].as_u64().unwrap()),
    )
    .await;
    assert_nobody_has(&mut c, 101..111, 5).await;
    service.shutdown().await.unwrap();
}
