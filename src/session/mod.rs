//! Sessions: ids, owners, records, and the stores that keep them.

mod id;
mod memory;
mod owner;
mod record;
mod store;

pub use id::{MalformedSessionId, SessionId, SessionIdGenerator};
pub use memory::{MemoryStore, StorePolicy, StoredSession};
pub use owner::{Owner, Principal, TenantId};
pub use record::{ExpiryPolicy, SessionRecord};
pub use store::{CreateError, LookupError, ReplayError, Store, StoreUnavailable, StreamError};
