//! Idle and absolute expiry on virtual time: exact to the millisecond, with and without lookups.
//!
//! Invariant 3 of the crate docs (ordered deadlines; exact expiry).

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
        let id = used(&sessions, owner("t")).await;
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
        used(&sessions, owner("t")).await;
        used(&sessions, owner("t")).await;
        clock.advance(10 * MINUTE);
        let third = used(&sessions, owner("t")).await;

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
        let id = used(&sessions, owner("t")).await;
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
        used(&sessions, owner("t")).await;
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
        used(&sessions, owner("t")).await;
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
        let id = used(&sessions, owner("t")).await;
        assert_eq!(sessions.next_deadline(), Some(at(30 * MINUTE)));

        let listener = sessions.deadline_changed();
        clock.advance(29 * MINUTE + Duration::from_secs(30));
        sessions.create(owner("t"), ()).await.unwrap();
        assert!(listener.now_or_never().is_none(), "its initialization timeout ends after the armed deadline");

        let listener = sessions.deadline_changed();
        sessions.create(owner("t"), ()).await.unwrap();
        assert_eq!(sessions.next_deadline(), Some(at(30 * MINUTE)), "reading re-arms");
        let _subscription = sessions
            .subscribe(id, mcp_session::StreamId::STANDALONE, mcp_session::Resume::Undelivered, Default::default())
            .await
            .unwrap();
        assert!(listener.now_or_never().is_some(), "a keep-alive 15 s out is earlier than 30 min");
        let attached = at(29 * MINUTE + Duration::from_secs(30));
        assert_eq!(sessions.next_deadline(), Some(attached.saturating_add(Duration::from_secs(15))));
        clock.advance(Duration::from_secs(60));
        sessions.handle_timeout().await;
        assert_eq!(sessions.len(), 1, "the two never used went; the held one outlives its idle deadline");
        assert!(sessions.lookup(id, &owner("t")).await.is_ok());
        assert_eq!(
            sessions.next_deadline(),
            Some(attached.saturating_add(Duration::from_secs(75))),
            "the keep-alive is next"
        );
    }

    async fn a_deadline_noted_while_the_host_reads_is_not_lost() {
        use std::rc::Rc;
        use futures::FutureExt;
        use mcp_session::session::StorePolicy;
        use mcp_session::{Sessions, SessionsConfig};

        // Regression: `next_deadline` compared a deadline noted while it read the store with the
        // deadline armed before (stale, already handled) and then overwrote it: the host slept
        // past the new deadline.
        let clock = clock();
        let config = SessionsConfig::default().ids(mcp_session::SessionIdGenerator::seeded(7));
        let sessions = Rc::new(Sessions::with_store(HookedStore::new(StorePolicy::default()), std::sync::Arc::new(clock.clone()), config));
        used(&*sessions, owner("t")).await; // expires at 30 min
        clock.advance(10 * MINUTE);
        used(&*sessions, owner("t")).await; // expires at 40 min
        assert_eq!(sessions.next_deadline(), Some(at(30 * MINUTE)));
        clock.advance(20 * MINUTE);
        sessions.handle_timeout().await; // the first one expires; 30 min stays armed
        assert_eq!(sessions.len(), 1);

        // The host listens, then reads (40 min); right after the store was read, another thread
        // creates a session whose initialization timeout ends at 31 min.
        let listener = sessions.deadline_changed();
        let racer = Rc::downgrade(&sessions);
        *sessions.store().after_next_deadline.borrow_mut() = Some(Box::new(move || {
            let sessions = racer.upgrade().expect("alive");
            sessions.create(owner("t"), ()).now_or_never().expect("the memory store never waits").unwrap();
        }));
        assert_eq!(sessions.next_deadline(), Some(at(40 * MINUTE)), "what the host read before the create");
        assert!(listener.now_or_never().is_some(), "the host is woken for the 31 min deadline");
        assert_eq!(sessions.next_deadline(), Some(at(31 * MINUTE)));
    }

    async fn admission_caps_are_typed_and_leave_state_alone() {
        let clock = clock();
        let sessions = builder(&clock).max_sessions(3).max_sessions_per_tenant(2).build::<()>();
        used(&sessions, owner("a")).await;
        used(&sessions, owner("a")).await;
        assert!(matches!(
            sessions.create(owner("a"), ()).await,
            Err(CreateError::TooManySessionsForTenant { limit: 2, .. })
        ));
        used(&sessions, owner("b")).await;
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
        let id = used(&sessions, owner("t")).await;
        assert!(sessions.remove(id).await.unwrap());
        assert!(!sessions.remove(id).await.unwrap());
        assert_eq!(sessions.lookup(id, &owner("t")).await, Err(LookupError::Unknown));
        assert_eq!(sessions.metrics().sessions_deleted, 1);
        assert_eq!(sessions.next_deadline(), None);
    }
}
