//! What the engine tells `tracing`: one `mcp.request` span per request with its era, session,
//! JSON-RPC method and id and status, and events for sessions created, deleted and expired and
//! for refusals with their reason.
#![cfg(not(target_family = "wasm"))]

mod common;
mod support_http;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use mcp_session::{EventId, StreamId};
use serde_json::json;
use support_http::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// Every span (by name, with its fields as they ended up) and event the engine emitted.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<(String, Fields)>>>,
    events: Arc<Mutex<Vec<Fields>>>,
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        fields.insert("#id".into(), id.into_u64().to_string());
        attrs.record(&mut Collect(&mut fields));
        self.spans.lock().unwrap().push((attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        let key = id.into_u64().to_string();
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(_, f)| f.get("#id") == Some(&key)) {
            values.record(&mut Collect(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        self.events.lock().unwrap().push(fields);
    }
}

impl Recorder {
    fn requests(&self) -> Vec<Fields> {
        self.spans.lock().unwrap().iter().filter(|(name, _)| name == "mcp.request").map(|(_, f)| f.clone()).collect()
    }

    fn events_saying(&self, message: &str) -> Vec<Fields> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.get("message").map(String::as_str) == Some(message))
            .cloned()
            .collect()
    }
}

fn traced(scenario: impl FnOnce(&Recorder)) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || scenario(&recorder));
}

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

#[test]
fn a_session_request_span_names_its_era_session_method_id_and_status() {
    traced(|recorder| {
        let h = harness().build();
        let client = h.connect(V2025_11_25);
        let response = h.send(client.post(&tool_call(7, "echo", json!({ "text": "hi" }))));
        assert_eq!(response.status(), StatusCode::OK);
        let spans = recorder.requests();
        let call = spans.last().expect("a span for the call");
        assert_eq!(field(call, "http.method"), Some("POST"));
        assert_eq!(field(call, "era"), Some("session"));
        assert_eq!(field(call, "session"), Some(client.session_id().to_string().as_str()));
        assert_eq!(field(call, "rpc.method"), Some("tools/call"));
        assert_eq!(field(call, "rpc.id"), Some("7"));
        assert_eq!(field(call, "status"), Some("200"));

        let created = recorder.events_saying("session created");
        assert_eq!(created.len(), 1);
        assert_eq!(field(&created[0], "session"), Some(client.session_id().to_string().as_str()));
        assert_eq!(field(&created[0], "tenant"), Some("default"));
        h.send(client.delete());
        assert_eq!(recorder.events_saying("session deleted").len(), 1);
    });
}

#[test]
fn a_sessionless_request_span_has_no_session() {
    traced(|recorder| {
        let h = harness().build();
        let response = h.send(modern(3, "tools/list", json!({}), json!({})));
        assert_eq!(response.status(), StatusCode::OK);
        let spans = recorder.requests();
        let list = spans.last().expect("a span");
        assert_eq!(field(list, "era"), Some("2026-07-28"));
        assert_eq!(field(list, "rpc.method"), Some("tools/list"));
        assert_eq!(field(list, "session"), None);
        assert_eq!(field(list, "status"), Some("200"));
    });
}

#[test]
fn refusals_and_expiries_are_events() {
    traced(|recorder| {
        let h = harness().build();
        let response = h.send(get());
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let refused = recorder.events_saying("request refused");
        assert_eq!(refused.len(), 1);
        assert_eq!(field(&refused[0], "reason"), Some("MissingSessionId"));
        assert_eq!(field(&refused[0], "status"), Some("400"));
        assert_eq!(field(recorder.requests().last().unwrap(), "status"), Some("400"));

        let client = h.connect(V2025_11_25);
        h.clock.advance(Duration::from_secs(24 * 60 * 60));
        h.run(h.state.handle_timeout());
        let expired = recorder.events_saying("session expired");
        assert_eq!(expired.len(), 1);
        assert_eq!(field(&expired[0], "session"), Some(client.session_id().to_string().as_str()));
    });
}

#[test]
fn a_refused_session_and_lost_events_are_events() {
    traced(|recorder| {
        let h = harness().sessions(|b| b.max_sessions(1).replay_capacity(2)).build();
        let client = h.connect(V2025_11_25);
        let refused = h.send(post(&initialize(1, V2025_11_25, json!({}))));
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let refusals = recorder.events_saying("session refused");
        assert_eq!(refusals.len(), 1);
        assert_eq!(field(&refusals[0], "reason"), Some("session_limit"));
        assert_eq!(field(&refusals[0], "tenant"), Some("default"));

        for n in 1..=5 {
            let message = serde_json::to_vec(&log_message("info", json!(n))).unwrap();
            h.run(h.state.sessions().publish(client.session_id(), StreamId::STANDALONE, message.into())).unwrap();
        }
        let after = EventId::message(StreamId::STANDALONE, 1).to_string();
        let mut resumed = expect_sse(h.send(client.get().last_event_id(&after)));
        h.read(&mut resumed);
        let lost = recorder.events_saying("events lost");
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(field(&lost[0], "session"), Some(client.session_id().to_string().as_str()));
        assert_eq!(field(&lost[0], "stream"), Some("0"));
        assert_eq!(field(&lost[0], "lost"), Some("2"));
        assert_eq!(field(&lost[0], "cause"), Some("replay"));
    });
}
