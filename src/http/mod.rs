//! Streamable HTTP: the front door that turns HTTP requests into engine calls.

mod auth;
// `body`, `engine` and `guard` are visible crate-wide for the fuzz wrappers in `crate::fuzzing`.
pub(crate) mod body;
mod config;
pub(crate) mod engine;
mod era;
pub(crate) mod guard;
pub mod headers;
mod listen;
mod post;
mod rejection;
mod reply;
mod route;
mod sessionless;
mod state;
mod trace;

pub use auth::{Anonymous, Authenticate, FromExtension, Unauthorized, Verdict};
pub use body::Body;
pub use config::{EngineConfig, HostPolicy, OriginPolicy, ResponseMode};
pub use engine::Engine;
#[cfg(feature = "tower")]
pub(crate) use rejection::reject;
pub use rejection::HostRejection;
pub use route::{session_route, SessionRoute};
pub use state::{EngineState, Occupancy};
