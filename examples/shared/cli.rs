//! Command-line options shared by the example servers.

use std::sync::Arc;
use std::time::Duration;

use mcp_session::http::{EngineConfig, HostPolicy, ResponseMode};
use mcp_session::{EngineState, ManualClock, Sessions, SystemClock, Timestamp};

use super::fixture::{DemoAuth, Options};

pub const USAGE: &str = "\
usage: server [options]
  --port N                  listen on 127.0.0.1:N (default: $PORT, else 8080; 0 picks a free port)
  --workers N               worker threads (default: one per core)
  --response-mode MODE      adaptive (default), sse or json
  --stateless               no sessions: every POST stands alone
  --idle-timeout-secs N     expire sessions idle this long (default 1800)
  --absolute-timeout-secs N expire sessions this old (default 14400)
  --keep-alive-secs N       heartbeat interval on open streams, 0 for none (default 15)
  --retry-ms N              SSE retry sent with priming events (default 1000)
  --max-sessions N          cap on sessions
  --allow-host NAME         accept this Host (repeatable; default: loopback names only)
  --test-clock              a manual clock moved by the `advance_clock` tool (tests only)";

pub struct Cli {
    pub port: u16,
    pub workers: usize,
    pub state: Arc<EngineState>,
    pub options: Options,
}

pub fn parse() -> Cli {
    let mut args = std::env::args().skip(1);
    let mut port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080u16);
    let mut workers = mcp_session::host::default_workers();
    let mut config = EngineConfig::default();
    let mut builder = Sessions::builder();
    let mut test_clock = None;
    let mut hosts = Vec::new();
    let number = |name: &str, value: Option<String>| -> u64 {
        value.and_then(|v| v.parse().ok()).unwrap_or_else(|| fail(&format!("{name} needs a number")))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = number("--port", args.next()) as u16,
            "--workers" => workers = number("--workers", args.next()).max(1) as usize,
            "--response-mode" => {
                config.response_mode = match args.next().as_deref() {
                    Some("adaptive") => ResponseMode::Adaptive,
                    Some("sse") => ResponseMode::Sse,
                    Some("json") => ResponseMode::Json,
                    _ => fail("--response-mode takes adaptive, sse or json"),
                }
            }
            "--stateless" => config.stateless = true,
            "--idle-timeout-secs" => builder = builder.idle_timeout(Duration::from_secs(number(&arg, args.next()))),
            "--absolute-timeout-secs" => {
                builder = builder.absolute_timeout(Duration::from_secs(number(&arg, args.next())))
            }
            "--keep-alive-secs" => {
                let secs = number(&arg, args.next());
                builder = builder.keep_alive((secs > 0).then(|| Duration::from_secs(secs)));
            }
            "--retry-ms" => config.retry = Duration::from_millis(number(&arg, args.next())),
            "--max-sessions" => builder = builder.max_sessions(number(&arg, args.next()) as usize),
            "--allow-host" => hosts.push(args.next().unwrap_or_else(|| fail("--allow-host needs a name"))),
            "--test-clock" => {
                let now = SystemClock::now_millis();
                test_clock = Some(ManualClock::new(Timestamp::from_millis(now)));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => fail(&format!("unknown option {other}")),
        }
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
    Cli { port, workers, state, options }
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
