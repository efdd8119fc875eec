//! Property tests: the replay log and live delivery against a model that keeps every event.
#![cfg(not(target_family = "wasm"))]

mod common;

use bytes::Bytes;
use common::*;
use futures::executor::block_on;
use mcp_session::stream::ReplayLog;
use mcp_session::{EventId, Resume, StreamId, StreamItem, SubscribeOptions, Subscription};
use proptest::prelude::*;

proptest! {
    /// `ReplayLog::after` agrees with a `Vec` of every event ever pushed, trimmed to capacity.
    #[test]
    fn log_agrees_with_a_vec_of_all_events(capacity in 1usize..12, pushes in 0u64..40, positions in prop::collection::vec(0u64..45, 1..10)) {
        let mut log = ReplayLog::new(StreamId::new(1), mcp_session::stream::LogLimits { events: capacity, ..Default::default() });
        let mut model: Vec<u64> = Vec::new();
        for n in 1..=pushes {
            log.push(Bytes::from(n.to_string()));
            model.push(n);
        }
        for after in positions {
            match log.after(after) {
                Err(ahead) => prop_assert!(after > pushes && ahead.latest == pushes),
                Ok(replay) => {
                    prop_assert!(after <= pushes);
                    let retained: Vec<u64> = model.iter().copied().skip(model.len().saturating_sub(capacity)).collect();
                    let wanted: Vec<u64> = model.iter().copied().filter(|&n| n > after).collect();
                    let got: Vec<u64> = replay.events.iter().map(|e| e.id().seq()).collect();
                    let expect: Vec<u64> = wanted.iter().copied().filter(|n| retained.contains(n)).collect();
                    prop_assert_eq!(&got, &expect);
                    prop_assert_eq!(replay.lost as usize, wanted.len() - expect.len());
                    for event in &replay.events {
                        let text = event.id().seq().to_string();
                        prop_assert_eq!(event.payload().as_ref(), text.as_bytes());
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Publish(u8),
    Subscribe { back: u8 },
    Drain,
    Drop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..6).prop_map(Op::Publish),
        1 => (0u8..20).prop_map(|back| Op::Subscribe { back }),
        2 => Just(Op::Drain),
        1 => Just(Op::Drop),
    ]
}

/// What one subscription yielded, checked against the model of all events.
struct Observed {
    subscription: Subscription,
    /// Position the client resumed from (or that it has reached).
    position: u64,
}

impl Observed {
    /// Drains and checks: every message is the model's next one, except after a `Lagged` whose
    /// count is exactly the gap.
    fn drain_and_check(&mut self, published: u64) -> Result<(), TestCaseError> {
        let mut pending_gap: Option<u64> = None;
        for item in drain(&mut self.subscription) {
            match item {
                StreamItem::Lagged { dropped } => {
                    prop_assert!(pending_gap.is_none(), "two lagged notices in a row");
                    prop_assert!(dropped > 0);
                    pending_gap = Some(dropped);
                }
                StreamItem::Event(event) => {
                    let seq = event.id().seq();
                    let gap = pending_gap.take().unwrap_or(0);
                    prop_assert_eq!(seq, self.position + 1 + gap, "no silent gap, no duplicate");
                    prop_assert_eq!(n_of(&StreamItem::Event(event)), Some(seq));
                    self.position = seq;
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert!(pending_gap.is_none(), "a lagged notice is followed by the event after the gap");
        prop_assert!(self.position <= published);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random publishes, subscriptions at random positions, partial drains and drops on the
    /// standalone stream: every subscriber sees the events after its position in order, exactly
    /// once, with every loss announced by a `Lagged` of the exact size; a final drain catches up
    /// to the last event.
    #[test]
    fn subscribers_see_every_event_once_or_are_told_exactly(capacity in 1usize..10, ops in prop::collection::vec(op(), 1..80)) {
        block_on(async {
            let clock = clock();
            let sessions = builder(&clock).replay_capacity(capacity).keep_alive(None).build::<()>();
            let id = sessions.create(owner("t"), ()).await.unwrap();
            let mut published = 0u64;
            let mut current: Option<Observed> = None;
            for op in ops {
                match op {
                    Op::Publish(count) => {
                        for _ in 0..count {
                            published += 1;
                            let event = sessions.publish(id, StreamId::STANDALONE, msg(published)).await.unwrap();
                            prop_assert_eq!(event, EventId::message(StreamId::STANDALONE, published));
                        }
                    }
                    Op::Subscribe { back } => {
                        let position = published.saturating_sub(u64::from(back));
                        let from = Resume::After(EventId::message(StreamId::STANDALONE, position));
                        let subscription = sessions.subscribe(id, StreamId::STANDALONE, from, SubscribeOptions::default()).await.unwrap();
                        if let Some(mut old) = current.replace(Observed { subscription, position }) {
                            // A replaced connection flushes what it had queued at connect, then ends.
                            drain(&mut old.subscription);
                            prop_assert!(has_ended(&mut old.subscription), "the old connection was replaced");
                        }
                    }
                    Op::Drain => {
                        if let Some(observed) = current.as_mut() {
                            observed.drain_and_check(published)?;
                            prop_assert_eq!(observed.position, published, "a drain catches up");
                        }
                    }
                    Op::Drop => current = None,
                }
            }
            Ok(())
        })?;
    }
}
