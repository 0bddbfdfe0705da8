//! TLS to Redis: a private redis-server speaking only TLS (no plain port), with
//! certificates the test makes with openssl, reached through a `rediss://` URL and the
//! `redis.tls_*` settings; feeds are checked over TLS with plain Redis commands.

mod support;

use std::time::{Duration, Instant};

use fanout::{FanOut, JobState, LaunchError, StoreError};
use support::*;

/// Well above a refused handshake and its two retries (about half a second), far below a
/// retry loop or a hung connection.
const FAST: Duration = Duration::from_secs(5);

/// `fanout post` over TLS, the CA given by its environment variable: every one of 20,000
/// followers gets the photo exactly once.
#[actix_rt::test]
async fn a_fan_out_over_tls_is_exactly_once() {
    let certs = Certs::generate();
    let redis = tls_redis(&certs, false);
    let mut c = tls_conn(&redis, &certs).await;
    seed(&mut c, 7, 1, 20_000).await;

    let ran = fanout_post(7, 701)
        .redis(&redis)
        .env("FANOUT_REDIS_TLS_CA_FILE", certs.ca())
        .run();

    ran.assert_ok();
    assert_exactly_once(&mut c, 1..20_001, 701).await;
    assert!(ran.stdout.contains("20,000 followers"), "{}", ran.stdout);
    // The server really speaks only TLS: a plain connection to it gets nowhere.
    let plain = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port())).unwrap();
    let plain = within(10, plain.get_multiplexed_async_connection()).await;
    assert!(
        plain.is_err(),
        "a plain connection must not reach the TLS port"
    );
}

/// A server whose certificate the configured CA did not sign is refused at once, in the
/// core and by `fanout post`, saying so; so is one no CA the system trusts signed.
#[actix_rt::test]
async fn a_server_certificate_the_ca_did_not_sign_fails_fast() {
    let certs = Certs::generate();
    let redis = tls_redis(&certs, false);
    let mut untrusting = tls_settings(&redis, &certs, false);
    untrusting.redis.tls_ca_file = Some(certs.other_ca());

    let started = Instant::now();
    let refused = FanOut::builder(untrusting).start().await.err().unwrap();
    let in_core = started.elapsed();
    let started = Instant::now();
    let ran = fanout_post(7, 702)
        .redis(&redis)
        .env("FANOUT_REDIS_TLS_CA_FILE", certs.other_ca())
        .run();
    let by_cli = started.elapsed();
    let system = fanout_post(7, 702).redis(&redis).run();

    let expected = format!(
        "cannot connect to {}: TLS handshake failed: the server's certificate is not signed by redis.tls_ca_file ({})",
        redis.url(),
        certs.other_ca().display()
    );
    assert!(
        matches!(&refused, LaunchError::Store(StoreError::Tls(m)) if m.starts_with(&expected)),
        "{refused:?}"
    );
    assert!(!ran.ok(), "{ran:?}");
    assert!(
        ran.stderr.contains(&format!("error: {expected}")),
        "{}",
        ran.stderr
    );
    assert!(!system.ok(), "{system:?}");
    assert!(
        system
            .stderr
            .contains("not signed by any certificate authority the system trusts"),
        "{}",
        system.stderr
    );
    assert!(in_core < FAST && by_cli < FAST, "{in_core:?}, {by_cli:?}");
}

/// A server that requires client certificates (`--tls-auth-clients yes`) serves a core
/// that shows one, and refuses one that does not, at once and saying what is missing; a
/// key that is not the certificate's is refused before connecting.
#[actix_rt::test]
async fn mutual_tls_takes_the_client_certificate_and_refuses_none() {
    let certs = Certs::generate();
    let redis = tls_redis(&certs, true);
    let mut c = tls_conn(&redis, &certs).await;
    let fanout = start(tls_settings(&redis, &certs, true)).await;

    let status = seed_and_post(&fanout, &mut c, (9, 3_000, 903)).await;
    let started = Instant::now();
    let refused = FanOut::builder(tls_settings(&redis, &certs, false))
        .start()
        .await
        .err()
        .unwrap();
    let elapsed = started.elapsed();
    let ran = fanout_post(9, 904)
        .redis(&redis)
        .env("FANOUT_REDIS_TLS_CA_FILE", certs.ca())
        .run();
    let mut mismatched = tls_settings(&redis, &certs, true);
    mismatched.redis.tls_key_file = Some(certs.file("server.key"));
    let mismatched = FanOut::builder(mismatched).start().await.err().unwrap();

    assert_eq!(status.state, JobState::Completed, "{status:?}");
    assert_exactly_once(&mut c, 1..3_001, 903).await;
    let expected = "TLS handshake failed: the server requires a client certificate (mutual TLS): set redis.tls_cert_file and redis.tls_key_file";
    assert!(
        matches!(&refused, LaunchError::Store(StoreError::Tls(m)) if m.contains(expected)),
        "{refused:?}"
    );
    assert!(elapsed < FAST, "{elapsed:?}");
    assert!(!ran.ok(), "{ran:?}");
    assert!(ran.stderr.contains(expected), "{}", ran.stderr);
    assert_nobody_has(&mut c, 1..3_001, 904).await;
    let expected = format!(
        "redis.tls_key_file: {} is not the key of redis.tls_cert_file ({})",
        certs.file("server.key").display(),
        certs.client().0.display()
    );
    assert!(
        mismatched.to_string().starts_with(&expected),
        "{mismatched}"
    );
}
