//! Tests of `load.rs`. Each runs inside `figment::Jail`, which serialises tests touching the
//! process environment and restores it afterwards.

// Jail's closures must return figment's own (large) error type.
#![allow(clippy::result_large_err)]

use std::path::Path;

use figment::Jail;

use super::*;
use crate::settings::FeedLayout;

/// Loads `text` as a config file in the jail; returns the error's text on failure.
fn load_text(jail: &mut Jail, text: &str) -> Result<Loaded, String> {
    jail.create_file("fanout.toml", text)
        .map_err(|e| e.to_string())?;
    load(Some(Path::new("fanout.toml"))).map_err(|e| e.to_string())
}

fn error(text: &str, env: &[(&str, &str)]) -> String {
    let mut message = String::new();
    Jail::expect_with(|jail| {
        for (name, value) in env {
            jail.set_env(name, value);
        }
        message = load_text(jail, text).err().unwrap_or_default();
        Ok(())
    });
    message
}

#[test]
fn shipped_config_toml_matches_the_defaults() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config.toml")).unwrap();
    let shipped: toml::Table = shipped.parse().unwrap();
    let defaults = toml::Table::try_from(Settings::default()).unwrap();
    assert_eq!(
        shipped, defaults,
        "config.toml must document every setting with its default"
    );
}

#[test]
fn empty_file_and_no_file_give_defaults() {
    Jail::expect_with(|jail| {
        let loaded = load_text(jail, "")?;
        assert_eq!(loaded.settings.fanout.batch_size, 10_000);
        assert_eq!(loaded.settings.feed.max_len, 800);
        assert_eq!(loaded.settings.feed.layout, FeedLayout::List);
        assert_eq!(loaded.file.as_deref(), Some(Path::new("fanout.toml")));
        let loaded = load(None).map_err(|e| e.to_string())?;
        assert_eq!(loaded.file, None);
        assert_eq!(loaded.settings.http.workers, 2);
        Ok(())
    });
}

#[test]
fn environment_overrides_the_file() {
    Jail::expect_with(|jail| {
        jail.set_env("FANOUT_BATCH_SIZE", "70");
        jail.set_env("FANOUT_FEED_LAYOUT", "zset");
        jail.set_env("FANOUT_REDIS_URL", "redis://127.0.0.1:7000");
        jail.set_env("FANOUT_JOBS_LEASE_RENEW_MS", "2000");
        jail.set_env("FANOUT_MAX_PENDING_POSTS", "12");
        // String settings keep numeric-looking text as text.
        jail.set_env("FANOUT_KEYS_PREFIX", "123");
        let s = load_text(jail, "[fanout]\nbatch_size = 50\nchunk_size = 40\n")?.settings;
        assert_eq!(s.fanout.batch_size, 70);
        assert_eq!(s.fanout.chunk_size, 40);
        assert_eq!(s.feed.layout, FeedLayout::Zset);
        assert_eq!(s.redis.url.expose(), "redis://127.0.0.1:7000");
        assert_eq!(s.jobs.lease_renew_ms, 2_000);
        assert_eq!(s.fanout.max_pending_posts, 12);
        assert_eq!(s.keys.prefix, "123");
        Ok(())
    });
}

#[cfg(feature = "tls")]
#[test]
fn tls_files_come_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("FANOUT_REDIS_URL", "rediss://127.0.0.1:6380");
        // A file name that looks like a number is a file name all the same.
        jail.set_env("FANOUT_REDIS_TLS_CA_FILE", "123");
        jail.set_env("FANOUT_REDIS_TLS_CERT_FILE", "/etc/fanout/client.pem");
        // Empty: unset, over the file's value.
        jail.set_env("FANOUT_REDIS_TLS_KEY_FILE", "");
        let text = "[redis]\ntls_key_file = \"/etc/fanout/client.key\"\n";
        let e = load_text(jail, text).unwrap_err();
        assert_eq!(
            e,
            "FANOUT_REDIS_TLS_CERT_FILE: needs redis.tls_key_file, the certificate's private key: mutual TLS takes both (redis.tls_cert_file)"
        );
        jail.set_env("FANOUT_REDIS_TLS_KEY_FILE", "/etc/fanout/client.key");
        let s = load_text(jail, "")?.settings;
        assert_eq!(s.redis.tls_ca_file, Some("123".into()));
        assert_eq!(s.redis.tls_key_file, Some("/etc/fanout/client.key".into()));
        // A command's own URL is the one the files are judged with.
        let plain = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        let e = load_with_url(None, Some(&plain)).unwrap_err().to_string();
        assert!(e.starts_with("FANOUT_REDIS_TLS_CA_FILE: is only used with a rediss:// (TLS) URL, and redis.url is 'redis://127.0.0.1:6379'"), "{e}");
        jail.set_env("FANOUT_REDIS_URL", "redis://127.0.0.1:6379");
        let tls = RedisUrl::parse("rediss://127.0.0.1:6390").unwrap();
        let s = load_with_url(None, Some(&tls))
            .map_err(|e| e.to_string())?
            .settings;
        assert_eq!(s.redis.url, tls);
        Ok(())
    });
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_needs_the_feature() {
    assert_eq!(
        error("", &[("FANOUT_REDIS_TLS_CA_FILE", "/etc/ca.pem")]),
        "FANOUT_REDIS_TLS_CA_FILE: TLS settings need TLS support, and the fanout crate was built without its `tls` feature (redis.tls_ca_file)"
    );
    let e = error("[redis]\nurl = \"rediss://h:6380\"\n", &[]);
    assert!(e.starts_with("redis.url: invalid URL 'rediss://h:6380': a rediss:// URL needs TLS support, and the fanout crate was built without its `tls` feature"), "{e}");
}

#[test]
fn unknown_variables_are_reported() {
    Jail::expect_with(|jail| {
        jail.set_env("FANOUT_REDIS_URI", "redis://elsewhere");
        let loaded = load(None).map_err(|e| e.to_string())?;
        assert_eq!(loaded.unknown_env, ["FANOUT_REDIS_URI"]);
        Ok(())
    });
}

#[test]
fn environment_errors_start_with_the_variable() {
    assert_eq!(
        error("", &[("FANOUT_BATCH_SIZE", "lots")]),
        "FANOUT_BATCH_SIZE: 'lots' is not a whole number (fanout.batch_size)"
    );
    assert_eq!(
        error("", &[("FANOUT_BATCH_SIZE", "0")]),
        "FANOUT_BATCH_SIZE: must be at least 1 (fanout.batch_size)"
    );
    let e = error("", &[("FANOUT_REDIS_URL", "nonsense")]);
    assert!(
        e.starts_with("FANOUT_REDIS_URL: invalid URL 'nonsense': "),
        "{e}"
    );
    assert_eq!(
        error("", &[("FANOUT_FEED_LAYOUT", "tree")]),
        "FANOUT_FEED_LAYOUT: unknown layout 'tree', expected \"list\" or \"zset\" (feed.layout)"
    );
}

#[test]
fn file_errors_name_the_setting_and_the_file() {
    let e = error("[fanout]\nbatch_size = 0", &[]);
    assert!(e.ends_with("fanout.toml)"), "{e}");
    for (text, start) in [
        (
            "[fanout]\nbatch_size = 0",
            "fanout.batch_size: must be at least 1 (in ",
        ),
        (
            "[fanout]\nbatch_sise = 5",
            "fanout.batch_sise: unknown setting (in ",
        ),
        ("[fanuot]\nbatch_size = 5", "fanuot: unknown section (in "),
        (
            "[fanout]\nbatch_size = \"many\"",
            "fanout.batch_size: 'many' is not a whole number (in ",
        ),
        (
            "[fanout]\nbatch_size = -1",
            "fanout.batch_size: '-1' is not a whole number",
        ),
        (
            "[retry]\nmax_attempts = 99999999999",
            "retry.max_attempts: 99999999999 is too large",
        ),
        (
            "[feed]\nlayout = \"tree\"",
            "feed.layout: unknown layout 'tree', expected \"list\" or \"zset\" (in ",
        ),
        (
            "[redis]\nurl = \"http://x\"",
            "redis.url: invalid URL 'http://x'",
        ),
        ("[keys]\nfeed = \"homefeed\"", "keys.feed: "),
        (
            "[retry]\nmax_delay_ms = 10",
            "retry.max_delay_ms: 10 ms is below",
        ),
        (
            "[http]\nworkers = 0",
            "http.workers: must be at least 1 (in ",
        ),
    ] {
        let e = error(text, &[]);
        assert!(e.starts_with(start), "{text}: {e}");
    }
}

#[test]
fn read_and_syntax_errors_name_the_file() {
    let e = load(Some(Path::new("/nonexistent/fanout.toml"))).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e
        .to_string()
        .starts_with("cannot read config file /nonexistent/fanout.toml: "));
    let e = error("[fanout\nbatch_size = 5", &[]);
    assert!(e.starts_with("config file fanout.toml: "), "{e}");
    assert!(e.contains("line 1"), "{e}");
    // The parser quotes the broken line: its password must not show.
    let e = error("[redis]\nurl = \"redis://:hunter2@127.0.0.1:7000\n", &[]);
    assert!(e.starts_with("config file fanout.toml: "), "{e}");
    assert!(e.contains("redis://:***@127.0.0.1:7000"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn defaults_at_odds_with_a_setting_are_named_plainly() {
    // max_pending_posts keeps its default (256) but no longer fits the mailbox.
    let e = error("", &[("FANOUT_MAILBOX_CAPACITY", "100")]);
    assert_eq!(
        e,
        "fanout.max_pending_posts: must be between 1 and fanout.mailbox_capacity - 1 (99) \
         (fanout.mailbox_capacity comes from FANOUT_MAILBOX_CAPACITY)"
    );
    let e = error("[jobs]\nlease_ms = 4000", &[]);
    assert!(
        e.starts_with("jobs.lease_renew_ms: 3000 ms must be at most half"),
        "{e}"
    );
    assert!(e.contains("jobs.lease_ms comes from "), "{e}");
    assert!(e.ends_with("fanout.toml)"), "{e}");
}

#[test]
fn password_never_shows_in_debug() {
    Jail::expect_with(|jail| {
        let loaded = load_text(jail, "[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\"")?;
        assert!(!format!("{loaded:?}").contains("hunter2"));
        assert_eq!(
            loaded.settings.redis.url.expose(),
            "redis://:hunter2@127.0.0.1:6379"
        );
        Ok(())
    });
    let e = error("", &[("FANOUT_REDIS_URL", "redis://:hunter2@h:port")]);
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn sentinels_come_from_the_environment_comma_separated() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "FANOUT_REDIS_SENTINEL_NODES",
            "redis://127.0.0.1:26379, redis://127.0.0.1:26380,",
        );
        jail.set_env("FANOUT_REDIS_SENTINEL_MASTER", "feeds");
        jail.set_env("FANOUT_REDIS_PASSWORD", "hunter2");
        let loaded = load_text(jail, "")?;
        let redis = &loaded.settings.redis;
        let nodes: Vec<&str> = redis.sentinel_nodes.iter().map(|u| u.expose()).collect();
        assert_eq!(
            nodes,
            ["redis://127.0.0.1:26379", "redis://127.0.0.1:26380"]
        );
        assert_eq!(redis.password.expose(), "hunter2");
        assert!(!format!("{loaded:?}").contains("hunter2"));
        // The shipped file's default URL beside the sentinels is no conflict...
        let shipped = "[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
        assert!(load_text(jail, shipped).is_ok());
        // ...a URL given in so many words is, naming both.
        jail.set_env("FANOUT_REDIS_URL", "redis://127.0.0.1:6379");
        let e = load_text(jail, "").unwrap_err();
        assert!(
            e.contains("FANOUT_REDIS_URL") && e.contains("redis.sentinel_nodes"),
            "{e}"
        );
        Ok(())
    });
    let e = error(
        "[redis]\nurl = \"redis://127.0.0.1:7000\"\nsentinel_nodes = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"feeds\"\n",
        &[],
    );
    assert!(
        e.contains("redis.url") && e.contains("redis.sentinel_nodes"),
        "{e}"
    );
}

#[test]
fn a_password_that_is_not_text_is_not_shown() {
    let e = error(
        "[redis]\nsentinel_nodes = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"feeds\"\npassword = 123456789\n",
        &[],
    );
    assert!(
        e.contains("redis.password") && e.contains("text in quotes"),
        "{e}"
    );
    assert!(!e.contains("123456789"), "{e}");
}
