//! The bus between replicas over the same Redis as their store (see [`RedisBus`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Value};

use super::{bytes, items, text, unavailable, RedisStore};
use crate::bus::{Bus, BusFuture, Control};
use crate::http::EngineState;
use crate::server::McpSession;
use crate::session::{SessionId, Store, StoreUnavailable};
use crate::stream::StreamId;

/// About how many control messages the stream keeps (`XADD … MAXLEN ~`): far more than replicas
/// exchange while one reconnects. The store's scripts, which write the `Ended` messages, say the
/// same.
const CONTROL_RETAINED: usize = 10_000;

/// How long one blocking read of the control stream waits for a message.
const BLOCK: Duration = Duration::from_secs(2);

/// How long a replica waits before connecting again after Redis dropped it.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Messages read per `XREAD`, and doorbells handled at once.
const BATCH: usize = 64;

/// How long a replica's lease runs (on the engine's clock) after it last renewed it: a replica
/// that stops renewing for this long is taken for dead, and the streams it produced end.
pub(super) const LEASE: Duration = Duration::from_secs(15);

/// How often [`RedisBus::follow`] renews this replica's lease and checks the producers of the
/// streams resumed here ([`RedisBus::tend`]).
const TEND_EVERY: Duration = Duration::from_secs(5);

/// How long Redis keeps a lease key after its last renewal, on Redis's clock: a backstop that
/// removes the keys of replicas long gone. Far longer than [`LEASE`], which decides.
const LEASE_KEY_TTL: Duration = Duration::from_secs(60 * 60);

/// A store the bus can run beside: a [`RedisStore`] itself, or a store that wraps one (one that
/// counts or traces its operations, say) and hands over the Redis store inside, whose
/// connection, keys and node name the bus shares.
pub trait RedisBacked: Store<McpSession> {
    /// The Redis store this store keeps its sessions in.
    fn redis(&self) -> &RedisStore<McpSession>;
}

impl RedisBacked for RedisStore<McpSession> {
    fn redis(&self) -> &RedisStore<McpSession> {
        self
    }
}

/// The [`Bus`] of replicas sharing a [`RedisStore`].
///
/// Two paths, each the Redis primitive that fits what it carries:
///
/// - **Doorbells** on the pub/sub channel `<prefix>:bell`. The store's append and finish scripts
///   publish `<node> <session> <stream>` in the same atomic step as the write, so a bell is never
///   ahead of its event. Pub/sub delivers at most once, which is enough for a bell: it only says
///   "read the log", and the log is the truth. A bell lost with a dropped connection is repaired
///   on reconnect, where every attached stream's log is read again
///   ([`EngineState::resync`]): a subscriber attached before the subscription was confirmed
///   is covered the same way. One channel for every session keeps the replica's subscription
///   fixed; each replica receives every bell and ignores those of streams not attached to it,
///   a hash lookup each.
/// - **Control messages** ([`Control`]) on the stream `<prefix>:ctl`, appended with `XADD` and
///   read by every replica with a blocking `XREAD` on a connection of its own (a blocking
///   command would stall the store's multiplexed connection). A stream is durable and ordered:
///   a replica whose connection drops reads on from the last id it saw, so an answer the
///   client was told is accepted is not lost. The stream keeps about the latest
///   10,000 messages. A session's end is written there by the store's script that removes it
///   (DELETE, expiry found by a lookup or a sweep), in the same atomic step, and every replica
///   acts on it, the one that removed it included: a process that stops right after a removal
///   leaves no replica holding streams, calls or resource watches of the session.
///
/// Give it to the engine with [`EngineState::with_bus`] and run [`RedisBus::follow`] for as
/// long as the engine serves, on a runtime of the host's (it holds two connections of its own):
///
/// ```no_run
/// # async fn example() -> Result<(), redis::RedisError> {
/// use std::sync::Arc;
/// use mcp_session::redis::{RedisBus, RedisStore, RedisStoreConfig};
/// use mcp_session::{EngineConfig, EngineState, McpSession, Sessions};
///
/// let store: RedisStore<McpSession> = RedisStore::connect("redis://127.0.0.1/", RedisStoreConfig::default()).await?;
/// let bus = RedisBus::connect(&store).await.expect("redis answers");
/// let sessions = Sessions::builder().build_with_store(store);
/// let state = Arc::new(EngineState::new(sessions, EngineConfig::default()).with_bus(bus.clone()));
/// // A lease before the first request (a replica that dies before it ever held one is not
/// // known for dead); then give `state` to a host, and:
/// bus.renew(&state).await.expect("redis answers");
/// bus.follow(&state).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    connection: ConnectionManager,
    client: redis::Client,
    node: Arc<str>,
    bells: String,
    control: String,
    response_timeout: Duration,
    /// The id of the newest control message when the bus connected: it reads after it.
    start: String,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").field("node", &self.node).field("control", &self.control).finish_non_exhaustive()
    }
}

impl RedisBus {
    /// The bus of the replica `store` belongs to: its node name, key prefix and Redis. It acts
    /// on control messages sent from now on (older ones concern processes it never was), so
    /// connect it before the engine serves.
    pub async fn connect<D>(store: &RedisStore<D>) -> Result<Self, StoreUnavailable> {
        let mut bus = Self {
            connection: store.shared_connection(),
            client: store.client.clone(),
            node: store.node.clone(),
            bells: store.bell_key(),
            control: store.control_key(),
            response_timeout: store.config.response_timeout,
            start: String::new(),
        };
        bus.start = bus.latest_control_id().await?;
        Ok(bus)
    }

    /// Feeds `state` what the other replicas send, until the future is dropped: doorbells (see
    /// [`EngineState::handle_doorbell`]) and control messages ([`EngineState::handle_control`]).
    /// Reconnects by itself after Redis drops a connection; every reconnect of the doorbell
    /// channel reads every attached stream again.
    /// Also renews this replica's lease every 5 s and checks the producers of the streams
    /// resumed here ([`RedisBus::tend`]).
    pub async fn follow<S: RedisBacked>(&self, state: &EngineState<S>) {
        let tending = async {
            loop {
                let _ = self.tend(state).await;
                crate::host::pause(TEND_EVERY).await;
            }
        };
        futures_util::future::join3(self.follow_bells(state), self.follow_control(state), tending).await;
    }

    /// Renews this replica's lease (it lives until 15 s past the engine's now), and ends each
    /// stream resumed here whose producing replica's lease ran out: one JSON-RPC error for each
    /// request the stream answers that its log holds no response to, then the end, so its
    /// client is not left waiting for a replica that died mid-call (nor answered twice when it
    /// died between its last response and the stream's end). Once ended, the stream takes
    /// nothing more from that replica (a paused one that comes back finds it finished). Returns
    /// how many errors were sent.
    /// [`RedisBus::follow`] calls it every 5 s; a test drives it on a `ManualClock`.
    pub async fn tend<S: RedisBacked>(&self, state: &EngineState<S>) -> Result<usize, StoreUnavailable> {
        self.renew(state).await?;
        let store = state.sessions().store().redis();
        let now = state.sessions().now();
        let released = store.reap_dead(now).await?;
        if released > 0 {
            tracing::warn!(target: "mcp_session::bus", released, "replicas stopped while holding sessions: their holds ended");
        }
        let mut ended = 0;
        for (id, stream) in state.sessions().remote_streams() {
            if let Some(errors) = store.abandon_if_orphaned(id, stream, now).await? {
                ended += usize::try_from(errors).unwrap_or(usize::MAX);
                tracing::warn!(target: "mcp_session::bus", session = %id, stream = %stream, "the replica producing a stream stopped: the stream ended with an error");
                // The bell it rang is this replica's own, which it does not hear.
                state.handle_doorbell(id, stream).await;
            }
        }
        Ok(ended)
    }

    /// Renews this replica's lease alone: it lives until 15 s past the engine's now. Call it
    /// once before the engine serves (a replica that dies before it ever held a lease is not
    /// known for dead, so the streams it produced would never end); [`RedisBus::tend`] renews
    /// it from then on. A host whose replicas share one clock that jumps (a simulation on a
    /// `ManualClock`) renews every replica first, so that none is taken for dead by a jump.
    pub async fn renew<S: RedisBacked>(&self, state: &EngineState<S>) -> Result<(), StoreUnavailable> {
        let store = state.sessions().store().redis();
        let now = state.sessions().now();
        let mut connection = self.connection.clone();
        let until = super::at(now.saturating_add(LEASE));
        let _: Value = redis::pipe()
            .cmd("SET")
            .arg(store.lease_key(&self.node))
            .arg(until)
            .arg("PX")
            .arg(super::ms(LEASE_KEY_TTL))
            .ignore()
            .cmd("ZADD")
            .arg(store.nodes_key())
            .arg(until)
            .arg(&*self.node)
            .ignore()
            .cmd("PEXPIRE")
            .arg(store.nodes_key())
            .arg(super::ms(LEASE_KEY_TTL))
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn follow_bells<S: Store<McpSession>>(&self, state: &EngineState<S>) {
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&self.bells).await {
                    Ok(()) => {
                        // Bells rung while there was no subscription are lost: read again.
                        state.resync().await;
                        let bells = pubsub.on_message().filter_map(|message| {
                            let bell = parse_bell(message.get_payload_bytes(), &self.node);
                            std::future::ready(bell)
                        });
                        bells.for_each_concurrent(BATCH, |(id, stream)| state.handle_doorbell(id, stream)).await;
                        tracing::warn!(target: "mcp_session::bus", "redis dropped the doorbell subscription; subscribing again");
                    }
                    Err(error) => {
                        unavailable(error);
                    }
                },
                Err(error) => {
                    unavailable(error);
                }
            }
            crate::host::pause(RECONNECT_PAUSE).await;
        }
    }

    async fn follow_control<S: Store<McpSession>>(&self, state: &EngineState<S>) {
        let mut position = self.start.clone();
        loop {
            let config = AsyncConnectionConfig::new()
                .set_response_timeout(Some(BLOCK + self.response_timeout))
                .set_connection_timeout(Some(self.response_timeout));
            let connection = self.client.get_multiplexed_async_connection_with_config(&config).await;
            let mut connection = match connection {
                Ok(connection) => connection,
                Err(error) => {
                    unavailable(error);
                    crate::host::pause(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            while let Ok(messages) = self.read_control(&mut connection, &position).await {
                for (id, message) in messages {
                    position = id;
                    if let Some(message) = message {
                        state.handle_control(message);
                    }
                }
            }
            crate::host::pause(RECONNECT_PAUSE).await;
        }
    }

    async fn latest_control_id(&self) -> Result<String, StoreUnavailable> {
        let mut connection = self.connection.clone();
        let reply: Value = redis::cmd("XREVRANGE")
            .arg(&self.control)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let entries = items(reply)?;
        let newest = entries.into_iter().next().map(items).transpose()?;
        Ok(newest.and_then(|entry| entry.first().and_then(text).map(str::to_owned)).unwrap_or_else(|| "0-0".to_owned()))
    }

    /// The control messages after `after` (waiting up to [`BLOCK`] for one), each with its id;
    /// a message of this replica's own, or one it cannot read, is `None`.
    async fn read_control(
        &self,
        connection: &mut MultiplexedConnection,
        after: &str,
    ) -> Result<Vec<(String, Option<Control>)>, StoreUnavailable> {
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(&self.control)
            .arg(after)
            .query_async(connection)
            .await
            .map_err(unavailable)?;
        if reply == Value::Nil {
            return Ok(Vec::new());
        }
        // [[key, [[id, [field, value, …]], …]]]
        let mut out = Vec::new();
        for stream in items(reply)? {
            let Some(entries) = items(stream)?.into_iter().nth(1) else { continue };
            for entry in items(entries)? {
                let mut entry = items(entry)?.into_iter();
                let (Some(id), Some(fields)) = (entry.next(), entry.next()) else { continue };
                let Some(id) = text(&id).map(str::to_owned) else { continue };
                out.push((id, self.parse_control(items(fields)?)));
            }
        }
        Ok(out)
    }

    fn parse_control(&self, fields: Vec<Value>) -> Option<Control> {
        let (mut node, mut message) = (None, None);
        for pair in fields.chunks(2) {
            match (pair.first().and_then(text), pair.get(1)) {
                (Some("n"), Some(value)) => node = text(value).map(str::to_owned),
                (Some("m"), Some(value)) => message = bytes(value),
                _ => {}
            }
        }
        if node.as_deref() == Some(&*self.node) {
            return None;
        }
        match serde_json::from_slice(&message?) {
            Ok(message) => Some(message),
            Err(error) => {
                tracing::warn!(target: "mcp_session::bus", %error, "unreadable control message ignored");
                None
            }
        }
    }
}

impl Bus for RedisBus {
    fn send(&self, message: Control) -> BusFuture<'_> {
        Box::pin(async move {
            if matches!(message, Control::Ended { .. }) {
                // The store's removal wrote it already, atomically with the removal.
                return Ok(());
            }
            let json = serde_json::to_vec(&message).map_err(|_| StoreUnavailable)?;
            let mut connection = self.connection.clone();
            let _: Value = redis::cmd("XADD")
                .arg(&self.control)
                .arg("MAXLEN")
                .arg("~")
                .arg(CONTROL_RETAINED)
                .arg("*")
                .arg("n")
                .arg(&*self.node)
                .arg("m")
                .arg(json)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }
}

/// `<node> <session> <stream>`, unless the node is `own` (this replica delivered it already).
fn parse_bell(payload: &[u8], own: &str) -> Option<(SessionId, StreamId)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut words = text.split(' ');
    let (node, session, stream) = (words.next()?, words.next()?, words.next()?);
    if node == own {
        return None;
    }
    Some((session.parse().ok()?, StreamId::new(stream.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionIdGenerator;

    #[test]
    fn a_bell_names_a_stream_of_another_replica() {
        let id = SessionIdGenerator::seeded(1).next_id();
        assert_eq!(parse_bell(format!("b {id} 3").as_bytes(), "a"), Some((id, StreamId::new(3))));
        assert_eq!(parse_bell(format!("a {id} 3").as_bytes(), "a"), None, "its own bells a replica delivered");
        assert_eq!(parse_bell(b"b nonsense 3", "a"), None);
        assert_eq!(parse_bell(format!("b {id}").as_bytes(), "a"), None);
    }
}
