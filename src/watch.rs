//! Which sessions subscribed to which resource URIs (`resources/subscribe`), indexed both ways
//! so that notifying a URI costs O(its subscribers) and forgetting a session O(its URIs).

use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::{HashMap, HashSet};

use crate::session::SessionId;

#[derive(Debug, Default)]
pub(crate) struct WatchIndex {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_uri: HashMap<Arc<str>, HashSet<SessionId>>,
    by_session: HashMap<SessionId, Vec<Arc<str>>>,
}

/// A session already watches as many URIs as it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this session already subscribed to {limit} resources")]
pub(crate) struct TooManyWatches {
    pub(crate) limit: usize,
}

impl WatchIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each method completes its two-map update before anything can panic.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that `session` watches `uri`; refuses a new URI beyond `limit` per session.
    /// Returns whether it was new.
    pub(crate) fn watch(&self, session: SessionId, uri: Arc<str>, limit: usize) -> Result<bool, TooManyWatches> {
        let mut inner = self.lock();
        let watched = inner.by_session.entry(session).or_default();
        if watched.contains(&uri) {
            return Ok(false);
        }
        if watched.len() >= limit {
            if watched.is_empty() {
                inner.by_session.remove(&session);
            }
            return Err(TooManyWatches { limit });
        }
        watched.push(uri.clone());
        inner.by_uri.entry(uri).or_default().insert(session);
        Ok(true)
    }

    pub(crate) fn unwatch(&self, session: SessionId, uri: &str) {
        let mut inner = self.lock();
        if let Some(watched) = inner.by_session.get_mut(&session) {
            watched.retain(|u| &**u != uri);
            if watched.is_empty() {
                inner.by_session.remove(&session);
            }
        }
        if let Some(ids) = inner.by_uri.get_mut(uri) {
            ids.remove(&session);
            if ids.is_empty() {
                inner.by_uri.remove(uri);
            }
        }
    }

    pub(crate) fn watchers(&self, uri: &str) -> Vec<SessionId> {
        self.lock().by_uri.get(uri).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// Drops everything `session` watched.
    pub(crate) fn forget(&self, session: SessionId) {
        let mut inner = self.lock();
        let Some(watched) = inner.by_session.remove(&session) else { return };
        for uri in watched {
            if let Some(ids) = inner.by_uri.get_mut(&uri) {
                ids.remove(&session);
                if ids.is_empty() {
                    inner.by_uri.remove(&uri);
                }
            }
        }
    }

    /// Whether `session` watches anything.
    pub(crate) fn knows(&self, session: SessionId) -> bool {
        self.lock().by_session.contains_key(&session)
    }

    /// `(URIs watched, (session, URI) pairs)`.
    pub(crate) fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.by_uri.len(), inner.by_session.values().map(Vec::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_stay_in_step_and_the_limit_holds() {
        let index = WatchIndex::default();
        let (a, b) = (SessionId::from_u128(1), SessionId::from_u128(2));
        assert_eq!(index.watch(a, "x".into(), 2), Ok(true));
        assert_eq!(index.watch(a, "x".into(), 2), Ok(false));
        assert_eq!(index.watch(a, "y".into(), 2), Ok(true));
        assert_eq!(index.watch(a, "z".into(), 2), Err(TooManyWatches { limit: 2 }));
        assert_eq!(index.watch(b, "x".into(), 2), Ok(true));
        assert_eq!(index.watchers("x").len(), 2);
        index.forget(a);
        assert_eq!(index.watchers("x"), vec![b]);
        assert!(index.watchers("y").is_empty());
        index.unwatch(b, "x");
        assert_eq!(index.len(), (0, 0));
        assert!(!index.knows(a) && !index.knows(b));
    }
}
