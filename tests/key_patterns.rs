//! Key settings are checked as a whole before anything touches Redis: a pattern without
//! exactly one `{user}`, a prefix with a placeholder or empty, and key families that could
//! share a key are refused, naming the settings involved.

mod support;

use support::*;

/// Each bad `[keys]` setting: `fanout post` exits non-zero with a message naming both
/// settings, and Redis is left as it was.
#[actix_rt::test]
async fn key_settings_that_would_break_jobs_are_refused() {
    let (redis, mut c) = redis_and_conn().await;
    seed(&mut c, 1, 1, 10).await;
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "FANOUT_KEYS_FEED",
            "followers:{user}",
            &["keys.feed", "keys.followers"],
        ),
        (
            "FANOUT_KEYS_FEED",
            "fanout:feed:{user}",
            &["keys.feed", "keys.prefix"],
        ),
        (
            "FANOUT_KEYS_FOLLOWERS",
            "homefeed:{user}",
            &["keys.followers", "keys.feed"],
        ),
        (
            "FANOUT_KEYS_PREFIX",
            "fanout:{id}:",
            &["keys.prefix", "{id}"],
        ),
        ("FANOUT_KEYS_PREFIX", "", &["keys.prefix", "empty"]),
        (
            "FANOUT_KEYS_FEED",
            "homefeed",
            &["keys.feed", "{user} exactly once"],
        ),
    ];
    for (var, value, named) in cases {
        let ran = fanout_post(1, 5).redis(&redis).env(var, value).run();

        assert_eq!(ran.code, Some(1), "{var}={value}: {ran:?}");
        for name in named {
            assert!(ran.stderr.contains(name), "{var}={value}: {}", ran.stderr);
        }
        assert_eq!(
            keys(&mut c).await,
            vec!["followers:1".to_owned()],
            "{var}={value}"
        );
    }
}
