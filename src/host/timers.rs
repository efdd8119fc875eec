//! The timer loop every host runs once: sleep until the engine's next deadline (or until an
//! earlier one appears), then let the engine do what is due.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};

use super::Stop;
use crate::server::McpSession;
use crate::session::Store;
use crate::EngineState;

/// Sleeps are capped so that a wall clock stepped forward is noticed within this long.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// Runs until `stop`: the end of the host's drain, so that heartbeats keep flowing to the
/// streams still open while it lasts.
pub(crate) async fn drive<S, F, Fut>(state: Arc<EngineState<S>>, sleep: F, stop: Arc<Stop>)
where
    S: Store<McpSession>,
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()> + Unpin,
{
    let mut stopped = Box::pin(stop.wait());
    loop {
        let changed = state.sessions().deadline_changed();
        let wait = match state.next_deadline() {
            Some(at) => at.saturating_since(state.sessions().now()).min(LONGEST_SLEEP),
            None => LONGEST_SLEEP,
        };
        let woken = select(sleep(wait), changed);
        if let Either::Right(_) = select(woken, stopped.as_mut()).await {
            return;
        }
        state.handle_timeout().await;
    }
}
