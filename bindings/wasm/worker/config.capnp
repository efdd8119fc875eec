# workerd configuration: `workerd serve worker/config.capnp` (from bindings/wasm, after
# scripts/build.sh). Durable Object storage lives on disk under `.workerd-storage`, so sessions
# and their undelivered events survive a restart. Override the address or the storage directory
# with `--socket-addr http=127.0.0.1:PORT` and `--directory-path storage=/some/dir`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mcpWorker),
    (name = "storage", disk = (path = "../.workerd-storage", writable = true)),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const mcpWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "fixture.js", esModule = embed "fixture.js"),
    (name = "pkg/mcp_session_wasm.js", esModule = embed "pkg/mcp_session_wasm.js"),
    (name = "pkg/mcp_session_wasm_bg.wasm", wasm = embed "pkg/mcp_session_wasm_bg.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  durableObjectNamespaces = [
    (className = "McpSessionObject", uniqueKey = "mcp-session-objects"),
    (className = "McpTenantObject", uniqueKey = "mcp-tenant-objects"),
    (className = "McpListenObject", uniqueKey = "mcp-listen-objects"),
  ],
  durableObjectStorage = (localDisk = "storage"),
  bindings = [
    (name = "MCP_SESSIONS", durableObjectNamespace = "McpSessionObject"),
    (name = "MCP_TENANTS", durableObjectNamespace = "McpTenantObject"),
    (name = "MCP_LISTENERS", durableObjectNamespace = "McpListenObject"),
    # A test secret: a deployment sets its own (`wrangler secret put MCP_REQUEST_STATE_SECRET`).
    (name = "MCP_REQUEST_STATE_SECRET", text = "workerd test secret: not for any deployment"),
  ],
);
