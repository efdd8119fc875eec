//! Faults at the session level: a reader that stops reading, floods of sessions, a tenant-wide
//! fan-out, and handlers that emit without pause.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{probe, Client, Failure};
use crate::report::{finish, mib, ms, secs, spread, start, Report, PROBE_TIMEOUT, WARM_UP_SESSIONS};

/// Scenario 3: a GET stream opened and never read while 100,000 notifications go to it. Memory
/// stays at what one stream may retain, and the stream stays exact: resuming from the last id
/// the reader saw yields a `lagged` count and then the newest events, adding up to everything
/// sent, with no gap unaccounted for.
pub fn stalled_reader(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const EVENTS: u64 = 100_000;
    let mut started = start(binary, &[])?;
    let mut client = Client::new(started.addr(), PROBE_TIMEOUT);
    client.open()?;
    let mut stalled = client.open_stream(None, true)?;
    let primed = stalled.next_event()?.ok_or("the GET stream ended before its priming event")?;
    let (primed_id, primed_seq) = match (&primed.id, primed.seq()) {
        (Some(id), Some(seq)) => (id.clone(), seq),
        _ => return Err("the GET stream's first event carries no resumable id".into()),
    };
    // The tool may clamp its count: call it until the whole number has been sent.
    let most = client.notify_maximum()?.unwrap_or(EVENTS).max(1);
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < EVENTS {
        let count = (EVENTS - sent).min(most);
        let text = client.call("notify", json!({ "count": count, "standalone": true }))?;
        let n: u64 = text.strip_prefix("sent ").and_then(|n| n.parse().ok()).ok_or(format!("notify: {text:?}"))?;
        if n == 0 {
            return Err("notify sent nothing".into());
        }
        sent += n;
    }
    let took = t0.elapsed();
    let growth = started.peak_growth_kib();

    // Resumed while the stalled reader is still attached: the new reader replaces it.
    let mut resumed = client.open_stream(Some(&primed_id), false)?;
    let last = primed_seq + sent;
    let (mut next, mut lagged, mut replayed, mut gaps) = (primed_seq + 1, 0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while next <= last && Instant::now() < deadline {
        let Some(event) = resumed.next_event()? else { break };
        if event.event.as_deref() == Some("lagged") {
            let dropped: Value = serde_json::from_str(&event.data).unwrap_or_default();
            let dropped = dropped["dropped"].as_u64().unwrap_or(0);
            lagged += dropped;
            next += dropped;
        } else if let (Some(_), Some(seq)) = (event.message(), event.seq()) {
            if seq != next {
                gaps += 1;
            }
            replayed += 1;
            next = seq + 1;
        }
    }
    drop((stalled, resumed));

    report.figure(format!("{sent} sent in {} (calls of at most {most})", secs(took)));
    report.figure(format!("resumed from {primed_id}: lagged {lagged} + replayed {replayed} = {}", lagged + replayed));
    report.figure(format!("peak growth {}", mib(growth)));
    report.check(gaps == 0, || format!("{gaps} unaccounted gaps in the resumed stream"));
    report.check(next == last + 1 && lagged + replayed == sent, || {
        format!("resume accounted for {} of {sent} events (up to seq {})", lagged + replayed, next - 1)
    });
    report.check(replayed > 0, || "the resume replayed none of the newest events".into());
    // One stream retains at most 256 events of this size in its log and as many in the
    // reader's window; 100,000 of them kept would be ~20 MB.
    report.check(growth <= 8 * 1024, || format!("memory grew by {} behind a stalled reader", mib(growth)));
    finish(report, "", &mut started);
    Ok(())
}

#[derive(Default)]
struct Admissions {
    admitted: usize,
    /// 503 with `Retry-After`.
    refused: usize,
    other: BTreeMap<String, usize>,
}

/// `initialize` `total` times over `threads` keep-alive connections, never using the sessions.
fn bare_sessions(addr: SocketAddr, total: usize, threads: usize) -> Admissions {
    let parts: Vec<Admissions> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut counts = Admissions::default();
                    let mut client = Client::new(addr, PROBE_TIMEOUT);
                    for _ in (t..total).step_by(threads) {
                        client.session = None;
                        match client.initialize() {
                            Ok(head) if head.status == 200 => counts.admitted += 1,
                            Ok(head) if head.status == 503 && head.header("retry-after").is_some() => {
                                counts.refused += 1
                            }
                            Ok(head) => *counts.other.entry(format!("HTTP {}", head.status)).or_default() += 1,
                            Err(failure) => *counts.other.entry(failure.0).or_default() += 1,
                        }
                    }
                    counts
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let mut all = Admissions::default();
    for part in parts {
        all.admitted += part.admitted;
        all.refused += part.refused;
        for (why, n) in part.other {
            *all.other.entry(why).or_default() += n;
        }
    }
    all
}

/// Scenario 4: bare `initialize` calls beyond a session cap are refused with 503 and
/// `Retry-After`; the initialization timeout clears them so a real client gets in again; and
/// without a cap flag every session is admitted at a small cost each.
pub fn session_flood(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const FLOOD: usize = 5000;
    const CAP: usize = 1000;
    const INIT_TIMEOUT: Duration = Duration::from_secs(2);
    let capped = (|| -> Result<(), Failure> {
        let mut started = start(binary, &["--max-sessions", "1000", "--initialization-timeout-secs", "2"])?;
        let addr = started.addr();
        let t0 = Instant::now();
        let flood = bare_sessions(addr, FLOOD, 4);
        let flooded = Instant::now();
        let at_once = probe(addr, PROBE_TIMEOUT);
        let back = loop {
            if let Ok(_took) = probe(addr, PROBE_TIMEOUT) {
                break Some(flooded.elapsed());
            }
            if flooded.elapsed() > INIT_TIMEOUT * 4 {
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        report.figure(format!(
            "capped: {FLOOD} bare in {}, {} admitted, {} × 503+Retry-After, other {:?}",
            secs(flooded - t0),
            flood.admitted,
            flood.refused,
            flood.other
        ));
        report.figure(format!(
            "real client at once: {}, back after {}",
            at_once.as_ref().map_or_else(|f| format!("refused ({f})"), |_| "admitted".into()),
            back.map_or("never".into(), secs)
        ));
        // Sessions admitted early may expire while a slow flood still runs, making room for
        // more; a flood quicker than the initialization timeout fills the cap exactly.
        let room = CAP - WARM_UP_SESSIONS;
        let filled = if flooded - t0 < INIT_TIMEOUT { flood.admitted == room } else { flood.admitted >= room };
        report.check(filled && flood.admitted + flood.refused == FLOOD, || {
            format!("the cap of {CAP} was not enforced with 503 + Retry-After")
        });
        report.check(back.is_some_and(|t| t <= INIT_TIMEOUT * 3), || {
            format!("no real client got in within {} of the flood", secs(INIT_TIMEOUT * 3))
        });
        finish(report, "capped", &mut started);
        Ok(())
    })();
    if let Err(failure) = capped {
        report.failures.push(format!("capped: {failure}"));
    }

    let mut started = start(binary, &[])?;
    let t0 = Instant::now();
    let flood = bare_sessions(started.addr(), FLOOD, 4);
    let took = t0.elapsed();
    std::thread::sleep(Duration::from_millis(100));
    let per_session = started.server.rss_kib().saturating_sub(started.before_kib) * 1024 / FLOOD as u64;
    report.figure(format!(
        "default cap: {} admitted of {FLOOD} in {}, {per_session} B/session",
        flood.admitted,
        secs(took)
    ));
    report.check(flood.admitted == FLOOD, || {
        format!("only {} of {FLOOD} admitted under the default cap", flood.admitted)
    });
    report.check(per_session <= 4096, || format!("{per_session} bytes of memory per idle session"));
    finish(report, "default", &mut started);
    Ok(())
}

/// Scenario 5: one tenant with 2,000 idle sessions, and 256 changes fanned out to all of them.
/// What the sessions retain stays within the retained-events budget.
pub fn fanout_flood(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    const SESSIONS: usize = 2000;
    const CHANGES: usize = 256;
    const RETAINED_MIB: u64 = 64;
    let mut started = start(binary, &[])?;
    let addr = started.addr();
    let t0 = Instant::now();
    let opened: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    (t..SESSIONS)
                        .step_by(4)
                        .filter(|i| {
                            Client::new(addr, PROBE_TIMEOUT).with_owner("fanout", &format!("p{i}")).open().is_ok()
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).sum()
    });
    let opened_in = t0.elapsed();
    let sessions_kib = started.server.rss_kib().saturating_sub(started.before_kib);
    let mut writer = Client::new(addr, PROBE_TIMEOUT).with_owner("fanout", "writer");
    writer.open()?;
    let t1 = Instant::now();
    let mut told = BTreeMap::<String, usize>::new();
    for i in 0..CHANGES {
        let text = writer.call("record_change", json!({ "kind": "document", "reason": format!("fault suite {i}") }))?;
        *told.entry(text).or_default() += 1;
    }
    let fanned = t1.elapsed();
    let growth = started.peak_growth_kib();

    report.figure(format!("{opened} sessions in {} ({} for them)", secs(opened_in), mib(sessions_kib)));
    report.figure(format!("{CHANGES} changes in {}: {told:?}", secs(fanned)));
    report.figure(format!("peak growth {} (retained budget {RETAINED_MIB} MiB)", mib(growth)));
    let expected = format!("notified {SESSIONS} other session(s)");
    report.check(opened == SESSIONS, || format!("only {opened} of {SESSIONS} sessions opened"));
    report.check(told.get(&expected) == Some(&CHANGES), || format!("not every change reached {SESSIONS} sessions"));
    // Budget for retained events, what the sessions themselves cost, and a margin for the
    // allocator and the calls in flight.
    let limit = (RETAINED_MIB + 32) * 1024 + sessions_kib;
    report.check(growth <= limit, || format!("memory grew by {}, over {}", mib(growth), mib(limit)));
    finish(report, "", &mut started);
    Ok(())
}

/// Scenario 7: two handlers emitting as fast as they can with nobody reading, on the two
/// workers; meanwhile 50 fresh `initialize` calls are timed. Twice, on a fresh server each:
/// the handlers emit on their own request's stream after the client hung up, then on the
/// session's standalone stream with no GET open (`notify_session`). The target is 100 ms each;
/// only a generous bound is asserted, because this machine's timing is shared with other work.
pub fn chatty_handlers(binary: &Path, report: &mut Report) -> Result<(), Failure> {
    let stream = chatty_phase(binary, report, "stream");
    if let Err(failure) = stream {
        report.failures.push(format!("stream: {failure}"));
    }
    chatty_phase(binary, report, "standalone")
}

fn chatty_phase(binary: &Path, report: &mut Report, phase: &'static str) -> Result<(), Failure> {
    const PROBES: usize = 50;
    /// Used when the tool declares no maximum: long enough to outlast the probes.
    const UNCLAMPED: u64 = 2_000_000;
    const BOUND: Duration = Duration::from_secs(2);
    const TARGET: Duration = Duration::from_millis(100);
    let mut started = start(binary, &["--workers", "2"])?;
    let addr = started.addr();
    let mut lister = Client::new(addr, PROBE_TIMEOUT);
    lister.open()?;
    let count = lister.notify_maximum()?.unwrap_or(UNCLAMPED);
    let stop = Arc::new(AtomicBool::new(false));
    let spawn_chatty = || {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<(), Failure> {
            let run = || -> Result<(), Failure> {
                let mut client = Client::new(addr, Duration::from_secs(120));
                client.open()?;
                if phase == "stream" {
                    // The call goes on after the reset: an SSE reply can be resumed.
                    let (head, conn) = client.start_call("notify", json!({ "count": count }), 1)?;
                    conn.reset();
                    return match head.status {
                        200 => Ok(()),
                        status => Err(format!("notify: HTTP {status}").into()),
                    };
                }
                let deadline = Instant::now() + Duration::from_secs(60);
                // Back to back, so a handler runs for the whole measurement even if each call
                // is clamped short.
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    client.call("notify", json!({ "count": count, "standalone": true }))?;
                }
                Ok(())
            };
            // A call cut short by the end of the scenario is no failure.
            run().or_else(|failure| if stop.load(Ordering::Relaxed) { Ok(()) } else { Err(failure) })
        })
    };
    let mut chatty = vec![spawn_chatty(), spawn_chatty()];
    // Which worker accepts a connection is the kernel's choice, and two handlers on one worker
    // leave the other free for every probe. Add handlers until both workers are busy.
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let shares = worker_shares(&started.server, Duration::from_millis(300));
        if shares.len() < 2 || shares.iter().all(|&share| share >= 0.1) || chatty.len() >= 6 {
            break;
        }
        chatty.push(spawn_chatty());
    }
    let cpu_before = started.server.worker_cpu();
    let window = Instant::now();
    let mut latencies = Vec::with_capacity(PROBES);
    let mut failed = 0;
    for _ in 0..PROBES {
        // A starved server would take PROBES × BOUND: give up on the rest after 15 s.
        if window.elapsed() > Duration::from_secs(15) {
            failed += 1;
            continue;
        }
        let t = Instant::now();
        match Client::new(addr, BOUND).initialize() {
            Ok(head) if head.status == 200 => latencies.push(t.elapsed()),
            _ => failed += 1,
        }
        // Spread over a second or so, long enough to see where the workers' time goes.
        std::thread::sleep(Duration::from_millis(20));
    }
    let window = window.elapsed();
    let busy: Vec<String> = shares_since(&cpu_before, &started.server.worker_cpu(), window)
        .iter()
        .map(|share| format!("{:.0}%", share * 100.0))
        .collect();
    let (median, max) = spread(&mut latencies);
    let within = latencies.iter().filter(|&&l| l <= TARGET).count();

    report.figure(format!(
        "{phase}: {} × notify {count}, workers {} busy; {}/{PROBES} initialize answered, median {}, max {}, \
         {within}/{PROBES} within {}",
        chatty.len(),
        busy.join("/"),
        latencies.len(),
        ms(median),
        ms(max),
        ms(TARGET)
    ));
    report.check(failed == 0, || {
        format!(
            "{phase}: {failed} of {PROBES} fresh initialize calls failed, took over {} or found no time",
            secs(BOUND)
        )
    });
    report.check(max < BOUND, || format!("{phase}: slowest initialize took {}", ms(max)));
    stop.store(true, Ordering::Relaxed);
    finish(report, phase, &mut started);
    // Calls still running end with the server.
    drop(started);
    for handle in chatty {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => report.failures.push(format!("{phase}: chatty client: {failure}")),
            Err(_) => report.failures.push(format!("{phase}: chatty client panicked")),
        }
    }
    Ok(())
}

/// Each worker's share of one CPU between two `Server::worker_cpu` readings `window` apart.
fn shares_since(before: &[(String, u64)], after: &[(String, u64)], window: Duration) -> Vec<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    after
        .iter()
        .filter_map(|(name, ticks)| {
            let earlier = before.iter().find(|(n, _)| n == name)?.1;
            Some(ticks.saturating_sub(earlier) as f64 / ticks_per_sec / window.as_secs_f64())
        })
        .collect()
}

/// Each worker's share of one CPU over the next `window`.
fn worker_shares(server: &crate::process::Server, window: Duration) -> Vec<f64> {
    let before = server.worker_cpu();
    std::thread::sleep(window);
    shares_since(&before, &server.worker_cpu(), window)
}
