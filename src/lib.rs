//! # fanout-cli
//!
//! The `fanout` command (`src/main.rs`, commands in `src/cli/`) and what it adds around the
//! embeddable `fanout` crate, which it uses only through that crate's public surface:
//!
//! - [`config`]: where the command's settings come from: `--config` or `./config.toml`,
//!   then `FANOUT_*` variables, then `--redis-url`.
//! - [`serve`]: the standalone HTTP service (`fanout serve`): the crate's routes plus
//!   `/metrics`, with a graceful shutdown.
//! - [`local_redis`]: a private `redis-server` child process, for the demo, the benchmark
//!   and the tests; [`local_sentinel`] and [`local_cluster`]: a private Redis Sentinel and
//!   a private Redis Cluster made of them.

#![deny(missing_docs)]

pub mod config;
pub mod local_cluster;
pub mod local_redis;
pub mod local_sentinel;
pub mod serve;
