//! Faults at the connection level: a flood of idle connections, slow headers and bodies, and
//! clients that reset their connection mid-stream.
//!
//! The floods drive hundreds of non-blocking sockets from one thread, polling each in turn:
//! no thread per connection, and every socket's fate is timed by the same clock.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{parse_head, probe, Client, Failure};
use crate::process::server_side_connections;
use crate::report::{finish, mib, ms, secs, spread, start, Report, PROBE_TIMEOUT};

/// How often the floods poll their sockets.
const TICK: Duration = Duration::from_millis(10);

/// What reading a non-blocking socket found.
enum Polled {
    Nothing,
    Bytes,
    Closed,
}

fn read_some(stream: &mut TcpStream, into: &mut Vec<u8>) -> Polled {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk) {
        Ok(0) => Polled::Closed,
        Ok(n) => {
            into.extend_from_slice(&chunk[..n]);
            Polled::Bytes
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Polled::Nothing,
        Err(_) => Polled::Closed,
    }
}

/// One idle connection of the flood: connected without blocking, then never sends a byte.
struct Idle {
    stream: TcpStream,
    connected: bool,
    cut: Option<Duration>,
}

impl Idle {
    fn open(addr: SocketAddr) -> io::Result<Self> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        // A non-blocking connect returns at once; the kernel completes the handshake (or keeps
        // retrying the SYN while the server's accept queue is full) on its own.
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(Self { stream: socket.into(), connected: false, cut: None })
    }

    fn poll(&mut self, at: Duration) {
        if self.cut.is_some() {
            return;
        }
        if !self.connected {
            if self.stream.peer_addr().is_ok() {
                self.connected = true;
            } else if matches!(self.stream.take_error(), Ok(Some(_))) {
                self.cut = Some(at);
            }
            return;
        }
        let mut ignored = Vec::new();
        if let Polled::Closed = read_some(&mut self.stream, &mut ignored) {
            self.cut = Some(at);
        }
    }
}

/// Scenario 1: more idle connections than the server takes. Beyond the cap they wait in the
/// accept queue, the header timeout cuts the idle ones, and a fresh client gets in soon.
pub fn connection_flood(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const FLOOD: usize = 1500;
    const CAP: usize = 1000;
    // The listener, the runtime's own descriptors, the probes' connections.
    const SLACK: usize = 16;
    let mut started = start(binary, &["--max-connections", "1000", "--header-timeout-ms", "1000"])?;
    let addr = started.addr();
    let base_fds = started.server.fds();
    let sampler = started.server.sample_fds();
    let t0 = Instant::now();
    let mut flood = (0..FLOOD).map(|_| Idle::open(addr)).collect::<io::Result<Vec<_>>>()?;
    let opened = t0.elapsed();
    let during = std::thread::spawn(move || probe(addr, Duration::from_secs(8)));
    // Connections the accept queue could not hold retry their SYN after 1, 3 and 7 s. Some
    // never reach the server at all: when the queue is full the kernel drops the handshake's
    // last ACK, the client believes it is connected, and a client that never sends a byte
    // never finds out. So the flood is over when every connection is cut, or when the server
    // side has been clear for a while.
    let deadline = Duration::from_secs(12);
    let mut server_side = usize::MAX;
    let mut checked = Duration::ZERO;
    loop {
        let at = t0.elapsed();
        flood.iter_mut().for_each(|idle| idle.poll(at));
        if at - checked >= Duration::from_millis(200) {
            server_side = server_side_connections(addr.port());
            checked = at;
        }
        let last_cut = flood.iter().filter_map(|idle| idle.cut).max().unwrap_or_default();
        let quiet = server_side == 0 && at >= Duration::from_secs(3) && at - last_cut >= Duration::from_secs(2);
        if flood.iter().all(|idle| idle.cut.is_some()) || quiet || at >= deadline {
            break;
        }
        std::thread::sleep(TICK * 2);
    }
    // The last sample may predate the last cuts (it is taken every 200 ms): look again until
    // the server side is clear, or for at most two seconds.
    let settle = Instant::now();
    while server_side != 0 && settle.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(TICK * 2);
        server_side = server_side_connections(addr.port());
    }
    let max_fds = sampler.finish();
    let cut: Vec<Duration> = flood.iter().filter_map(|idle| idle.cut).collect();
    let last_cut = cut.iter().max().copied().unwrap_or_default();
    // No connection can have waited a whole header timeout this early: it was refused instead
    // of left waiting.
    let early = cut.iter().filter(|&&at| at < Duration::from_millis(900)).count();
    let during = during.join().unwrap_or_else(|_| Err("probe thread panicked".into()));
    drop(flood);

    report.figure(format!("{FLOOD} opened in {}", ms(opened)));
    report.figure(format!("server fds max {max_fds} (base {base_fds}, cap {CAP})"));
    report.figure(format!(
        "cut {}/{FLOOD} ({early} before 0.9 s), last at {}; {} never reached the server, {server_side} left there",
        cut.len(),
        secs(last_cut),
        FLOOD - cut.len()
    ));
    match &during {
        Ok(took) => report.figure(format!("fresh client during flood {}", ms(*took))),
        Err(failure) => report.figure(format!("fresh client during flood failed ({failure})")),
    }
    report.check(max_fds <= base_fds + CAP + SLACK, || {
        format!("the server held {max_fds} descriptors: more than {CAP} connections at once")
    });
    report.check(server_side == 0, || {
        format!("{server_side} idle connections still held or queued by the server after {}", secs(deadline))
    });
    report.check(early == 0, || format!("{early} connections cut before the header timeout, not left waiting"));
    report.check(matches!(during, Ok(took) if took <= Duration::from_secs(5)), || {
        "a fresh client was not answered within 5 s of the flood".into()
    });
    report.check(started.peak_growth_kib() <= 64 * 1024, || {
        format!("memory grew by {} for idle connections", mib(started.peak_growth_kib()))
    });
    finish(report, "", &mut started);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Pace {
    /// Sends a header line a byte at a time, never ending the head.
    Header,
    /// Sends the head and most of a large body at once, then a byte at a time, never all.
    Body,
}

/// One slow client of scenario 2.
struct Slow {
    stream: TcpStream,
    pace: Pace,
    sent: usize,
    next_byte: Instant,
    response: Vec<u8>,
    status: Option<u16>,
    retry_after: bool,
    ended: Option<Duration>,
}

const SLOW_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The body's last bytes go a byte at a time.
const SLOW_TAIL: usize = 64 * 1024;
const TRICKLE: Duration = Duration::from_millis(100);
static SPACES: [u8; 256 * 1024] = [b' '; 256 * 1024];

impl Slow {
    fn open(addr: SocketAddr, pace: Pace) -> io::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        let head = match pace {
            Pace::Header => "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ".to_owned(),
            Pace::Body => format!(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\n\
                 Content-Type: application/json\r\nContent-Length: {SLOW_BODY_BYTES}\r\n\r\n"
            ),
        };
        stream.write_all(head.as_bytes())?;
        stream.set_nonblocking(true)?;
        let next_byte = Instant::now() + TRICKLE;
        Ok(Self {
            stream,
            pace,
            sent: 0,
            next_byte,
            response: Vec::new(),
            status: None,
            retry_after: false,
            ended: None,
        })
    }

    fn poll(&mut self, now: Instant, at: Duration) {
        if self.ended.is_some() {
            return;
        }
        let read = read_some(&mut self.stream, &mut self.response);
        if let Some((head, _)) = parse_head(&self.response) {
            self.status = Some(head.status);
            self.retry_after = head.header("retry-after").is_some();
            self.ended = Some(at);
            return;
        }
        if let Polled::Closed = read {
            self.ended = Some(at);
            return;
        }
        // Write errors (the server closed) are not the end: its answer may still be unread.
        if self.pace == Pace::Body && self.sent < SLOW_BODY_BYTES - SLOW_TAIL {
            let want = (SLOW_BODY_BYTES - SLOW_TAIL - self.sent).min(SPACES.len());
            if let Ok(n) = self.stream.write(&SPACES[..want]) {
                self.sent += n;
            }
        } else if now >= self.next_byte && self.sent < SLOW_BODY_BYTES - 1 {
            let byte: &[u8] = if self.pace == Pace::Header { b"a" } else { b" " };
            if let Ok(n) = self.stream.write(byte) {
                self.sent += n;
            }
            self.next_byte = now + TRICKLE;
        }
    }
}

/// Scenario 2: slow headers are cut by the header timeout; slow bodies by the body timeout
/// (408) or refused by the body budget (503 + `Retry-After`), and what bodies hold stays
/// within the budget.
pub fn slow_clients(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const EACH: usize = 200;
    const BUDGET: usize = 32 * 1024 * 1024;
    let budget = BUDGET.to_string();
    let args = [
        "--header-timeout-ms",
        "1000",
        "--body-timeout-ms",
        "2000",
        "--body-budget-bytes",
        &budget,
        "--max-body-bytes",
        "8388608",
    ];
    let mut started = start(binary, &args)?;
    let addr = started.addr();
    let t0 = Instant::now();
    let mut slow = Vec::with_capacity(2 * EACH);
    for i in 0..2 * EACH {
        slow.push(Slow::open(addr, if i % 2 == 0 { Pace::Header } else { Pace::Body })?);
    }
    let deadline = Duration::from_secs(7);
    loop {
        let (now, at) = (Instant::now(), t0.elapsed());
        slow.iter_mut().for_each(|s| s.poll(now, at));
        if slow.iter().all(|s| s.ended.is_some()) || at >= deadline {
            break;
        }
        std::thread::sleep(TICK);
    }
    let peak_growth = started.peak_growth_kib();
    let (headers, bodies): (Vec<&Slow>, Vec<&Slow>) = slow.iter().partition(|s| s.pace == Pace::Header);
    let last = |of: &[&Slow]| of.iter().filter_map(|s| s.ended).max().unwrap_or_default();
    let headers_cut = headers.iter().filter(|s| s.ended.is_some()).count();
    let timed_out = bodies.iter().filter(|s| s.status == Some(408)).count();
    let refused = bodies.iter().filter(|s| s.status == Some(503) && s.retry_after).count();
    let silent = bodies.iter().filter(|s| s.ended.is_some() && s.status.is_none()).count();
    let open = bodies.iter().filter(|s| s.ended.is_none()).count();
    let other = EACH - timed_out - refused - silent - open;
    let body_bytes: usize = bodies.iter().map(|s| s.sent).sum();
    let (headers_last, bodies_last) = (last(&headers), last(&bodies));
    drop(slow);

    report.figure(format!("headers: {headers_cut}/{EACH} cut, last at {}", secs(headers_last)));
    report.figure(format!(
        "bodies: {timed_out} × 408, {refused} × 503+Retry-After, {silent} cut silently, {other} other, {open} open, \
         last at {}; {} sent",
        secs(bodies_last),
        mib(body_bytes as u64 / 1024)
    ));
    report.check(headers_cut == EACH, || format!("{} slow headers not cut by {}", EACH - headers_cut, secs(deadline)));
    report.check(timed_out + refused == EACH, || {
        format!("{} slow bodies got neither 408 nor 503 with Retry-After", EACH - timed_out - refused)
    });
    let limit = (BUDGET / 1024) as u64 + 48 * 1024;
    report.check(peak_growth <= limit, || {
        format!("memory grew by {}, over the body budget {} + 48 MiB", mib(peak_growth), mib(BUDGET as u64 / 1024))
    });
    finish(report, "", &mut started);
    Ok(())
}

/// Scenario 6: streaming calls whose clients reset the connection after the first progress
/// notification. The server keeps answering meanwhile, drops every connection, and its memory
/// returns close to where it was.
pub fn abrupt_disconnects(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const CLIENTS: usize = 20;
    const CALLS_EACH: usize = 50;
    let mut started = start(binary, &[])?;
    let addr = started.addr();
    let base_fds = started.server.fds();
    let stop = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let prober = {
        let (stop, probes) = (stop.clone(), probes.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let outcome = probe(addr, PROBE_TIMEOUT);
                let mut probes = probes.lock().unwrap();
                match outcome {
                    Ok(took) => probes.0.push(took),
                    Err(_) => probes.1 += 1,
                }
                drop(probes);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let t0 = Instant::now();
    let outcomes: Vec<Result<usize, Failure>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(move || -> Result<usize, Failure> {
                    let mut client = Client::new(addr, PROBE_TIMEOUT);
                    client.open()?;
                    let mut reset = 0;
                    for call in 0..CALLS_EACH {
                        let arguments = json!({ "steps": 5, "step_ms": 40 });
                        let (head, mut conn) = client.start_call("long_task", arguments, call as u64)?;
                        if head.status != 200 || !head.is_sse() {
                            return Err(format!("long_task: HTTP {} instead of a stream", head.status).into());
                        }
                        while let Some(event) = conn.next_event()? {
                            if event.message().is_some_and(|m| m["method"] == "notifications/progress") {
                                break;
                            }
                        }
                        conn.reset();
                        reset += 1;
                    }
                    Ok(reset)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("client thread panicked".into()))).collect()
    });
    let flood = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = prober.join();
    // The calls outlive their connections by at most their five steps.
    std::thread::sleep(Duration::from_millis(700));
    let fds_after = started.server.fds();
    let reset: usize = outcomes.iter().filter_map(|o| o.as_ref().ok()).sum();
    let errors: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err()).map(|f| f.0.clone()).collect();
    let (mut latencies, probe_failures) = std::mem::take(&mut *probes.lock().unwrap());
    let (median, max) = spread(&mut latencies);

    report.figure(format!("{reset} reset mid-stream in {}", secs(flood)));
    report.figure(format!(
        "{} fresh clients during: median {}, max {}, {probe_failures} failed",
        latencies.len(),
        ms(median),
        ms(max)
    ));
    report.figure(format!("server fds {base_fds} -> {fds_after}"));
    report.check(reset == CLIENTS * CALLS_EACH, || {
        format!("{} calls not reset: {}", CLIENTS * CALLS_EACH - reset, errors.first().cloned().unwrap_or_default())
    });
    report.check(probe_failures == 0 && !latencies.is_empty(), || {
        format!("{probe_failures} fresh clients failed during the disconnects")
    });
    report.check(fds_after <= base_fds + 2, || format!("{} connections left open", fds_after - base_fds));
    finish(report, "", &mut started);
    let grown = started.server.rss_kib().saturating_sub(started.before_kib);
    report.check(grown <= 16 * 1024, || format!("memory stayed {} above where it was", mib(grown)));
    Ok(())
}
