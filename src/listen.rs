//! `subscriptions/listen` streams (2026-07-28): who listens for which changes, and the fan-out
//! of announced changes to them.
//!
//! A listen stream is not resumable: its frames have no ids, and a client that loses it listens
//! again and refetches. So a listener that falls a whole window behind is not slowed down for
//! nor silently skipped: its stream is ended, which tells the client to do exactly that.
//! Every frame is tagged with the listen request's id, the acknowledgement comes first, and only
//! the change notifications the filter asked for are sent.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use hashbrown::HashMap;
use serde_json::{json, Map, Value};

use crate::jsonrpc::{self, Id};
use crate::server::{LocalFrame, SUBSCRIPTION_ID};
use crate::session::{Owner, TenantId};
use crate::Timestamp;

/// A change announced to clients (see [`EngineState::announce`](crate::EngineState::announce)).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The tool list changed (`notifications/tools/list_changed`).
    ToolsListChanged,
    /// The prompt list changed (`notifications/prompts/list_changed`).
    PromptsListChanged,
    /// The resource list changed (`notifications/resources/list_changed`).
    ResourcesListChanged,
    /// The resource at this URI changed (`notifications/resources/updated`).
    ResourceUpdated(String),
}

impl Change {
    /// The notification's method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::ToolsListChanged => "notifications/tools/list_changed",
            Self::PromptsListChanged => "notifications/prompts/list_changed",
            Self::ResourcesListChanged => "notifications/resources/list_changed",
            Self::ResourceUpdated(_) => "notifications/resources/updated",
        }
    }

    /// The notification's params, without `_meta`.
    pub(crate) fn params(&self) -> Map<String, Value> {
        let mut params = Map::new();
        if let Self::ResourceUpdated(uri) = self {
            params.insert("uri".into(), json!(uri));
        }
        params
    }
}

/// What a listener asked for, cut down to what the server offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) tools: bool,
    pub(crate) prompts: bool,
    pub(crate) resources: bool,
    pub(crate) uris: Vec<String>,
}

impl Filter {
    /// The `notifications` filter of a listen request, keeping only what is offered: list
    /// changes of the features that have something registered, resource updates if resources
    /// exist. `None` when the filter is not an object.
    pub(crate) fn honoured(requested: &Value, offers: (bool, bool, bool)) -> Option<Self> {
        let requested = requested.as_object()?;
        let (tools, prompts, resources) = offers;
        let flag = |name: &str| requested.get(name).and_then(Value::as_bool).unwrap_or(false);
        let uris = match requested.get("resourceSubscriptions") {
            Some(Value::Array(uris)) if resources => uris.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Some(Self {
            tools: tools && flag("toolsListChanged"),
            prompts: prompts && flag("promptsListChanged"),
            resources: resources && flag("resourcesListChanged"),
            uris,
        })
    }

    fn wants(&self, change: &Change) -> bool {
        match change {
            Change::ToolsListChanged => self.tools,
            Change::PromptsListChanged => self.prompts,
            Change::ResourcesListChanged => self.resources,
            Change::ResourceUpdated(uri) => self.uris.iter().any(|u| u == uri),
        }
    }

    /// The filter as the acknowledgement reports it: only what is honoured.
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (name, on) in [
            ("toolsListChanged", self.tools),
            ("promptsListChanged", self.prompts),
            ("resourcesListChanged", self.resources),
        ] {
            if on {
                out.insert(name.into(), json!(true));
            }
        }
        if !self.uris.is_empty() {
            out.insert("resourceSubscriptions".into(), json!(self.uris));
        }
        Value::Object(out)
    }
}

struct Listener {
    owner: Owner,
    filter: Filter,
    /// The listen request's id: every frame carries it as `subscriptionId`.
    id: Id,
    frames: mpsc::Sender<LocalFrame>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    listeners: HashMap<u64, Listener>,
    per_principal: HashMap<Owner, usize>,
    /// The next keep-alive, while anyone listens.
    next_keep_alive: Option<Timestamp>,
}

impl Inner {
    fn remove(&mut self, key: u64) -> Option<Listener> {
        let listener = self.listeners.remove(&key)?;
        if let Some(count) = self.per_principal.get_mut(&listener.owner) {
            *count -= 1;
            if *count == 0 {
                self.per_principal.remove(&listener.owner);
            }
        }
        if self.listeners.is_empty() {
            self.next_keep_alive = None;
        }
        Some(listener)
    }
}

/// Why a listen stream was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ListenError {
    /// As many listen streams are open as the server allows.
    #[error("too many listen streams are open (limit {limit})")]
    TooMany { limit: usize },
    /// This (authenticated) principal holds as many listen streams as it may.
    #[error("too many listen streams are open for this principal (limit {limit})")]
    TooManyForPrincipal { limit: usize },
}

/// Every listen stream of the process.
pub(crate) struct Listeners {
    inner: Mutex<Inner>,
    max: usize,
    max_per_principal: usize,
}

/// A listener's place in the registry; dropping it (the stream's reader went) unregisters it.
pub(crate) struct Registration {
    listeners: Arc<Listeners>,
    key: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.listeners.lock().remove(self.key);
    }
}

fn tagged(id: &Id, method: &str, mut params: Map<String, Value>) -> Bytes {
    params.insert("_meta".into(), json!({ SUBSCRIPTION_ID: id }));
    jsonrpc::notification_message(method, &Value::Object(params))
}

impl Listeners {
    pub(crate) fn new(max: usize, max_per_principal: usize) -> Self {
        Self { inner: Mutex::default(), max, max_per_principal }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each critical section is a few map operations: a panic cannot leave it half done.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a listener whose frames go into a channel of `window` frames, the
    /// acknowledgement first. `now` and `keep_alive` schedule keep-alives; returns whether a
    /// keep-alive was newly scheduled (the host must be woken to learn of it).
    pub(crate) fn register(
        self: &Arc<Self>,
        owner: &Owner,
        id: Id,
        filter: Filter,
        window: usize,
        schedule: Option<(Timestamp, Duration)>,
    ) -> Result<(Registration, mpsc::Receiver<LocalFrame>, bool), ListenError> {
        let mut inner = self.lock();
        if inner.listeners.len() >= self.max {
            return Err(ListenError::TooMany { limit: self.max });
        }
        // Anonymous clients cannot be told apart: they share the total, not one principal's share.
        let held = inner.per_principal.get(owner).copied().unwrap_or(0);
        if owner.principal.name().is_some() && held >= self.max_per_principal {
            return Err(ListenError::TooManyForPrincipal { limit: self.max_per_principal });
        }
        let (mut tx, rx) = mpsc::channel(window.max(1));
        let ack = tagged(&id, "notifications/subscriptions/acknowledged", {
            let mut params = Map::new();
            params.insert("notifications".into(), filter.to_json());
            params
        });
        tx.try_send(LocalFrame::Message(ack)).expect("a new channel has room");
        let key = inner.next;
        inner.next += 1;
        inner.listeners.insert(key, Listener { owner: owner.clone(), filter, id, frames: tx });
        *inner.per_principal.entry(owner.clone()).or_default() += 1;
        let mut scheduled = false;
        if let (None, Some((now, every))) = (inner.next_keep_alive, schedule) {
            inner.next_keep_alive = Some(now.saturating_add(every));
            scheduled = true;
        }
        Ok((Registration { listeners: self.clone(), key }, rx, scheduled))
    }

    /// Sends `change` to every listener that asked for it (of `tenant` only, when given).
    /// A listener whose window is full is ended (see the module docs). Returns how many were told.
    pub(crate) fn announce(&self, change: &Change, tenant: Option<&TenantId>) -> usize {
        let mut inner = self.lock();
        let mut told = 0;
        let mut ended = Vec::new();
        for (&key, listener) in &mut inner.listeners {
            if !listener.filter.wants(change) || tenant.is_some_and(|t| *t != listener.owner.tenant) {
                continue;
            }
            let message = tagged(&listener.id, change.method(), change.params());
            match listener.frames.try_send(LocalFrame::Message(message)) {
                Ok(()) => told += 1,
                Err(_) => ended.push(key),
            }
        }
        for key in ended {
            inner.remove(key);
        }
        told
    }

    /// When the next keep-alive is due.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.lock().next_keep_alive
    }

    /// Sends a keep-alive comment to every listener if one is due (a listener with a full
    /// window has something to read already, and is skipped).
    pub(crate) fn handle_timeout(&self, now: Timestamp, every: Duration) {
        let mut inner = self.lock();
        match inner.next_keep_alive {
            Some(due) if due <= now => {}
            _ => return,
        }
        for listener in inner.listeners.values_mut() {
            let _ = listener.frames.try_send(LocalFrame::KeepAlive);
        }
        inner.next_keep_alive = Some(now.saturating_add(every));
    }

    /// Ends every listen stream with the listen request's result (the server is shutting
    /// down), `_meta` carrying `server_info`.
    pub(crate) fn close_all(&self, server_info: &Value) {
        let mut inner = self.lock();
        let keys: Vec<u64> = inner.listeners.keys().copied().collect();
        for key in keys {
            if let Some(mut listener) = inner.remove(key) {
                let result = json!({
                    "resultType": "complete",
                    "_meta": { SUBSCRIPTION_ID: listener.id, crate::server::SERVER_INFO: server_info },
                });
                let message = jsonrpc::result_message(&listener.id, result.to_string().as_bytes());
                let _ = listener.frames.try_send(LocalFrame::Message(message));
            }
        }
    }

    /// Listen streams open.
    pub(crate) fn len(&self) -> usize {
        self.lock().listeners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Principal;
    use futures_util::StreamExt;

    fn frames(rx: &mut mpsc::Receiver<LocalFrame>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            match frame {
                LocalFrame::Message(bytes) => out.push(serde_json::from_slice(&bytes).unwrap()),
                LocalFrame::KeepAlive => out.push(json!("keep-alive")),
            }
        }
        out
    }

    #[test]
    fn a_listener_gets_its_ack_first_then_only_what_it_asked_for_tagged_with_its_id() {
        let listeners = Arc::new(Listeners::new(10, 10));
        let owner = Owner::anonymous();
        let filter =
            Filter::honoured(&json!({ "promptsListChanged": true, "toolsListChanged": false }), (true, true, false))
                .unwrap();
        let (_registration, mut rx, _) = listeners.register(&owner, Id::Number(7), filter, 8, None).unwrap();
        assert_eq!(listeners.announce(&Change::ToolsListChanged, None), 0);
        assert_eq!(listeners.announce(&Change::PromptsListChanged, None), 1);
        let got = frames(&mut rx);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["method"], "notifications/subscriptions/acknowledged");
        assert_eq!(got[0]["params"]["notifications"], json!({ "promptsListChanged": true }));
        assert_eq!(got[1]["method"], "notifications/prompts/list_changed");
        for frame in &got {
            assert_eq!(frame["params"]["_meta"][SUBSCRIPTION_ID], 7);
        }
    }

    #[test]
    fn resource_updates_reach_only_listeners_of_that_uri_and_tenant() {
        let listeners = Arc::new(Listeners::new(10, 10));
        let acme = Owner::new(TenantId::new("acme"), Principal::anonymous());
        let other = Owner::new(TenantId::new("other"), Principal::anonymous());
        let filter = Filter::honoured(&json!({ "resourceSubscriptions": ["a://1"] }), (false, false, true)).unwrap();
        let (_a, mut a, _) = listeners.register(&acme, Id::Number(1), filter.clone(), 8, None).unwrap();
        let (_b, mut b, _) = listeners.register(&other, Id::Number(1), filter, 8, None).unwrap();
        let change = Change::ResourceUpdated("a://1".into());
        assert_eq!(listeners.announce(&change, Some(&TenantId::new("acme"))), 1);
        assert_eq!(listeners.announce(&Change::ResourceUpdated("a://2".into()), None), 0);
        assert_eq!(frames(&mut a).last().unwrap()["params"]["uri"], "a://1");
        assert_eq!(frames(&mut b).len(), 1, "only the acknowledgement");
    }

    #[test]
    fn a_listener_a_window_behind_is_ended_and_caps_hold() {
        let listeners = Arc::new(Listeners::new(3, 1));
        let owner = Owner::new(TenantId::default_tenant(), Principal::new("alice"));
        let all = Filter::honoured(&json!({ "toolsListChanged": true }), (true, true, true)).unwrap();
        let (registration, mut rx, _) = listeners.register(&owner, Id::Number(1), all.clone(), 1, None).unwrap();
        assert_eq!(
            listeners.register(&owner, Id::Number(2), all.clone(), 1, None).err(),
            Some(ListenError::TooManyForPrincipal { limit: 1 })
        );
        let bob = Owner::new(TenantId::default_tenant(), Principal::new("bob"));
        let (_bob, _bob_rx, _) = listeners.register(&bob, Id::Number(3), Filter::default(), 1, None).unwrap();
        // Anonymous clients share the total: one more is admitted, then the total is reached.
        let (_anonymous, _anonymous_rx, _) =
            listeners.register(&Owner::anonymous(), Id::Number(4), Filter::default(), 1, None).unwrap();
        assert_eq!(
            listeners.register(&Owner::anonymous(), Id::Number(5), all, 1, None).err(),
            Some(ListenError::TooMany { limit: 3 })
        );
        // The window holds the ack and one more; the next change finds it full and ends it.
        for _ in 0..3 {
            listeners.announce(&Change::ToolsListChanged, None);
        }
        assert_eq!(listeners.len(), 2, "the listener that fell behind is gone");
        let received: Vec<_> = futures::executor::block_on(rx.by_ref().collect::<Vec<_>>());
        assert_eq!(received.len(), 2, "its stream ends after what it had");
        drop(registration);
        assert_eq!(listeners.len(), 2, "unregistering twice is harmless");
    }

    #[test]
    fn shutdown_ends_every_stream_with_the_listen_result() {
        let listeners = Arc::new(Listeners::new(10, 10));
        let filter = Filter::honoured(&json!({}), (true, true, true)).unwrap();
        let (_r, mut rx, scheduled) = listeners
            .register(
                &Owner::anonymous(),
                Id::String("L".into()),
                filter,
                8,
                Some((Timestamp::from_millis(0), Duration::from_secs(15))),
            )
            .unwrap();
        assert!(scheduled);
        assert_eq!(listeners.next_deadline(), Some(Timestamp::from_millis(15_000)));
        listeners.handle_timeout(Timestamp::from_millis(14_999), Duration::from_secs(15));
        listeners.handle_timeout(Timestamp::from_millis(15_000), Duration::from_secs(15));
        listeners.close_all(&json!({ "name": "s", "version": "1" }));
        let got = frames(&mut rx);
        assert_eq!(got[1], json!("keep-alive"), "one keep-alive, when due");
        assert_eq!(got[2]["id"], "L");
        assert_eq!(got[2]["result"]["resultType"], "complete");
        assert_eq!(got[2]["result"]["_meta"][SUBSCRIPTION_ID], "L");
        assert_eq!(listeners.len(), 0);
        assert_eq!(listeners.next_deadline(), None);
    }
}
