// A module worker hosting an MCP server: the Rust engine (compiled to wasm) does all protocol
// work; this file only routes. Each session lives in its own Durable Object, which keeps the
// session record and its replay logs in the object's storage and sets its alarm to the engine's
// next deadline (expiry, heartbeats). A directory object per tenant lists that tenant's sessions,
// so a data change reaches every session of the tenant whatever object it lives in.
//
// Requests of the 2026-07-28 revision carry no session and are answered here, by any isolate;
// their `subscriptions/listen` streams live in one object, which every list-change announcement
// reaches (a stream held by a stateless request could only hear the isolate that holds it, and
// workerd cancels a request that waits on another request's work as hung).
//
//   request ──► worker.fetch ──route()──► "new" / "session": the session's object
//                                   ├───► "listen": the listen streams' object
//                                   └───► "any": answered here (refusals, the 2026-07-28 revision)

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

/**
 * The options of every server of this worker: with the deployment's `MCP_REQUEST_STATE_SECRET`
 * (a secret of at least 32 bytes), an input-required retry opens on whichever isolate it reaches.
 */
const optionsFor = (env) =>
  env.MCP_REQUEST_STATE_SECRET ? { ...OPTIONS, requestStateSecret: env.MCP_REQUEST_STATE_SECRET } : OPTIONS;

let front;

export default {
  async fetch(request, env) {
    const decision = await route(request);
    const endpoint = new URL(request.url).pathname === MCP_PATH;
    if (decision.kind === "listen" && endpoint) return listenObject(env).fetch(new Request(decision.request));
    if (decision.kind === "any" || !endpoint) {
      front ??= register(new McpServer(INFO, optionsFor(env)), { announce: (ctx, change) => announce(env, ctx, change) });
      return front.fetch(decision.request, ownerOf(decision.request));
    }
    const forwarded = new Request(decision.request);
    forwarded.headers.set(ROUTE_HEADER, decision.sessionId);
    return sessionObject(env, decision.sessionId).fetch(forwarded);
  },
};

const sessionObject = (env, sessionId) => env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromName(sessionId));
const tenantObject = (env, tenant) => env.MCP_TENANTS.get(env.MCP_TENANTS.idFromName(tenant));
const listenObject = (env) => env.MCP_LISTENERS.get(env.MCP_LISTENERS.idFromName("listeners"));
const post = (stub, path, body, headers = {}) =>
  stub.fetch(`${INTERNAL}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

/** The engine's next deadline becomes the object's alarm. */
async function arm(state, server) {
  const at = server.nextDeadline();
  if (at === undefined) await state.storage.deleteAlarm();
  else await state.storage.setAlarm(at);
}

/** A list change, told to this server's own clients and to every listen stream. */
async function announce(env, ctx, change) {
  const here = await ctx.announce(change);
  const response = await post(listenObject(env), "/announce", change);
  return here + (await response.json()).told;
}

export class McpSessionObject {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.server = register(new McpServer(INFO, optionsFor(env)), {
      publishChange: (ctx, change) => this.publishToTenant(ctx, change),
      announce: (ctx, change) => announce(env, ctx, change),
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

  arm() {
    return arm(this.state, this.server);
  }
}

/**
 * The `subscriptions/listen` streams (2026-07-28) of the whole worker, in one object: the requests
 * of one object may feed each other's streams. An announcement (`/announce`, from any isolate or
 * object) reaches every stream that asked for that kind of change, and a tenant's data change
 * (`/publish`, from the tenant directory) that tenant's streams watching its topic's URI; the
 * alarm sends the streams' keep-alives.
 */
export class McpListenObject {
  constructor(state, env) {
    this.state = state;
    this.server = register(new McpServer(INFO, optionsFor(env)));
  }

  async fetch(request) {
    const url = new URL(request.url);
    if (url.origin === INTERNAL) {
      // `/announce`: a list change or resource update for every stream that asked; `/publish`:
      // a tenant's data change, for that tenant's streams that watch its topic's URI.
      const body = await request.json();
      const told = url.pathname === "/publish" ? await this.server.publishChange(body) : await this.server.announce(body);
      await this.arm();
      return Response.json({ told });
    }
    const response = await this.server.fetch(request, ownerOf(request));
    await this.arm();
    return response;
  }

  async alarm() {
    await this.server.handleTimeout();
    await this.arm();
  }

  arm() {
    return arm(this.state, this.server);
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
    // The tenant's listen streams (2026-07-28) live in the listen object, whatever isolate holds them.
    const listening = await post(listenObject(this.env), "/publish", body.event);
    let told = (await listening.json()).told;
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
