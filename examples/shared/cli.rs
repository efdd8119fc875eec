//! Command-line options shared by the example servers (clap, derived).
//!
//! Every number is checked against its flag's range and refused with a message otherwise: a
//! value never wraps (`--port 70000`) or truncates. `--help` lists every flag with its default.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mcp_session::host::HostConfig;
use mcp_session::http::{EngineConfig, HostPolicy, ResponseMode};
use mcp_session::server::RequestStateKey;
use mcp_session::session::StorePolicy;
use mcp_session::{EngineState, ManualClock, McpSession, Sessions, SessionsBuilder, Store, SystemClock, Timestamp};

use super::fixture::{DemoAuth, Options, RunTimers};

const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;
const MAX_MILLIS: u64 = 24 * 3600 * 1000;
const MAX_COUNT: u64 = 100_000_000;
const MAX_BYTES: u64 = 1 << 40;

/// An MCP server (Streamable HTTP) on 127.0.0.1 serving the conformance fixture.
#[derive(Debug, Parser)]
#[command(name = "server", version)]
struct Flags {
    /// Listen on 127.0.0.1:PORT (0 picks a free port).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,
    /// How a POST is answered.
    #[arg(long, value_enum, default_value_t = Mode::Adaptive)]
    response_mode: Mode,
    /// No sessions: every POST stands alone.
    #[arg(long)]
    stateless: bool,
    /// Accept this Host besides the loopback names (repeatable) [default: loopback names only].
    #[arg(long = "allow-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// A manual clock moved by the `advance_clock` tool (tests only).
    #[arg(long)]
    test_clock: bool,
    /// Keep sessions and replay logs in this Redis (redis://HOST:PORT/DB) instead of memory: they
    /// survive a restart, and replicas on the same Redis share them [default: in memory].
    #[arg(long, env = "MCP_REDIS_URL", value_name = "URL", help_heading = "Sessions")]
    redis: Option<String>,
    /// Seal `requestState` (2026-07-28 input rounds) with a key derived from this secret, at
    /// least 32 bytes; replicas must share it [default: a random key per process].
    #[arg(long, env = "MCP_REQUEST_STATE_SECRET", value_name = "SECRET", hide_env_values = true, value_parser = request_state_key)]
    request_state_secret: Option<RequestStateKey>,

    /// Expire sessions idle this long.
    #[arg(long, value_name = "N", default_value_t = 1800, value_parser = seconds(), help_heading = "Sessions")]
    idle_timeout_secs: u64,
    /// Expire sessions this old.
    #[arg(long, value_name = "N", default_value_t = 14_400, value_parser = seconds(), help_heading = "Sessions")]
    absolute_timeout_secs: u64,
    /// Expire sessions never used after `initialize`.
    #[arg(long, value_name = "N", default_value_t = 60, value_parser = seconds(), help_heading = "Sessions")]
    initialization_timeout_secs: u64,
    /// Heartbeat interval on open streams, 0 for none.
    #[arg(long, value_name = "N", default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=24 * 3600), help_heading = "Sessions")]
    keep_alive_secs: u64,
    /// SSE `retry` sent with priming events.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=MAX_MILLIS), help_heading = "Sessions")]
    retry_ms: u64,
    /// Cap on sessions in total.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = count(), help_heading = "Sessions")]
    max_sessions: u64,
    /// Cap on one tenant's sessions.
    #[arg(long, value_name = "N", default_value_t = 25_000, value_parser = count(), help_heading = "Sessions")]
    max_sessions_per_tenant: u64,
    /// Requests one session may have running.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = count(), help_heading = "Sessions")]
    max_calls_per_session: u64,
    /// Bytes one stream retains for replay.
    #[arg(long, value_name = "N", default_value_t = 8 << 20, value_parser = bytes(), help_heading = "Sessions")]
    max_stream_bytes: u64,
    /// Bytes retained for replay across all sessions.
    #[arg(long, value_name = "N", default_value_t = 64 << 20, value_parser = bytes(), help_heading = "Sessions")]
    retained_bytes: u64,
    /// Largest request body; a larger one gets 413.
    #[arg(long, value_name = "N", default_value_t = 4 << 20, value_parser = bytes(), help_heading = "Sessions")]
    max_body_bytes: u64,

    /// Connections open at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000), help_heading = "Connections")]
    max_connections: u64,
    /// Time to send a request head.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = millis(), help_heading = "Connections")]
    header_timeout_ms: u64,
    /// A keep-alive connection with no request is closed after this long.
    #[arg(long, value_name = "N", default_value_t = 60_000, value_parser = millis(), help_heading = "Connections")]
    idle_connection_timeout_ms: u64,
    /// Time to send a whole body; later gets 408.
    #[arg(long, value_name = "N", default_value_t = 30_000, value_parser = millis(), help_heading = "Connections")]
    body_timeout_ms: u64,
    /// Body bytes being read across the server; beyond it gets 503.
    #[arg(long, value_name = "N", default_value_t = 64 << 20, value_parser = bytes(), help_heading = "Connections")]
    body_budget_bytes: u64,

    /// GET here answers the engine's metrics in the Prometheus text format, unauthenticated;
    /// an empty value turns it off.
    #[arg(long, value_name = "PATH", default_value = "/metrics", value_parser = metrics_path)]
    metrics_path: String,
}

fn metrics_path(path: &str) -> Result<String, String> {
    if path.is_empty() || (path.starts_with('/') && path != EngineConfig::default().path) {
        Ok(path.to_owned())
    } else {
        Err("a path starting with '/', other than the MCP endpoint's".to_owned())
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// JSON until a handler emits, then SSE.
    Adaptive,
    /// Always an SSE stream.
    Sse,
    /// Always one JSON body.
    Json,
}

fn request_state_key(secret: &str) -> Result<RequestStateKey, String> {
    RequestStateKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())
}

fn seconds() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_SECONDS)
}

fn millis() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_MILLIS)
}

fn count() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_COUNT)
}

fn bytes() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=MAX_BYTES)
}

pub struct Cli {
    pub port: u16,
    pub host: HostConfig,
    /// `--redis`: where sessions live, when not in memory.
    pub redis: Option<String>,
    sessions: SessionsBuilder,
    config: EngineConfig,
    test_clock: Option<ManualClock>,
}

impl Cli {
    /// The listening socket on 127.0.0.1 (see [`mcp_session::host::listen`]).
    pub fn listen(&self) -> std::io::Result<std::net::TcpListener> {
        mcp_session::host::listen(("127.0.0.1", self.port))
    }

    /// The store limits and expiry rules the flags set.
    pub fn policy(&self) -> &StorePolicy {
        self.sessions.policy()
    }

    /// The engine's shared state over the in-memory store, and the fixture's options.
    pub fn in_memory(self) -> (Arc<EngineState>, Options) {
        let sessions = self.sessions.build();
        Self::assemble(sessions, self.config, self.test_clock, mcp_session::bus::NoBus)
    }

    /// The engine's shared state over `store` (built with [`Cli::policy`]) with the other
    /// replicas on `bus`, and the fixture's options.
    pub fn over<S: Store<McpSession> + Send + Sync + 'static>(
        self,
        store: S,
        bus: impl mcp_session::bus::Bus,
    ) -> (Arc<EngineState<S>>, Options) {
        let sessions = self.sessions.build_with_store(store);
        Self::assemble(sessions, self.config, self.test_clock, bus)
    }

    fn assemble<S: Store<McpSession> + Send + Sync + 'static>(
        sessions: Sessions<McpSession, S>,
        config: EngineConfig,
        test_clock: Option<ManualClock>,
        bus: impl mcp_session::bus::Bus,
    ) -> (Arc<EngineState<S>>, Options) {
        let state = Arc::new(EngineState::new(sessions, config).with_authenticator(DemoAuth).with_bus(bus));
        let expire_state = state.clone();
        let test_clock = test_clock.map(|clock| {
            let expire: RunTimers = Arc::new(move || {
                let state = expire_state.clone();
                Box::pin(async move { state.handle_timeout().await })
            });
            (clock, expire)
        });
        (state, Options { test_clock })
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (`mcp_session=debug` shows every request's span and the
/// sessions' lifecycle; warnings only by default).
pub fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let spans = tracing_subscriber::fmt::format::FmtSpan::CLOSE;
    tracing_subscriber::fmt().with_env_filter(filter).with_span_events(spans).with_writer(std::io::stderr).init();
}

/// The options from the command line; bad ones end the program with clap's message and code 2.
pub fn parse() -> Cli {
    match configure(Flags::parse()) {
        Ok(cli) => cli,
        Err(message) => {
            use clap::CommandFactory;
            Flags::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit()
        }
    }
}

/// Turns valid flags into the engine's configuration, or says which combination cannot work.
fn configure(flags: Flags) -> Result<Cli, String> {
    if flags.body_budget_bytes < flags.max_body_bytes {
        return Err(format!(
            "--body-budget-bytes ({}) is below --max-body-bytes ({}): the largest bodies could never be read",
            flags.body_budget_bytes, flags.max_body_bytes
        ));
    }
    // Each value was checked against a range that fits the target type on 64-bit hosts; on a
    // narrower `usize` a value that does not fit is refused, never truncated.
    let size = |flag: &str, n: u64| usize::try_from(n).map_err(|_| format!("--{flag} {n} does not fit this platform"));

    let mut host = HostConfig::default()
        .max_connections(size("max-connections", flags.max_connections)?)
        .header_read_timeout(Duration::from_millis(flags.header_timeout_ms))
        .idle_timeout(Duration::from_millis(flags.idle_connection_timeout_ms))
        .body_read_timeout(Duration::from_millis(flags.body_timeout_ms))
        .body_budget_bytes(size("body-budget-bytes", flags.body_budget_bytes)?)
        .metrics_path(Some(flags.metrics_path).filter(|path| !path.is_empty()));
    if let Some(workers) = flags.workers {
        host = host.workers(size("workers", workers)?);
    }

    let hosts = if flags.allowed_hosts.is_empty() {
        EngineConfig::default().hosts
    } else {
        let mut hosts = flags.allowed_hosts;
        hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
        HostPolicy::Only(hosts)
    };
    let mut config = EngineConfig::default()
        .response_mode(match flags.response_mode {
            Mode::Adaptive => ResponseMode::Adaptive,
            Mode::Sse => ResponseMode::Sse,
            Mode::Json => ResponseMode::Json,
        })
        .stateless(flags.stateless)
        .retry(Duration::from_millis(flags.retry_ms))
        .max_calls_per_session(size("max-calls-per-session", flags.max_calls_per_session)?)
        .max_body_bytes(size("max-body-bytes", flags.max_body_bytes)?)
        .hosts(hosts);
    if let Some(key) = flags.request_state_secret {
        config.request_state_key = key;
    }

    let keep_alive = (flags.keep_alive_secs > 0).then(|| Duration::from_secs(flags.keep_alive_secs));
    let mut builder = Sessions::builder()
        .idle_timeout(Duration::from_secs(flags.idle_timeout_secs))
        .absolute_timeout(Duration::from_secs(flags.absolute_timeout_secs))
        .initialization_timeout(Duration::from_secs(flags.initialization_timeout_secs))
        .keep_alive(keep_alive)
        .max_sessions(size("max-sessions", flags.max_sessions)?)
        .max_sessions_per_tenant(size("max-sessions-per-tenant", flags.max_sessions_per_tenant)?)
        .max_stream_bytes(size("max-stream-bytes", flags.max_stream_bytes)?)
        .retained_bytes(size("retained-bytes", flags.retained_bytes)?);
    let test_clock = flags.test_clock.then(|| {
        use mcp_session::Clock;
        ManualClock::new(Timestamp::from_millis(SystemClock.now().as_millis()))
    });
    if let Some(clock) = &test_clock {
        builder = builder.clock(clock.clone());
    }
    Ok(Cli { port: flags.port, host, redis: flags.redis, sessions: builder, config, test_clock })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn flags(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        Flags::command().debug_assert();
    }

    #[test]
    fn a_number_outside_its_range_is_refused_not_wrapped() {
        assert_eq!(flags(&["--port", "8080"]).unwrap().port, 8080);
        assert_eq!(flags(&["--port", "65535"]).unwrap().port, 65535);
        let refused = flags(&["--port", "70000"]).unwrap_err();
        assert_eq!(refused.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(refused.to_string().contains("70000"), "{refused}");
        for value in ["-1", "1e3", "", " 80", "18446744073709551616"] {
            assert!(flags(&["--port", value]).is_err(), "{value:?}");
        }
        assert!(flags(&["--port"]).is_err());
        assert!(flags(&["--workers", "0"]).is_err());
        assert!(flags(&["--max-sessions", "0"]).is_err());
        assert!(flags(&["--idle-timeout-secs", "315360001"]).is_err());
        assert!(flags(&["--response-mode", "xml"]).is_err());
        assert!(flags(&["--no-such-flag"]).is_err());
    }

    #[test]
    fn the_defaults_are_the_engines() {
        let cli = configure(flags(&[]).unwrap()).unwrap();
        assert_eq!(cli.port, 8080);
        let host = HostConfig::default();
        assert_eq!(
            (cli.host.max_connections, cli.host.body_budget_bytes, cli.host.header_read_timeout),
            (host.max_connections, host.body_budget_bytes, host.header_read_timeout)
        );
        assert_eq!(cli.redis, None, "in memory by default");
        let (state, _) = cli.in_memory();
        let config = EngineConfig::default();
        assert_eq!(state.config().max_body_bytes, config.max_body_bytes);
        assert_eq!(state.config().max_calls_per_session, config.max_calls_per_session);
    }

    #[test]
    fn a_request_state_secret_shorter_than_32_bytes_is_refused() {
        assert!(flags(&["--request-state-secret", "short"]).is_err());
        assert!(flags(&["--request-state-secret", &"s".repeat(32)]).unwrap().request_state_secret.is_some());
    }

    #[test]
    fn a_body_budget_below_the_largest_body_is_refused() {
        let refused = configure(flags(&["--max-body-bytes", "1000", "--body-budget-bytes", "999"]).unwrap());
        assert!(refused.err().unwrap().contains("--body-budget-bytes (999) is below --max-body-bytes (1000)"));
        assert!(configure(flags(&["--max-body-bytes", "1000", "--body-budget-bytes", "1000"]).unwrap()).is_ok());
    }

    #[test]
    fn metrics_are_served_at_metrics_unless_turned_off() {
        let path = |args: &[&str]| configure(flags(args).unwrap()).unwrap().host.metrics_path;
        assert_eq!(path(&[]).as_deref(), Some("/metrics"));
        assert_eq!(path(&["--metrics-path", "/stats"]).as_deref(), Some("/stats"));
        assert_eq!(path(&["--metrics-path", ""]), None);
        assert!(flags(&["--metrics-path", "metrics"]).is_err());
        assert!(flags(&["--metrics-path", "/mcp"]).is_err(), "the MCP endpoint is the engine's");
    }

    #[test]
    fn help_lists_every_flag() {
        let help = Flags::command().render_long_help().to_string();
        for flag in [
            "--port",
            "--response-mode",
            "--allow-host",
            "--retained-bytes",
            "--body-budget-bytes",
            "--redis",
            "--metrics-path",
            "--help",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        }
    }
}
