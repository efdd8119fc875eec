//! A deterministic simulation of the whole engine: many sessions of two tenants, requests in
//! flight at once (the store yields at random, so their steps interleave), calls in every
//! response mode with paced emits, GET streams, resumes (replacing live readers), slow and
//! vanishing readers, disconnects, DELETE, cancellation, answers to server requests, clock jumps,
//! timers and process restarts over the same storage — checked as it goes against what a client
//! may see (every message of a stream once, in order, gaps announced with their exact size, only
//! its own session's, the connection a reconnect replaced ended), and at the end against the
//! engine's own books (every handler ended, every stream's messages received or counted lost,
//! every session idle out within its idle timeout once the client hangs up, nothing of an ended
//! session left, memory within its budget).
//!
//! The same run goes over two replicas sharing a real Redis (`Place::Redis`): each request lands
//! on either, as behind a plain load balancer, so a stream is resumed on the replica that did not
//! produce it, an answer or a cancellation reaches its handler over the bus, and a restart is
//! one replica dying while the other serves on — its calls then bring their logged result or one
//! error each, once the client resumes their streams elsewhere and the dead replica's lease ran
//! out, and nothing is left of any session at the end, in either replica or in Redis. Real I/O
//! makes such a run repeatable only in its choices, not in its timing. Real I/O is also slower
//! than the steps: in some seeds the client waits for the replies on their way after a step (its
//! patience), so requests complete during the run (a reconnect then finds the connection it
//! replaces on the other replica still open) and not only in the final settle.

pub mod rng;
pub mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::noop_waker;
use futures::Stream;
use http::{Response, StatusCode};
use mcp_session::http::headers::MCP_SESSION_ID;
use mcp_session::{Body, EventId, ManualClock, SessionId, StreamId};
use serde_json::{json, Value};

use crate::support_http::{self as support, Frame, Req};
use rng::Rng;
pub use world::Place;
#[cfg(feature = "redis")]
pub use world::RedisPlace;
use world::{Ledger, Settings, World, WATCHED};

/// Why a seed failed, with the steps that led there.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub step: usize,
    pub message: String,
    pub trace: Vec<String>,
    /// Whether the seed ran over two replicas on Redis, which its reproducing command must say.
    pub over_redis: bool,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "simulation seed {} failed at step {}: {}", self.seed, self.step, self.message)?;
        if let Some(settings) = self.trace.first() {
            writeln!(f, "{settings}")?;
        }
        writeln!(f, "last steps:")?;
        let shown = if std::env::var_os("SIM_TRACE").is_some() { usize::MAX } else { 40 };
        for line in self.trace.iter().skip(1).rev().take(shown).rev() {
            writeln!(f, "  {line}")?;
        }
        // The command replays this very run: the same place, the same length and, when every
        // seed ran the plain mix, the plain mix (a seed's swarm mix is another run).
        let plain = if std::env::var_os("SIM_PLAIN").is_some() { "SIM_PLAIN=1 " } else { "" };
        let steps = std::env::var("SIM_STEPS").map(|k| format!("SIM_STEPS={k} ")).unwrap_or_default();
        let (seed, features) =
            if self.over_redis { ("MCP_REQUIRE_REDIS=1 SIM_REDIS_SEED", " --all-features") } else { ("SIM_SEED", "") };
        write!(
            f,
            "reproduce: {plain}{steps}{seed}={} cargo test --release{features} --test simulation -- --nocapture",
            self.seed
        )
    }
}

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

// After the macro, which it uses.
mod sessionless;

/// What one poll of an SSE body gave.
enum Pulled {
    Chunk,
    Ended,
    Pending,
}

/// Polls `body` once, appending the chunk it has ready, if any, to `buffer`.
fn pull(body: &mut Body, buffer: &mut String) -> Result<Pulled, String> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    match Pin::new(body).poll_next(&mut cx) {
        Poll::Ready(Some(chunk)) => {
            buffer.push_str(std::str::from_utf8(&chunk).map_err(|_| "an SSE chunk that is not UTF-8".to_owned())?);
            Ok(Pulled::Chunk)
        }
        Poll::Ready(None) => Ok(Pulled::Ended),
        Poll::Pending => Ok(Pulled::Pending),
    }
}

/// The next whole frame in `buffer`, cut from it.
fn next_frame(buffer: &mut String) -> Option<Frame> {
    let end = buffer.find("\n\n")?;
    let text: String = buffer.drain(..end + 2).collect();
    Some(Frame::parse(&text[..end]))
}

const TENANTS: [&str; 2] = ["a", "b"];
const VERSIONS: [&str; 3] = [support::V2025_03_26, support::V2025_06_18, support::V2025_11_25];

/// What a client knows of one stream of its session.
#[derive(Debug, Default)]
struct StreamState {
    /// Sequence numbers of the messages received, over every connection.
    received: BTreeSet<u64>,
    /// The last event id seen (messages, priming, heartbeats): where a resume starts.
    last_id: Option<String>,
    /// Events announced lost.
    lost: u64,
    /// Every connection so far continued exactly where the previous one stopped, so the
    /// received plus the lost must be everything published.
    followed: bool,
    /// Request stream: the calls of its POST.
    calls: Vec<i64>,
    resumes: u32,
    /// A resume said the stream is gone (its log dropped to make room).
    gone: bool,
}

#[derive(Debug)]
struct ClientCall {
    tool: &'static str,
    /// The replica its POST went to: its handler runs there.
    replica: usize,
    /// That replica died while it ran, after the client learnt its stream: resumed on another
    /// replica, the stream must still bring one answer (its result, or an error once the dead
    /// replica's lease ran out), or end without one if the call had been cancelled.
    orphaned: bool,
    /// Its response arrived (or it was refused, or can never be answered: see `abandoned`).
    answered: bool,
    /// Its process restarted while it ran: no answer will come, and its stream is not accounted.
    abandoned: bool,
}

#[derive(Debug)]
struct ClientSession {
    id: String,
    tenant: &'static str,
    version: &'static str,
    alive: bool,
    initialized: bool,
    streams: BTreeMap<u32, StreamState>,
    calls: BTreeMap<i64, ClientCall>,
    /// Ids reused while the client still waited for the first call's answer, which the engine
    /// ran anyway because the first call had ended meanwhile: their answers cannot be told apart.
    ambiguous: BTreeSet<i64>,
}

impl ClientSession {
    fn request(&self, message: &Value) -> Req {
        support::post(message).session(&self.id).version(self.version).owner(self.tenant, "u")
    }

    fn get(&self) -> Req {
        support::get().session(&self.id).version(self.version).owner(self.tenant, "u")
    }

    fn delete(&self) -> Req {
        support::delete().session(&self.id).version(self.version).owner(self.tenant, "u")
    }
}

#[derive(Debug)]
enum Kind {
    Initialize {
        tenant: &'static str,
        version: &'static str,
    },
    Call {
        session: usize,
        id: i64,
        duplicate: bool,
    },
    /// A GET: the standalone stream, or a resume of `(stream, from)` where `from` is the sequence
    /// number of the `Last-Event-ID` sent.
    Get {
        session: usize,
        resume: Option<(u32, u64)>,
    },
    Delete {
        session: usize,
    },
    Accepted {
        session: usize,
        /// The server request this answers, asked again if the answer is turned away.
        answers: Option<Value>,
    },
    /// A sessionless (2026-07-28) `tools/call`.
    Modern {
        id: i64,
        tool: &'static str,
    },
    /// A sessionless `subscriptions/listen`.
    Listen {
        id: i64,
    },
}

struct InFlight {
    future: Pin<Box<dyn Future<Output = Response<Body>>>>,
    kind: Kind,
    replica: usize,
}

struct Reader {
    session: usize,
    /// The replica serving this connection.
    replica: usize,
    stream: Option<u32>,
    body: Body,
    buffer: String,
    ended: bool,
    vanished: bool,
    /// The client connected to the same stream again since (on any replica): the server ends
    /// this connection, so that no message goes out on two.
    replaced: bool,
    /// Position on this connection: the last message's sequence number, or where it started.
    position: Option<u64>,
    lag: u64,
    /// A POST's stream: the calls it answers.
    calls: Vec<i64>,
    /// Losses announced before the first id named the stream.
    unnamed_lost: u64,
}

impl Reader {
    /// Whether this connection reads `stream` of session `s` (a plain GET's is the standalone
    /// stream even before its first id says so).
    fn reads(&self, s: usize, stream: u32) -> bool {
        self.session == s
            && (self.stream == Some(stream) || (self.stream.is_none() && self.calls.is_empty() && stream == 0))
    }
}

pub struct Sim {
    seed: u64,
    rng: Rng,
    world: Option<World>,
    ledger: Rc<Ledger>,
    clock: ManualClock,
    sessions: Vec<ClientSession>,
    inflight: Vec<InFlight>,
    readers: Vec<Reader>,
    next_id: i64,
    next_gate: u64,
    gates: Vec<u64>,
    questions: Vec<(usize, Value)>,
    step: usize,
    trace: Vec<String>,
    budget: usize,
    /// Counts everything observed (frames, responses): the final phase runs until it stops.
    observed: u64,
    /// Streams of sessionless calls and listens.
    modern_readers: Vec<sessionless::ModernReader>,
    /// Tool-list changes announced so far.
    announced: u64,
    /// Over Redis, a listen stream of the simulation's own on each replica: an announcement has
    /// reached a replica once its probe heard it.
    probes: Vec<sessionless::Probe>,
}

/// Runs one seed for `steps` steps, then the final checks.
pub fn run(seed: u64, steps: usize, place: Place) -> Result<(), Failure> {
    let mut rng = Rng::new(seed);
    let over_redis = !matches!(place, Place::Memory);
    let settings = Settings::draw(&mut rng, over_redis);
    let clock = crate::common::clock();
    let ledger = Rc::new(Ledger::default());
    let budget = settings.retained_bytes;
    let trace = vec![format!("settings {settings:?}")];
    let world = World::new(settings, seed, clock.clone(), ledger.clone(), place);
    let mut sim = Sim {
        seed,
        rng,
        world: Some(world),
        ledger,
        clock,
        sessions: Vec::new(),
        inflight: Vec::new(),
        readers: Vec::new(),
        next_id: 10,
        next_gate: 1,
        gates: Vec::new(),
        questions: Vec::new(),
        step: 0,
        trace,
        budget,
        observed: 0,
        modern_readers: Vec::new(),
        announced: 0,
        probes: Vec::new(),
    };
    let outcome = sim.open_probes().and_then(|()| sim.drive(steps)).and_then(|()| sim.finish());
    outcome.map_err(|message| Failure {
        seed,
        step: sim.step,
        message,
        trace: std::mem::take(&mut sim.trace),
        over_redis,
    })
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Initialize,
    Initialized,
    Call,
    Get,
    Resume,
    /// A client connects to a stream again while its connection to it is still open.
    Reconnect,
    Poll,
    Read,
    Vanish,
    Disconnect,
    DropRequest,
    Delete,
    Cancel,
    Answer,
    OpenGate,
    Tick,
    Jump,
    Timeout,
    Pump,
    Restart,
    Change,
    SetLevel,
    Subscribe,
    /// A DELETE sent while other requests of the session are in flight (another connection).
    RacingDelete,
    /// A client hangs up on a call whose answer is not chosen yet.
    DropCall,
    /// A sessionless client calls a tool.
    ModernCall,
    /// A sessionless client opens a listen stream.
    Listen,
    /// The server announces a tool-list change.
    Announce,
    /// A sessionless client reads its stream.
    ModernRead,
    /// A sessionless client stops reading its stream but holds it open.
    ModernVanish,
    /// A sessionless client closes its stream.
    ModernDrop,
    /// The store goes down, or comes back.
    Outage,
}

impl Sim {
    fn world(&self) -> &World {
        self.world.as_ref().expect("a world between restarts")
    }

    fn note(&mut self, text: String) {
        self.trace.push(format!("{:>4} {text}", self.step));
        if self.trace.len() > 400 {
            self.trace.drain(1..200);
        }
    }

    fn drive(&mut self, steps: usize) -> Check {
        use Action::*;
        let choices = [
            (6, Initialize),
            (3, Initialized),
            (14, Call),
            (5, Get),
            (8, Resume),
            (2, Reconnect),
            (14, Poll),
            (14, Read),
            (2, Vanish),
            (3, Disconnect),
            (1, DropRequest),
            (1, Delete),
            (2, Cancel),
            (3, Answer),
            (3, OpenGate),
            (3, Tick),
            (1, Jump),
            (3, Timeout),
            (6, Pump),
            (1, Restart),
            (2, Change),
            (1, SetLevel),
            (1, Subscribe),
            (2, RacingDelete),
            (3, DropCall),
            (4, ModernCall),
            (1, Listen),
            (2, Announce),
            (5, ModernRead),
            (1, ModernVanish),
            (1, ModernDrop),
            (1, Outage),
        ];
        let choices = self.swarm(choices);
        for step in 0..steps {
            self.step = step;
            let action = self.rng.weighted(&choices);
            self.act(action)?;
            let patience = self.world().settings.patience_per_mille;
            if patience > 0 && self.rng.chance(patience, 1000) {
                self.catch_up()?;
            }
            self.read_probes()?;
            self.check_budget()?;
        }
        Ok(())
    }

    /// Swarm testing (Groce et al., ISSTA 2012): most seeds leave some kinds of step out and
    /// take others three times as often, so a seed dwells on a few kinds (DELETEs racing GETs,
    /// hang-ups while the store answers, resumes of resumes) where the one fixed mix would
    /// dilute each of them with all the rest. That reaches rare interleavings far more often
    /// than more seeds of the same mix. A quarter of the seeds keep the plain mix, and the steps
    /// that make progress (new sessions, polls, reads) are never left out. `SIM_PLAIN=1` gives
    /// every seed the plain mix.
    fn swarm<const N: usize>(&mut self, mut choices: [(u64, Action); N]) -> [(u64, Action); N] {
        use Action::*;
        // Asked first, so that a plain run draws exactly what runs before the swarm drew.
        let plain = std::env::var_os("SIM_PLAIN").is_some() || self.rng.chance(1, 4);
        if plain {
            self.note("swarm: the plain mix".to_owned());
            return choices;
        }
        let (mut without, mut thrice) = (Vec::new(), Vec::new());
        for (weight, action) in &mut choices {
            let essential = matches!(action, Initialize | Poll | Read);
            match *self.rng.pick(&[0, 1, 1, 3]) {
                0 if !essential => {
                    *weight = 0;
                    without.push(*action);
                }
                3 => {
                    *weight *= 3;
                    thrice.push(*action);
                }
                _ => {}
            }
        }
        self.note(format!("swarm: without {without:?}, thrice {thrice:?}"));
        choices
    }

    /// A patient client's pause over Redis: waits (a few milliseconds at most) for the store's
    /// replies on their way, polling every request as they arrive.
    fn catch_up(&mut self) -> Check {
        let started = std::time::Instant::now();
        loop {
            self.poll_all()?;
            self.world().pump();
            if self.world().busy() == 0 || started.elapsed() > Duration::from_millis(4) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Polls every request in flight once; returns whether any completed.
    fn poll_all(&mut self) -> Result<bool, String> {
        let mut completed = false;
        let mut index = 0;
        while index < self.inflight.len() {
            let before = self.inflight.len();
            self.poll_request(index)?;
            if self.inflight.len() < before {
                completed = true;
            } else {
                index += 1;
            }
        }
        Ok(completed)
    }

    fn act(&mut self, action: Action) -> Check {
        match action {
            Action::Initialize => self.initialize(),
            Action::Initialized => {
                if let Some(s) = self.live_session(|s| !s.initialized) {
                    self.sessions[s].initialized = true;
                    let message = support::notification("notifications/initialized", None);
                    self.start(self.sessions[s].request(&message), Kind::Accepted { session: s, answers: None });
                }
            }
            Action::Call => self.call(),
            Action::Get => {
                if let Some(s) = self.live_session(|_| true) {
                    // One standalone request at a time, as a client does (a GET while one is
                    // open is fine: the engine refuses it with 409).
                    let asking = self.inflight.iter().any(|f| matches!(f.kind, Kind::Get { session, resume } if session == s && resume.is_none_or(|(n, _)| n == 0)));
                    if !asking {
                        self.start(self.sessions[s].get(), Kind::Get { session: s, resume: None });
                    }
                }
            }
            Action::Resume => self.resume_any(),
            Action::Reconnect => self.reconnect(),
            Action::Poll => {
                if !self.inflight.is_empty() {
                    let index = self.rng.index(self.inflight.len());
                    self.poll_request(index)?;
                }
            }
            Action::Read => {
                let reading: Vec<usize> = (0..self.readers.len()).filter(|&i| !self.readers[i].vanished).collect();
                if !reading.is_empty() {
                    let index = reading[self.rng.index(reading.len())];
                    let chunks = if self.rng.chance(1, 3) { 1 } else { usize::MAX };
                    self.read(index, chunks)?;
                }
            }
            Action::Vanish => {
                if !self.readers.is_empty() {
                    let index = self.rng.index(self.readers.len());
                    self.readers[index].vanished = true;
                    self.note(format!("reader {index} vanishes (held, never read)"));
                }
            }
            Action::Disconnect => {
                // A connection the client replaced is the server's to end.
                let open: Vec<usize> = (0..self.readers.len()).filter(|&i| !self.readers[i].replaced).collect();
                if !open.is_empty() {
                    let index = open[self.rng.index(open.len())];
                    self.readers.swap_remove(index);
                    self.note(format!("reader {index} disconnects"));
                }
            }
            Action::DropRequest => {
                if !self.inflight.is_empty() {
                    let index = self.rng.index(self.inflight.len());
                    let dropped = self.inflight.swap_remove(index);
                    self.note(format!("client hangs up before an answer: {:?}", dropped.kind));
                }
            }
            Action::Delete => {
                if let Some(s) = self.live_session(|_| true) {
                    self.start(self.sessions[s].delete(), Kind::Delete { session: s });
                }
            }
            Action::Cancel => self.cancel_one(),
            Action::Answer => self.answer_one(),
            Action::OpenGate => {
                if !self.gates.is_empty() {
                    let gate = self.gates.swap_remove(self.rng.index(self.gates.len()));
                    self.ledger.open_gate(gate);
                    self.note(format!("gate {gate} opens"));
                }
            }
            Action::Tick => {
                let by = Duration::from_millis(self.rng.range(100, 20_000));
                self.advance(by);
            }
            Action::Jump => {
                let by = self.world().settings.idle + Duration::from_secs(self.rng.range(0, 30));
                self.advance(by);
            }
            Action::Timeout => self.timeout()?,
            Action::Pump => {
                self.world().quiesce();
            }
            Action::Restart => self.restart(),
            Action::Outage => {
                let down = !self.world().outage();
                self.set_outage(down);
            }
            Action::Change => {
                if let Some(s) = self.live_session(|_| true) {
                    let id = self.fresh_id();
                    let call = support::tool_call(id, "change", json!({ "n": id }));
                    self.call_with(s, id, "change", call, false);
                }
            }
            Action::SetLevel => {
                if let Some(s) = self.live_session(|_| true) {
                    let level = *self.rng.pick(&["debug", "info", "error"]);
                    let id = self.fresh_id();
                    let message = support::request(id, "logging/setLevel", Some(json!({ "level": level })));
                    self.call_with(s, id, "setLevel", message, false);
                }
            }
            Action::RacingDelete => {
                let busy: Vec<usize> = self
                    .inflight
                    .iter()
                    .filter_map(|f| match f.kind {
                        Kind::Get { session, .. } | Kind::Call { session, .. } => Some(session),
                        _ => None,
                    })
                    .filter(|&s| self.sessions[s].alive)
                    .collect();
                if !busy.is_empty() {
                    let s = busy[self.rng.index(busy.len())];
                    self.start(self.sessions[s].delete(), Kind::Delete { session: s });
                }
            }
            Action::DropCall => {
                let calls: Vec<usize> =
                    (0..self.inflight.len()).filter(|&i| matches!(self.inflight[i].kind, Kind::Call { .. })).collect();
                if !calls.is_empty() {
                    // Let it start first, so that there is a handler to strand.
                    let index = calls[self.rng.index(calls.len())];
                    self.poll_request(index)?;
                    self.world().pump();
                    if let Some(position) = self.inflight.iter().position(|f| matches!(f.kind, Kind::Call { .. })) {
                        let dropped = self.inflight.swap_remove(position);
                        self.note(format!("client hangs up on a call: {:?}", dropped.kind));
                    }
                }
            }
            Action::ModernCall => self.modern_call(),
            Action::Listen => self.listen(),
            Action::Announce => self.announce()?,
            Action::ModernRead => {
                let reading: Vec<usize> =
                    (0..self.modern_readers.len()).filter(|&i| !self.modern_readers[i].vanished).collect();
                if !reading.is_empty() {
                    let index = reading[self.rng.index(reading.len())];
                    self.read_modern(index)?;
                }
            }
            Action::ModernVanish => {
                if !self.modern_readers.is_empty() {
                    let index = self.rng.index(self.modern_readers.len());
                    self.modern_readers[index].vanished = true;
                    self.note(format!("sessionless reader {:?} vanishes", self.modern_readers[index].reads));
                }
            }
            Action::ModernDrop => {
                if !self.modern_readers.is_empty() {
                    let reader = self.modern_readers.swap_remove(self.rng.index(self.modern_readers.len()));
                    self.note(format!("sessionless reader {:?} disconnects", reader.reads));
                    self.world().pump();
                }
            }
            Action::Subscribe => {
                if let Some(s) = self.live_session(|_| true) {
                    let id = self.fresh_id();
                    let message = support::request(id, "resources/subscribe", Some(json!({ "uri": WATCHED })));
                    self.call_with(s, id, "subscribe", message, false);
                }
            }
        }
        Ok(())
    }

    fn fresh_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn live_session(&mut self, filter: impl Fn(&ClientSession) -> bool) -> Option<usize> {
        let candidates: Vec<usize> =
            (0..self.sessions.len()).filter(|&i| self.sessions[i].alive && filter(&self.sessions[i])).collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.index(candidates.len())])
    }

    /// Sends a request to a replica (any, as a load balancer picks); returns which.
    fn start(&mut self, request: Req, kind: Kind) -> usize {
        let replicas = self.world().replicas.len();
        let replica = if replicas > 1 { self.rng.index(replicas) } else { 0 };
        self.note(if replicas > 1 { format!("send {kind:?} to replica {replica}") } else { format!("send {kind:?}") });
        let engine = self.world().replicas[replica].engine.clone();
        let request = request.build();
        let future = Box::pin(async move { engine.handle(request).await });
        self.inflight.push(InFlight { future, kind, replica });
        replica
    }

    fn initialize(&mut self) {
        let tenant = *self.rng.pick(&TENANTS);
        let version = *self.rng.pick(&VERSIONS);
        let message = support::initialize(1, version, json!({ "elicitation": {} }));
        self.start(support::post(&message).owner(tenant, "u"), Kind::Initialize { tenant, version });
    }

    fn call(&mut self) {
        let Some(s) = self.live_session(|_| true) else { return };
        let capacity = self.world().settings.capacity as u64;
        let tool = *self.rng.pick(&["echo", "flood", "flood", "gated", "ask", "until_cancelled", "notify_session"]);
        // Now and then reuse the id of a call still running: the engine must refuse it alone.
        let running: Vec<i64> = self.sessions[s].calls.iter().filter(|(_, c)| !c.answered).map(|(&id, _)| id).collect();
        let duplicate = !running.is_empty() && self.rng.chance(1, 12);
        let id = if duplicate { running[self.rng.index(running.len())] } else { self.fresh_id() };
        let count = self.rng.range(0, 2 * capacity + 4);
        let arguments = match tool {
            "gated" => {
                let gate = self.next_gate;
                self.next_gate += 1;
                self.gates.push(gate);
                json!({ "gate": gate, "count": count })
            }
            "notify_session" => json!({ "n": id }),
            _ => json!({ "count": count }),
        };
        let message = support::tool_call(id, tool, arguments);
        self.call_with(s, id, tool, message, duplicate);
    }

    fn call_with(&mut self, s: usize, id: i64, tool: &'static str, message: Value, duplicate: bool) {
        self.note(format!("call {id} is {tool} {}", message["params"]["arguments"]));
        let replica = self.start(self.sessions[s].request(&message), Kind::Call { session: s, id, duplicate });
        if !duplicate {
            let call = ClientCall { tool, replica, orphaned: false, answered: false, abandoned: false };
            self.sessions[s].calls.insert(id, call);
        }
    }

    /// A client resumes a stream it saw end without its call's answer, or a dropped GET.
    fn resume_any(&mut self) {
        let mut candidates = Vec::new();
        for (s, session) in self.sessions.iter().enumerate() {
            if !session.alive {
                continue;
            }
            for (&stream, state) in &session.streams {
                let asking = self.inflight.iter().any(|f| match f.kind {
                    Kind::Get { session, resume: Some((r, _)) } => session == s && r == stream,
                    Kind::Get { session, resume: None } => session == s && stream == 0,
                    _ => false,
                });
                if asking {
                    continue; // one request per stream at a time, as a client does
                }
                let open = self.readers.iter().any(|r| r.session == s && r.stream == Some(stream) && !r.ended);
                let pending = state.calls.iter().any(|id| session.calls.get(id).is_some_and(|c| !c.answered));
                if state.last_id.is_some()
                    && !state.gone
                    && (stream == 0 || pending)
                    && (!open || self.rng.chance(1, 4))
                {
                    candidates.push((s, stream));
                }
            }
        }
        if candidates.is_empty() {
            return;
        }
        let (s, stream) = candidates[self.rng.index(candidates.len())];
        self.resume(s, stream);
    }

    /// The client reconnects to a stream it reads while that connection is still open (it
    /// took it for lost: a half-open connection), on any replica.
    fn reconnect(&mut self) {
        let candidates: Vec<(usize, u32)> = self
            .readers
            .iter()
            .filter(|r| !r.vanished && !r.ended && self.sessions[r.session].alive)
            .filter_map(|r| Some((r.session, r.stream?)))
            .filter(|&(s, stream)| {
                let asking = self.inflight.iter().any(|f| matches!(f.kind, Kind::Get { session, .. } if session == s));
                let known = self.sessions[s].streams.get(&stream);
                !asking && known.is_some_and(|state| state.last_id.is_some() && !state.gone)
            })
            .collect();
        if !candidates.is_empty() {
            let (s, stream) = candidates[self.rng.index(candidates.len())];
            self.resume_keeping(s, stream, true);
        }
    }

    fn resume(&mut self, s: usize, stream: u32) {
        // A client resumes a stream it stopped reading: its old connection is gone, or (worse for
        // the server) held open and never read again.
        let keep_old = self.rng.chance(1, 2);
        self.resume_keeping(s, stream, keep_old);
    }

    /// Resumes a stream; `keep_old`: the client leaves its old connection to it open, unread.
    fn resume_keeping(&mut self, s: usize, stream: u32, keep_old: bool) {
        let state = self.sessions[s].streams.get_mut(&stream).expect("known stream");
        state.resumes += 1;
        let last = state.last_id.clone().expect("a stream with an id");
        let from = last.parse::<EventId>().expect("ids we recorded parse").seq();
        for reader in self.readers.iter_mut().filter(|r| r.reads(s, stream)) {
            reader.vanished = true;
        }
        if !keep_old {
            self.readers.retain(|r| !r.reads(s, stream));
        }
        let request = self.sessions[s].get().last_event_id(&last);
        self.start(request, Kind::Get { session: s, resume: Some((stream, from)) });
    }

    fn cancel_one(&mut self) {
        let Some(s) = self.live_session(|s| s.calls.values().any(|c| !c.answered)) else { return };
        let running: Vec<i64> = self.sessions[s].calls.iter().filter(|(_, c)| !c.answered).map(|(&id, _)| id).collect();
        let id = running[self.rng.index(running.len())];
        let message = support::notification("notifications/cancelled", Some(json!({ "requestId": id })));
        self.start(self.sessions[s].request(&message), Kind::Accepted { session: s, answers: None });
    }

    fn answer_one(&mut self) {
        if self.questions.is_empty() {
            return;
        }
        let (s, id) = self.questions.swap_remove(self.rng.index(self.questions.len()));
        if !self.sessions[s].alive {
            return;
        }
        let answer = json!({ "jsonrpc": "2.0", "id": id, "result": { "action": "accept", "content": {} } });
        self.start(self.sessions[s].request(&answer), Kind::Accepted { session: s, answers: Some(id) });
    }

    fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        // The replicas alive kept renewing their leases while the time passed.
        self.world().renew_leases();
        self.note(format!("clock +{by:?}"));
    }

    /// Every replica's timers run (and, over Redis, its lease tending).
    fn timeout(&mut self) -> Check {
        for replica in 0..self.world().replicas.len() {
            self.timeout_on(replica)?;
        }
        let ended = self.world().tend();
        if ended > 0 {
            self.note(format!("leases tended: {ended} requests of dead replicas ended with an error"));
        }
        Ok(())
    }

    fn timeout_on(&mut self, replica: usize) -> Check {
        self.note(format!("handle_timeout on replica {replica}"));
        let state = self.world().replicas[replica].state.clone();
        let mut timeout = pin!(state.handle_timeout());
        // Timers run on the host's executor: let the store's yields be answered.
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..self.patience() {
            if timeout.as_mut().poll(&mut cx).is_ready() {
                return Ok(());
            }
            self.world().pump();
            self.world().breathe();
            // A request parked in the store may hold what the timers wait for.
            let mut index = 0;
            while index < self.inflight.len() {
                let before = self.inflight.len();
                self.poll_request(index)?;
                if self.inflight.len() == before {
                    index += 1;
                }
            }
        }
        Err("handle_timeout never completes".into())
    }

    /// How many rounds a wait for the engine may take: in memory a poll that makes no progress
    /// never will; over Redis a round is a short real wait for a reply.
    fn patience(&self) -> usize {
        if self.world().is_shared() {
            100_000
        } else {
            1000
        }
    }

    fn set_outage(&mut self, down: bool) {
        if self.world().set_outage(down) {
            self.note(if down { "store down".into() } else { "store back".into() });
        }
    }

    fn restart(&mut self) {
        if self.world().is_shared() {
            return self.restart_replica();
        }
        self.note("process restart over the same storage".into());
        self.inflight.clear();
        self.readers.clear();
        self.modern_readers.clear();
        self.questions.clear();
        let seed = self.seed.wrapping_add(self.step as u64);
        let world = self.world.take().expect("a world").restart(seed);
        self.world = Some(world);
        for session in &mut self.sessions {
            for state in session.streams.values_mut() {
                state.resumes = 0;
            }
            // The calls running in the old process are gone; their answers never come.
            for call in session.calls.values_mut().filter(|c| !c.answered) {
                call.answered = true;
                call.abandoned = true;
            }
        }
    }

    /// One replica over Redis dies mid-flight and a new process takes its place; the other
    /// serves on. Its connections go; a call it ran whose stream the client knows is orphaned
    /// (resumed elsewhere, it must still bring one answer), any other is abandoned.
    fn restart_replica(&mut self) {
        let dead = self.rng.index(self.world().replicas.len());
        self.note(format!("replica {dead} dies; a new process takes its place"));
        let node = self.world().node(dead);
        self.inflight.retain(|f| f.replica != dead);
        self.readers.retain(|r| r.replica != dead);
        self.modern_readers.retain(|r| r.replica != dead);
        if let Some(node) = node {
            // Questions of its handlers: nobody waits for their answers any more.
            let asked_there = format!("{node}.");
            self.questions.retain(|(_, id)| !id.as_str().is_some_and(|id| id.starts_with(&asked_there)));
        }
        for session in &mut self.sessions {
            for state in session.streams.values_mut() {
                state.resumes = 0;
            }
            let known: BTreeSet<i64> = session
                .streams
                .values()
                .filter(|st| st.last_id.is_some() && !st.gone)
                .flat_map(|st| st.calls.iter().copied())
                .collect();
            for (id, call) in session.calls.iter_mut().filter(|(_, c)| c.replica == dead && !c.answered) {
                if known.contains(id) {
                    call.orphaned = true;
                } else {
                    call.answered = true;
                    call.abandoned = true;
                }
            }
        }
        let seed = self.seed.wrapping_add(self.step as u64) ^ 0xdead;
        self.world.as_mut().expect("a world").restart_replica(dead, seed);
        if let Err(error) = self.open_probe(dead) {
            self.note(format!("the new replica's probe: {error}"));
        }
    }

    fn check_budget(&self) -> Check {
        let retained: usize = self.world().occupancy().iter().map(|o| o.sessions.retained_bytes).sum();
        ensure!(retained <= self.budget, "retained {retained} bytes, over the budget of {}", self.budget);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Responses

    fn poll_request(&mut self, index: usize) -> Check {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let polled = self.inflight[index].future.as_mut().poll(&mut cx);
        if let Poll::Ready(response) = polled {
            let done = self.inflight.swap_remove(index);
            self.on_response(done.kind, done.replica, response)?;
        }
        Ok(())
    }

    fn on_response(&mut self, kind: Kind, replica: usize, response: Response<Body>) -> Check {
        self.observed += 1;
        let status = response.status();
        self.note(format!("answer {status} to {kind:?}"));
        if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            ensure!(response.headers().contains_key(http::header::RETRY_AFTER), "{status} without Retry-After");
        }
        match kind {
            Kind::Initialize { tenant, version } => {
                if status == StatusCode::OK {
                    let id = response.headers().get(MCP_SESSION_ID).expect("a session id").to_str().unwrap().to_owned();
                    ensure!(!self.sessions.iter().any(|s| s.id == id), "session id {id} issued twice");
                    self.sessions.push(ClientSession {
                        id,
                        tenant,
                        version,
                        alive: true,
                        initialized: false,
                        streams: BTreeMap::new(),
                        calls: BTreeMap::new(),
                        ambiguous: BTreeSet::new(),
                    });
                    drop(response); // its body (JSON or a one-event stream) carries nothing we track
                } else {
                    // 404: the new session expired before its SSE reply could open (a request stalled in
                    // the store past the initialization timeout).
                    ensure!(
                        matches!(
                            status,
                            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS | StatusCode::NOT_FOUND
                        ),
                        "initialize answered {status}"
                    );
                }
            }
            Kind::Call { session, id, duplicate } => {
                self.on_call_response(session, id, duplicate, replica, response)?;
            }
            Kind::Get { session, resume } => match status {
                StatusCode::OK => {
                    // A client reads a stream on its newest connection only (a plain GET is the
                    // standalone's); the server ends the one this replaces.
                    let stream = resume.map_or(0, |(stream, _)| stream);
                    for reader in self.readers.iter_mut().filter(|r| r.reads(session, stream)) {
                        reader.vanished = true;
                        reader.replaced = true;
                    }
                    self.open_reader(session, resume, replica, response);
                    // One this replica held ended as the new one attached; one another replica
                    // holds ends once the bus tells it (checked at the end of the run), and so
                    // does one of another stream here that a reconnect elsewhere replaced.
                    self.drain_replaced(Some(replica))?;
                    let open = self
                        .readers
                        .iter()
                        .filter(|r| r.replaced && r.replica == replica && r.reads(session, stream))
                        .count();
                    ensure!(
                        open == 0,
                        "{open} connections to stream {stream} of session {session} outlived a reconnect"
                    );
                }
                StatusCode::NOT_FOUND => self.session_ended(session),
                StatusCode::CONFLICT => ensure!(resume.is_none(), "a resume was refused as a second GET"),
                StatusCode::SERVICE_UNAVAILABLE => {
                    // Refused in an outage, the resume did not happen: it does not count towards
                    // the client's limit, or the final phase would give up on a stream it never
                    // got to read once the store was back.
                    if let Some((stream, _)) = resume {
                        if let Some(state) = self.sessions[session].streams.get_mut(&stream) {
                            state.resumes = state.resumes.saturating_sub(1);
                        }
                    }
                }
                StatusCode::BAD_REQUEST => {
                    // The stream's log was dropped to make room for newer ones.
                    let (stream, _) = resume.ok_or("a plain GET got 400")?;
                    if let Some(state) = self.sessions[session].streams.get_mut(&stream) {
                        state.gone = true;
                    }
                }
                other => return Err(format!("GET answered {other}")),
            },
            Kind::Delete { session } => {
                ensure!(
                    matches!(status, StatusCode::OK | StatusCode::NOT_FOUND | StatusCode::SERVICE_UNAVAILABLE),
                    "DELETE answered {status}"
                );
                // A store that is down ends nothing: the session lives on.
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    self.session_ended(session);
                }
            }
            Kind::Modern { .. } | Kind::Listen { .. } => self.on_modern_response(&kind, replica, response)?,
            Kind::Accepted { session, answers } => match status {
                StatusCode::ACCEPTED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    // Turned away whole: the handler still waits, so the client answers again.
                    if let Some(id) = answers {
                        self.questions.push((session, id));
                    }
                }
                StatusCode::NOT_FOUND => self.session_ended(session),
                other => return Err(format!("a notification or answer got {other}")),
            },
        }
        Ok(())
    }

    fn session_ended(&mut self, s: usize) {
        if self.sessions[s].alive {
            self.note(format!("session {s} ended"));
        }
        self.sessions[s].alive = false;
        self.questions.retain(|(q, _)| *q != s);
    }

    fn on_call_response(
        &mut self,
        s: usize,
        id: i64,
        duplicate: bool,
        replica: usize,
        response: Response<Body>,
    ) -> Check {
        let status = response.status();
        if duplicate && status != StatusCode::OK {
            // A second request with a running call's id was turned away whole: the first runs on.
            ensure!(
                matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::NOT_FOUND
                        | StatusCode::ACCEPTED
                        | StatusCode::SERVICE_UNAVAILABLE
                ),
                "a duplicate id answered {status}"
            );
            if status == StatusCode::NOT_FOUND {
                self.session_ended(s);
            }
            return Ok(());
        }
        match status {
            StatusCode::OK => {}
            StatusCode::ACCEPTED => {
                // A JSON reply chosen for a call the client cancelled: no response, as specified.
                self.mark_answered(s, id);
                return Ok(());
            }
            StatusCode::NOT_FOUND => {
                self.mark_answered(s, id);
                self.session_ended(s);
                return Ok(());
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                self.mark_answered(s, id);
                return Ok(());
            }
            other => return Err(format!("call {id} answered {other}")),
        }
        let sse = response.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v == "text/event-stream");
        if !sse {
            let bytes = support::body_bytes(response.into_body());
            let message: Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("a JSON reply that is not JSON: {e}"))?;
            let refused = message["error"]["code"] == json!(-32600);
            if duplicate && !refused {
                // The first call ended before this one was looked at: not a duplicate after all.
                self.sessions[s].ambiguous.insert(id);
            }
            if !(duplicate && refused) {
                self.on_result(s, &message)?;
            }
            return Ok(());
        }
        if duplicate {
            self.sessions[s].ambiguous.insert(id);
        }
        self.open_reader(s, None, replica, response);
        // The POST's stream was attached before anything was sent on it: it starts at 0. Its
        // first id names it.
        let reader = self.readers.last_mut().expect("just opened");
        reader.position = Some(0);
        reader.calls = vec![id];
        Ok(())
    }

    fn mark_answered(&mut self, s: usize, id: i64) {
        if let Some(call) = self.sessions[s].calls.get_mut(&id) {
            call.answered = true;
        }
    }

    /// A response to one of the client's calls.
    fn on_result(&mut self, s: usize, message: &Value) -> Check {
        let id = message["id"].as_i64().ok_or_else(|| format!("a response without a usable id: {message}"))?;
        let ambiguous = self.sessions[s].ambiguous.contains(&id);
        let call =
            self.sessions[s].calls.get_mut(&id).ok_or_else(|| format!("a response to unknown call {id}: {message}"))?;
        ensure!(!call.answered || ambiguous, "call {id} ({}) answered twice: {message}", call.tool);
        call.answered = true;
        if let Some(error) = message.get("error") {
            // Refusals the engine may give a call: too many running (a race with the cap).
            ensure!(error["code"] == json!(-32600) || error["code"] == json!(-32603), "call {id} failed: {message}");
        }
        Ok(())
    }

    fn open_reader(&mut self, session: usize, resume: Option<(u32, u64)>, replica: usize, response: Response<Body>) {
        let body = response.into_body();
        self.readers.push(Reader {
            session,
            replica,
            stream: resume.map(|(stream, _)| stream),
            body,
            buffer: String::new(),
            ended: false,
            vanished: false,
            replaced: false,
            position: resume.map(|(_, from)| from),
            lag: 0,
            calls: Vec::new(),
            unnamed_lost: 0,
        });
    }

    // -----------------------------------------------------------------------------------------
    // Reading streams

    /// Reads up to `chunks` chunks of a reader's body and checks every frame in them.
    fn read(&mut self, index: usize, chunks: usize) -> Check {
        let mut read = 0;
        while read < chunks && !self.readers[index].ended {
            let reader = &mut self.readers[index];
            match pull(&mut reader.body, &mut reader.buffer)? {
                Pulled::Chunk => read += 1,
                Pulled::Ended => reader.ended = true,
                Pulled::Pending => break,
            }
        }
        while let Some(frame) = next_frame(&mut self.readers[index].buffer) {
            self.on_frame(index, frame)?;
        }
        if self.readers[index].ended {
            ensure!(self.readers[index].buffer.is_empty(), "a stream ended inside a frame");
            let reader = self.readers.swap_remove(index);
            self.note(format!("reader of session {} stream {:?} ended", reader.session, reader.stream));
        }
        Ok(())
    }

    fn on_frame(&mut self, index: usize, frame: Frame) -> Check {
        self.observed += 1;
        let s = self.readers[index].session;
        if std::env::var_os("SIM_FRAMES").is_some() {
            let reader = &self.readers[index];
            self.note(format!("frame on session {s} stream {:?} at {:?}: {frame:?}", reader.stream, reader.position));
        }
        let id = match &frame.id {
            Some(text) => Some(text.parse::<EventId>().map_err(|_| format!("an unparsable event id {text:?}"))?),
            None => None,
        };
        if let Some(id) = id {
            self.name_stream(index, id.stream().number())?;
            let stream = self.readers[index].stream.expect("named above");
            let state = self.sessions[s].streams.get_mut(&stream).expect("named above");
            state.last_id = frame.id.clone();
        }
        let reader = &mut self.readers[index];
        if frame.event.as_deref() == Some("lagged") {
            let dropped = serde_json::from_str::<Value>(&frame.data).ok().and_then(|v| v["dropped"].as_u64());
            let dropped = dropped.ok_or_else(|| format!("a lagged notice without a count: {frame:?}"))?;
            ensure!(dropped > 0, "a lagged notice of nothing");
            reader.lag += dropped;
            match reader.stream {
                Some(stream) => self.sessions[s].streams.get_mut(&stream).expect("named").lost += dropped,
                None => reader.unnamed_lost += dropped,
            }
            return Ok(());
        }
        ensure!(frame.event.is_none(), "an unexpected event type {frame:?}");
        let Some(id) = id else { return Err(format!("a session stream frame without an id: {frame:?}")) };
        if frame.data.is_empty() {
            // Priming or heartbeat: a resume point at the last message.
            ensure!(id.is_marker(), "an empty frame with a message id: {frame:?}");
            if reader.position.is_none() {
                // The connection's first position: losses announced before it lie at or before
                // it (a plain GET that starts after events its log no longer holds).
                reader.position = Some(id.seq());
                reader.lag = 0;
            }
            ensure!(
                reader.position == Some(id.seq()) && reader.lag == 0 || reader.lag > 0,
                "a marker at {} where the connection stands at {:?}",
                id.seq(),
                reader.position
            );
            return Ok(());
        }
        ensure!(!id.is_marker(), "a message with a marker id: {frame:?}");
        let seq = id.seq();
        if let Some(position) = reader.position {
            ensure!(
                seq == position + reader.lag + 1,
                "message {seq} of stream {} follows {position} with {} announced lost",
                id.stream(),
                reader.lag
            );
        }
        reader.position = Some(seq);
        reader.lag = 0;
        let stream = id.stream().number();
        let state = self.sessions[s].streams.get_mut(&stream).expect("named");
        ensure!(state.received.insert(seq), "message {seq} of stream {stream} of session {s} delivered twice");
        let message: Value =
            serde_json::from_str(&frame.data).map_err(|e| format!("a message that is not JSON ({e}): {frame:?}"))?;
        self.on_message(s, stream, &message)
    }

    /// Names a reader's stream on its first id, and checks later ids are of the same stream.
    fn name_stream(&mut self, index: usize, number: u32) -> Check {
        let reader = &mut self.readers[index];
        let s = reader.session;
        match reader.stream {
            Some(known) => ensure!(known == number, "stream {number}'s event on a connection to stream {known}"),
            None => {
                reader.stream = Some(number);
                let posted = !reader.calls.is_empty();
                let calls = reader.calls.clone();
                let lost = std::mem::take(&mut reader.unnamed_lost);
                let session = &mut self.sessions[s];
                if posted {
                    ensure!(number != 0, "a POST answered on the standalone stream");
                    ensure!(!session.streams.contains_key(&number), "a POST answered on old stream {number}");
                    session
                        .streams
                        .insert(number, StreamState { followed: true, calls, lost, ..StreamState::default() });
                } else {
                    ensure!(number == 0, "a GET without Last-Event-ID answered on stream {number}");
                    session.streams.entry(0).or_default().lost += lost;
                }
            }
        }
        Ok(())
    }

    fn on_message(&mut self, s: usize, stream: u32, message: &Value) -> Check {
        let session = &self.sessions[s];
        if let Some(method) = message["method"].as_str() {
            if message.get("id").is_some() {
                ensure!(method == "elicitation/create" && stream != 0, "a server request {method} on stream {stream}");
                self.questions.push((s, message["id"].clone()));
                return Ok(());
            }
            match method {
                "notifications/message" => {
                    let params = &message["params"];
                    if params["logger"] == json!("changes") {
                        let reason = params["details"]["reason"].as_str().unwrap_or_default();
                        ensure!(stream == 0, "a change on stream {stream}");
                        ensure!(
                            reason.starts_with(&format!("{}/c/", session.tenant)),
                            "tenant {}'s session got {reason}",
                            session.tenant
                        );
                        return Ok(());
                    }
                    let tag = params["data"].as_str().ok_or_else(|| format!("an untagged message: {message}"))?;
                    let mut parts = tag.split('/');
                    let (owner, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                    ensure!(owner == session.id, "session {}'s stream {stream} got {tag}", session.id);
                    if kind == "s" {
                        ensure!(stream == 0, "a session notification on stream {stream}");
                    } else {
                        let call: i64 = kind.parse().map_err(|_| format!("a bad tag {tag}"))?;
                        let calls = &session.streams[&stream].calls;
                        ensure!(calls.contains(&call), "call {call}'s message on stream {stream} of calls {calls:?}");
                    }
                }
                "notifications/resources/updated" => ensure!(stream == 0, "a resource update on stream {stream}"),
                // Announced to every session live in the process, on its GET stream.
                "notifications/tools/list_changed" => ensure!(stream == 0, "a list change on stream {stream}"),
                other => return Err(format!("unexpected notification {other}")),
            }
            return Ok(());
        }
        ensure!(stream != 0, "a response on the standalone stream: {message}");
        let id = message["id"].as_i64().unwrap_or(-1);
        let calls = &self.sessions[s].streams[&stream].calls;
        ensure!(calls.contains(&id), "a response to call {id} on the stream of calls {calls:?}");
        self.on_result(s, message)
    }

    // -----------------------------------------------------------------------------------------
    // The end

    /// Reads the connections the client replaced (on `replica`, or all) without looking at
    /// what they carry, and forgets those that ended.
    fn drain_replaced(&mut self, replica: Option<usize>) -> Check {
        let mut index = 0;
        while index < self.readers.len() {
            let reader = &mut self.readers[index];
            let ended = reader.replaced
                && replica.is_none_or(|r| r == reader.replica)
                && loop {
                    match pull(&mut reader.body, &mut reader.buffer)? {
                        Pulled::Chunk => reader.buffer.clear(),
                        Pulled::Ended => break true,
                        Pulled::Pending => break false,
                    }
                };
            if ended {
                self.readers.swap_remove(index);
            } else {
                index += 1;
            }
        }
        Ok(())
    }

    /// Every connection the client replaced by connecting to its stream again has ended: the
    /// replica holding it ended it (over Redis, once the bus told it). What it still carried
    /// is not read: the client reads the stream on its newest connection.
    fn check_replaced_ended(&mut self) -> Check {
        let shared = self.world().is_shared();
        for _ in 0..if shared { 400 } else { 3 } {
            self.drain_replaced(None)?;
            if !self.readers.iter().any(|r| r.replaced) {
                return Ok(());
            }
            if shared {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.settle()?;
        }
        let open: Vec<String> = self
            .readers
            .iter()
            .filter(|r| r.replaced)
            .map(|r| format!("session {} stream {:?} on replica {}", r.session, r.stream, r.replica))
            .collect();
        Err(format!("connections the client replaced are still open: {open:?}"))
    }

    /// Settles the run as a patient client would, then checks the engine's books.
    fn finish(&mut self) -> Check {
        self.step += 1;
        self.set_outage(false);
        self.check_replaced_ended()?;
        self.note("final: vanished readers go, gates open, questions answered, waits cancelled".into());
        self.readers.retain(|r| !r.vanished);
        for gate in std::mem::take(&mut self.gates) {
            self.ledger.open_gate(gate);
        }
        if self.world().is_shared() {
            // The leases of replicas that died run out (the live ones renew theirs).
            self.advance(Duration::from_secs(16));
        }
        for _round in 0..60 {
            let before = (self.observed, self.questions.len());
            while !self.questions.is_empty() {
                self.answer_one();
            }
            self.cancel_waiting();
            self.settle()?;
            // Streams of dead replicas resumed on a live one end with an error per request.
            if self.world().tend() > 0 {
                self.note("leases tended: streams of dead replicas ended".into());
                self.world().quiesce();
            }
            for index in (0..self.readers.len()).rev() {
                if !self.readers[index].vanished {
                    self.read(index, usize::MAX)?;
                }
            }
            self.resume_unanswered();
            if self.inflight.is_empty() && !self.world().quiesce() && (self.observed, self.questions.len()) == before {
                break;
            }
        }
        self.finish_modern()?;
        self.check_handlers("after the client read everything it could")?;
        self.check_orphans()?;
        self.check_accounts()?;

        // Nothing holds a session once the client hangs up and no call runs, so every session
        // idles out within its idle timeout, whatever held it before: a replica that died
        // holding one included, whose hold ends with its lease (at the latest when the finish
        // began, when the leases of dead replicas had run out).
        self.note("final: the client hangs up; every session idles out".into());
        self.readers.clear();
        self.world().quiesce();
        // What may still hold a session: a call that runs on (waiting for its cancellation, say,
        // in a session the client gave up on; over Redis, also one whose id the client reused
        // on the other replica while it ran, which the ledger cannot tell from the first).
        let calls = |sim: &Self| sim.world().occupancy().iter().map(|o| o.calls).sum::<usize>();
        let running = |sim: &Self| {
            let calls = sim.ledger.calls.borrow();
            calls.iter().filter(|(_, c)| !c.ended).map(|(key, _)| key.0.clone()).collect::<BTreeSet<String>>().len()
        };
        // Over Redis a reader's detach or a call's end may be a store reply or a bus hop away.
        let subscribers = |sim: &Self| sim.world().occupancy().iter().map(|o| o.sessions.subscribers).sum::<usize>();
        for _ in 0..if self.world().is_shared() { 400 } else { 0 } {
            if subscribers(self) == 0 && calls(self) <= running(self) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            self.settle()?;
        }
        let left = subscribers(self);
        ensure!(
            left == 0,
            "{left} subscribers still attached after the client hung up: {:?}",
            self.world().occupancy()
        );
        let held = running(self).max(calls(self));
        self.timeout()?;
        self.advance(self.world().settings.idle + Duration::from_secs(1));
        self.timeout()?;
        self.settle()?;
        let kept = self.world().stored_sessions();
        ensure!(
            kept <= held,
            "{kept} sessions outlived their idle timeout, {held} held by a running call; held here: {:?}; {:?}",
            (0..self.sessions.len())
                .filter(|&s| self.world().holds_anything_of(self.sessions[s].id.parse().expect("issued ids parse")))
                .collect::<Vec<_>>(),
            self.world().occupancy()
        );

        self.note("final: every session deleted".into());
        for s in 0..self.sessions.len() {
            if self.sessions[s].alive {
                self.start(self.sessions[s].delete(), Kind::Delete { session: s });
            }
        }
        self.settle()?;
        self.readers.clear();
        self.world().quiesce();
        // Sessions whose `initialize` answer the client never read are unknown to it: they go
        // when they expire.
        let absolute = self.world().settings.idle * 20;
        self.advance(absolute);
        self.timeout()?;
        self.settle()?;
        self.world().quiesce();
        let pending: Vec<&Kind> = self.inflight.iter().map(|f| &f.kind).collect();
        ensure!(pending.is_empty(), "requests that never complete: {pending:?}");
        self.check_handlers("after every session was deleted")?;
        // Over Redis, another replica hears that a session ended one bus hop later.
        let mut left = self.nothing_left();
        for _ in 0..if self.world().is_shared() { 400 } else { 0 } {
            if left.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            self.world().quiesce();
            left = self.nothing_left();
        }
        left
    }

    /// Nothing of any session is left anywhere: in any replica, or in the store.
    fn nothing_left(&self) -> Check {
        let holding: Vec<usize> = (0..self.sessions.len())
            .filter(|&s| self.world().holds_anything_of(self.sessions[s].id.parse().expect("issued ids parse")))
            .collect();
        let left = self.world().leftover_keys();
        ensure!(left.is_empty(), "keys of ended sessions left in Redis: {left:?}");
        // A shared store's count is the one it last saw (another replica may have ended them
        // since): the keys above are the truth there.
        let shared = self.world().is_shared();
        for (replica, occupancy) in self.world().occupancy().into_iter().enumerate() {
            let census = occupancy.sessions;
            ensure!(
                (census.sessions == 0 || shared)
                    && census.live_sessions == 0
                    && census.live_streams == 0
                    && census.subscribers == 0,
                "left on replica {replica} after every session ended: {occupancy:?}, of sessions {holding:?}"
            );
            ensure!(
                census.activity == 0 && census.heartbeats == 0,
                "left on replica {replica} after every session ended: {occupancy:?}"
            );
            ensure!(census.retained_bytes == 0, "retained bytes left on replica {replica}: {occupancy:?}");
            ensure!(
                occupancy.calls == 0 && occupancy.awaiting_clients == 0,
                "requests left on replica {replica}: {occupancy:?}"
            );
            ensure!(
                occupancy.watches == 0 && occupancy.watched_uris == 0,
                "watches left on replica {replica}: {occupancy:?}, by sessions {holding:?}"
            );
        }
        for session in &self.sessions {
            let id: SessionId = session.id.parse().expect("issued ids parse");
            ensure!(!self.world().holds_anything_of(id), "something of ended session {} is left", session.id);
        }
        Ok(())
    }

    /// No client is left waiting for a replica that died: every call it ran whose stream the
    /// client could resume elsewhere was answered (by its result if the dead replica had logged
    /// it, or by one error once its lease ran out), or its stream ended without an answer (the
    /// call had been cancelled). Twice is caught as it arrives.
    fn check_orphans(&self) -> Check {
        for (s, session) in self.sessions.iter().enumerate().filter(|(_, s)| s.alive) {
            let id: SessionId = session.id.parse().expect("issued ids parse");
            for (call_id, call) in session.calls.iter().filter(|(_, c)| c.orphaned && !c.answered) {
                let stream = session.streams.iter().find(|(_, st)| st.calls.contains(call_id));
                let Some((&number, state)) = stream else { continue };
                if state.gone {
                    continue;
                }
                let ended = self.world().replay(id, StreamId::new(number)).is_none_or(|replay| replay.finished);
                ensure!(
                    ended,
                    "call {call_id} ({}) of session {s} was running on a replica that died; resumed {} times on stream {number}, it was never answered nor its stream ended",
                    call.tool,
                    state.resumes
                );
            }
        }
        Ok(())
    }

    /// Cancels every call still running that waits for the client: `until_cancelled` (a
    /// cancellation that overtook its request found nothing to cancel) and `ask` whose question
    /// the client never saw (it dropped the stream before its first event id, so it cannot
    /// resume it: a real client times out and cancels).
    fn cancel_waiting(&mut self) {
        let running: Vec<(String, i64)> = self
            .ledger
            .calls
            .borrow()
            .iter()
            .filter(|(_, c)| !c.ended && matches!(c.tool, "until_cancelled" | "ask"))
            .map(|(k, _)| k.clone())
            .collect();
        for (session, id) in running {
            let Some(s) = self.sessions.iter().position(|c| c.id == session && c.alive) else { continue };
            let message = support::notification("notifications/cancelled", Some(json!({ "requestId": id })));
            self.start(self.sessions[s].request(&message), Kind::Accepted { session: s, answers: None });
        }
    }

    /// Polls every request in flight, running tasks in between, until none can move.
    fn settle(&mut self) -> Check {
        let rounds = if self.world().is_shared() { 20_000 } else { 200 };
        for _ in 0..rounds {
            // Over Redis, a request parked in the store waits for a reply: it will move.
            let mut moved = self.world().is_shared() && self.world().busy() > 0;
            self.world().breathe();
            moved |= self.poll_all()?;
            moved |= self.world().pump();
            if !moved && !self.world().quiesce() {
                return Ok(());
            }
        }
        Err("requests never settle".into())
    }

    /// Resumes every request stream whose calls are unanswered and that has no open reader.
    fn resume_unanswered(&mut self) {
        for s in 0..self.sessions.len() {
            if !self.sessions[s].alive {
                continue;
            }
            let streams: Vec<u32> = self.sessions[s]
                .streams
                .iter()
                .filter(|(&n, state)| {
                    n != 0
                        && !state.gone
                        && state.last_id.is_some()
                        && state.resumes < 8
                        && state.calls.iter().any(|id| self.sessions[s].calls.get(id).is_some_and(|c| !c.answered))
                })
                .map(|(&n, _)| n)
                .collect();
            for stream in streams {
                let open = self.readers.iter().any(|r| r.session == s && r.stream == Some(stream));
                let asking = self.inflight.iter().any(
                    |f| matches!(f.kind, Kind::Get { session, resume: Some((r, _)) } if session == s && r == stream),
                );
                if !open && !asking {
                    self.resume(s, stream);
                }
            }
        }
    }

    /// No handler of a live session may still be running: everything it could wait for was
    /// given (gates, answers, cancellations, readers).
    fn check_handlers(&self, when: &str) -> Check {
        let calls = self.ledger.calls.borrow();
        let alive: BTreeSet<&str> = self.sessions.iter().filter(|s| s.alive).map(|s| s.id.as_str()).collect();
        let parked: Vec<&(String, i64)> =
            calls.iter().filter(|(key, c)| !c.ended && alive.contains(key.0.as_str())).map(|(k, _)| k).collect();
        let describe = |key: &(String, i64)| {
            let session = self.sessions.iter().position(|s| s.id == key.0);
            format!("session {session:?} call {} ({}, sent {})", key.1, calls[key].tool, calls[key].sent.len())
        };
        let parked: Vec<String> = parked.into_iter().map(describe).collect();
        ensure!(
            parked.is_empty(),
            "handlers still running {when}, with nothing left to wait for: {parked:?} ({:?}, {} readers)",
            self.world().occupancy(),
            self.readers.len()
        );
        if when.contains("deleted") {
            let running: Vec<&(String, i64)> = calls.iter().filter(|(_, c)| !c.ended).map(|(k, _)| k).collect();
            let pending: Vec<&Kind> = self.inflight.iter().map(|f| &f.kind).collect();
            ensure!(
                running.is_empty(),
                "handlers still running {when}: {running:?} ({:?}; requests in flight {pending:?})",
                self.world().occupancy()
            );
        }
        Ok(())
    }

    /// Every message of a request stream the client followed throughout was received once or
    /// announced lost: received + lost = what the stream's log says was published.
    fn check_accounts(&self) -> Check {
        for session in self.sessions.iter().filter(|s| s.alive) {
            let id: SessionId = session.id.parse().expect("issued ids parse");
            for (&number, state) in session.streams.iter().filter(|(&n, st)| n != 0 && st.followed && !st.gone) {
                let answered = state.calls.iter().all(|id| {
                    !session.ambiguous.contains(id) && session.calls.get(id).is_some_and(|c| c.answered && !c.abandoned)
                });
                if !answered {
                    continue;
                }
                let stream = StreamId::new(number);
                let Some(replay) = self.world().replay(id, stream) else { continue };
                let latest = replay.events.last().map_or(replay.lost, |e| e.id().seq());
                let seen = state.received.len() as u64 + state.lost;
                ensure!(
                    seen >= latest && state.received.iter().all(|&seq| seq <= latest),
                    "stream {number} of session {}: received {:?} and lost {} of {latest} published (calls {:?}, resumes {}, last id {:?})",
                    session.id,
                    state.received,
                    state.lost,
                    state.calls,
                    state.resumes,
                    state.last_id
                );
            }
        }
        Ok(())
    }
}
