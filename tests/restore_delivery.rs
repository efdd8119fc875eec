//! A session read back from storage (a Durable Object restarted, say) never sends an event
//! twice: a connection without `Last-Event-ID` starts after everything the log held, because
//! which of it reached the earlier process's connections is not recorded; a client that saw
//! events resumes with `Last-Event-ID` and loses nothing.
//!
//! Regression: the "delivered" watermark lived only in the process, so after a restore a GET
//! without `Last-Event-ID` replayed what the client already had.
//!
//! Invariant 1 (nothing sent twice, a restore included).

mod common;

use common::*;
use mcp_session::stream::{LogLimits, ReplayLog};
use mcp_session::{EventId, Resume, Store, StreamId, SubscribeOptions};

on_every_runtime! {
    async fn a_get_after_a_restore_does_not_resend_what_an_earlier_process_delivered() {
        let clock = clock();
        let before = engine(&clock);
        let id = used(&before, owner("t")).await;
        let mut get = before.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        for n in 1..=3 {
            before.publish(id, StreamId::STANDALONE, msg(n)).await.unwrap();
        }
        assert_eq!(drain(&mut get).iter().filter_map(n_of).collect::<Vec<_>>(), vec![1, 2, 3]);
        drop(get);
        before.publish(id, StreamId::STANDALONE, msg(4)).await.unwrap();

        // What a store persists, read back by another process.
        let saved = before.store().session(id).unwrap();
        let replay = before.store().replay(id, StreamId::STANDALONE, 0).await.unwrap();
        let log = ReplayLog::restore(StreamId::STANDALONE, LogLimits::default(), 4, replay.events, false).unwrap();
        let after = engine(&clock);
        after.store().restore(saved, vec![log]).unwrap();

        let mut fresh = after.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert!(drain(&mut fresh).is_empty(), "nothing the earlier process may have sent comes again");
        after.publish(id, StreamId::STANDALONE, msg(5)).await.unwrap();
        assert_eq!(drain(&mut fresh).iter().filter_map(n_of).collect::<Vec<_>>(), vec![5]);
        drop(fresh);

        // The client that had seen 1..3 resumes and gets exactly the rest.
        let seen = EventId::message(StreamId::STANDALONE, 3);
        let mut resumed = after.subscribe(id, StreamId::STANDALONE, Resume::After(seen), SubscribeOptions::default()).await.unwrap();
        assert_eq!(drain(&mut resumed).iter().filter_map(n_of).collect::<Vec<_>>(), vec![4, 5]);
        drop(resumed);

        // In the same process, what nobody received is still delivered to the next connection.
        after.publish(id, StreamId::STANDALONE, msg(6)).await.unwrap();
        let mut next = after.subscribe(id, StreamId::STANDALONE, Resume::Undelivered, SubscribeOptions::default()).await.unwrap();
        assert_eq!(drain(&mut next).iter().filter_map(n_of).collect::<Vec<_>>(), vec![6]);
    }
}
