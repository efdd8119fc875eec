//! Who is making a request.

use http::request::Parts;

use crate::session::Owner;

/// Decides the owner (tenant and principal) of a request, before any session is looked up.
///
/// Sessions are bound to the owner that created them: a request presenting a session id under
/// another owner is answered as if the session did not exist. Implement this over whatever the
/// deployment authenticates with (a bearer token, mTLS, a header set by a gateway).
pub trait Authenticate: Send + Sync + 'static {
    /// The owner of the request, or why it is refused.
    fn authenticate(&self, request: &Parts) -> Result<Owner, Unauthorized>;
}

/// The request is not authenticated: answered with 401.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("unauthorized")]
pub struct Unauthorized {
    /// A `WWW-Authenticate` challenge to send back.
    pub challenge: Option<String>,
}

/// Everyone is the anonymous principal of the default tenant. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous;

impl Authenticate for Anonymous {
    fn authenticate(&self, _request: &Parts) -> Result<Owner, Unauthorized> {
        Ok(Owner::anonymous())
    }
}

/// The owner that middleware in front of the engine decided: an [`Owner`] in the request's
/// extensions (`request.extensions_mut().insert(owner)`, in a tower layer or an axum
/// middleware that has authenticated the caller).
///
/// A request without one is refused with 401, never served as the anonymous owner: a route
/// mounted without its middleware (or a middleware that let a request through unauthenticated)
/// would otherwise put every caller's sessions under one shared owner. Middleware that admits
/// anonymous callers says so by inserting [`Owner::anonymous`].
///
/// ```
/// use mcp_session::http::{Authenticate, FromExtension};
/// use mcp_session::{Owner, Principal, TenantId};
///
/// let auth = FromExtension::new().challenge("Bearer");
/// let (bare, ()) = http::Request::new(()).into_parts();
/// assert_eq!(auth.authenticate(&bare).unwrap_err().challenge.as_deref(), Some("Bearer"));
///
/// // What the middleware does once it knows who is calling:
/// let owner = Owner::new(TenantId::new("acme"), Principal::new("ada"));
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(owner.clone());
/// let (parts, ()) = request.into_parts();
/// assert_eq!(auth.authenticate(&parts), Ok(owner));
/// ```
#[derive(Clone, Debug, Default)]
pub struct FromExtension {
    challenge: Option<String>,
}

impl FromExtension {
    /// Refuses requests without an [`Owner`] extension with a bare 401.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `challenge` as `WWW-Authenticate` with the 401 (`Bearer`, say, for clients that
    /// should fetch a token).
    pub fn challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }
}

impl Authenticate for FromExtension {
    fn authenticate(&self, request: &Parts) -> Result<Owner, Unauthorized> {
        request.extensions.get::<Owner>().cloned().ok_or_else(|| Unauthorized { challenge: self.challenge.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Principal, TenantId};

    fn parts(owner: Option<Owner>) -> Parts {
        let mut request = http::Request::new(());
        if let Some(owner) = owner {
            request.extensions_mut().insert(owner);
        }
        request.into_parts().0
    }

    #[test]
    fn the_owner_in_the_extensions_is_the_requests() {
        let owner = Owner::new(TenantId::new("acme"), Principal::new("ada"));
        assert_eq!(FromExtension::new().authenticate(&parts(Some(owner.clone()))), Ok(owner));
    }

    #[test]
    fn a_request_without_an_owner_is_refused_not_anonymous() {
        assert_eq!(FromExtension::new().authenticate(&parts(None)), Err(Unauthorized { challenge: None }));
        let refused = FromExtension::new().challenge("Bearer").authenticate(&parts(None)).unwrap_err();
        assert_eq!(refused.challenge.as_deref(), Some("Bearer"));
    }
}
