//! Where one connection is in its request cycle, and the deadline each phase has:
//!
//! - **head**: from the connection's start, or from the first byte of a later request, until the
//!   request's head is in: [`HostConfig::header_read_timeout`], then the connection is cut;
//! - **busy**: a request in flight, until its response body has been sent (an SSE stream stays
//!   busy while it is open): no deadline here (the body has its own, in `service`);
//! - **idle**: a keep-alive connection waiting for its next request:
//!   [`HostConfig::idle_timeout`], then the connection is closed.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection waits for its next
//! request, so it cannot tell a slow head from an idle client; the phases are tracked here
//! instead, from the socket's reads ([`Watched`]) and the service's requests ([`Busy`]).
//!
//! [`HostConfig::header_read_timeout`]: super::HostConfig::header_read_timeout
//! [`HostConfig::idle_timeout`]: super::HostConfig::idle_timeout

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::rt::{Sleep, Timer};

use crate::http::Body;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Busy,
    Head,
    Idle,
}

/// The phase a connection was in when its deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The request head did not arrive in time: cut the connection.
    Head,
    /// No request came in time: close the connection.
    Idle,
}

/// One connection's phase, shared by its socket, its service and its watchdog (all on the
/// connection's task, hence `Rc` and `Cell`).
pub(crate) struct Activity {
    phase: Cell<Phase>,
    /// Bumped on every change of phase, so that re-entering a phase restarts its deadline.
    generation: Cell<u64>,
    in_flight: Cell<usize>,
    watchdog: Cell<Option<Waker>>,
}

impl Activity {
    /// A fresh connection, waiting for its first request head.
    pub(crate) fn new() -> Rc<Self> {
        Rc::new(Self {
            phase: Cell::new(Phase::Head),
            generation: Cell::new(0),
            in_flight: Cell::new(0),
            watchdog: Cell::new(None),
        })
    }

    /// A request head is in: the connection is busy until the returned guard is dropped (move it
    /// into the response body).
    pub(crate) fn begin_request(self: &Rc<Self>) -> Busy {
        self.in_flight.set(self.in_flight.get() + 1);
        self.enter(Phase::Busy);
        Busy(self.clone())
    }

    fn on_read(&self, bytes: usize) {
        if bytes > 0 && self.phase.get() == Phase::Idle {
            self.enter(Phase::Head);
        }
    }

    fn enter(&self, phase: Phase) {
        if self.phase.replace(phase) != phase {
            self.generation.set(self.generation.get().wrapping_add(1));
            if let Some(waker) = self.watchdog.take() {
                waker.wake();
            }
        }
    }
}

/// A request in flight on its connection; dropping it (with the response body) ends it.
pub(crate) struct Busy(Rc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let in_flight = activity.in_flight.get().saturating_sub(1);
        activity.in_flight.set(in_flight);
        if in_flight == 0 {
            activity.enter(Phase::Idle);
        }
    }
}

/// Sleeps through a connection's deadlines and says when one has passed.
pub(crate) struct Watchdog<T> {
    timer: T,
    head: Duration,
    idle: Duration,
    armed: Option<(u64, Pin<Box<dyn Sleep>>)>,
}

impl<T: Timer> Watchdog<T> {
    pub(crate) fn new(timer: T, head: Duration, idle: Duration) -> Self {
        Self { timer, head, idle, armed: None }
    }

    /// Ready when the current phase has lasted past its deadline. Polling again afterwards
    /// starts that phase's deadline over.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>, activity: &Activity) -> Poll<Expiry> {
        activity.watchdog.set(Some(cx.waker().clone()));
        let generation = activity.generation.get();
        let (limit, expiry) = match activity.phase.get() {
            Phase::Busy => {
                self.armed = None;
                return Poll::Pending;
            }
            Phase::Head => (self.head, Expiry::Head),
            Phase::Idle => (self.idle, Expiry::Idle),
        };
        let sleep = match &mut self.armed {
            Some((armed, sleep)) if *armed == generation => sleep,
            armed => &mut armed.insert((generation, self.timer.sleep(limit))).1,
        };
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.armed = None;
                Poll::Ready(expiry)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A response body that keeps its request in flight until it has been sent or dropped.
pub(crate) struct Tracked {
    body: Body,
    _busy: Busy,
}

impl Tracked {
    pub(crate) fn new(body: Body, busy: Busy) -> Self {
        Self { body, _busy: busy }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A socket that tells its connection's [`Activity`] when bytes arrive.
pub(crate) struct Watched<I> {
    io: I,
    activity: Rc<Activity>,
}

impl<I> Watched<I> {
    pub(crate) fn new(io: I, activity: Rc<Activity>) -> Self {
        Self { io, activity }
    }
}

#[cfg(feature = "tokio")]
impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        this.activity.on_read(buf.filled().len() - before);
        read
    }
}

#[cfg(feature = "tokio")]
impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(feature = "async-std")]
impl<I: futures_io::AsyncRead + Unpin> futures_io::AsyncRead for Watched<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(bytes)) = read {
            this.activity.on_read(bytes);
        }
        read
    }
}

#[cfg(feature = "async-std")]
impl<I: futures_io::AsyncWrite + Unpin> futures_io::AsyncWrite for Watched<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures_util::task::noop_waker_ref;

    use super::*;

    /// A timer whose sleeps are ready at once: every armed deadline has passed.
    #[derive(Clone)]
    struct Elapsed;

    struct Done;

    impl std::future::Future for Done {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }

    impl Sleep for Done {}

    impl Timer for Elapsed {
        fn sleep(&self, _: Duration) -> Pin<Box<dyn Sleep>> {
            Box::pin(Done)
        }

        fn sleep_until(&self, _: Instant) -> Pin<Box<dyn Sleep>> {
            Box::pin(Done)
        }
    }

    fn expired(watchdog: &mut Watchdog<Elapsed>, activity: &Activity) -> Poll<Expiry> {
        watchdog.poll_expired(&mut Context::from_waker(noop_waker_ref()), activity)
    }

    #[test]
    fn each_phase_has_its_own_deadline_and_a_request_in_flight_has_none() {
        let activity = Activity::new();
        let mut watchdog = Watchdog::new(Elapsed, Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(expired(&mut watchdog, &activity), Poll::Ready(Expiry::Head), "a fresh connection owes a head");
        let busy = activity.begin_request();
        assert_eq!(expired(&mut watchdog, &activity), Poll::Pending);
        activity.on_read(100);
        assert_eq!(expired(&mut watchdog, &activity), Poll::Pending, "body bytes do not end the request");
        drop(busy);
        assert_eq!(expired(&mut watchdog, &activity), Poll::Ready(Expiry::Idle));
        activity.on_read(0);
        assert_eq!(expired(&mut watchdog, &activity), Poll::Ready(Expiry::Idle), "end of file is not a request");
        activity.on_read(1);
        assert_eq!(expired(&mut watchdog, &activity), Poll::Ready(Expiry::Head), "the next request has begun");
    }
}
