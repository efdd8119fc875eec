//! The bytes of request bodies a whole host may be reading at once. Each request reserves what
//! its body will hold (the declared length up front, a chunked body as chunks arrive) and gives
//! it back when the engine has answered, so many stalled uploads cannot add up to unbounded
//! memory even when each stays under the per-request limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A host-wide allowance of body bytes.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    capacity: usize,
    reserved: AtomicUsize,
}

/// The bytes one request holds of a [`BodyBudget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

/// The budget cannot hold the bytes asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exhausted;

impl BodyBudget {
    /// A budget of `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { capacity, reserved: AtomicUsize::new(0) })
    }

    /// An empty reservation, to grow as a body arrives.
    pub(crate) fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation { budget: self.clone(), bytes: 0 }
    }

    /// Bytes reserved right now.
    #[cfg(test)]
    fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Acquire)
    }
}

impl Reservation {
    /// Reserves `bytes` more, or nothing if they do not fit.
    pub(crate) fn grow(&mut self, bytes: usize) -> Result<(), Exhausted> {
        if bytes == 0 {
            return Ok(());
        }
        let capacity = self.budget.capacity;
        self.budget
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                reserved.checked_add(bytes).filter(|&total| total <= capacity)
            })
            .map_err(|_| Exhausted)?;
        self.bytes += bytes;
        Ok(())
    }

    /// Bytes this reservation holds.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let budget = BodyBudget::new(100);
        let mut first = budget.reservation();
        first.grow(60).unwrap();
        let mut second = budget.reservation();
        assert_eq!(second.grow(41), Err(Exhausted), "60 + 41 is over 100");
        second.grow(40).unwrap();
        assert_eq!(budget.reserved(), 100);
        drop(first);
        assert_eq!(budget.reserved(), 40);
        second.grow(usize::MAX).unwrap_err();
        drop(second);
        assert_eq!(budget.reserved(), 0);
    }
}
