//! Who a session belongs to.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A tenant: the unit that sessions are counted, capped and notified by.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The tenant of hosts that do not distinguish tenants.
    pub fn default_tenant() -> Self {
        Self::new("default")
    }

    /// A tenant named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    /// The tenant's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The authenticated party that created a session (a user, an API key, a service account).
///
/// [`Principal::anonymous`] stands for "not authenticated"; two anonymous requests of the same
/// tenant are the same principal.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Principal(Option<Arc<str>>);

impl Principal {
    /// No authenticated identity.
    pub const fn anonymous() -> Self {
        Self(None)
    }

    /// The principal named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(Some(name.into()))
    }

    /// The principal's name, `None` when anonymous.
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(name) => write!(f, "Principal({name:?})"),
            None => f.write_str("Principal(anonymous)"),
        }
    }
}

/// The tenant and principal a session belongs to. A session is only ever served to the owner
/// that created it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// The tenant the session counts against and receives change events of.
    pub tenant: TenantId,
    /// The authenticated party inside that tenant.
    pub principal: Principal,
}

impl Owner {
    /// An owner from its parts.
    pub fn new(tenant: TenantId, principal: Principal) -> Self {
        Self { tenant, principal }
    }

    /// The anonymous principal of the default tenant: what hosts without authentication use.
    pub fn anonymous() -> Self {
        Self::default()
    }
}
