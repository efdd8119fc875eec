//! A session is served only to the tenant and principal that created it.
//!
//! Invariant 4 of the crate docs.

mod common;

use common::*;
use mcp_session::session::LookupError;
use mcp_session::{Owner, Principal, TenantId};

on_every_runtime! {
    async fn another_tenant_or_principal_is_refused_and_changes_nothing() {
        let clock = clock();
        let sessions = engine(&clock);
        let alice = Owner::new(TenantId::new("acme"), Principal::new("alice"));
        let id = sessions.create(alice.clone(), ()).await.unwrap();
        let deadline = sessions.next_deadline();
        clock.advance(std::time::Duration::from_secs(30));
        for intruder in [
            Owner::new(TenantId::new("acme"), Principal::new("mallory")),
            Owner::new(TenantId::new("acme"), Principal::anonymous()),
            Owner::new(TenantId::new("evil"), Principal::new("alice")),
        ] {
            assert_eq!(sessions.lookup(id, &intruder).await, Err(LookupError::Forbidden), "{intruder:?}");
        }
        assert_eq!(sessions.next_deadline(), deadline, "a refused lookup does not refresh the idle timer");
        assert!(sessions.lookup(id, &alice).await.is_ok());
        assert!(sessions.next_deadline() > deadline);
    }

    async fn tenant_fan_out_reaches_only_that_tenant() {
        let clock = clock();
        let sessions = engine(&clock);
        let a1 = used(&sessions, owner("a")).await;
        let a2 = used(&sessions, owner("a")).await;
        let b1 = used(&sessions, owner("b")).await;
        let told = sessions.publish_to_tenant(&TenantId::new("a"), msg(7), Some(a2), |_| true).await;
        assert_eq!(told, 1);
        let replay = |id| sessions.subscribe(id, mcp_session::StreamId::STANDALONE, mcp_session::Resume::Undelivered, Default::default());
        assert_eq!(drain(&mut replay(a1).await.unwrap()).iter().filter_map(n_of).collect::<Vec<_>>(), vec![7]);
        assert!(drain(&mut replay(a2).await.unwrap()).is_empty(), "the originating session is skipped");
        assert!(drain(&mut replay(b1).await.unwrap()).is_empty(), "another tenant hears nothing");
    }
}
