//! What a scenario found: its figures, the server's memory, and every check that failed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::client::{probe, Failure};
use crate::process::Server;

/// How long one probe may take once the fault is over.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sessions the warm-up client leaves on every server it starts.
pub const WARM_UP_SESSIONS: usize = 1;

/// Resident memory of one server over a scenario, in KiB.
pub struct Memory {
    label: &'static str,
    before: u64,
    peak: u64,
    after: u64,
}

#[derive(Default)]
pub struct Report {
    figures: Vec<String>,
    memory: Vec<Memory>,
    pub failures: Vec<String>,
}

impl Report {
    pub fn figure(&mut self, text: impl Into<String>) {
        self.figures.push(text.into());
    }

    /// Records a failure unless `ok`.
    pub fn check(&mut self, ok: bool, why: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(why());
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// One line: figures, memory, verdict.
    pub fn line(&self) -> String {
        let mut line = self.figures.join("; ");
        for memory in &self.memory {
            let mib = |kib: u64| kib as f64 / 1024.0;
            let label = if memory.label.is_empty() { String::new() } else { format!("{} ", memory.label) };
            line.push_str(&format!(
                " | rss {label}{:.1}/{:.1}/{:.1} MiB",
                mib(memory.before),
                mib(memory.peak),
                mib(memory.after)
            ));
        }
        line.push_str(if self.passed() { " | PASS" } else { " | FAIL" });
        line
    }
}

/// A started server with its memory at rest, after one client has been served.
pub struct Started {
    pub server: Server,
    pub before_kib: u64,
}

impl Started {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Growth of the peak over the resting memory, in KiB.
    pub fn peak_growth_kib(&self) -> u64 {
        self.server.peak_kib().saturating_sub(self.before_kib)
    }
}

/// Starts `binary` with `args`; the warm-up client makes "before" include what serving
/// anything at all costs (thread stacks touched, allocator arenas), not just an idle process.
pub fn start(binary: &Path, args: &[&str]) -> Result<Started, Failure> {
    let server = Server::start(binary, args)?;
    probe(server.addr, PROBE_TIMEOUT).map_err(|f| Failure(format!("warm-up client: {f}")))?;
    std::thread::sleep(Duration::from_millis(100));
    let before_kib = server.rss_kib();
    Ok(Started { server, before_kib })
}

/// The checks every scenario ends with: the process lives, a fresh `initialize` + `tools/call
/// echo` is answered; then the memory figures.
pub fn finish(report: &mut Report, label: &'static str, started: &mut Started) {
    let running = started.server.is_running();
    report.check(running, || format!("{label} server process died"));
    if running {
        match probe(started.addr(), PROBE_TIMEOUT) {
            Ok(took) => report.check(took < PROBE_TIMEOUT, || format!("fresh client afterwards took {took:?}")),
            Err(failure) => report.failures.push(format!("fresh client afterwards: {failure}")),
        }
    }
    let server = &started.server;
    report.memory.push(Memory { label, before: started.before_kib, peak: server.peak_kib(), after: server.rss_kib() });
}

/// Median and maximum.
pub fn spread(samples: &mut [Duration]) -> (Duration, Duration) {
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

pub fn ms(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

pub fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
