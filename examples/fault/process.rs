//! The server under test: started on a free loopback port with the flags a scenario needs,
//! measured through `/proc`, and killed by its PID when the guard drops (on failure too).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::Failure;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `binary --port 0 ARGS` and waits for its `listening on http://ADDR/mcp` line.
    pub fn start(binary: &Path, args: &[&str]) -> Result<Self, Failure> {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure(format!("cannot start {}: {e}", binary.display())))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        // Drained so a chatty server never blocks on a full pipe; only the start is kept.
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut chunk) {
                let mut kept = sink.lock().unwrap();
                if kept.len() < 4096 {
                    kept.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let mut server = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                return Err(Failure(format!("server did not start: {}", server.stderr_first_line())));
            }
        };
        server.addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| Failure(format!("no address in {line:?}")))?;
        Ok(server)
    }

    fn stderr_first_line(&self) -> String {
        let kept = self.stderr.lock().unwrap();
        kept.lines().next().unwrap_or("(no output)").to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Resident memory now.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the process ever had.
    pub fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Open file descriptors: the listener, every accepted connection, a few fixed ones.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |dir| dir.count())
    }

    /// CPU time each worker thread (named `mcp-*`) has used so far, in clock ticks.
    pub fn worker_cpu(&self) -> Vec<(String, u64)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else { return Vec::new() };
        let mut workers: Vec<(String, u64)> = tasks
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let name = std::fs::read_to_string(dir.join("comm")).ok()?.trim().to_owned();
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Fields after the parenthesised name: state is the first, utime the 12th.
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
                name.starts_with("mcp-").then_some((name, ticks))
            })
            .collect();
        workers.sort();
        workers
    }

    /// Samples the descriptor count until the returned sampler is stopped.
    pub fn sample_fds(&self) -> FdSampler {
        let pid = self.pid();
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let (flag, peak) = (stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let n = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count());
                peak.fetch_max(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        FdSampler { stop, max, thread: Some(thread) }
    }
}

/// Connections to `port` the kernel has established on the server's side, accepted or still
/// in the accept queue (`/proc/net/tcp`: local port `port`, state ESTABLISHED or SYN_RECV).
pub fn server_side_connections(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && matches!(fields[3], "01" | "03")
        })
        .count()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct FdSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FdSampler {
    /// Stops sampling; returns the largest count seen.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for FdSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
