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
