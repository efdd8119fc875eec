//! One connection from accept to close: hyper's HTTP/1.1 driver, the watchdog over its phases,
//! a graceful shutdown when it idles too long or the host stops, and a hard cut when its request
//! head is too slow or the host's drain is over.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use hyper::rt::Timer;
use hyper::server::conn::http1;
use hyper::service::service_fn;

use super::activity::{Activity, Expiry, Watchdog, Watched};
use super::limit::ConnectionPermit;
use super::{service, Shared, Stop};
use crate::server::McpSession;
use crate::session::Store;
use crate::Engine;

/// How a connection ended, for the log.
#[derive(Debug)]
enum End {
    /// The host's drain ran out while the connection was still open (an SSE stream, say).
    Abandoned,
    /// hyper finished with it: the client closed, or a graceful shutdown completed.
    Closed(hyper::Result<()>),
    /// The request head did not arrive within the header timeout.
    HeadTimedOut,
}

/// Serves `io` until it closes. `wrap` turns the watched socket into hyper's IO for this runtime;
/// the permits are held for the connection's lifetime (the host's cap and this worker's count).
pub(crate) async fn serve<S, T, C, Io>(
    engine: Engine<S>,
    io: C,
    wrap: fn(Watched<C>) -> Io,
    timer: T,
    host: Arc<Shared>,
    abandon: Arc<Stop>,
    _permits: (ConnectionPermit, ConnectionPermit),
) where
    S: Store<McpSession> + 'static,
    T: Timer + Clone + Send + Sync + 'static,
    Io: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let config = &host.config;
    let activity = Activity::new();
    let service = {
        let (activity, timer, host) = (activity.clone(), timer.clone(), host.clone());
        service_fn(move |request| {
            let busy = activity.begin_request();
            service::handle(engine.clone(), request, busy, timer.clone(), host.clone())
        })
    };
    let mut connection = pin!(http1::Builder::new()
        .timer(timer.clone())
        // The watchdog times the head; hyper's timeout would also cut idle keep-alive connections.
        .header_read_timeout(None)
        .serve_connection(wrap(Watched::new(io, activity.clone())), service));
    let mut watchdog = Watchdog::new(timer, config.header_read_timeout, config.idle_timeout);
    let mut stopped = pin!(host.stop.wait());
    let mut abandoned = pin!(abandon.wait());
    let mut draining = false;
    let end = poll_fn(|cx| loop {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(End::Closed(result));
        }
        if abandoned.as_mut().poll(cx).is_ready() {
            return Poll::Ready(End::Abandoned);
        }
        match watchdog.poll_expired(cx, &activity) {
            Poll::Ready(Expiry::Head) => return Poll::Ready(End::HeadTimedOut),
            // Idle means nothing is in flight, so hyper closes at once; poll it to let it.
            Poll::Ready(Expiry::Idle) => {
                connection.as_mut().graceful_shutdown();
                continue;
            }
            Poll::Pending => {}
        }
        if !draining && stopped.as_mut().poll(cx).is_ready() {
            // In-flight requests finish, then the connection closes instead of waiting for more.
            draining = true;
            connection.as_mut().graceful_shutdown();
            continue;
        }
        return Poll::Pending;
    })
    .await;
    match end {
        End::Closed(Err(error)) => tracing::debug!(%error, "connection ended with an error"),
        End::Closed(Ok(())) => {}
        End::Abandoned => tracing::debug!("connection dropped at the end of the drain"),
        End::HeadTimedOut => tracing::debug!("connection cut: request head too slow"),
    }
}
