//! MCP's data model: protocol revisions, log levels, what a server offers, and what its
//! handlers return.

mod content;
mod definitions;
mod logging;
mod version;

pub use content::{
    CallToolResult, Completion, Content, GetPromptResult, PromptMessage, ReadResourceResult, ResourceContents, Role,
};
pub use definitions::{match_template, Prompt, PromptArgument, Resource, ResourceTemplate, Tool};
pub use logging::{LogLevel, UnknownLogLevel};
pub use version::{ProtocolVersion, UnsupportedVersion};
