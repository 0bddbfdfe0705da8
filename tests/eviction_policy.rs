//! fanout refuses a Redis that may evict keys: an evicted photo key would fan a photo out
//! twice, an evicted done-bitmap would write chunks twice.

mod support;

use support::*;

/// `maxmemory-policy allkeys-lru`: `fanout post` exits non-zero naming the setting and the
/// override, writing nothing; with `redis.allow_eviction = true` it runs.
#[actix_rt::test]
async fn an_evicting_redis_is_refused_unless_allowed() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    config_set(&mut c, "maxmemory-policy", "allkeys-lru").await;

    let refused = fanout_post(1, 5).redis(&redis).run();

    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("maxmemory-policy is 'allkeys-lru'")
            && refused.stderr.contains("redis.allow_eviction"),
        "{}",
        refused.stderr
    );
    assert_eq!(keys(&mut c).await, vec!["followers:1".to_owned()]);

    fanout_post(1, 5)
        .redis(&redis)
        .env("FANOUT_REDIS_ALLOW_EVICTION", "true")
        .run()
        .assert_ok();
    assert_exactly_once(&mut c, 1..11, 5).await;
}
