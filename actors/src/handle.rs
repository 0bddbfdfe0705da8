//! [`FanOut`]: the handle a host service keeps, and [`FanOutBuilder`], which starts the
//! coordinator and its writers. Everything a host does with fanout goes through here.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{Notify, Semaphore};

use crate::completion::CompletionBell;
use crate::coordinator::{Coordinator, LaunchError};
use crate::error::{FollowError, PostError, StoreError};
use crate::messages::{
    Accepted, FanOutCompleted, FanoutId, FollowChange, Followed, GetStatus, GetWriterHealth,
    JobStatus, PhotoDeleted, PhotoPosted, Resume, Shutdown, ShutdownReport, Subscribe, Unfollowed,
};
use crate::settings::Settings;
use crate::store::{FeedPage, FeedStore};

/// The running fan-out core: a coordinator and its writer pool. Cheap to clone.
#[derive(Clone)]
pub struct FanOut {
    coordinator: Addr<Coordinator>,
    /// One permit per post waiting for its answer: bounds the coordinator's mailbox use so
    /// that a full one is answered at once, never after the post was in fact accepted.
    pending_posts: Arc<Semaphore>,
    /// Notified whenever a fan-out of this instance finishes (see `completion.rs`).
    finished: Arc<Notify>,
    /// A connection of its own for feed reads and health checks, so they never queue
    /// behind the writers' chunk scripts.
    feeds: FeedStore,
    settings: Arc<Settings>,
}

/// Builds a [`FanOut`] from [`Settings`].
#[must_use]
pub struct FanOutBuilder {
    settings: Settings,
    subscribers: Vec<Recipient<FanOutCompleted>>,
    take_over: bool,
}

impl FanOut {
    /// Starts building from `settings` (validated when started).
    pub fn builder(settings: Settings) -> FanOutBuilder {
        FanOutBuilder {
            settings,
            subscribers: Vec::new(),
            take_over: true,
        }
    }

    /// Posts a photo. Returns once the job is accepted (durably, in Redis), not
    /// after the fan-out. With `fanout.max_pending_posts` posts already waiting, or
    /// `fanout.max_active_jobs` unfinished jobs, answers [`PostError::Overloaded`] at once;
    /// nothing was accepted then. The wait for Redis is bounded by its response timeout.
    pub async fn post(&self, post: PhotoPosted) -> Result<Accepted, PostError> {
        let answer = self
            .bounded(post, PostError::Overloaded, PostError::Stopped)
            .await;
        noted(answer, PostError::kind)
    }

    /// Deletes a photo from every feed its fan-out reached: returns once the deletion is
    /// accepted as a job (durably, in Redis), not after it ran; from then on nothing writes
    /// the photo into a feed. A repeated delete returns the same job. Refused, with nothing
    /// written, when the author never posted the photo ([`PostError::NotPosted`]) or another
    /// author did ([`PostError::Conflict`]); bounded like [`FanOut::post`].
    pub async fn delete(&self, delete: PhotoDeleted) -> Result<Accepted, PostError> {
        let answer = self
            .bounded(delete, PostError::Overloaded, PostError::Stopped)
            .await;
        noted(answer, PostError::kind)
    }

    /// `follower` follows `author` (see [`Followed`]): returns once it is done in Redis.
    /// Refused when they are the same user ([`FollowError::SelfFollow`]); bounded like
    /// [`FanOut::post`] (a full queue answers `Busy`).
    pub async fn follow(&self, follow: Followed) -> Result<FollowChange, FollowError> {
        let full = FollowError::Busy {
            author: follow.author,
        };
        let answer = self.bounded(follow, full, FollowError::Stopped).await;
        noted(answer, FollowError::kind)
    }

    /// `follower` unfollows `author` (see [`Unfollowed`]): returns once it is done.
    pub async fn unfollow(&self, unfollow: Unfollowed) -> Result<FollowChange, FollowError> {
        let full = FollowError::Busy {
            author: unfollow.author,
        };
        let answer = self.bounded(unfollow, full, FollowError::Stopped).await;
        noted(answer, FollowError::kind)
    }

    /// Sends `message` to the coordinator holding one of `fanout.max_pending_posts`
    /// permits, so that a full mailbox is `full` at once (never a wait, never `do_send`);
    /// `stopped` when the coordinator is gone.
    async fn bounded<M, T, E>(&self, message: M, full: E, stopped: E) -> Result<T, E>
    where
        M: Message<Result = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
        Coordinator: Handler<M>,
    {
        match self.pending_posts.try_acquire() {
            Ok(_permit) => self.coordinator.send(message).await.unwrap_or(Err(stopped)),
            Err(_) => Err(full),
        }
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

    /// Runs job `id` here if it is unfinished and nobody runs it (its lease has lapsed):
    /// for a core built with `take_over(false)` that follows one job, such as a repost of a
    /// photo whose fan-out was interrupted. Does nothing for a job running or finished
    /// elsewhere; returns once the request is queued.
    pub async fn resume(&self, id: FanoutId) -> Result<(), PostError> {
        self.coordinator
            .send(Resume(id))
            .await
            .map_err(|_| PostError::Stopped)
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
    /// `poll`. `on_progress` sees every status read. Redis being unavailable for a while
    /// (a restart, a failover) is waited out, for up to `retry.outage_budget_ms`; a job
    /// Redis does not know (any more: it rolled back past the acceptance) ends the wait
    /// with an error.
    pub async fn wait(
        &self,
        id: FanoutId,
        poll: Duration,
        mut on_progress: impl FnMut(&JobStatus),
    ) -> Result<JobStatus, PostError> {
        let mut outage_since: Option<std::time::Instant> = None;
        loop {
            // Armed before the status is read, so a finish in between is not missed.
            let finished = self.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let status = match self.status(id).await {
                Ok(status) => {
                    outage_since = None;
                    status.ok_or_else(|| {
                        PostError::Unavailable(format!(
                            "fan-out {id} is unknown to Redis (it may have lost data: posting the photo again is safe)"
                        ))
                    })?
                }
                Err(PostError::Unavailable(e)) => {
                    let since = *outage_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= self.settings.retry.outage_budget() {
                        return Err(PostError::Unavailable(e));
                    }
                    tokio::time::sleep(poll).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            on_progress(&status);
            if status.state.is_finished() {
                return Ok(status);
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = finished => {}
            }
        }
    }

    /// The newest `limit` photo ids of `user`'s home feed, newest first (at most
    /// `feed.max_len`).
    pub async fn read_feed(&self, user: u64, limit: u64) -> Result<Vec<u64>, StoreError> {
        let page = FeedPage {
            limit,
            before: None,
        };
        let page = self.read_feed_page(user, page).await?;
        Ok(page.map(|(ids, _)| ids).unwrap_or_default())
    }

    /// A page of `user`'s home feed, newest first, within its first `feed.max_len`
    /// entries, and whether more entries follow it; `None` when `page.before` is not among
    /// them (pushed out, or never there).
    pub async fn read_feed_page(
        &self,
        user: u64,
        page: FeedPage,
    ) -> Result<Option<(Vec<u64>, bool)>, StoreError> {
        let max_len = self.settings.feed.max_len;
        self.feeds.clone().read_feed(user, page, max_len).await
    }

    /// Whether Redis answers `PING` on the handle's own connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.feeds.clone().ping().await
    }

    /// Healthy (not degraded) writers and all writers.
    pub async fn writer_health(&self) -> Result<(usize, usize), PostError> {
        self.coordinator
            .send(GetWriterHealth)
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

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl FanOutBuilder {
    /// Adds a subscriber for `FanOutCompleted` notices.
    pub fn subscriber(mut self, subscriber: Recipient<FanOutCompleted>) -> Self {
        self.subscribers.push(subscriber);
        self
    }

    /// Whether the core takes over unfinished jobs whose lease has lapsed (default: true).
    /// A service sharing Redis with other instances wants that: a dead instance's jobs are
    /// resumed. A one-shot tool that posts one photo and exits does not: it would take
    /// others' jobs and leave with them. Jobs it posts, and those it is asked to
    /// [`FanOut::resume`], it runs either way.
    pub fn take_over(mut self, enabled: bool) -> Self {
        self.take_over = enabled;
        self
    }

    /// Validates the settings, connects to Redis (failing within seconds when it is
    /// unreachable, older than 6.2, or free to evict keys: see `redis.allow_eviction`) and
    /// starts the coordinator and writers. Must run inside an actix `System`.
    pub async fn start(self) -> Result<FanOut, LaunchError> {
        let settings = Arc::new(self.settings);
        settings.validate()?;
        // Before the coordinator starts: once running, it takes jobs over, and a failed
        // start must not leave it running without a handle.
        let feeds = FeedStore::connect(&settings).await?;
        let coordinator = Coordinator::launch(Settings::clone(&settings), self.take_over).await?;
        let finished = Arc::new(Notify::new());
        let bell = CompletionBell(finished.clone()).start();
        for subscriber in std::iter::once(bell.recipient()).chain(self.subscribers) {
            // The coordinator was just started with a large mailbox: this cannot block.
            let _ = coordinator.send(Subscribe(subscriber)).await;
        }
        Ok(FanOut {
            coordinator,
            pending_posts: Arc::new(Semaphore::new(settings.fanout.max_pending_posts)),
            finished,
            feeds,
            settings,
        })
    }
}

/// `answer`, its error counted in `fanout_errors_total` under `kind`.
fn noted<T, E>(answer: Result<T, E>, kind: impl Fn(&E) -> &'static str) -> Result<T, E> {
    if let Err(e) = &answer {
        crate::telemetry::error(kind(e));
    }
    answer
}
