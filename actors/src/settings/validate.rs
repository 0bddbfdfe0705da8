//! Every rule a setting must satisfy, written once: `Settings::validate`. Errors name the
//! setting as `config.toml` spells it (`fanout.batch_size: must be at least 1`); a rule
//! about several settings names the one at fault and, in its reason, the others.

use std::time::Duration;

use super::error::SettingsError;
use super::overlap::Family;
use super::sections::KeySettings;
use super::tree::Settings;

/// Largest `feed.max_len` accepted.
pub const MAX_FEED_LEN: u64 = 1_000_000;

/// Largest `fanout.follow_scan_slice`: `LPOS` compares about 30 000 entries per ms.
const MAX_FOLLOW_SCAN_SLICE: u64 = 150_000;

/// Largest `fanout.chunk_size`: one chunk is one script, and Redis serves nobody else
/// while it runs.
const MAX_CHUNK_SIZE: u64 = 10_000;

const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const ONE_DAY: Duration = Duration::from_secs(24 * 3600);

impl Settings {
    /// Checks every value the core cannot work with; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.check_counts()?;
        self.check_times()?;
        self.check_limits()?;
        self.check_keys()?;
        super::redis_rules::check(&self.redis, &self.keys.prefix)?;
        super::http_rules::check(&self.http)?;
        Ok(())
    }

    /// Counts that must be at least 1, and upper bounds on sizes.
    fn check_counts(&self) -> Result<(), SettingsError> {
        let (f, h) = (&self.fanout, &self.http);
        let positive: [(&'static str, u64); 15] = [
            ("fanout.batch_size", f.batch_size),
            ("fanout.chunk_size", f.chunk_size),
            ("fanout.writers", f.writers as u64),
            ("fanout.in_flight_per_writer", f.in_flight_per_writer as u64),
            ("fanout.max_active_jobs", f.max_active_jobs as u64),
            (
                "fanout.max_active_jobs_per_author",
                f.max_active_jobs_per_author as u64,
            ),
            ("fanout.follow_scan_slice", f.follow_scan_slice),
            ("feed.max_len", self.feed.max_len),
            ("retry.max_attempts", u64::from(self.retry.max_attempts)),
            (
                "jobs.finished_jobs_kept",
                self.jobs.finished_jobs_kept as u64,
            ),
            ("jobs.max_quarantined", self.jobs.max_quarantined as u64),
            ("jobs.max_dead_feeds", self.jobs.max_dead_feeds as u64),
            ("http.workers", h.workers as u64),
            ("http.max_body_bytes", h.max_body_bytes as u64),
            ("http.max_connections", h.max_connections as u64),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(SettingsError::new(setting, "must be at least 1"));
            }
        }
        let bounded: [(&'static str, u64, u64, &str); 3] = [
            ("fanout.chunk_size", f.chunk_size, MAX_CHUNK_SIZE, "one chunk is one Redis script, which blocks Redis while it runs"),
            ("fanout.follow_scan_slice", f.follow_scan_slice, MAX_FOLLOW_SCAN_SLICE, "one follow or unfollow script searches that many entries, blocking Redis while it runs"),
            ("feed.max_len", self.feed.max_len, MAX_FEED_LEN, "a feed holds recent photos, not an archive"),
        ];
        for (setting, value, max, why) in bounded {
            if value > max {
                let reason = format!("{value} is too large (at most {max}): {why}");
                return Err(SettingsError::new(setting, reason));
            }
        }
        Ok(())
    }

    /// Durations: positive, ordered where one depends on another, and bounded.
    fn check_times(&self) -> Result<(), SettingsError> {
        let (j, r, s) = (&self.jobs, &self.retry, &self.supervision);
        let nonzero: [(&'static str, u64); 12] = [
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
            ("redis.response_timeout_ms", self.redis.response_timeout_ms),
            ("fanout.batch_timeout_ms", self.fanout.batch_timeout_ms),
            ("jobs.done_marker_ttl_s", j.done_marker_ttl_s),
            ("retry.outage_budget_ms", r.outage_budget_ms),
            ("jobs.lease_ms", j.lease_ms),
            ("jobs.lease_renew_ms", j.lease_renew_ms),
            ("jobs.finished_job_ttl_s", j.finished_job_ttl_s),
            ("jobs.failed_job_ttl_s", j.failed_job_ttl_s),
            ("supervision.restart_window_ms", s.restart_window_ms),
            ("http.shutdown_timeout_ms", self.http.shutdown_timeout_ms),
            ("http.request_timeout_ms", self.http.request_timeout_ms),
        ];
        for (setting, value) in nonzero {
            if value == 0 {
                return Err(SettingsError::new(setting, "must be greater than 0"));
            }
        }
        if j.lease_renew_ms.saturating_mul(2) > j.lease_ms {
            return Err(SettingsError::new(
                "jobs.lease_renew_ms",
                format!(
                    "{} ms must be at most half of jobs.lease_ms ({} ms), or a live owner could lose its lease",
                    j.lease_renew_ms, j.lease_ms
                ),
            ));
        }
        if j.done_marker_ttl() < self.fanout.batch_timeout() {
            return Err(SettingsError::new(
                "jobs.done_marker_ttl_s",
                format!(
                    "must be at least fanout.batch_timeout_ms ({} s): an attempt that timed out may still be writing",
                    self.fanout.batch_timeout().as_secs()
                ),
            ));
        }
        // The lease goes to Redis as `SET ... PX`: a value Redis refuses would fail the
        // acceptance script after it wrote the job.
        if j.lease() > ONE_DAY {
            return Err(SettingsError::new(
                "jobs.lease_ms",
                format!("{} ms is too long (at most a day, 86400000 ms): a dead owner's jobs wait this long to be taken over", j.lease_ms),
            ));
        }
        let ttls = [
            ("jobs.finished_job_ttl_s", j.finished_job_ttl()),
            ("jobs.failed_job_ttl_s", j.failed_job_ttl()),
            ("jobs.done_marker_ttl_s", j.done_marker_ttl()),
        ];
        for (setting, ttl) in ttls {
            if ttl > TEN_YEARS {
                return Err(SettingsError::new(setting, "must be at most ten years"));
            }
        }
        let backoffs = [
            ("retry.max_delay_ms", r.base_delay_ms, r.max_delay_ms),
            (
                "supervision.restart_max_delay_ms",
                s.restart_base_delay_ms,
                s.restart_max_delay_ms,
            ),
        ];
        for (setting, base, max) in backoffs {
            if max < base {
                return Err(SettingsError::new(
                    setting,
                    format!("{max} ms is below the base delay of {base} ms"),
                ));
            }
        }
        Ok(())
    }

    /// The coordinator's mailbox and the posts allowed to wait in it.
    fn check_limits(&self) -> Result<(), SettingsError> {
        let f = &self.fanout;
        if f.mailbox_capacity < 2 {
            return Err(SettingsError::new(
                "fanout.mailbox_capacity",
                "must be at least 2",
            ));
        }
        // A full mailbox would make the post that overflows it wait instead of being
        // refused at once.
        if f.max_pending_posts == 0 || f.max_pending_posts >= f.mailbox_capacity {
            return Err(SettingsError::new(
                "fanout.max_pending_posts",
                format!(
                    "must be between 1 and fanout.mailbox_capacity - 1 ({})",
                    f.mailbox_capacity - 1
                ),
            ));
        }
        Ok(())
    }

    /// The `[keys]` patterns, the prefix, and that no key belongs to two families.
    fn check_keys(&self) -> Result<(), SettingsError> {
        let (k, d) = (&self.keys, KeySettings::default());
        k.patterns()?;
        check_prefix(&k.prefix)?;
        let prefix = Family::prefixed(
            "keys.prefix",
            &k.prefix,
            &d.prefix,
            "one of fanout's own keys",
        );
        let feed = Family::users("keys.feed", &k.feed, &d.feed, "a home feed");
        let followers = Family::users(
            "keys.followers",
            &k.followers,
            &d.followers,
            "a follower list",
        );
        // First in each pair: the one named when both or neither were changed. The prefix
        // is fanout's to choose, and a feed is what a fan-out writes over.
        for (a, b) in [(&feed, &followers), (&prefix, &feed), (&prefix, &followers)] {
            if let Some(clash) = a.clash(b) {
                return Err(clash);
            }
        }
        Ok(())
    }
}

/// `keys.prefix` by itself: fanout's own keys are `<prefix>` followed by anything.
fn check_prefix(prefix: &str) -> Result<(), SettingsError> {
    let refuse = |reason: String| Err(SettingsError::new("keys.prefix", reason));
    if prefix.is_empty() {
        return refuse(
            "must not be empty: fanout's own keys (such as 'jobs') would share every name with keys.followers and keys.feed".to_owned(),
        );
    }
    // Braces are otherwise fine but on a Redis Cluster (`server::check_cluster_keys`).
    if prefix.contains("{user}") {
        return refuse(format!(
            "'{prefix}' must not contain {{user}}, the placeholder of keys.followers and keys.feed: fanout's own keys take no user id, so '{prefix}jobs' would be used as written"
        ));
    }
    if prefix.contains("{id}") {
        return refuse(format!(
            "'{prefix}' must not contain {{id}}: scripts replace every {{id}} in the job keys built from it, so '{prefix}job:{{id}}' would become '{}job:7'",
            prefix.replace("{id}", "7")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(change: impl FnOnce(&mut Settings)) -> String {
        let mut s = Settings::default();
        change(&mut s);
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_zeroes_are_named() {
        Settings::default().validate().unwrap();
        assert_eq!(
            error(|s| s.fanout.batch_size = 0),
            "fanout.batch_size: must be at least 1"
        );
        let mut bad = Settings::default();
        bad.fanout.writers = 0;
        assert_eq!(bad.validate().unwrap_err().setting, "fanout.writers");
        type Change = fn(&mut Settings);
        let cases: [(Change, &str); 7] = [
            (|s| s.http.workers = 0, "http.workers: must be at least 1"),
            (
                |s| s.jobs.max_dead_feeds = 0,
                "jobs.max_dead_feeds: must be at least 1",
            ),
            (
                |s| s.jobs.max_quarantined = 0,
                "jobs.max_quarantined: must be at least 1",
            ),
            (
                |s| s.jobs.failed_job_ttl_s = 0,
                "jobs.failed_job_ttl_s: must be greater than 0",
            ),
            (
                |s| s.http.max_body_bytes = 0,
                "http.max_body_bytes: must be at least 1",
            ),
            (
                |s| s.http.shutdown_timeout_ms = 0,
                "http.shutdown_timeout_ms: must be greater than 0",
            ),
            (
                |s| s.supervision.restart_window_ms = 0,
                "supervision.restart_window_ms: must be greater than 0",
            ),
        ];
        for (change, expected) in cases {
            assert_eq!(error(change), expected);
        }
    }

    #[test]
    fn a_feed_cap_beyond_the_bound_is_refused() {
        let mut ok = Settings::default();
        ok.feed.max_len = MAX_FEED_LEN;
        ok.validate().unwrap();
        let mut bad = Settings::default();
        bad.feed.max_len = MAX_FEED_LEN + 1;
        assert_eq!(bad.validate().unwrap_err().setting, "feed.max_len");
        assert!(error(|s| s.fanout.chunk_size = 10_001).starts_with("fanout.chunk_size: 10001"));
        let slice = error(|s| s.fanout.follow_scan_slice = 150_001);
        assert!(
            slice.starts_with("fanout.follow_scan_slice: 150001 is too large"),
            "{slice}"
        );
    }

    #[test]
    fn failed_jobs_are_kept_at_most_ten_years() {
        let mut ok = Settings::default();
        ok.jobs.failed_job_ttl_s = TEN_YEARS.as_secs();
        ok.validate().unwrap();
        assert_eq!(
            error(|s| s.jobs.failed_job_ttl_s = TEN_YEARS.as_secs() + 1),
            "jobs.failed_job_ttl_s: must be at most ten years"
        );
    }

    #[test]
    fn related_settings_are_checked_together() {
        assert!(error(|s| s.jobs.lease_renew_ms = 6_000).starts_with("jobs.lease_renew_ms: "));
        assert!(error(|s| s.jobs.lease_ms = u64::MAX).starts_with("jobs.lease_ms: "));
        assert!(error(|s| s.jobs.done_marker_ttl_s = 59).starts_with("jobs.done_marker_ttl_s: "));
        assert_eq!(
            error(|s| s.retry.max_delay_ms = 50),
            "retry.max_delay_ms: 50 ms is below the base delay of 100 ms"
        );
        assert!(error(|s| s.supervision.restart_max_delay_ms = 1)
            .starts_with("supervision.restart_max_delay_ms: "));
        assert_eq!(
            error(|s| s.fanout.max_pending_posts = 1024),
            "fanout.max_pending_posts: must be between 1 and fanout.mailbox_capacity - 1 (1023)"
        );
        assert!(error(|s| s.fanout.max_pending_posts = 0).starts_with("fanout.max_pending_posts"));
        assert_eq!(
            error(|s| s.fanout.mailbox_capacity = 1),
            "fanout.mailbox_capacity: must be at least 2"
        );
    }

    #[test]
    fn key_patterns_and_bind_address_are_checked() {
        assert_eq!(
            error(|s| s.keys.feed = "homefeed".into()),
            "keys.feed: 'homefeed' must contain {user} exactly once"
        );
        assert!(
            error(|s| s.keys.followers = "f:{user}:{user}".into()).starts_with("keys.followers: ")
        );
    }

    /// Validates `[keys]` given as "followers feed prefix".
    fn keys(config: &str) -> Result<(), SettingsError> {
        let mut parts = config.split(' ').map(str::to_owned);
        let mut s = Settings::default();
        s.keys.followers = parts.next().unwrap();
        s.keys.feed = parts.next().unwrap();
        s.keys.prefix = parts.next().unwrap();
        s.validate()
    }

    #[test]
    fn key_families_that_share_a_key_are_refused() {
        // "followers feed prefix => error"; the prefix of the first case is empty.
        let cases = [
            "followers:{user} homefeed:{user}  => keys.prefix: must not be empty: fanout's own keys (such as 'jobs') would share every name with keys.followers and keys.feed",
            "followers:{user} homefeed:{user} a{user}: => keys.prefix: 'a{user}:' must not contain {user}, the placeholder of keys.followers and keys.feed: fanout's own keys take no user id, so 'a{user}:jobs' would be used as written",
            "followers:{user} homefeed:{user} a{id}: => keys.prefix: 'a{id}:' must not contain {id}: scripts replace every {id} in the job keys built from it, so 'a{id}:job:{id}' would become 'a7:job:7'",
            "followers:{user} followers:{user} fanout: => keys.feed: 'followers:{user}' overlaps keys.followers ('followers:{user}'): a key such as 'followers:1' would be both a home feed and a follower list",
            "f:{user} f:{user} fanout: => keys.feed: 'f:{user}' overlaps keys.followers ('f:{user}'): a key such as 'f:1' would be both a home feed and a follower list",
            "x1{user} x{user} fanout: => keys.feed: 'x{user}' overlaps keys.followers ('x1{user}'): a key such as 'x11' would be both a home feed and a follower list",
            "followers:{user} fanout:feed:{user} fanout: => keys.feed: 'fanout:feed:{user}' overlaps keys.prefix ('fanout:'): a key such as 'fanout:feed:1' would be both a home feed and one of fanout's own keys",
            "followers:{user} homefeed:{user} home => keys.prefix: 'home' overlaps keys.feed ('homefeed:{user}'): a key such as 'homefeed:1' would be both one of fanout's own keys and a home feed",
            "followers:{user} homefeed:{user} homefeed:1 => keys.prefix: 'homefeed:1' overlaps keys.feed ('homefeed:{user}'): a key such as 'homefeed:1' would be both one of fanout's own keys and a home feed",
            "followers:{user} fanoutfeed:{user} fanout => keys.prefix: 'fanout' overlaps keys.feed ('fanoutfeed:{user}'): a key such as 'fanoutfeed:1' would be both one of fanout's own keys and a home feed",
            "fanout:f:{user} homefeed:{user} fanout: => keys.followers: 'fanout:f:{user}' overlaps keys.prefix ('fanout:'): a key such as 'fanout:f:1' would be both a follower list and one of fanout's own keys",
            "homefeed:{user} homefeed:{user} fanout: => keys.followers: 'homefeed:{user}' overlaps keys.feed ('homefeed:{user}'): a key such as 'homefeed:1' would be both a follower list and a home feed",
        ];
        for case in cases {
            let (config, expected) = case.split_once(" => ").unwrap();
            let (setting, reason) = expected.split_once(": ").unwrap();
            let e = keys(config).unwrap_err();
            assert_eq!(
                (e.setting, e.reason.as_str()),
                (setting, reason),
                "{config}"
            );
        }
    }

    #[test]
    fn key_families_kept_apart_are_accepted() {
        let cases = [
            "followers:{user} homefeed:{user} fanout:",
            "u:{user}:followers {user}.feed fanout:",
            "followers:{user} feed:{user} fanout:",
            "homefeed:{user}:y homefeed:{user}:x fanout:",
            "followers:{user} fanoutfeed:{user} fanout:",
            "followers:{user} homefeed:{user} {fanout}:",
        ];
        for config in cases {
            assert_eq!(keys(config), Ok(()), "{config}");
        }
    }
}
