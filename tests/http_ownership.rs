//! A session belongs to the tenant and principal that created it: presented by anyone else it
//! is "not found", and it is not touched (its idle deadline stays where it was, its streams and
//! calls go on).
//!
//! Invariant 4 of the crate docs, over HTTP.

mod common;
mod support_http;

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use support_http::*;

on_every_runtime! {
    async fn another_owner_gets_404_and_touches_nothing() {
        let h = harness().sessions(|b| b.idle_timeout(Duration::from_secs(600))).build();
        let alice = h.connect_with(V2025_11_25, json!({ "sampling": {} }), Some(("acme", "alice")));
        let mut standalone = expect_sse(h.send(alice.get()));
        let mut call = expect_sse(h.send(alice.post(&tool_call(1, "sample", json!({})))));
        h.read(&mut standalone);
        let frames = h.read(&mut call);
        let asked = messages(&frames);
        assert_eq!(asked.len(), 1);
        let priming = frames[0].id.clone().unwrap();

        let last_seen = h.last_seen(&alice).unwrap();
        let deadline = h.state.next_deadline();
        h.clock.advance(Duration::from_secs(10));
        let before = h.snapshot();
        let intruders: [Box<dyn Fn(Req) -> Req>; 5] = [
            Box::new(|r| r.owner("acme", "mallory")),
            Box::new(|r| r.owner("evil", "alice")),
            Box::new(|r| r.owner("acme", "")),
            Box::new(|r| r.remove("x-tenant").remove("x-user")),
            Box::new(|r| r.remove("x-user")),
        ];
        for intrude in &intruders {
            let requests = [
                alice.post(&request(2, "ping", None)),
                alice.post(&tool_call(3, "notify_session", json!({ "data": "from an intruder" }))),
                alice.post(&notification("notifications/cancelled", Some(json!({ "requestId": 1 })))),
                alice.post(&json!({ "jsonrpc": "2.0", "id": asked[0]["id"], "result": { "content": { "type": "text", "text": "forged" } } })),
                alice.post(&request(4, "logging/setLevel", Some(json!({ "level": "emergency" })))),
                alice.get(),
                alice.get().last_event_id(&priming),
                alice.delete(),
            ];
            for request in requests {
                expect_session_not_found(h.send(intrude(request)));
            }
        }
        assert_eq!(h.snapshot(), before);
        assert_eq!(h.last_seen(&alice), Some(last_seen), "refused requests do not touch the session");
        assert_eq!(h.state.next_deadline(), deadline, "refused requests do not move its deadline");
        assert_eq!(h.read(&mut standalone), [], "nothing reached alice's stream");
        assert!(!standalone.ended, "alice's standalone stream was neither replaced nor ended");
        assert_eq!(h.read(&mut call), []);
        assert!(!call.ended, "alice's call was neither answered nor cancelled");

        // Alice herself is served, and her use is recorded (her open streams hold the session,
        // so only its absolute timeout is scheduled either way).
        h.assert_works(&alice);
        assert_eq!(h.last_seen(&alice), Some(common::at(Duration::from_secs(10))));
        assert_eq!(h.state.next_deadline(), Some(common::at(Duration::from_secs(4 * 3600))));
        let answer = json!({ "jsonrpc": "2.0", "id": asked[0]["id"], "result": { "content": { "type": "text", "text": "real" } } });
        expect_empty(h.send(alice.post(&answer)), StatusCode::ACCEPTED);
        assert_eq!(messages(&h.read_to_end(&mut call)), [text_result(1, "sampled: real")]);
        // Her log level was not changed by the intruders.
        let mut logs = expect_sse(h.send(alice.post(&tool_call(5, "log_once", json!({})))));
        assert_eq!(messages(&h.read_to_end(&mut logs)).len(), 2);
    }

    async fn the_same_owner_is_served_across_its_sessions_only() {
        let h = harness().build();
        let alice_one = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let alice_two = h.connect_with(V2025_11_25, json!({}), Some(("acme", "alice")));
        let bob = h.connect_with(V2025_11_25, json!({}), Some(("acme", "bob")));
        h.assert_works(&alice_one);
        h.assert_works(&alice_two);
        h.assert_works(&bob);
        // Bob presenting alice's id, alice presenting bob's.
        let swapped = Client { owner: bob.owner.clone(), ..alice_one.clone() };
        expect_session_not_found(h.send(swapped.post(&request(1, "ping", None))));
        let swapped = Client { owner: alice_one.owner.clone(), ..bob.clone() };
        expect_session_not_found(h.send(swapped.delete()));
        assert_eq!(h.snapshot().sessions, 3);
    }
}
