// A module worker hosting an MCP server: the Rust engine (compiled to wasm) does all protocol
// work; this file only routes. Each session lives in its own Durable Object, which keeps the
// session record and its replay logs in the object's storage and sets its alarm to the engine's
// next deadline (expiry, heartbeats). A directory object per tenant lists that tenant's sessions,
// so a data change reaches every session of the tenant whatever object it lives in.
//
//   request ──► worker.fetch ──route()──► "new" / "session": the session's object
//                                   └───► "any": answered here (refusals need no session)

import { initSync, McpServer, route } from "./pkg/mcp_session_wasm.js";
import wasmModule from "./pkg/mcp_session_wasm_bg.wasm";
import { INFO, ownerOf, register } from "./fixture.js";

initSync({ module: wasmModule });

const MCP_PATH = "/mcp";
/** Set by the worker on requests it forwards: which session the object is for. */
const ROUTE_HEADER = "x-mcp-session-route";
/** Origin of object-to-object calls; the worker never forwards a path outside MCP_PATH. */
const INTERNAL = "https://internal.invalid";

/** Keep-alive on open streams every 15 s: edge proxies cut silent streams at about 100 s. */
const OPTIONS = { path: MCP_PATH, keepAliveMs: 15000, retryMs: 1000 };

let front;

export default {
  async fetch(request, env) {
    const decision = await route(request);
    if (decision.kind === "any" || new URL(request.url).pathname !== MCP_PATH) {
      front ??= register(new McpServer(INFO, OPTIONS));
      return front.fetch(decision.request, ownerOf(decision.request));
    }
    const forwarded = new Request(decision.request);
    forwarded.headers.set(ROUTE_HEADER, decision.sessionId);
    return sessionObject(env, decision.sessionId).fetch(forwarded);
  },
};

const sessionObject = (env, sessionId) => env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromName(sessionId));
const tenantObject = (env, tenant) => env.MCP_TENANTS.get(env.MCP_TENANTS.idFromName(tenant));
const post = (stub, path, body, headers = {}) =>
  stub.fetch(`${INTERNAL}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

export class McpSessionObject {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.server = register(new McpServer(INFO, OPTIONS), {
      publishChange: (ctx, change) => this.publishToTenant(ctx, change),
    });
    this.attached = null;
  }

  /** Restores the session from storage once, before anything else runs in this object. */
  attach(sessionId) {
    this.attached ??= this.state
      .blockConcurrencyWhile(() => this.server.attachStorage(this.state.storage, sessionId))
      .catch((error) => {
        // Storage could not be read this time: the next request tries again.
        this.attached = null;
        throw error;
      });
    return this.attached;
  }

  async fetch(request) {
    const sessionId = request.headers.get(ROUTE_HEADER) ?? undefined;
    await this.attach(sessionId);
    if (new URL(request.url).origin === INTERNAL) return this.internal(request, sessionId);
    const inner = new Request(request);
    inner.headers.delete(ROUTE_HEADER);
    const owner = ownerOf(inner);
    const response = await this.server.fetch(inner, owner);
    await this.arm();
    const tenant = owner?.tenant ?? "default";
    if (inner.method === "POST" && response.status === 200 && response.headers.has("mcp-session-id")) {
      await post(tenantObject(this.env, tenant), "/join", { sessionId });
    } else if (inner.method === "DELETE" && response.status === 200) {
      await post(tenantObject(this.env, tenant), "/leave", { sessionId });
    }
    return response;
  }

  /**
   * A change announced by the tenant directory: tell this object's session. `live` says whether
   * the session still exists; `told` alone cannot, since a session whose log level is above
   * `info` hears nothing of a change and is still there.
   */
  async internal(request, sessionId) {
    const event = await request.json();
    const told = await this.server.publishChange(event);
    await this.arm();
    return Response.json({ told, live: this.server.hasSession(sessionId) });
  }

  async publishToTenant(ctx, { kind, reason }) {
    const event = { kind, reason, tenantId: ctx.tenant, tsMs: Date.now() };
    const response = await post(tenantObject(this.env, ctx.tenant), "/publish", { event, except: ctx.sessionId });
    return (await response.json()).told;
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

/** The sessions of one tenant, for fan-out of change events. */
export class McpTenantObject {
  constructor(state, env) {
    this.state = state;
    this.env = env;
  }

  async fetch(request) {
    const { pathname } = new URL(request.url);
    const body = await request.json();
    if (pathname === "/join") {
      await this.state.storage.put(`s:${body.sessionId}`, true);
      return new Response(null, { status: 204 });
    }
    if (pathname === "/leave") {
      await this.state.storage.delete(`s:${body.sessionId}`);
      return new Response(null, { status: 204 });
    }
    let told = 0;
    for (const key of (await this.state.storage.list({ prefix: "s:" })).keys()) {
      const sessionId = key.slice(2);
      if (sessionId === body.except) continue;
      const response = await post(sessionObject(this.env, sessionId), "/publish", body.event, { [ROUTE_HEADER]: sessionId });
      const answer = await response.json();
      // An object whose session ended (expired, or deleted without a `/leave`) holds none.
      if (!answer.live) await this.state.storage.delete(key);
      told += answer.told;
    }
    return Response.json({ told });
  }
}
