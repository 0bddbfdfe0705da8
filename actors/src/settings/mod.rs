//! Everything the core can be tuned with, and its defaults, defined once.
//!
//! `Settings` is shaped like `config.toml`: one field per table (`settings.fanout.batch_size`
//! is `[fanout] batch_size`), so the file, the environment (`FANOUT_BATCH_SIZE`) and code
//! all name a setting the same way. A host builds it in code:
//!
//! ```
//! let mut settings = fanout::Settings::default();
//! settings.fanout.batch_size = 5;
//! settings.validate().unwrap();
//! ```
//!
//! or, with the `config-file` feature, loads it with `load::load`. Files: `tree.rs` the root,
//! `sections.rs` the tables and their defaults (`server.rs` the `[redis]` one and its rules), `layout.rs` the feed layout, `url.rs` the
//! Redis URL, `tokens.rs` the API tokens, `validate.rs` every rule (`overlap.rs`: whether
//! two key families can share a key; `tls_rules.rs`: the `redis.tls_*` files;
//! `http_rules.rs`: the address and tokens of `[http]`), `error.rs`
//! the errors, `load.rs` and `env.rs` the file and environment layering.

mod error;
mod http_rules;
mod layout;
mod overlap;
mod redis_rules;
mod sections;
mod server;
mod tls_rules;
mod tokens;
mod tree;
mod url;
mod validate;

#[cfg(feature = "config-file")]
mod env;
#[cfg(feature = "config-file")]
pub mod load;

pub use error::SettingsError;
pub use http_rules::resolve_bind;
pub use layout::FeedLayout;
pub use sections::{
    FanoutSettings, FeedSettings, HttpSettings, JobSettings, KeySettings, RetrySettings,
    SupervisionSettings,
};
pub use server::RedisSettings;
pub use tokens::Tokens;
pub use tree::Settings;
#[cfg(feature = "fault-injection")]
pub use tree::{FaultBatch, FaultHook};
pub use url::{RedisUrl, Secret, UrlError};
pub use validate::MAX_FEED_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_read_and_write_their_names() {
        assert_eq!("zset".parse::<FeedLayout>(), Ok(FeedLayout::Zset));
        assert_eq!(
            "tree".parse::<FeedLayout>().unwrap_err(),
            "unknown layout 'tree', expected \"list\" or \"zset\""
        );
        assert_eq!(FeedLayout::List.to_string(), "list");
    }

    #[test]
    fn sections_can_be_changed_in_place() {
        let mut s = Settings::default();
        s.fanout.batch_size = 5;
        s.feed.layout = FeedLayout::Zset;
        assert_eq!(s.fanout.batch_size, 5);
        assert_eq!(s.retry.backoff().max, std::time::Duration::from_secs(5));
        assert_eq!(s.jobs.finished_job_ttl().as_secs(), 604_800);
    }
}
