//! Command-line options shared by the example servers.
//!
//! Every number is checked against its flag's range and refused with a message otherwise: a
//! value never wraps (`--port 70000`) or truncates.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use mcp_session::host::HostConfig;
use mcp_session::http::{EngineConfig, HostPolicy, ResponseMode};
use mcp_session::{EngineState, ManualClock, Sessions, SystemClock, Timestamp};

use super::fixture::{DemoAuth, Options};

pub const USAGE: &str = "\
usage: server [options]
  --port N                        listen on 127.0.0.1:N, 0 to 65535 (default: $PORT, else 8080; 0 picks a free port)
  --workers N                     worker threads (default: one per core)
  --response-mode MODE            adaptive (default), sse or json
  --stateless                     no sessions: every POST stands alone
  --allow-host NAME               accept this Host (repeatable; default: loopback names only)
  --test-clock                    a manual clock moved by the `advance_clock` tool (tests only)
 sessions:
  --idle-timeout-secs N           expire sessions idle this long (default 1800)
  --absolute-timeout-secs N       expire sessions this old (default 14400)
  --initialization-timeout-secs N expire sessions never used after initialize (default 60)
  --keep-alive-secs N             heartbeat interval on open streams, 0 for none (default 15)
  --retry-ms N                    SSE retry sent with priming events (default 1000)
  --max-sessions N                cap on sessions (default 100000)
  --max-sessions-per-tenant N     cap on one tenant's sessions (default 25000)
  --max-calls-per-session N       requests one session may have running (default 64)
  --max-stream-bytes N            bytes one stream retains for replay (default 8388608)
  --retained-bytes N              bytes retained for replay across sessions (default 67108864)
  --max-body-bytes N              largest request body; larger gets 413 (default 4194304)
 connections:
  --max-connections N             connections open at once; more wait to be accepted (default 1024)
  --header-timeout-ms N           time to send a request head (default 10000)
  --idle-connection-timeout-ms N  keep-alive connection with no request is closed (default 60000)
  --body-timeout-ms N             time to send a whole body; later gets 408 (default 30000)
  --body-budget-bytes N           body bytes being read across the server; beyond gets 503 (default 67108864)
  -h, --help                      this text";

const SECONDS: RangeInclusive<u64> = 1..=10 * 365 * 24 * 3600;
const MILLIS: RangeInclusive<u64> = 1..=24 * 3600 * 1000;
const COUNT: RangeInclusive<u64> = 1..=100_000_000;
const BYTES: RangeInclusive<u64> = 1..=1 << 40;

pub struct Cli {
    pub port: u16,
    pub host: HostConfig,
    pub state: Arc<EngineState>,
    pub options: Options,
}

impl Cli {
    /// The listening socket on 127.0.0.1. Its backlog is deeper than std's 128: at the
    /// connection cap the host stops accepting and new connections wait there, and a full
    /// backlog makes the kernel drop handshakes the client believes completed.
    pub fn listen(&self) -> std::io::Result<std::net::TcpListener> {
        use socket2::{Domain, Socket, Type};
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(4096)?;
        Ok(socket.into())
    }
}

pub fn parse() -> Cli {
    let mut args = Args(std::env::args().skip(1));
    let mut port = match std::env::var("PORT") {
        Ok(value) => number::<u16>("$PORT", Some(value), 0..=u64::from(u16::MAX)),
        Err(_) => 8080,
    };
    let mut host = HostConfig::default();
    let mut config = EngineConfig::default();
    let mut builder = Sessions::builder();
    let mut test_clock = None;
    let mut hosts = Vec::new();
    while let Some(arg) = args.0.next() {
        let flag = arg.as_str();
        match flag {
            "--port" => port = args.number(flag, 0..=u64::from(u16::MAX)),
            "--workers" => host = host.workers(args.number(flag, 1..=1024)),
            "--response-mode" => {
                config.response_mode = match args.0.next().as_deref() {
                    Some("adaptive") => ResponseMode::Adaptive,
                    Some("sse") => ResponseMode::Sse,
                    Some("json") => ResponseMode::Json,
                    _ => fail("--response-mode takes adaptive, sse or json"),
                }
            }
            "--stateless" => config.stateless = true,
            "--allow-host" => hosts.push(args.0.next().unwrap_or_else(|| fail("--allow-host needs a name"))),
            "--test-clock" => {
                let now = SystemClock::now_millis();
                test_clock = Some(ManualClock::new(Timestamp::from_millis(now)));
            }
            "--idle-timeout-secs" => builder = builder.idle_timeout(args.seconds(flag)),
            "--absolute-timeout-secs" => builder = builder.absolute_timeout(args.seconds(flag)),
            "--initialization-timeout-secs" => builder = builder.initialization_timeout(args.seconds(flag)),
            "--keep-alive-secs" => {
                let secs: u64 = args.number(flag, 0..=24 * 3600);
                builder = builder.keep_alive((secs > 0).then(|| Duration::from_secs(secs)));
            }
            "--retry-ms" => config.retry = Duration::from_millis(args.number(flag, 0..=*MILLIS.end())),
            "--max-sessions" => builder = builder.max_sessions(args.number::<usize>(flag, COUNT)),
            "--max-sessions-per-tenant" => builder = builder.max_sessions_per_tenant(args.number::<usize>(flag, COUNT)),
            "--max-calls-per-session" => config.max_calls_per_session = args.number(flag, COUNT),
            "--max-stream-bytes" => builder = builder.max_stream_bytes(args.number(flag, BYTES)),
            "--retained-bytes" => builder = builder.retained_bytes(args.number(flag, BYTES)),
            "--max-body-bytes" => config.max_body_bytes = args.number(flag, BYTES),
            "--max-connections" => host = host.max_connections(args.number(flag, 1..=1_000_000)),
            "--header-timeout-ms" => host = host.header_read_timeout(args.millis(flag)),
            "--idle-connection-timeout-ms" => host = host.idle_timeout(args.millis(flag)),
            "--body-timeout-ms" => host = host.body_read_timeout(args.millis(flag)),
            "--body-budget-bytes" => host = host.body_budget_bytes(args.number(flag, BYTES)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => fail(&format!("unknown option {other}")),
        }
    }
    if host.body_budget_bytes < config.max_body_bytes {
        fail(&format!(
            "--body-budget-bytes ({}) is below --max-body-bytes ({}): the largest bodies could never be read",
            host.body_budget_bytes, config.max_body_bytes
        ));
    }
    if !hosts.is_empty() {
        hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
        config.hosts = HostPolicy::Only(hosts);
    }
    if let Some(clock) = &test_clock {
        builder = builder.clock(clock.clone());
    }
    let state = Arc::new(EngineState::new(builder.build(), config).with_authenticator(DemoAuth));
    let options = Options { test_clock: test_clock.map(|clock| (clock, state.clone())) };
    Cli { port, host, state, options }
}

struct Args(std::iter::Skip<std::env::Args>);

impl Args {
    fn number<T: TryFrom<u64>>(&mut self, flag: &str, range: RangeInclusive<u64>) -> T {
        number(flag, self.0.next(), range)
    }

    fn seconds(&mut self, flag: &str) -> Duration {
        Duration::from_secs(self.number(flag, SECONDS))
    }

    fn millis(&mut self, flag: &str) -> Duration {
        Duration::from_millis(self.number(flag, MILLIS))
    }
}

/// `value` as a whole number within `range`, or the program ends with a message naming `flag`.
fn number<T: TryFrom<u64>>(flag: &str, value: Option<String>, range: RangeInclusive<u64>) -> T {
    parse_number(flag, value.as_deref(), range).unwrap_or_else(|bad| fail(&bad.to_string()))
}

fn parse_number<T: TryFrom<u64>>(flag: &str, value: Option<&str>, range: RangeInclusive<u64>) -> Result<T, BadNumber> {
    let bad = |value: Option<&str>| BadNumber {
        flag: flag.to_owned(),
        value: value.map(str::to_owned),
        range: range.clone(),
    };
    let n = value.and_then(|v| v.parse::<u64>().ok()).filter(|n| range.contains(n)).ok_or_else(|| bad(value))?;
    // Only where `usize` is narrower than the range (32-bit targets).
    T::try_from(n).map_err(|_| bad(value))
}

/// A flag's value that is missing, not a whole number, or outside the flag's range.
#[derive(Debug)]
struct BadNumber {
    flag: String,
    value: Option<String>,
    range: RangeInclusive<u64>,
}

impl std::fmt::Display for BadNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (flag, low, high) = (&self.flag, self.range.start(), self.range.end());
        match &self.value {
            None => write!(f, "{flag} needs a whole number from {low} to {high}"),
            Some(value) => write!(f, "{flag} takes a whole number from {low} to {high}, not {value:?}"),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}\n\n{USAGE}");
    std::process::exit(2)
}

trait NowMillis {
    fn now_millis() -> u64;
}

impl NowMillis for SystemClock {
    fn now_millis() -> u64 {
        use mcp_session::Clock;
        SystemClock.now().as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: RangeInclusive<u64> = 0..=65535;

    #[test]
    fn a_number_outside_its_range_is_refused_not_wrapped() {
        assert_eq!(parse_number::<u16>("--port", Some("8080"), PORT).unwrap(), 8080);
        assert_eq!(parse_number::<u16>("--port", Some("65535"), PORT).unwrap(), 65535);
        let refused = parse_number::<u16>("--port", Some("70000"), PORT).unwrap_err();
        assert_eq!(refused.to_string(), "--port takes a whole number from 0 to 65535, not \"70000\"");
        for value in ["-1", "1e3", "", " 80", "18446744073709551616"] {
            assert!(parse_number::<u16>("--port", Some(value), PORT).is_err(), "{value:?}");
        }
        assert!(parse_number::<u16>("--port", None, PORT).is_err());
        assert!(parse_number::<usize>("--workers", Some("0"), 1..=1024).is_err());
    }
}
