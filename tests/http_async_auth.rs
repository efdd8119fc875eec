//! An authenticator may decide later (token introspection): the request waits for its verdict,
//! a refusal reached later is the same 401 as one reached at once, and a request dropped while
//! it waits leaves nothing behind.

mod common;
mod support_http;

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use http::header::WWW_AUTHENTICATE;
use http::request::Parts;
use http::StatusCode;
use mcp_session::http::{Authenticate, Verdict};
use support_http::*;

/// Decides with [`header_owner`] once the gate opens; until then every verdict is pending.
#[derive(Clone, Default)]
struct Gated {
    open: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
}

impl Authenticate for Gated {
    fn authenticate<'a>(&'a self, request: &'a Parts) -> Verdict<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        // The harness polls pending futures again whenever it settles, so no waker is kept.
        Verdict::later(async move {
            poll_fn(|_| if self.open.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }).await;
            header_owner(request)
        })
    }
}

fn initialize_request() -> Req {
    post(&initialize(1, V2025_11_25, serde_json::json!({})))
}

#[test]
fn a_request_waits_for_a_verdict_reached_later() {
    let gate = Gated::default();
    let h = harness().authenticator(gate.clone()).build();
    let mut pending = h.start(initialize_request());
    assert!(h.settle(pending.as_mut()).is_none(), "answered before the verdict");
    assert_eq!(h.snapshot().sessions, 0, "no session before the owner is known");
    gate.open.store(true, Ordering::SeqCst);
    let response = h.settle(pending.as_mut()).expect("answered once the verdict is in");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(h.snapshot().sessions, 1);
    assert_eq!(gate.asked.load(Ordering::SeqCst), 1);
}

#[test]
fn a_refusal_reached_later_is_401_with_its_challenge_and_changes_nothing() {
    let gate = Gated::default();
    gate.open.store(true, Ordering::SeqCst);
    let h = harness().authenticator(gate).build();
    let before = h.snapshot();
    let response = h.send(initialize_request().header("x-deny", "1"));
    assert_eq!(response.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap()), Some(CHALLENGE));
    let body = expect_json(response, StatusCode::UNAUTHORIZED);
    assert_eq!(h.snapshot(), before);

    let at_once = harness().build().send(initialize_request().header("x-deny", "1"));
    assert_eq!(body, expect_json(at_once, StatusCode::UNAUTHORIZED), "the same refusal as a verdict reached at once");
}

#[test]
fn a_request_dropped_while_its_verdict_is_pending_leaves_nothing() {
    let gate = Gated::default();
    let h = harness().authenticator(gate.clone()).build();
    let before = h.snapshot();
    let mut pending = h.start(initialize_request());
    assert!(h.settle(pending.as_mut()).is_none());
    drop(pending);
    gate.open.store(true, Ordering::SeqCst);
    h.pump();
    assert_eq!(h.snapshot(), before, "the dropped request created nothing");
}
