//! Cooperative yielding: loops that can run long (a handler emitting a burst, a fan-out to a
//! large tenant) give their thread back every [`TURN`] steps, so one busy task cannot starve
//! the others on its executor. Runtime-agnostic: a yield is a future that wakes itself and
//! returns `Pending` once, which every executor answers by running its other tasks first.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Steps between two yields. A step (publishing one event) costs well under a microsecond, so
/// a turn is tens of microseconds: a fresh request on the same thread waits about that long.
pub(crate) const TURN: u32 = 64;

/// Counts steps and yields once per [`TURN`]; for loops whose steps are spread over calls.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    spent: Cell<u32>,
}

impl Budget {
    /// One step; every [`TURN`]-th one yields.
    pub(crate) async fn spend(&self) {
        let spent = self.spent.get() + 1;
        if spent < TURN {
            self.spent.set(spent);
            return;
        }
        self.spent.set(0);
        yield_now().await;
    }
}

/// Lets the executor run its other tasks before this one goes on.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    YieldNow { yielded: false }
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll};

    use futures_util::task::noop_waker;

    use super::*;

    #[test]
    fn a_budget_yields_once_per_turn() {
        let budget = Budget::default();
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pendings = 0;
        for _ in 0..TURN * 3 {
            let mut step = pin!(budget.spend());
            while step.as_mut().poll(&mut cx) == Poll::Pending {
                pendings += 1;
            }
        }
        assert_eq!(pendings, 3);
    }
}
