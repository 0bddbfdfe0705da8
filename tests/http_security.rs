//! The service as an operator exposes it: API tokens per route class, protected mode,
//! the per-author quota, the probes, slow and odd clients, and what it records about each
//! request. Real HTTP on loopback, a real redis-server, and for protected mode and the
//! access log the real `fanout serve` binary.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use awc::http::{header::HeaderMap, Method, StatusCode};
use fanout::settings::Tokens;
use redis::AsyncCommands;
use serde_json::{json, Value};
use support::*;

const WRITE: &str = "write-token-0123456789abcdef";
const WRITE_NEXT: &str = "write-token-rotated-0123456789";
const READ: &str = "read-token-0123456789abcdef";

/// An answer with its headers.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

/// `method {base}{path}` with `Authorization: Bearer token` when given, and a JSON body.
async fn call(method: Method, base: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request = awc::Client::new()
        .request(method, format!("{base}{path}"))
        .insert_header(("content-type", "application/json"));
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let mut response = request.send_body(body.to_owned()).await.unwrap();
    let bytes = response.body().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{} answered {} without JSON: {}",
            path,
            response.status(),
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        json,
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn with_tokens(s: &mut fanout::Settings) {
    s.http.write_token = Tokens::parse(&format!("{WRITE},{WRITE_NEXT}"));
    s.http.read_token = Tokens::parse(READ);
}

/// Each route class with no token, a wrong one, the other scope's, and the right one: 401
/// with `WWW-Authenticate: Bearer`, 403 for a read token on a write route, 2xx otherwise;
/// probes and metrics stay open. A refused post writes nothing.
#[actix_rt::test]
async fn tokens_guard_each_route_class() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 5, 1, 30).await;
    let (service, base) = serve(settings(&redis, with_tokens)).await;
    let post = |token| {
        call(
            Method::POST,
            &base,
            "/photos",
            token,
            r#"{"user_id": 5, "photo_id": 50}"#,
        )
    };

    let none = post(None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&none, "www-authenticate"), "Bearer realm=\"fanout\"");
    assert!(none.json["error"].as_str().unwrap().contains("Bearer"));
    let wrong = post(Some("not-a-token-of-ours-at-all")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(header(&wrong, "www-authenticate").contains("invalid_token"));
    let read = post(Some(READ)).await;
    assert_eq!(read.status, StatusCode::FORBIDDEN);
    assert!(header(&read, "www-authenticate").contains("insufficient_scope"));
    assert_eq!(
        job_ids(&mut c).await,
        Vec::<u64>::new(),
        "a refused post wrote a job"
    );

    // Both write tokens are valid at once (rotation).
    let accepted = post(Some(WRITE_NEXT)).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.json);
    let status_url = accepted.json["status_url"].as_str().unwrap().to_owned();
    assert_eq!(header(&accepted, "location"), status_url);
    let again = post(Some(WRITE)).await;
    assert_eq!(again.json["fanout_id"], accepted.json["fanout_id"]);

    for path in [status_url.as_str(), "/users/3/feed"] {
        let refused = call(Method::GET, &base, path, None, "").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        let wrong = call(Method::GET, &base, path, Some(&WRITE[1..]), "").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");
        for token in [READ, WRITE] {
            let ok = call(Method::GET, &base, path, Some(token), "").await;
            assert_eq!(
                ok.status,
                StatusCode::OK,
                "{path} with a token: {}",
                ok.json
            );
        }
    }
    for open in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(
            call(Method::GET, &base, open, None, "").await.status,
            StatusCode::OK
        );
    }
    let metrics = awc::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await;
    assert_eq!(metrics.unwrap().status(), StatusCode::OK);
    service.shutdown().await.unwrap();
}

/// The token is checked on the head alone: a write without one is refused at once while
/// its announced body has not been sent.
#[actix_rt::test]
async fn the_token_is_checked_before_the_body_is_read() {
    let redis = redis();
    let (service, base) = serve(settings(&redis, with_tokens)).await;
    let addr = base.trim_start_matches("http://").to_owned();
    // Blocking I/O off the test's thread, where the service's core runs.
    let (answer, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = "POST /photos HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        let started = Instant::now();
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).unwrap();
        (String::from_utf8_lossy(&answer[..n]).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    service.shutdown().await.unwrap();
}

/// Token files are read at start (one token per line); a bad one stops the start with the
/// setting's name and never shows the token.
#[actix_rt::test]
async fn tokens_can_come_from_files() {
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("write-tokens");
    std::fs::write(&file, format!("{WRITE}\n{WRITE_NEXT}\n")).unwrap();
    let (service, base) = serve(settings(&redis, |s| {
        s.http.write_token_file = Some(file.clone())
    }))
    .await;
    let body = r#"{"user_id": 1, "photo_id": 1}"#;
    let refused = call(Method::POST, &base, "/photos", None, body).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let accepted = call(Method::POST, &base, "/photos", Some(WRITE_NEXT), body).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    service.shutdown().await.unwrap();

    std::fs::write(&file, "short\n").unwrap();
    let started = fanout_cli::serve::RunningService::start(
        settings(&redis, |s| s.http.write_token_file = Some(file.clone())),
        "127.0.0.1:0",
    )
    .await;
    let e = started
        .err()
        .expect("a 5-character token was accepted")
        .to_string();
    assert!(e.starts_with("http.write_token_file: "), "{e}");
    assert!(
        !e.contains("short\n") && e.contains("has 5 characters"),
        "{e}"
    );
}

/// Protected mode: asked to listen beyond loopback without both tokens, `fanout serve`
/// refuses before binding (or connecting to Redis) and names what is missing; with both
/// tokens, or with `http.allow_unauthenticated`, it listens. No traffic is sent there.
#[test]
fn protected_mode_refuses_an_open_non_loopback_bind() {
    let redis = redis();
    let refused = fanout_cmd(&["serve", "--bind", "0.0.0.0:0"])
        .redis(&redis)
        .env("FANOUT_HTTP_WRITE_TOKEN", WRITE)
        .run();
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "refusing to listen on 0.0.0.0:0 without http.read_token (or http.read_token_file)"
        ),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(WRITE), "a token was printed");
    assert!(!refused.stdout.contains("listening"));

    for extra in [
        ("FANOUT_HTTP_READ_TOKEN", READ),
        ("FANOUT_HTTP_ALLOW_UNAUTHENTICATED", "true"),
    ] {
        let mut serving = fanout_cmd(&["serve", "--bind", "0.0.0.0:0"])
            .redis(&redis)
            .env("FANOUT_HTTP_WRITE_TOKEN", WRITE)
            .env(extra.0, extra.1)
            .spawn();
        let line = serving.next_line();
        assert!(line.starts_with("listening on http://0.0.0.0:"), "{line}");
        serving.signal(libc::SIGTERM);
        let ran = serving.finish();
        assert!(ran.ok(), "{}", ran.stderr);
        assert!(
            !ran.stderr.contains(WRITE) && !ran.stderr.contains(READ),
            "a token was logged"
        );
    }
}

/// One post more than `fanout.max_active_jobs_per_author` gets 429 with Retry-After and
/// writes nothing; another author is not affected; once a fan-out finishes the author may
/// post again.
#[actix_rt::test]
async fn the_author_quota_refuses_with_429_and_writes_nothing() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 100).await;
    seed(&mut c, 2, 1, 100).await;
    let (gate, held) = gate();
    let (service, base) = serve(settings(&redis, |s| {
        s.fanout.max_active_jobs_per_author = 2;
        s.fault = held;
    }))
    .await;
    let post = |author: u64, photo: u64| {
        let body = format!(r#"{{"user_id": {author}, "photo_id": {photo}}}"#);
        let base = base.clone();
        async move { call(Method::POST, &base, "/photos", None, &body).await }
    };
    // An id left behind by a job that was set aside without finishing: pruned, not
    // counted.
    let _: () = c.sadd("fanout:author:1:jobs", 999).await.unwrap();
    for photo in [11, 12] {
        assert_eq!(post(1, photo).await.status, StatusCode::ACCEPTED);
    }
    let keys_before = keys(&mut c).await;

    let refused = post(1, 13).await;

    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.json
    );
    assert_eq!(header(&refused, "retry-after"), "5");
    assert_eq!(refused.json["field"], "user_id");
    assert_eq!(
        refused.json["error"],
        "author 1 already has 2 unfinished fan-outs (fanout.max_active_jobs_per_author = 2): retry once one has finished"
    );
    assert_eq!(
        keys(&mut c).await,
        keys_before,
        "the refused post wrote something"
    );
    let exists: bool = c.exists("fanout:photo:13").await.unwrap();
    assert!(!exists);
    assert_eq!(
        post(2, 21).await.status,
        StatusCode::ACCEPTED,
        "another author"
    );
    gate.open();
    wait_until!(30, unfinished(&mut c).await.is_empty());
    assert_eq!(post(1, 13).await.status, StatusCode::ACCEPTED);
    service.shutdown().await.unwrap();
}

/// `/livez` answers 200 while Redis is down (a liveness probe must not restart every pod
/// in a Redis outage); `/readyz` answers 503 naming Redis, and 200 again once it is back.
#[actix_rt::test]
async fn liveness_ignores_redis_and_readiness_follows_it() {
    let (mut redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(default_settings(&redis)).await;
    let _ = shut_down(&mut redis, &mut c, "NOSAVE").await;

    let live = call(Method::GET, &base, "/livez", None, "").await;
    let ready = call(Method::GET, &base, "/readyz", None, "").await;

    assert_eq!(
        (live.status, live.json),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let problems = ready.json["problems"].as_array().unwrap();
    assert!(
        problems[0].as_str().unwrap().starts_with("Redis: "),
        "{problems:?}"
    );
    redis.restart().unwrap();
    wait_until!(
        20,
        call(Method::GET, &base, "/readyz", None, "").await.status == StatusCode::OK
    );
    service.shutdown().await.unwrap();
}

/// A body trickled a byte at a time gets 408 once `http.request_timeout_ms` has passed, and
/// the connection is closed.
#[actix_rt::test]
async fn a_trickled_body_is_cut_off_with_408() {
    let redis = redis();
    let (service, base) = serve(settings(&redis, |s| s.http.request_timeout_ms = 1_000)).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let trickle = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = "POST /photos HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = Vec::new();
        for byte in br#"{"user_id": 1, "photo_id": 1}          "# {
            // Keep sending until the server answers or closes.
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if got.ends_with(b"}") {
                break;
            }
        }
        // After the answer, the server closes the connection: a read returns 0.
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut rest = [0u8; 64];
        let closed = matches!(stream.read(&mut rest), Ok(0) | Err(_));
        (String::from_utf8_lossy(&got).into_owned(), closed)
    });
    let (answer, closed) = trickle.await.unwrap();

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1000 ms"), "{answer}");
    assert!(closed, "the connection was left open");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    service.shutdown().await.unwrap();
}

/// Odd requests get JSON errors naming the problem: a repeated JSON key, a repeated query
/// parameter, a wrong method (405 with Allow), an unknown path.
#[actix_rt::test]
async fn odd_requests_get_json_errors() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(default_settings(&redis)).await;

    let doubled = call(
        Method::POST,
        &base,
        "/photos",
        None,
        r#"{"user_id": 1, "photo_id": 2, "user_id": 3}"#,
    )
    .await;
    assert_eq!(doubled.status, StatusCode::BAD_REQUEST);
    assert_eq!(doubled.json["field"], "user_id");
    let repeated = call(
        Method::GET,
        &base,
        "/users/1/feed?limit=1&limit=2",
        None,
        "",
    )
    .await;
    assert_eq!(repeated.status, StatusCode::BAD_REQUEST);
    assert_eq!(repeated.json["field"], "limit");
    let wrong_method = call(Method::GET, &base, "/photos", None, "").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&wrong_method, "allow"), "POST");
    let wrong_method = call(Method::DELETE, &base, "/users/1/feed", None, "").await;
    assert_eq!(
        (wrong_method.status, header(&wrong_method, "allow")),
        (StatusCode::METHOD_NOT_ALLOWED, "GET")
    );
    let unknown = call(Method::GET, &base, "/nope", None, "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(job_ids(&mut c).await, Vec::<u64>::new());
    service.shutdown().await.unwrap();
}

/// `before=<photo id>` pages through a feed; `next_before` names the next cursor, and is
/// null on the last page.
#[actix_rt::test]
async fn feeds_page_with_a_cursor() {
    let (redis, mut c) = redis_and_conn().await;
    let (service, base) = serve(settings(&redis, |s| s.feed.max_len = 5)).await;
    let _: () = c
        .rpush("homefeed:9", &[70, 60, 50, 40, 30, 20, 10])
        .await
        .unwrap();
    let page = |query: &'static str| {
        let base = base.clone();
        async move {
            call(
                Method::GET,
                &base,
                &format!("/users/9/feed?{query}"),
                None,
                "",
            )
            .await
        }
    };

    let first = page("limit=2").await.json;
    let second = page("limit=2&before=60").await.json;
    let last = page("limit=2&before=40").await.json;
    let gone = page("before=20").await;

    assert_eq!(
        (&first["photo_ids"], &first["next_before"]),
        (&json!([70, 60]), &json!(60))
    );
    assert_eq!(
        (&second["photo_ids"], &second["next_before"]),
        (&json!([50, 40]), &json!(40))
    );
    // Entries beyond feed.max_len (5) are not read.
    assert_eq!(
        (&last["photo_ids"], &last["next_before"]),
        (&json!([30]), &Value::Null)
    );
    assert_eq!(gone.status, StatusCode::BAD_REQUEST);
    assert_eq!(gone.json["field"], "before");
    service.shutdown().await.unwrap();
}

/// Every request leaves an access log line with its request id (echoed in
/// `X-Request-Id`), and `/metrics` counts requests by route and status; logs carry no
/// colour codes when stderr is not a terminal.
#[test]
fn requests_are_logged_and_counted() {
    let redis = redis();
    let mut serving = fanout_cmd(&["serve", "--bind", "127.0.0.1:0"])
        .redis(&redis)
        .spawn();
    let line = serving.next_line();
    let base = line.trim_start_matches("listening on ").to_owned();
    let (request_id, metrics) = actix_rt::System::new().block_on(async {
        let refused = call(Method::GET, &base, "/fanouts/abc", None, "").await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        let id = header(&refused, "x-request-id").to_owned();
        let mut metrics = awc::Client::new()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        let text = String::from_utf8(metrics.body().await.unwrap().to_vec()).unwrap();
        (id, text)
    });
    serving.signal(libc::SIGTERM);
    let ran = serving.finish();

    assert!(
        metrics.contains(
            r#"fanout_http_requests_total{method="GET",route="/fanouts/{id}",status="404"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("fanout_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("fanout_dead_ranges 0"), "{metrics}");
    let access = ran
        .stderr
        .lines()
        .find(|l| l.contains(&request_id))
        .unwrap_or_else(|| panic!("no access log line with {request_id}:\n{}", ran.stderr));
    for part in [
        "fanout::access",
        "method=GET",
        "route=/fanouts/{id}",
        "status=404",
        "duration_ms=",
    ] {
        assert!(access.contains(part), "{part} missing from: {access}");
    }
    assert!(
        !ran.stderr.contains('\u{1b}'),
        "colour codes in redirected logs"
    );
}
