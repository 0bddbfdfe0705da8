//! `CompletionBell`: an actor subscribed to the coordinator's `FanOutCompleted` notices that
//! wakes every [`crate::FanOut::wait`] caller, so a wait ends when the fan-out ends, not at
//! its next poll.

use std::sync::Arc;

use crate::messages::FanOutCompleted;
use actix::prelude::*;
use tokio::sync::Notify;

/// Rings (wakes all waiters) on every finished fan-out of this instance.
pub(crate) struct CompletionBell(pub(crate) Arc<Notify>);

impl Actor for CompletionBell {
    type Context = Context<Self>;
}

impl Handler<FanOutCompleted> for CompletionBell {
    type Result = ();

    fn handle(&mut self, _: FanOutCompleted, _: &mut Context<Self>) {
        self.0.notify_waiters();
    }
}
