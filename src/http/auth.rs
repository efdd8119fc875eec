//! Who is making a request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use http::request::Parts;

use crate::session::Owner;

/// Decides the owner (tenant and principal) of a request, before any session is looked up.
///
/// Sessions are bound to the owner that created them: a request presenting a session id under
/// another owner is answered as if the session did not exist. Implement this over whatever the
/// deployment authenticates with (a bearer token, mTLS, a header set by a gateway).
///
/// A check that needs no I/O answers at once (`Ok(owner).into()`), at the cost of no allocation;
/// one that must ask elsewhere (token introspection, a key service) answers
/// [`Verdict::later`], and the request waits for it without holding a worker thread. The future
/// need not be `Send`: it runs on the worker that serves the request.
///
/// ```
/// use http::request::Parts;
/// use mcp_session::http::{Authenticate, Unauthorized, Verdict};
/// use mcp_session::{Owner, Principal, TenantId};
///
/// /// `Authorization: Bearer <token>`, checked by a call to an introspection service.
/// struct Introspect;
///
/// async fn introspect(token: &str) -> Option<(String, String)> {
///     // An HTTP call to the identity provider in a real deployment.
///     token.split_once('.').map(|(tenant, user)| (tenant.to_owned(), user.to_owned()))
/// }
///
/// impl Authenticate for Introspect {
///     fn authenticate<'a>(&'a self, request: &'a Parts) -> Verdict<'a> {
///         let challenge = || Unauthorized { challenge: Some("Bearer".into()) };
///         let Some(token) = request.headers.get("authorization").and_then(|v| v.to_str().ok()) else {
///             return Err(challenge()).into();
///         };
///         let Some(token) = token.strip_prefix("Bearer ") else { return Err(challenge()).into() };
///         Verdict::later(async move {
///             let (tenant, user) = introspect(token).await.ok_or_else(challenge)?;
///             Ok(Owner::new(TenantId::new(tenant), Principal::new(user)))
///         })
///     }
/// }
/// ```
pub trait Authenticate: Send + Sync + 'static {
    /// The owner of the request, or why it is refused.
    fn authenticate<'a>(&'a self, request: &'a Parts) -> Verdict<'a>;
}

/// An [`Authenticate`] answer: decided now, or a future that decides.
#[must_use = "a verdict does nothing unless awaited"]
pub struct Verdict<'a>(Decision<'a>);

enum Decision<'a> {
    Now(Option<Result<Owner, Unauthorized>>),
    Later(LocalBoxFuture<'a, Result<Owner, Unauthorized>>),
}

impl<'a> Verdict<'a> {
    /// A verdict `decision` reaches later.
    pub fn later(decision: impl Future<Output = Result<Owner, Unauthorized>> + 'a) -> Self {
        Self(Decision::Later(decision.boxed_local()))
    }
}

impl From<Result<Owner, Unauthorized>> for Verdict<'_> {
    fn from(decision: Result<Owner, Unauthorized>) -> Self {
        Self(Decision::Now(Some(decision)))
    }
}

impl Future for Verdict<'_> {
    type Output = Result<Owner, Unauthorized>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Decision::Now(decision) => Poll::Ready(decision.take().expect("a verdict is awaited once")),
            Decision::Later(future) => future.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Verdict<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Decision::Now(decision) => f.debug_tuple("Verdict").field(decision).finish(),
            Decision::Later(_) => f.write_str("Verdict(later)"),
        }
    }
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
    fn authenticate<'a>(&'a self, _request: &'a Parts) -> Verdict<'a> {
        Ok(Owner::anonymous()).into()
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
/// use futures::FutureExt;
/// use mcp_session::http::{Authenticate, FromExtension};
/// use mcp_session::{Owner, Principal, TenantId};
///
/// let auth = FromExtension::new().challenge("Bearer");
/// let (bare, ()) = http::Request::new(()).into_parts();
/// let refused = auth.authenticate(&bare).now_or_never().expect("decided at once").unwrap_err();
/// assert_eq!(refused.challenge.as_deref(), Some("Bearer"));
///
/// // What the middleware does once it knows who is calling:
/// let owner = Owner::new(TenantId::new("acme"), Principal::new("ada"));
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(owner.clone());
/// let (parts, ()) = request.into_parts();
/// assert_eq!(auth.authenticate(&parts).now_or_never(), Some(Ok(owner)));
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
    fn authenticate<'a>(&'a self, request: &'a Parts) -> Verdict<'a> {
        request
            .extensions
            .get::<Owner>()
            .cloned()
            .ok_or_else(|| Unauthorized { challenge: self.challenge.clone() })
            .into()
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
        assert_eq!(FromExtension::new().authenticate(&parts(Some(owner.clone()))).now_or_never(), Some(Ok(owner)));
    }

    #[test]
    fn a_request_without_an_owner_is_refused_not_anonymous() {
        let refused = FromExtension::new().authenticate(&parts(None)).now_or_never();
        assert_eq!(refused, Some(Err(Unauthorized { challenge: None })));
        let refused =
            FromExtension::new().challenge("Bearer").authenticate(&parts(None)).now_or_never().unwrap().unwrap_err();
        assert_eq!(refused.challenge.as_deref(), Some("Bearer"));
    }
}
