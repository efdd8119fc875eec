//! JavaScript bindings of `mcp-session`: an MCP server inside any `fetch(Request) -> Response`
//! runtime (Cloudflare Workers, workerd, Deno, Node), with the Rust engine doing every piece of
//! protocol work.
//!
//! ```js
//! import { McpServer } from "mcp-session-wasm";
//! const server = new McpServer({ name: "demo", version: "1.0.0" });
//! server.tool({ name: "echo", description: "Echo", inputSchema: { type: "object" } },
//!   async (args, ctx) => ({ content: [{ type: "text", text: args.text }] }));
//! export default { fetch: (request) => server.fetch(request) };
//! ```
//!
//! Sessions that must outlive an isolate live in a Durable Object each: the worker asks
//! [`route`] where a request belongs, and the object gives its [`McpServer`] the object's
//! storage with `attachStorage`, so the session record and its replay logs persist, and sets
//! its alarm to `nextDeadline()`.
#![warn(missing_docs)]

#[cfg(target_family = "wasm")]
mod context;
#[cfg(target_family = "wasm")]
mod convert;
#[cfg(target_family = "wasm")]
mod fetch;
#[cfg(target_family = "wasm")]
mod handlers;
#[cfg(target_family = "wasm")]
mod route;
#[cfg(target_family = "wasm")]
mod server;
#[cfg(target_family = "wasm")]
mod storage;

#[cfg(target_family = "wasm")]
pub use context::{Context, Input};
#[cfg(target_family = "wasm")]
pub use route::{route, Route};
#[cfg(target_family = "wasm")]
pub use server::McpServer;
#[cfg(target_family = "wasm")]
pub use storage::{DurableObjectStorage, DurableStore};
