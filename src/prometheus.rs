//! The engine's metrics for Prometheus (feature `prometheus`): the text exposition format
//! (version 0.0.4), encoded by `prometheus-client`.
//!
//! Nothing here runs per request. The engine counts with relaxed atomics where things happen;
//! a scrape reads them, and the gauges, once ([`EngineState::occupancy`]: O(sessions with
//! something live in this process)), and encodes what it read. Serve
//! [`EngineState::render_prometheus`] with [`CONTENT_TYPE`] (the hosts do, at
//! [`HostConfig::metrics_path`](crate::host::HostConfig::metrics_path)), or register an
//! [`EngineCollector`] in a `prometheus_client::registry::Registry` of your own.
//!
//! # Series
//!
//! | series | type | what |
//! |---|---|---|
//! | `mcp_sessions_active` | gauge | sessions in the store |
//! | `mcp_sessions_created_total` | counter | sessions created |
//! | `mcp_sessions_expired_total` | counter | sessions removed by expiry |
//! | `mcp_sessions_deleted_total` | counter | sessions ended by DELETE |
//! | `mcp_sessions_refused_total{reason}` | counter | `initialize` requests that got no session: `session_limit`, `tenant_session_limit`, `store_unavailable` |
//! | `mcp_streams_open` | gauge | streams that can take a subscriber in this process |
//! | `mcp_subscribers_attached` | gauge | SSE readers attached now |
//! | `mcp_calls_in_flight` | gauge | client requests running |
//! | `mcp_client_requests_pending` | gauge | requests to clients awaiting their answer |
//! | `mcp_listen_streams_open` | gauge | `subscriptions/listen` streams open |
//! | `mcp_replay_log_bytes` | gauge | bytes retained in replay logs in this process |
//! | `mcp_events_published_total` | counter | messages published to any stream |
//! | `mcp_events_replayed_total` | counter | events handed to a subscriber from a replay log |
//! | `mcp_events_lost_total` | counter | events reported lost to clients (`lagged`) |
//! | `mcp_subscribers_lagged_total` | counter | times a live reader fell a window behind |
//! | `mcp_requests_rejected_total{status}` | counter | answers with an error status (4xx, 5xx), by status; a status appears once answered |
//! | `mcp_request_duration_seconds` | histogram | time from [`Engine::handle`](crate::Engine::handle) being called to its response head, on the engine's clock (1 ms resolution) |
//!
//! Counters start at zero with the process; gauges are this process's view (a shared store's
//! session count is what the store last saw).

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`EngineState::render_prometheus`]'s text:
/// `text/plain; version=0.0.4; charset=utf-8`.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

use crate::metrics::{LatencySnapshot, RefusalsSnapshot, SessionRefusal, BOUNDS_MS};
use crate::server::McpSession;
use crate::session::{MemoryStore, Store};
use crate::{EngineState, MetricsSnapshot, Occupancy};

impl<S: Store<McpSession>> EngineState<S> {
    /// Every metric of the engine in the Prometheus text format; serve it with
    /// [`CONTENT_TYPE`]. The series are listed in [the module docs](crate::prometheus).
    ///
    /// ```
    /// use mcp_session::{EngineConfig, EngineState, Sessions};
    ///
    /// let state = EngineState::new(Sessions::builder().build(), EngineConfig::default());
    /// let text = state.render_prometheus();
    /// assert!(text.contains("# TYPE mcp_sessions_created_total counter\n"));
    /// assert!(text.contains("\nmcp_sessions_active 0\n"));
    /// assert!(text.contains("\nmcp_request_duration_seconds_count 0\n"));
    /// ```
    pub fn render_prometheus(&self) -> String {
        let mut text = String::with_capacity(4096);
        // Writing to a String cannot fail, and every value encodes.
        let _ = self.encode_prometheus(&mut text);
        text
    }

    /// [`EngineState::render_prometheus`], appended to `out`.
    pub fn encode_prometheus(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape::of(self)));
        prometheus_client::encoding::prometheus_text::encode(out, &registry)
    }
}

/// The engine's metrics as a `prometheus-client` [`Collector`], for an application that exposes
/// a registry of its own: each scrape reads the engine's state then.
///
/// ```
/// use std::sync::Arc;
///
/// use mcp_session::prometheus::EngineCollector;
/// use mcp_session::{EngineConfig, EngineState, Sessions};
/// use prometheus_client::registry::Registry;
///
/// let state = Arc::new(EngineState::new(Sessions::builder().build(), EngineConfig::default()));
/// let mut registry = Registry::default();
/// registry.register_collector(Box::new(EngineCollector::new(state)));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
/// assert!(text.contains("mcp_sessions_active 0"));
/// ```
pub struct EngineCollector<S = MemoryStore<McpSession>> {
    state: Arc<EngineState<S>>,
}

impl<S> EngineCollector<S> {
    /// A collector reading `state` at every scrape.
    pub fn new(state: Arc<EngineState<S>>) -> Self {
        Self { state }
    }
}

impl<S> fmt::Debug for EngineCollector<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineCollector").finish_non_exhaustive()
    }
}

impl<S: Store<McpSession> + 'static> Collector for EngineCollector<S>
where
    EngineState<S>: Send + Sync,
{
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        Scrape::of(&self.state).encode(encoder)
    }
}

/// Everything one scrape reports, read at once.
#[derive(Debug)]
struct Scrape {
    counters: MetricsSnapshot,
    occupancy: Occupancy,
    refusals: RefusalsSnapshot,
    latency: LatencySnapshot,
}

impl Scrape {
    fn of<S: Store<McpSession>>(state: &EngineState<S>) -> Self {
        Self {
            counters: state.metrics(),
            occupancy: state.occupancy(),
            refusals: state.front.refusals.snapshot(),
            latency: state.front.latency.snapshot(),
        }
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (c, o) = (&self.counters, &self.occupancy);
        gauge(&mut encoder, "mcp_sessions_active", "Sessions in the store", o.sessions.sessions)?;
        counter(&mut encoder, "mcp_sessions_created", "Sessions created", c.sessions_created)?;
        counter(&mut encoder, "mcp_sessions_expired", "Sessions removed because they expired", c.sessions_expired)?;
        counter(&mut encoder, "mcp_sessions_deleted", "Sessions ended by DELETE", c.sessions_deleted)?;
        let help = "Initialize requests that got no session, by reason";
        let mut refused = encoder.encode_descriptor("mcp_sessions_refused", help, None, MetricType::Counter)?;
        for &(reason, count) in &self.refusals.sessions {
            ConstCounter::new(count).encode(refused.encode_family(&ReasonLabel { reason })?)?;
        }

        let help = "Streams that can take a subscriber in this process";
        gauge(&mut encoder, "mcp_streams_open", help, o.sessions.live_streams)?;
        gauge(&mut encoder, "mcp_subscribers_attached", "SSE readers attached now", o.sessions.subscribers)?;
        gauge(&mut encoder, "mcp_calls_in_flight", "Client requests running", o.calls)?;
        let help = "Requests to clients awaiting their answer";
        gauge(&mut encoder, "mcp_client_requests_pending", help, o.awaiting_clients)?;
        gauge(&mut encoder, "mcp_listen_streams_open", "subscriptions/listen streams open", o.listens)?;
        let help = "Bytes retained in replay logs in this process";
        gauge(&mut encoder, "mcp_replay_log_bytes", help, o.sessions.retained_bytes)?;

        counter(&mut encoder, "mcp_events_published", "Messages published to any stream", c.events_published)?;
        let help = "Events handed to a subscriber from a replay log";
        counter(&mut encoder, "mcp_events_replayed", help, c.events_replayed)?;
        counter(&mut encoder, "mcp_events_lost", "Events reported lost to clients", c.events_reported_lost)?;
        let help = "Times a live reader fell a window behind";
        counter(&mut encoder, "mcp_subscribers_lagged", help, c.subscribers_lagged)?;

        let help = "Answers with an error status, by status";
        let mut rejected = encoder.encode_descriptor("mcp_requests_rejected", help, None, MetricType::Counter)?;
        for &(status, count) in &self.refusals.statuses {
            ConstCounter::new(count).encode(rejected.encode_family(&StatusLabel { status: Status(status) })?)?;
        }

        let help = "Time from a request's arrival at the engine to its response head";
        let unit = Unit::Seconds;
        let mut latency =
            encoder.encode_descriptor("mcp_request_duration", help, Some(&unit), MetricType::Histogram)?;
        let bounds = BOUNDS_MS.iter().map(|&ms| ms as f64 / 1000.0).chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(self.latency.buckets).collect();
        let sum = self.latency.sum_ms as f64 / 1000.0;
        latency.encode_histogram::<NoLabelSet>(sum, self.latency.count(), &buckets, None)
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: usize) -> fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

#[derive(EncodeLabelSet, Clone, Debug, PartialEq, Eq, Hash)]
struct ReasonLabel {
    reason: SessionRefusal,
}

impl EncodeLabelValue for SessionRefusal {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(EncodeLabelSet, Clone, Debug, PartialEq, Eq, Hash)]
struct StatusLabel {
    status: Status,
}

/// A status as its label value: the three digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Status(StatusCode);

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        fmt::Write::write_str(encoder, self.0.as_str())
    }
}
