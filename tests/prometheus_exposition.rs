//! The Prometheus exposition says what happened: sessions created, deleted, expired and refused,
//! refusals by status, the latency of every answer on the engine's clock, and gauges that go
//! back to zero once streams and calls end.
#![cfg(feature = "prometheus")]

mod common;
mod support_http;

use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;
use mcp_session::http::{HostRejection, ResponseMode};
use mcp_session::{EventId, StreamId};
use serde_json::json;
use support_http::*;

/// Every sample of an exposition, by `name{labels}` as written, checked line by line against
/// the text format: `# HELP` / `# TYPE` comments, or `series value`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
        assert!(series.starts_with("mcp_"), "{line:?}");
        assert!(samples.insert(series.to_owned(), value).is_none(), "{series} twice");
    }
    samples
}

fn value(text: &str, series: &str) -> f64 {
    *samples(text).get(series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// The histogram's count and the bucket `le` of `mcp_request_duration_seconds`.
fn latency(text: &str) -> (f64, BTreeMap<String, f64>) {
    let all = samples(text);
    let buckets = all
        .iter()
        .filter_map(|(series, &v)| {
            let le = series.strip_prefix("mcp_request_duration_seconds_bucket{le=\"")?.strip_suffix("\"}")?;
            Some((le.to_owned(), v))
        })
        .collect();
    (all["mcp_request_duration_seconds_count"], buckets)
}

#[test]
fn the_exposition_is_the_text_format_with_help_and_type_for_each_series() {
    let h = harness().build();
    let text = h.state.render_prometheus();
    assert_eq!(mcp_session::prometheus::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    for (name, kind) in [
        ("mcp_sessions_active", "gauge"),
        ("mcp_sessions_created_total", "counter"),
        ("mcp_sessions_expired_total", "counter"),
        ("mcp_sessions_deleted_total", "counter"),
        ("mcp_sessions_refused_total", "counter"),
        ("mcp_streams_open", "gauge"),
        ("mcp_subscribers_attached", "gauge"),
        ("mcp_calls_in_flight", "gauge"),
        ("mcp_client_requests_pending", "gauge"),
        ("mcp_listen_streams_open", "gauge"),
        ("mcp_replay_log_bytes", "gauge"),
        ("mcp_events_published_total", "counter"),
        ("mcp_events_replayed_total", "counter"),
        ("mcp_events_lost_total", "counter"),
        ("mcp_subscribers_lagged_total", "counter"),
        ("mcp_requests_rejected_total", "counter"),
        ("mcp_request_duration_seconds", "histogram"),
    ] {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")) || text.starts_with(&format!("# HELP {name} ")),
            "{name}:\n{text}"
        );
    }
    let all = samples(&text);
    assert_eq!(all["mcp_sessions_refused_total{reason=\"session_limit\"}"], 0.0, "every reason from the start");
    assert!(!all.keys().any(|k| k.starts_with("mcp_requests_rejected_total")), "no status before one is answered");
    let (count, buckets) = latency(&text);
    assert_eq!(count, 0.0);
    assert_eq!(buckets.keys().filter(|le| *le == "+Inf" || *le == "0.001" || *le == "10").count(), 3, "{buckets:?}");
}

#[test]
fn sessions_created_deleted_and_expired_are_counted_and_every_answer_is_timed() {
    let h = harness().build();
    let kept = h.connect(V2025_11_25);
    let deleted = h.connect(V2025_11_25);
    expect_empty(h.send(deleted.delete()), StatusCode::OK);
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_sessions_created_total"), 2.0);
    assert_eq!(value(&text, "mcp_sessions_deleted_total"), 1.0);
    assert_eq!(value(&text, "mcp_sessions_expired_total"), 0.0);
    assert_eq!(value(&text, "mcp_sessions_active"), 1.0);
    // Two `initialize` and two `notifications/initialized`, one DELETE.
    assert_eq!(latency(&text).0, 5.0);

    h.clock.advance(Duration::from_secs(24 * 60 * 60));
    h.run(h.state.handle_timeout());
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_sessions_expired_total"), 1.0);
    assert_eq!(value(&text, "mcp_sessions_active"), 0.0);
    expect_session_not_found(h.send(kept.post(&request(2, "ping", None))));
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_requests_rejected_total{status=\"404\"}"), 1.0);
    let (count, buckets) = latency(&text);
    assert_eq!(count, 6.0, "the refusal is timed too");
    assert_eq!(buckets["0.001"], 6.0, "nothing took time on a clock nobody moved");
}

#[test]
fn latency_is_read_from_the_engines_clock_up_to_the_response_head() {
    // A JSON answer's head waits for the handler (an SSE answer's would not).
    let h = harness().config(|c| c.response_mode = ResponseMode::Json).build();
    let client = h.connect(V2025_11_25);
    let mut call = h.start(client.post(&tool_call(2, "wait", json!({}))));
    assert!(h.settle(call.as_mut()).is_none(), "the call waits for the latch");
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_calls_in_flight"), 1.0);
    h.clock.advance(Duration::from_millis(30));
    h.latch.open();
    let response = h.settle(call.as_mut()).expect("answered once the latch opens");
    drop(call);
    assert_eq!(response.status(), StatusCode::OK);
    let text = h.state.render_prometheus();
    let (count, buckets) = latency(&text);
    assert_eq!(count, 3.0);
    assert_eq!((buckets["0.025"], buckets["0.05"], buckets["+Inf"]), (2.0, 3.0, 3.0), "{buckets:?}");
    assert_eq!(value(&text, "mcp_request_duration_seconds_sum"), 0.03);
    assert_eq!(value(&text, "mcp_calls_in_flight"), 0.0);
}

#[test]
fn refusals_are_counted_by_status_host_refusals_included() {
    let h = harness().build();
    let client = h.connect(V2025_11_25);
    let unknown = "00000000000000000000000000000000";
    expect_session_not_found(h.send(post(&request(1, "ping", None)).session(unknown).version(V2025_11_25)));
    assert_eq!(
        h.send(client.post(&request(2, "ping", None)).uri("http://localhost/elsewhere")).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(h.send(client.post_raw("{not json")).status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.send(client.get().remove("accept")).status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(h.engine.reject(HostRejection::BodyTooLarge).status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = h.state.render_prometheus();
    let rejected: BTreeMap<_, _> =
        samples(&text).into_iter().filter(|(series, _)| series.starts_with("mcp_requests_rejected_total")).collect();
    let expected: BTreeMap<String, f64> = [("400", 1.0), ("404", 2.0), ("406", 1.0), ("413", 1.0)]
        .map(|(status, n)| (format!("mcp_requests_rejected_total{{status=\"{status}\"}}"), n))
        .into();
    assert_eq!(rejected, expected);
    // The host's refusal never reached `Engine::handle`: 2 to connect, 4 refused.
    assert_eq!(latency(&text).0, 6.0);
    assert_eq!(value(&text, "mcp_sessions_created_total"), 1.0);
}

#[test]
fn initializes_refused_by_a_cap_are_counted_by_reason() {
    let h = harness().sessions(|b| b.max_sessions(2).max_sessions_per_tenant(1)).build();
    h.connect_with(V2025_11_25, json!({}), Some(("a", "u")));
    let refused = h.send(post(&initialize(1, V2025_11_25, json!({}))).owner("a", "v"));
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    h.connect_with(V2025_11_25, json!({}), Some(("b", "u")));
    let refused = h.send(post(&initialize(1, V2025_11_25, json!({}))).owner("c", "u"));
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_sessions_refused_total{reason=\"tenant_session_limit\"}"), 1.0);
    assert_eq!(value(&text, "mcp_sessions_refused_total{reason=\"session_limit\"}"), 1.0);
    assert_eq!(value(&text, "mcp_sessions_refused_total{reason=\"store_unavailable\"}"), 0.0);
    assert_eq!(value(&text, "mcp_requests_rejected_total{status=\"429\"}"), 1.0);
    assert_eq!(value(&text, "mcp_requests_rejected_total{status=\"503\"}"), 1.0);
    assert_eq!(value(&text, "mcp_sessions_created_total"), 2.0);
}

#[test]
fn stream_gauges_follow_readers_and_return_to_zero() {
    let h = harness().build();
    let client = h.connect(V2025_11_25);
    let mut get = expect_sse(h.send(client.get()));
    h.read(&mut get);
    let response = h.send(client.post(&tool_call(2, "notify_session", json!({ "data": "one" }))));
    assert_eq!(response.status(), StatusCode::OK);
    let frames = h.read(&mut get);
    assert_eq!(messages(&frames).len(), 1, "{frames:?}");
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_subscribers_attached"), 1.0);
    assert_eq!(value(&text, "mcp_streams_open"), 1.0);
    assert_eq!(value(&text, "mcp_events_published_total"), 1.0);
    assert!(value(&text, "mcp_replay_log_bytes") > 0.0);

    drop(get);
    h.pump();
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_subscribers_attached"), 0.0, "the reader left");
    expect_empty(h.send(client.delete()), StatusCode::OK);
    let text = h.state.render_prometheus();
    for gauge in [
        "mcp_sessions_active",
        "mcp_streams_open",
        "mcp_subscribers_attached",
        "mcp_calls_in_flight",
        "mcp_client_requests_pending",
        "mcp_listen_streams_open",
        "mcp_replay_log_bytes",
    ] {
        assert_eq!(value(&text, gauge), 0.0, "{gauge}");
    }
}

#[test]
fn events_replayed_and_lost_are_counted() {
    let h = harness().sessions(|b| b.replay_capacity(2)).build();
    let client = h.connect(V2025_11_25);
    for n in 1..=5 {
        let message = serde_json::to_vec(&log_message("info", json!(n))).unwrap();
        h.run(h.state.sessions().publish(client.session_id(), StreamId::STANDALONE, message.into())).unwrap();
    }
    // The log keeps 4 and 5: a resume after 1 learns that 2 and 3 are lost, then gets 4 and 5.
    let after = EventId::message(StreamId::STANDALONE, 1).to_string();
    let mut resumed = expect_sse(h.send(client.get().last_event_id(&after)));
    let frames = h.read(&mut resumed);
    let data: Vec<_> = messages(&frames).into_iter().map(|m| m["params"]["data"].clone()).collect();
    assert_eq!(data, [json!(null), json!(4), json!(5)], "a lagged notice, then what the log held: {frames:?}");
    let text = h.state.render_prometheus();
    assert_eq!(value(&text, "mcp_events_published_total"), 5.0);
    assert_eq!(value(&text, "mcp_events_replayed_total"), 2.0);
    assert_eq!(value(&text, "mcp_events_lost_total"), 2.0);
    assert_eq!(h.state.metrics().events_replayed, 2);
}
