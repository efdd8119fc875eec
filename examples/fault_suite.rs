//! The project's own load and fault suite: starts an example server binary, hits it with one
//! fault at a time over raw HTTP/1.1 on 127.0.0.1, and checks afterwards (and during, where it
//! matters) that a fresh client is still served and that memory stayed within its budget.
//!
//! ```sh
//! cargo build --release --all-features --examples
//! cargo run --release --all-features --example fault_suite -- \
//!     --server target/release/examples/server --server target/release/examples/server_async_std
//! ```
//!
//! One line per scenario and server: figures, then `rss before/peak/after`, then PASS or FAIL
//! (with the failed checks below it). The exit code is non-zero if any scenario failed.
//! `--only 1,3` runs some scenarios. Every loop is bounded in count and time, and each
//! scenario kills the server it started, by PID, even when it fails.
//!
//! Linux only: memory and descriptors are read from `/proc/PID/status` and `/proc/PID/fd`.

#[cfg(target_os = "linux")]
#[path = "fault/client.rs"]
mod client;
#[cfg(target_os = "linux")]
#[path = "fault/process.rs"]
mod process;
#[cfg(target_os = "linux")]
#[path = "fault/report.rs"]
mod report;
#[cfg(target_os = "linux")]
#[path = "fault/sessions.rs"]
mod sessions;
#[cfg(target_os = "linux")]
#[path = "fault/sockets.rs"]
mod sockets;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("fault_suite reads /proc and runs on Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() {
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    type Scenario = fn(&Path, &mut report::Report) -> Result<(), client::Failure>;
    let scenarios: [(&str, Scenario); 7] = [
        ("connection-flood", sockets::connection_flood),
        ("slow-clients", sockets::slow_clients),
        ("stalled-reader", sessions::stalled_reader),
        ("session-flood", sessions::session_flood),
        ("fanout-flood", sessions::fanout_flood),
        ("abrupt-disconnects", sockets::abrupt_disconnects),
        ("chatty-handlers", sessions::chatty_handlers),
    ];

    let mut servers = Vec::new();
    let mut only: Option<Vec<usize>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--server" => servers.push(PathBuf::from(args.next().unwrap_or_else(|| usage("--server needs a path")))),
            "--only" => {
                let list = args.next().unwrap_or_else(|| usage("--only needs a list"));
                let picked = list.split(',').map(|n| n.trim().parse::<usize>().ok().filter(|n| (1..=7).contains(n)));
                only = Some(picked.collect::<Option<_>>().unwrap_or_else(|| usage("--only takes numbers 1 to 7")));
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown option {other}")),
        }
    }
    if servers.is_empty() {
        usage("no --server given");
    }
    raise_fd_limit(4096);

    let started = Instant::now();
    let mut failed = Vec::new();
    for server in &servers {
        let name =
            server.file_name().map_or_else(|| server.display().to_string(), |n| n.to_string_lossy().into_owned());
        for (index, (scenario, run)) in scenarios.iter().enumerate() {
            let number = index + 1;
            if only.as_ref().is_some_and(|only| !only.contains(&number)) {
                continue;
            }
            let t = Instant::now();
            let mut report = report::Report::default();
            if let Err(failure) = run(server, &mut report) {
                report.failures.push(failure.0);
            }
            println!("{name} {number} {scenario} ({:.1} s): {}", t.elapsed().as_secs_f64(), report.line());
            for failure in &report.failures {
                println!("    - {failure}");
            }
            if !report.passed() {
                failed.push(format!("{name} {number} {scenario}"));
            }
        }
    }
    println!("fault suite: {} failed in {:.0} s", failed.len(), started.elapsed().as_secs_f64());
    if !failed.is_empty() {
        for name in &failed {
            println!("  FAIL {name}");
        }
        std::process::exit(1);
    }
}

#[cfg(target_os = "linux")]
fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!("usage: fault_suite --server PATH [--server PATH ...] [--only N,N,...]");
    std::process::exit(2)
}

/// The connection flood holds 1,500 sockets here and the server inherits this limit: raise the
/// soft limit towards the hard one when it is lower than `want`.
#[cfg(target_os = "linux")]
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
