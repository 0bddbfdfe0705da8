//! # fanout-actors
//!
//! The embeddable core of `fanout`: when a user posts a photo, write its id into the home
//! feed of every follower in Redis, in the background, exactly once, with progress.
//!
//! ```text
//! upload handler ──PhotoPosted──▶ Coordinator ──BatchFanOut──▶ FeedWriter ×W (own connection each)
//!                ◀─Accepted/Err──    │  ▲                          │
//!                                    │  └──BatchDone/BatchFailed───┘
//!                                    └──FanOutCompleted──▶ subscribers
//! ```
//!
//! The coordinator snapshots the follower count (`LLEN`), plans ranges of `batch_size`
//! followers, and keeps a few in flight per writer. A writer reads its range (`LRANGE`) and
//! writes it in chunks; each chunk is one atomic Lua script guarded by a bit in the job's
//! done-bitmap, so a retried range never writes a feed twice.
//!
//! ## Layout
//! - [`coordinator`]: the `Coordinator` actor: acceptance, scheduling, retries, status;
//!   `coordinator/job.rs` its bookkeeping, `coordinator/takeover.rs` leases and take-over.
//! - [`feed_writer`]: the `FeedWriter` actor and its supervision (panics, restarts).
//! - [`messages`]: every message and its reply types.
//! - [`store`]: the Redis write path (connections, scripts in `scripts/`).
//! - [`ledger`]: the durable job ledger: acceptance, leases, take-over, outcomes.
//! - [`record`]: the bincode encoding of job records and outcomes.
//! - [`keys`]: every Redis key pattern.
//! - [`plan`]: pure range and chunk planning.
//! - [`backoff`]: retry backoff and restart intensity.
//! - `retry`: when a failed range is retried and when it is given up.
//! - [`settings`]: tunables and their defaults.
//! - [`admin`]: seeding follower lists and verifying feeds (for the CLI and tests).
//! - [`telemetry`]: every metric the core reports.
//! - [`error`]: error types.

#![deny(missing_docs)]

pub mod admin;
pub mod backoff;
pub mod coordinator;
pub mod error;
pub mod feed_writer;
pub mod keys;
pub mod ledger;
pub mod messages;
pub mod plan;
pub mod record;
mod retry;
pub mod settings;
pub mod store;
pub mod telemetry;

pub use coordinator::{Coordinator, LaunchError};
pub use error::{PostError, StoreError};
pub use messages::*;
pub use settings::{FeedLayout, RedisUrl, Settings};
