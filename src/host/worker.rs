//! What every host's worker thread does, whatever the runtime: build this thread's engine,
//! start the timer loop on the first worker, accept connections within the host's cap until
//! stopped, then drain this worker's connections.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};
use hyper::rt::Timer;

use super::activity::Watched;
use super::limit::ConnectionLimit;
use super::{connection, timers, Shared, Stop};
use crate::server::McpSession;
use crate::session::Store;
use crate::{Engine, EngineState, Server, SpawnFn};

/// A task for the thread's local executor.
pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// How long a failed `accept` (`EMFILE` and friends) waits before the next, instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long abandoned connections get to be dropped by their tasks once the drain is over.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// The runtime-specific pieces a worker needs.
pub(crate) struct Runtime<T, Accept, C, Io> {
    /// Spawns a task on this thread's executor.
    pub(crate) spawn: fn(LocalTask),
    /// The runtime's timer, for hyper, the connections' deadlines and the engine's timers.
    pub(crate) timer: T,
    /// Accepts the next connection.
    pub(crate) accept: Accept,
    /// Turns an accepted (and watched) socket into hyper's IO.
    pub(crate) wrap: fn(Watched<C>) -> Io,
}

pub(crate) async fn run<S, F, T, Accept, AcceptFut, C, Io>(
    index: usize,
    state: Arc<EngineState<S>>,
    make_server: &F,
    host: Arc<Shared>,
    runtime: Runtime<T, Accept, C, Io>,
) where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server,
    T: Timer + Clone + Send + Sync + 'static,
    Accept: FnMut() -> AcceptFut,
    AcceptFut: Future<Output = io::Result<C>>,
    C: 'static,
    Io: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let Runtime { spawn, timer, mut accept, wrap } = runtime;
    // Signalled when this worker's drain is over: its connections and timers end then.
    let abandon = Arc::new(Stop::default());
    if index == 0 {
        let sleeper = timer.clone();
        spawn(Box::pin(timers::drive(state.clone(), move |wait| sleeper.sleep(wait), abandon.clone())));
    }
    let engine = Engine::new(state, make_server(), SpawnFn(spawn));
    let mine = ConnectionLimit::unbounded();
    let mut stopped = pin!(host.stop.wait());
    loop {
        // A place under the cap comes before `accept`: at the cap nobody accepts, and new
        // connections wait in the listen backlog until one closes.
        let place = match select(pin!(host.connections.acquire()), stopped.as_mut()).await {
            Either::Left((place, _)) => place,
            Either::Right(_) => break,
        };
        let accepted = match select(pin!(accept()), stopped.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => break,
        };
        match accepted {
            Ok(io) => {
                let permits = (place, mine.acquire().await);
                let serving =
                    connection::serve(engine.clone(), io, wrap, timer.clone(), host.clone(), abandon.clone(), permits);
                spawn(Box::pin(serving));
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                drop(place);
                timer.sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    // Listen streams never end by themselves: they get their result now, and their connections
    // can then shut down gracefully with the rest.
    engine.close_listens();
    // Every connection has seen the stop and is shutting down gracefully.
    let _ = select(pin!(mine.until_all_released()), timer.sleep(host.config.drain_timeout)).await;
    abandon.trigger();
    let _ = select(pin!(mine.until_all_released()), timer.sleep(ABANDON_GRACE)).await;
}
