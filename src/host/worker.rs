//! What every host's worker thread does, whatever the runtime: build this thread's engine,
//! start the timer loop on the first worker, accept connections until stopped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};

use super::{timers, Stop};
use crate::server::McpSession;
use crate::session::Store;
use crate::{Engine, EngineState, Server, SpawnFn};

/// A task for the thread's local executor.
pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// The runtime-specific pieces a worker needs.
pub(crate) struct Runtime<Sleep, Accept, Serve> {
    /// Spawns a task on this thread's executor.
    pub(crate) spawn: fn(LocalTask),
    /// A timer.
    pub(crate) sleep: Sleep,
    /// Accepts the next connection.
    pub(crate) accept: Accept,
    /// Serves one connection with the engine until it closes.
    pub(crate) serve: Serve,
}

pub(crate) async fn run<S, F, Sleep, SleepFut, Accept, AcceptFut, Conn, Serve>(
    index: usize,
    state: Arc<EngineState<S>>,
    make_server: &F,
    stop: Arc<Stop>,
    runtime: Runtime<Sleep, Accept, Serve>,
) where
    S: Store<McpSession> + Send + Sync + 'static,
    F: Fn() -> Server,
    Sleep: Fn(Duration) -> SleepFut + Clone + 'static,
    SleepFut: Future<Output = ()> + 'static,
    Accept: FnMut() -> AcceptFut,
    AcceptFut: Future<Output = io::Result<Conn>>,
    Serve: Fn(Engine<S>, Conn) -> LocalTask,
{
    let Runtime { spawn, sleep, mut accept, serve } = runtime;
    if index == 0 {
        spawn(Box::pin(timers::drive(state.clone(), sleep.clone(), stop.clone())));
    }
    let engine = Engine::new(state, make_server(), SpawnFn(spawn));
    let mut stopped = Box::pin(stop.wait());
    loop {
        let accepted = match select(Box::pin(accept()), stopped.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => return,
        };
        match accepted {
            Ok(connection) => spawn(serve(engine.clone(), connection)),
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
