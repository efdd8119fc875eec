//! The sessionless era (2026-07-28) in the simulation: clients that never initialize make calls
//! whose streams cannot be resumed (read, dropped halfway or held and never read) and hold
//! `subscriptions/listen` streams while changes are announced — all interleaved with the
//! session era's traffic on the same engine.
//!
//! What must hold: a call's stream carries its own messages in order with no gap (nothing is
//! dropped on a stream nobody can resume: its sender waits), then its result with `resultType`,
//! and no ids; a dropped or abandoned stream cancels its handler, so every handler ends; a
//! listen stream starts with its acknowledgement and then hears every announcement made while
//! it was registered, once, tagged with its id — or is ended because it fell a window behind —
//! and nothing of it is left once its reader goes.

use std::future::Future;
use std::task::{Context, Poll};

use futures::task::noop_waker;
use http::{Response, StatusCode};
use mcp_session::{Body, Change};
use serde_json::{json, Value};

use super::{next_frame, pull, Check, Kind, Pulled, Sim};
use crate::support_http::{self as support, Frame};

const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// What a sessionless reader reads.
#[derive(Debug)]
pub(super) enum Reads {
    /// The stream of call `id`: its next log message is `next`, and its result ends it.
    Call { id: i64, tool: &'static str, next: u64, answered: bool },
    /// Listen stream `id`: registered when `announced` changes had been made; `heard` since.
    Listen { id: i64, since: u64, heard: u64, acknowledged: bool },
}

pub(super) struct ModernReader {
    pub(super) reads: Reads,
    /// The replica serving this stream.
    pub(super) replica: usize,
    body: Body,
    buffer: String,
    pub(super) vanished: bool,
}

impl Sim {
    /// A sessionless request as a well-behaved client sends it, logs asked for at info.
    fn modern(&self, id: i64, method: &str, params: Value) -> support::Req {
        let mut params = params;
        params["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
        let tenant = super::TENANTS[id.unsigned_abs() as usize % super::TENANTS.len()];
        support::modern(id, method, params, json!({})).owner(tenant, "m")
    }

    pub(super) fn modern_call(&mut self) {
        let id = self.fresh_id();
        let capacity = self.world().settings.capacity as u64;
        // `until_cancelled` ends only when its client closes the stream: nothing else cancels a
        // sessionless call.
        let tool = *self.rng.pick(&["echo", "flood", "flood", "gated", "until_cancelled"]);
        let count = self.rng.range(0, 3 * capacity + 4);
        let arguments = if tool == "gated" {
            let gate = self.next_gate;
            self.next_gate += 1;
            self.gates.push(gate);
            json!({ "gate": gate, "count": count })
        } else {
            json!({ "count": count })
        };
        self.note(format!("sessionless call {id} is {tool} {arguments}"));
        let request = self.modern(id, "tools/call", json!({ "name": tool, "arguments": arguments }));
        self.start(request, Kind::Modern { id, tool });
    }

    pub(super) fn listen(&mut self) {
        let id = self.fresh_id();
        let request = self.modern(id, "subscriptions/listen", json!({ "notifications": { "toolsListChanged": true } }));
        self.start(request, Kind::Listen { id });
    }

    pub(super) fn announce(&mut self) -> Check {
        self.announced += 1;
        let replicas = self.world().replicas.len();
        let from = if replicas > 1 { self.rng.index(replicas) } else { 0 };
        let told = {
            let world = self.world();
            let mut announcing = std::pin::pin!(world.replicas[from].state.announce(Change::ToolsListChanged));
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(told) = announcing.as_mut().poll(&mut cx) {
                    break told;
                }
                world.pump();
                world.breathe();
            }
        };
        self.note(format!("announcement {} on replica {from} told {told}", self.announced));
        // Over Redis the other replicas hear of it on the bus: wait until each has (its probe
        // heard it), so that a listen registered from now on is one made after it everywhere.
        self.await_probes()
    }

    /// Opens the simulation's own listen stream on every replica (over Redis only: in one
    /// process an announcement reaches every listener before it returns).
    pub(super) fn open_probes(&mut self) -> Check {
        if !self.world().is_shared() {
            return Ok(());
        }
        for replica in 0..self.world().replicas.len() {
            self.open_probe(replica)?;
        }
        Ok(())
    }

    pub(super) fn open_probe(&mut self, replica: usize) -> Check {
        self.probes.retain(|p| p.replica != replica);
        let id = -1 - replica as i64;
        let request = self.modern(id, "subscriptions/listen", json!({ "notifications": { "toolsListChanged": true } }));
        let engine = self.world().replicas[replica].engine.clone();
        let request = request.build();
        let mut opening = std::pin::pin!(engine.handle(request));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..self.patience() {
            if let Poll::Ready(response) = opening.as_mut().poll(&mut cx) {
                ensure!(
                    response.status() == StatusCode::OK,
                    "the probe on replica {replica} answered {}",
                    response.status()
                );
                let body = response.into_body();
                self.probes.push(Probe { replica, body, buffer: String::new(), since: self.announced, heard: 0 });
                return Ok(());
            }
            self.world().pump();
            self.world().breathe();
        }
        Err(format!("the probe on replica {replica} never opened"))
    }

    /// Reads every probe until each heard every announcement made since it opened.
    fn await_probes(&mut self) -> Check {
        for _ in 0..self.patience() {
            self.world().pump();
            self.read_probes()?;
            if self.probes.iter().all(|p| p.heard == self.announced - p.since) {
                return Ok(());
            }
            self.world().breathe();
        }
        let heard: Vec<(usize, u64, u64)> = self.probes.iter().map(|p| (p.replica, p.heard, p.since)).collect();
        Err(format!(
            "announcement {} never reached every replica: probes (replica, heard, since) {heard:?}",
            self.announced
        ))
    }

    /// Reads what the probes have (keep-alives too, which would otherwise fill their windows).
    pub(super) fn read_probes(&mut self) -> Check {
        for probe in &mut self.probes {
            loop {
                match pull(&mut probe.body, &mut probe.buffer)? {
                    Pulled::Chunk => {}
                    Pulled::Ended => return Err(format!("the probe on replica {} ended", probe.replica)),
                    Pulled::Pending => break,
                }
            }
            while let Some(frame) = next_frame(&mut probe.buffer) {
                let message: Value = serde_json::from_str(&frame.data).unwrap_or_default();
                if message["method"] == "notifications/tools/list_changed" {
                    probe.heard += 1;
                    ensure!(
                        probe.heard <= self.announced - probe.since,
                        "the probe on replica {} heard more than was announced",
                        probe.replica
                    );
                }
            }
        }
        Ok(())
    }

    pub(super) fn on_modern_response(&mut self, kind: &Kind, replica: usize, response: Response<Body>) -> Check {
        let status = response.status();
        ensure!(
            response.headers().get(mcp_session::http::headers::MCP_SESSION_ID).is_none(),
            "a sessionless reply names a session"
        );
        let sse = response.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v == "text/event-stream");
        let reads = match *kind {
            Kind::Modern { id, tool } => {
                ensure!(status == StatusCode::OK, "sessionless call {id} answered {status}");
                if !sse {
                    let message: Value = serde_json::from_slice(&support::body_bytes(response.into_body()))
                        .map_err(|e| format!("a JSON reply that is not JSON: {e}"))?;
                    return check_result(id, &message);
                }
                Reads::Call { id, tool, next: 0, answered: false }
            }
            Kind::Listen { id } => {
                if status == StatusCode::TOO_MANY_REQUESTS {
                    return Ok(());
                }
                ensure!(status == StatusCode::OK && sse, "listen {id} answered {status}");
                // Registered in the same poll that returned the response.
                Reads::Listen { id, since: self.announced, heard: 0, acknowledged: false }
            }
            _ => unreachable!("only sessionless kinds come here"),
        };
        self.modern_readers.push(ModernReader {
            reads,
            replica,
            body: response.into_body(),
            buffer: String::new(),
            vanished: false,
        });
        Ok(())
    }

    /// Reads what a sessionless reader has; returns whether its stream ended.
    pub(super) fn read_modern(&mut self, index: usize) -> Result<bool, String> {
        let mut ended = false;
        loop {
            self.world().pump();
            let reader = &mut self.modern_readers[index];
            match pull(&mut reader.body, &mut reader.buffer)? {
                Pulled::Chunk => {}
                Pulled::Ended => {
                    ended = true;
                    break;
                }
                Pulled::Pending => break,
            }
        }
        while let Some(frame) = next_frame(&mut self.modern_readers[index].buffer) {
            self.observed += 1;
            self.on_modern_frame(index, &frame)?;
        }
        if ended {
            ensure!(self.modern_readers[index].buffer.is_empty(), "a sessionless stream ended inside a frame");
            let reader = self.modern_readers.swap_remove(index);
            match reader.reads {
                Reads::Call { id, answered, .. } => ensure!(answered, "call {id}'s stream ended without its result"),
                Reads::Listen { id, since, heard, .. } => {
                    // Ended only because it fell a window behind: it heard at most what was said.
                    ensure!(heard <= self.announced - since, "listen {id} heard {heard} of {}", self.announced - since);
                }
            }
        }
        Ok(ended)
    }

    fn on_modern_frame(&mut self, index: usize, frame: &Frame) -> Check {
        ensure!(frame.id.is_none() && frame.retry.is_none() && frame.event.is_none(), "resumable frame {frame:?}");
        if frame.data.is_empty() {
            return Ok(()); // a keep-alive comment
        }
        let message: Value =
            serde_json::from_str(&frame.data).map_err(|e| format!("a message that is not JSON ({e}): {frame:?}"))?;
        let announced = self.announced;
        match &mut self.modern_readers[index].reads {
            Reads::Call { id, next, answered, .. } => {
                ensure!(!*answered, "call {id}'s stream goes on after its result: {message}");
                if message.get("method").is_some() {
                    ensure!(message["method"] == "notifications/message", "call {id}'s stream got {message}");
                    let tag = message["params"]["data"].as_str().unwrap_or_default();
                    ensure!(tag == format!("/{id}/{next}"), "call {id} expected message {next}, got {tag}");
                    *next += 1;
                    return Ok(());
                }
                *answered = true;
                let id = *id;
                check_result(id, &message)
            }
            Reads::Listen { id, since, heard, acknowledged } => {
                ensure!(message["params"]["_meta"][SUBSCRIPTION_ID] == json!(*id), "listen {id} got {message}");
                if !*acknowledged {
                    ensure!(
                        message["method"] == "notifications/subscriptions/acknowledged",
                        "listen {id} began with {message}"
                    );
                    *acknowledged = true;
                    return Ok(());
                }
                ensure!(message["method"] == "notifications/tools/list_changed", "listen {id} got {message}");
                *heard += 1;
                ensure!(*heard <= announced - *since, "listen {id} heard {heard} of {}", announced - *since);
                Ok(())
            }
        }
    }

    /// The final reckoning of the sessionless clients: abandoned streams go, and so do the
    /// calls that would wait forever (cancelling them: their handlers must end), the rest are
    /// read to the end; every listener still open heard everything.
    pub(super) fn finish_modern(&mut self) -> Check {
        self.modern_readers.retain(|r| !r.vanished && !matches!(r.reads, Reads::Call { tool: "until_cancelled", .. }));
        self.inflight.retain(|f| !matches!(f.kind, Kind::Modern { tool: "until_cancelled", .. }));
        self.world().pump();
        for _round in 0..30 {
            let mut index = 0;
            while index < self.modern_readers.len() {
                if !self.read_modern(index)? {
                    index += 1;
                }
            }
            if self.modern_readers.iter().all(|r| matches!(r.reads, Reads::Listen { .. })) {
                break;
            }
        }
        for reader in &self.modern_readers {
            match reader.reads {
                Reads::Call { id, .. } => return Err(format!("sessionless call {id} never finished its stream")),
                Reads::Listen { id, since, heard, acknowledged } => {
                    ensure!(acknowledged, "listen {id} never acknowledged");
                    ensure!(heard == self.announced - since, "listen {id} heard {heard} of {}", self.announced - since);
                }
            }
        }
        self.modern_readers.clear();
        self.probes.clear();
        self.world().quiesce();
        let listens: usize = self.world().occupancy().iter().map(|o| o.listens).sum();
        ensure!(listens == 0, "{listens} listen streams left after their readers went");
        Ok(())
    }
}

/// A listen stream of the simulation's own on one replica (see `Sim::open_probes`).
pub(super) struct Probe {
    replica: usize,
    body: Body,
    buffer: String,
    /// Announcements made before it opened.
    since: u64,
    heard: u64,
}

fn check_result(id: i64, message: &Value) -> Check {
    ensure!(message["id"] == json!(id), "call {id} got the answer {message}");
    ensure!(message["result"]["resultType"] == "complete", "call {id} answered {message}");
    Ok(())
}
