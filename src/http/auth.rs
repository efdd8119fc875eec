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
