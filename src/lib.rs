//! # fanout
//!
//! Fan-out-on-write for a photo-sharing service: when a user posts a photo, its id lands in
//! the Redis home feed of every follower, exactly once, in the background.
//!
//! A host actix(-web) service builds a [`FanOut`] once and calls [`FanOut::post`] from its
//! upload handler; the call returns as soon as the job is accepted.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fanout::{config::Config, FanOut, PhotoPosted};
//!
//! let config = Config::load_from_env(None)?;
//! let fanout = FanOut::builder(config).start().await?;
//! let accepted = fanout.post(PhotoPosted::now(343, 777)).await?;
//! println!("fan-out {} to {} followers", accepted.fanout_id, accepted.followers);
//! # Ok(()) }
//! ```
//!
//! ## Layout
//! - [`config`]: `config.toml` + environment → validated settings.
//! - [`FanOut`]: the handle a host service keeps (this file).
//! - [`http`]: the HTTP service (`fanout serve`): upload, status, feeds, health, metrics.
//! - [`local_redis`]: a private `redis-server` child process, for the demo and the tests.
//! - The actors, messages and Redis write path live in the `fanout-actors` crate,
//!   re-exported here as [`core`].

#![deny(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{Notify, Semaphore};

pub use fanout_actors as core;
pub use fanout_actors::{
    Accepted, Coordinator, FanOutCompleted, FanoutId, JobState, JobStatus, LaunchError,
    PhotoPosted, PostError, ShutdownReport,
};

mod completion;
pub mod config;
pub mod http;
pub mod local_redis;

use fanout_actors::{GetStatus, Shutdown, Subscribe};

/// The running fan-out core: a coordinator and its writer pool. Cheap to clone.
#[derive(Clone)]
pub struct FanOut {
    coordinator: Addr<Coordinator>,
    /// One permit per post waiting for its answer: bounds the coordinator's mailbox use so
    /// that a full one is answered at once, never after the post was in fact accepted.
    pending_posts: Arc<Semaphore>,
    /// Notified whenever a fan-out of this instance finishes (see `completion.rs`).
    finished: Arc<Notify>,
}

/// Builds a [`FanOut`] from configuration.
#[must_use]
pub struct FanOutBuilder {
    config: config::Config,
    subscribers: Vec<Recipient<FanOutCompleted>>,
}

impl FanOut {
    /// Starts building from loaded configuration.
    pub fn builder(config: config::Config) -> FanOutBuilder {
        FanOutBuilder {
            config,
            subscribers: Vec::new(),
        }
    }

    /// Posts a photo. Returns once the job is accepted (durably, in Redis), not
    /// after the fan-out. With `fanout.max_pending_posts` posts already waiting, or
    /// `fanout.max_active_jobs` unfinished jobs, answers [`PostError::Overloaded`] at once;
    /// nothing was accepted then. The wait for Redis is bounded by its response timeout.
    pub async fn post(&self, post: PhotoPosted) -> Result<Accepted, PostError> {
        let Ok(_permit) = self.pending_posts.try_acquire() else {
            return Err(PostError::Overloaded);
        };
        self.coordinator
            .send(post)
            .await
            .map_err(|_| PostError::Stopped)?
    }

    /// A job's progress, wherever it runs; `None` for an unknown id; `Unavailable` when
    /// Redis cannot be asked.
    pub async fn status(&self, id: FanoutId) -> Result<Option<JobStatus>, PostError> {
        let status = self
            .coordinator
            .send(GetStatus(id))
            .await
            .map_err(|_| PostError::Stopped)?;
        Ok(status?)
    }

    /// Registers `subscriber` for `FanOutCompleted` notices.
    pub async fn subscribe(&self, subscriber: Recipient<FanOutCompleted>) -> Result<(), PostError> {
        self.coordinator
            .send(Subscribe(subscriber))
            .await
            .map_err(|_| PostError::Stopped)
    }

    /// Waits until job `id` has finished and returns its final status. A job run by this
    /// instance ends the wait as soon as it finishes; one running elsewhere is polled every
    /// `poll`. `on_progress` sees every status read.
    pub async fn wait(
        &self,
        id: FanoutId,
        poll: Duration,
        mut on_progress: impl FnMut(&JobStatus),
    ) -> Result<JobStatus, PostError> {
        loop {
            // Armed before the status is read, so a finish in between is not missed.
            let finished = self.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let status = self
                .status(id)
                .await?
                .ok_or_else(|| PostError::Unavailable(format!("fan-out {id} is unknown")))?;
            on_progress(&status);
            if matches!(status.state, JobState::Completed | JobState::Failed) {
                return Ok(status);
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = finished => {}
            }
        }
    }

    /// Healthy (not degraded) writers and all writers.
    pub async fn writer_health(&self) -> Result<(usize, usize), PostError> {
        self.coordinator
            .send(fanout_actors::GetWriterHealth)
            .await
            .map_err(|_| PostError::Stopped)
    }

    /// Stops taking posts and starting batches, waits up to `grace` for batches in flight,
    /// and hands unfinished jobs back (their leases released) for another instance or a
    /// restart to resume.
    pub async fn shutdown(&self, grace: Duration) -> Result<ShutdownReport, PostError> {
        self.coordinator
            .send(Shutdown { grace })
            .await
            .map_err(|_| PostError::Stopped)
    }

    /// The coordinator's address, for sending messages directly.
    pub fn coordinator(&self) -> &Addr<Coordinator> {
        &self.coordinator
    }
}

impl FanOutBuilder {
    /// Adds a subscriber for `FanOutCompleted` notices.
    pub fn subscriber(mut self, subscriber: Recipient<FanOutCompleted>) -> Self {
        self.subscribers.push(subscriber);
        self
    }

    /// Connects to Redis (failing within seconds when it is unreachable) and starts the
    /// coordinator and writers. Must run inside an actix `System`.
    pub async fn start(self) -> Result<FanOut, LaunchError> {
        let coordinator = Coordinator::launch(self.config.settings).await?;
        let finished = Arc::new(Notify::new());
        let bell = completion::CompletionBell(finished.clone()).start();
        for subscriber in std::iter::once(bell.recipient()).chain(self.subscribers) {
            // The coordinator was just started with a large mailbox: this cannot block.
            let _ = coordinator.send(Subscribe(subscriber)).await;
        }
        Ok(FanOut {
            coordinator,
            pending_posts: Arc::new(Semaphore::new(self.config.max_pending_posts)),
            finished,
        })
    }
}
