// A module worker hosting an MCP server: the Rust engine (compiled to wasm) does all protocol
// work; this file only routes. Each session lives in its own Durable Object, which keeps the
// session record and its replay logs in the object's storage and sets its alarm to the engine's
// next deadline (expiry, heartbeats).
//
//   request ──► worker.fetch ──route()──► "new" / "session": the session's Durable Object
//                                   └───► "any": answered here (refusals need no session)

import { initSync, McpServer, route } from "./pkg/mcp_session_wasm.js";
import wasmModule from "./pkg/mcp_session_wasm_bg.wasm";
import { INFO, ownerOf, register } from "./fixture.js";

initSync({ module: wasmModule });

/** Set by the worker on requests it forwards: which session the object is for. */
const ROUTE_HEADER = "x-mcp-session-route";

/** Keep-alive on open streams every 15 s: edge proxies cut silent streams at about 100 s. */
const OPTIONS = { keepAliveMs: 15000, retryMs: 1000 };

let front;

export default {
  async fetch(request, env) {
    const decision = await route(request);
    if (decision.kind === "any") {
      front ??= register(new McpServer(INFO, OPTIONS));
      return front.fetch(decision.request, ownerOf(decision.request));
    }
    const forwarded = new Request(decision.request);
    forwarded.headers.set(ROUTE_HEADER, decision.sessionId);
    const object = env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromName(decision.sessionId));
    return object.fetch(forwarded);
  },
};

export class McpSessionObject {
  constructor(state) {
    this.state = state;
    this.server = register(new McpServer(INFO, OPTIONS));
    this.attached = null;
  }

  /** Restores the session from storage once, before anything else runs in this object. */
  attach(sessionId) {
    this.attached ??= this.state.blockConcurrencyWhile(() => this.server.attachStorage(this.state.storage, sessionId));
    return this.attached;
  }

  async fetch(request) {
    const sessionId = request.headers.get(ROUTE_HEADER);
    await this.attach(sessionId ?? undefined);
    const inner = new Request(request);
    inner.headers.delete(ROUTE_HEADER);
    const response = await this.server.fetch(inner, ownerOf(inner));
    await this.arm();
    return response;
  }

  async alarm() {
    await this.attach(undefined);
    await this.server.handleTimeout();
    await this.arm();
  }

  /** The engine's next deadline becomes the object's alarm. */
  async arm() {
    const at = this.server.nextDeadline();
    if (at === undefined) await this.state.storage.deleteAlarm();
    else await this.state.storage.setAlarm(at);
  }
}
