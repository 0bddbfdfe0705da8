//! # fanout
//!
//! Fan-out-on-write for a photo-sharing service: when a user posts a photo, its id lands in
//! the Redis home feed of every follower, exactly once, in the background, with progress.
//!
//! A host actix(-web) service builds a [`FanOut`] once and calls [`FanOut::post`] from its
//! upload handler; the call returns as soon as the job is durably accepted in Redis.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fanout::{FanOut, PhotoPosted, Settings};
//!
//! let mut settings = Settings::default();
//! settings.redis.url = "redis://127.0.0.1:6379".parse()?;
//! let fanout = FanOut::builder(settings).start().await?;
//! let accepted = fanout.post(PhotoPosted::now(343, 777)).await?;
//! println!("fan-out {} to {} followers", accepted.fanout_id, accepted.followers);
//! # Ok(()) }
//! ```
//!
//! ```text
//! upload handler ──PhotoPosted──▶ Coordinator ──BatchFanOut──▶ FeedWriter ×W (own connection each)
//!                ◀─Accepted/Err──    │  ▲                          │
//!                                    │  └──BatchDone/BatchFailed───┘
//!                                    └──FanOutCompleted──▶ subscribers
//! ```
//!
//! The design — actors, the job lifecycle, the write path, the Redis keys and the delivery
//! guarantees — is described in the repository's `docs/ARCHITECTURE.md`.
//!
//! ## The public surface
//! - [`FanOut`] and [`FanOutBuilder`]: the handle a host keeps (`handle.rs`).
//! - [`Settings`] and its sections ([`settings`]); with cargo feature `config-file`, loading
//!   them from a TOML file and `FANOUT_*` variables ([`settings::load`]).
//! - The messages a host sends and receives: [`PhotoPosted`], [`Accepted`], [`JobStatus`],
//!   [`FanOutCompleted`] and their parts.
//! - The errors: [`PostError`], [`StoreError`], [`LaunchError`], [`SettingsError`].
//! - [`operator`]: listing jobs, retrying dead ranges, seeding and verifying, for tooling.
//! - [`telemetry`]: the names of the metrics the core reports.
//! - [`http`] (cargo feature `http`): the routes, to mount into a host's actix-web `App`.
//!
//! ## Inside (crate-private)
//! - `coordinator.rs` (+ `coordinator/`): the `Coordinator` actor: acceptance, scheduling,
//!   retries, status, leases and take-over.
//! - `feed_writer.rs`: the `FeedWriter` actor and its supervision (panics, restarts).
//! - `messages.rs`: every message and its reply types.
//! - `store.rs`: the Redis write path and connections; `scripts.rs`: every Lua script
//!   (sources in `scripts/`); `tls.rs`: TLS to Redis (cargo feature `tls`: `rediss://`
//!   URLs and the `redis.tls_*` files).
//! - `ledger.rs`: the durable job ledger: acceptance, leases, take-over, outcomes.
//! - `record.rs`: the bincode encoding of job records and outcomes.
//! - `keys.rs`: every Redis key pattern.
//! - `plan.rs`, `backoff.rs`, `retry.rs`: pure range planning, backoff, retry decisions.
//! - `admin.rs`: seeding follower lists and verifying feeds (behind [`operator`]).
//! - `completion.rs`: wakes [`FanOut::wait`] callers when a fan-out finishes.

#![deny(missing_docs)]

mod admin;
mod backoff;
mod cluster;
mod completion;
mod conn;
mod coordinator;
mod dump;
mod error;
mod feed_writer;
mod handle;
mod ids;
mod keys;
mod kind;
mod ledger;
mod messages;
mod plan;
mod recipients;
mod record;
mod retry;
mod scripts;
mod sentinel;
mod slot_finish;
mod slot_writes;
mod slots;
mod store;
mod tls;

#[cfg(feature = "http")]
pub mod http;
pub mod operator;
pub mod settings;
pub mod telemetry;

pub use coordinator::LaunchError;
pub use error::{FollowError, PostError, StoreError};
pub use handle::{FanOut, FanOutBuilder};
pub use messages::{
    Accepted, DeadFeed, DeadRange, FanOutCompleted, FanoutId, FollowChange, Followed, JobKind,
    JobState, JobStatus, PhotoDeleted, PhotoPosted, ShutdownReport, Unfollowed,
};
pub use plan::FollowerRange;
pub use settings::{Settings, SettingsError};
pub use store::FeedPage;
