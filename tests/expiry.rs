//! Idle and absolute expiry on virtual time: exact to the millisecond, with and without lookups.

mod common;

use std::time::Duration;

use common::*;
use mcp_session::session::{CreateError, LookupError};

const MINUTE: Duration = Duration::from_secs(60);
const MS: Duration = Duration::from_millis(1);

on_every_runtime! {
    async fn idle_timeout_expires_at_the_deadline_not_a_millisecond_before() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = sessions.create(owner("t"), ()).await.unwrap();
        assert_eq!(sessions.next_deadline(), Some(at(30 * MINUTE)));

        clock.advance(30 * MINUTE - MS);
        assert!(sessions.lookup(id, &owner("t")).await.is_ok());
        // the lookup refreshed the idle timer: 30 minutes from now
        assert_eq!(sessions.next_deadline(), Some(at(60 * MINUTE - MS)));

        clock.advance(30 * MINUTE - MS);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 1, "1 ms before the deadline the session lives");

        clock.advance(MS);
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Expired));
        assert_eq!(sessions.len(), 0, "lazy expiry removes the entry");
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Unknown));
    }

    async fn expiry_without_any_lookup_is_done_by_handle_timeout() {
        let clock = clock();
        let sessions = engine(&clock);
        sessions.create(owner("t"), ()).await.unwrap();
        sessions.create(owner("t"), ()).await.unwrap();
        clock.advance(10 * MINUTE);
        let third = sessions.create(owner("t"), ()).await.unwrap();

        clock.advance(20 * MINUTE - MS);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 3);
        clock.advance(MS);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 1, "the two older sessions expired without being looked up");
        assert_eq!(sessions.next_deadline(), Some(at(40 * MINUTE)));
        assert!(sessions.lookup(third, &owner("t")).await.is_ok());
        assert_eq!(sessions.metrics().sessions_expired, 2);
    }

    async fn absolute_timeout_beats_any_amount_of_touching() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = sessions.create(owner("t"), ()).await.unwrap();
        // touch every 10 minutes for 4 hours: the idle timer never runs out
        for _ in 0..23 {
            clock.advance(10 * MINUTE);
            sessions.lookup(id, &owner("t")).await.unwrap();
        }
        clock.advance(10 * MINUTE - MS);
        assert_eq!(sessions.next_deadline(), Some(at(240 * MINUTE)));
        assert!(sessions.lookup(id, &owner("t")).await.is_ok(), "1 ms before 4 h");
        clock.advance(MS);
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Expired));
    }

    async fn absolute_deadline_fires_from_handle_timeout_too() {
        let clock = clock();
        let sessions = builder(&clock).idle_timeout(Duration::from_secs(3600)).absolute_timeout(Duration::from_secs(60)).build::<()>();
        sessions.create(owner("t"), ()).await.unwrap();
        assert_eq!(sessions.next_deadline(), Some(at(MINUTE)));
        clock.advance(MINUTE - MS);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 1);
        clock.advance(MS);
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 0);
        assert_eq!(sessions.next_deadline(), None);
    }

    async fn spurious_and_repeated_timeouts_do_nothing() {
        let clock = clock();
        let sessions = engine(&clock);
        sessions.create(owner("t"), ()).await.unwrap();
        for _ in 0..3 {
            sessions.handle_timeout().await;
        }
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions.metrics().sessions_expired, 0);
    }

    async fn a_later_deadline_leaves_the_host_asleep_and_an_earlier_one_wakes_it() {
        use futures::FutureExt;

        let clock = clock();
        let sessions = engine(&clock);
        let id = sessions.create(owner("t"), ()).await.unwrap();
        assert_eq!(sessions.next_deadline(), Some(at(30 * MINUTE)));

        let listener = sessions.deadline_changed();
        clock.advance(MINUTE);
        sessions.create(owner("t"), ()).await.unwrap();
        assert!(listener.now_or_never().is_none(), "a new session expires after the armed deadline");

        let listener = sessions.deadline_changed();
        let _subscription = sessions
            .subscribe(id, mcp_session::StreamId::STANDALONE, mcp_session::Resume::Undelivered, Default::default())
            .await
            .unwrap();
        assert!(listener.now_or_never().is_some(), "a keep-alive 15 s out is earlier than 30 min");
        assert_eq!(sessions.next_deadline(), Some(at(MINUTE + Duration::from_secs(15))));
    }

    async fn admission_caps_are_typed_and_leave_state_alone() {
        let clock = clock();
        let sessions = builder(&clock).max_sessions(3).max_sessions_per_tenant(2).build::<()>();
        sessions.create(owner("a"), ()).await.unwrap();
        sessions.create(owner("a"), ()).await.unwrap();
        assert!(matches!(
            sessions.create(owner("a"), ()).await,
            Err(CreateError::TooManySessionsForTenant { limit: 2, .. })
        ));
        sessions.create(owner("b"), ()).await.unwrap();
        assert_eq!(sessions.create(owner("c"), ()).await, Err(CreateError::TooManySessions { limit: 3 }));
        assert_eq!(sessions.len(), 3);
        assert_eq!(sessions.metrics().sessions_created, 3);
        // expiry frees room
        clock.advance(30 * MINUTE);
        sessions.handle_timeout().await;
        assert!(sessions.create(owner("c"), ()).await.is_ok());
    }

    async fn delete_removes_and_later_lookups_fail() {
        let clock = clock();
        let sessions = engine(&clock);
        let id = sessions.create(owner("t"), ()).await.unwrap();
        assert!(sessions.remove(id).await);
        assert!(!sessions.remove(id).await);
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Unknown));
        assert_eq!(sessions.metrics().sessions_deleted, 1);
        assert_eq!(sessions.next_deadline(), None);
    }
}
