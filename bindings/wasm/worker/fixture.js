// The server the worker hosts: the conformance suite's fixture (test_* tools, test:// resources
// and template, test_* prompts), the demo (a long task with progress, a change that notifies the
// tenant's other sessions), the load harness's `echo` and `notify`, and the fixture of the
// 2026-07-28 revision (input-required rounds, probes, list-change triggers) — the same server as
// the native example (examples/shared/fixture.rs and input_fixture.rs), written against the
// bindings.

const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (t) => ({ content: [{ type: "text", text: t }] });
const object = (properties, required = []) => ({ type: "object", properties, required });

export const INFO = {
  name: "mcp-session-worker",
  version: "0.1.0",
  title: "mcp-session worker example",
  instructions: "Conformance fixture, a long task with progress, and a change notifier.",
};

/** Demo authentication: `Authorization: Bearer <tenant>:<principal>`; none = anonymous. */
export function ownerOf(request) {
  const header = request.headers.get("authorization");
  if (!header || !header.startsWith("Bearer ")) return undefined;
  const [tenant, principal] = header.slice("Bearer ".length).split(":");
  return tenant && principal ? { tenant, principal } : undefined;
}

async function elicit(ctx, params, prefix) {
  try {
    const answer = await ctx.elicit(params);
    return text(`${prefix} action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
  } catch (error) {
    return { ...text(`elicitation failed: ${error.message}`), isError: true };
  }
}

/**
 * Registers the fixture on `server`. `hooks.publishChange(ctx, change)` announces a data change
 * to the other sessions of the caller's tenant; by default the server's own fan-out (all sessions
 * in this isolate), in the worker a tenant directory spanning Durable Objects.
 * `hooks.announce(ctx, change)` announces a list change (`ctx.announce`'s `Change`) and resolves
 * with how many clients were told; by default this server's own listen streams and sessions, in
 * the worker those and the listen streams' Durable Object too.
 */
export function register(server, hooks = {}) {
  const publishChange = hooks.publishChange ?? ((ctx, change) => ctx.publishChange(change));
  const announce = hooks.announce ?? ((ctx, change) => ctx.announce(change));
  // ---- conformance fixture: tools
  server.tool({ name: "test_simple_text", description: "Returns simple text content" }, async () =>
    text("This is a simple text response for testing."),
  );
  server.tool({ name: "test_image_content", description: "Returns image content (base64 PNG)" }, async () => ({
    content: [{ type: "image", data: PNG, mimeType: "image/png" }],
  }));
  server.tool({ name: "test_audio_content", description: "Returns audio content (base64 WAV)" }, async () => ({
    content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }],
  }));
  server.tool({ name: "test_embedded_resource", description: "Returns an embedded resource" }, async () => ({
    content: [
      {
        type: "resource",
        resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
      },
    ],
  }));
  server.tool(
    { name: "test_multiple_content_types", description: "Returns text, image and resource content" },
    async () => ({
      content: [
        { type: "text", text: "Multiple content types test:" },
        { type: "image", data: PNG, mimeType: "image/png" },
        {
          type: "resource",
          resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: '{"test":"data","value":123}' },
        },
      ],
    }),
  );
  server.tool({ name: "test_tool_with_logging", description: "Sends three info log messages while it runs" }, async (_, ctx) => {
    const steps = ["Tool execution started", "Tool processing data", "Tool execution completed"];
    for (const [i, step] of steps.entries()) {
      if (i > 0) await sleep(50);
      await ctx.log("info", step, "fixture");
    }
    return text("Tool with logging executed successfully");
  });
  server.tool({ name: "test_tool_with_progress", description: "Reports progress 0, 50, 100 of 100" }, async (_, ctx) => {
    for (const step of [0, 50, 100]) {
      await ctx.progress(step, 100, `Completed step ${step} of 100`);
      if (step < 100) await sleep(50);
    }
    return text("Progress reported");
  });
  server.tool({ name: "test_error_handling", description: "Always fails, as a tool result with isError" }, async () => ({
    ...text("This tool intentionally returns an error for testing"),
    isError: true,
  }));
  server.tool(
    {
      name: "test_sampling",
      description: "Asks the client's model through sampling/createMessage",
      inputSchema: object({ prompt: { type: "string", description: "The prompt to send" } }, ["prompt"]),
    },
    async ({ prompt }, ctx) => {
      try {
        const result = await ctx.createMessage({
          messages: [{ role: "user", content: { type: "text", text: String(prompt) } }],
          maxTokens: 100,
        });
        const reply = result?.content?.type === "text" ? result.content.text : JSON.stringify(result?.content);
        return text(`LLM response: ${reply}`);
      } catch (error) {
        return { ...text(`sampling failed: ${error.message}`), isError: true };
      }
    },
  );
  server.tool(
    {
      name: "test_elicitation",
      description: "Asks the user through elicitation/create",
      inputSchema: object({ message: { type: "string", description: "What to ask" } }, ["message"]),
    },
    async ({ message }, ctx) =>
      elicit(
        ctx,
        {
          message: String(message),
          requestedSchema: object(
            {
              username: { type: "string", description: "User's response" },
              email: { type: "string", description: "User's email address" },
            },
            ["username", "email"],
          ),
        },
        "User response:",
      ),
  );
  server.tool(
    { name: "test_elicitation_sep1034_defaults", description: "Elicitation with a default for every primitive type" },
    async (_, ctx) =>
      elicit(
        ctx,
        {
          message: "Please review and update the form fields with defaults",
          requestedSchema: object({
            name: { type: "string", description: "User name", default: "John Doe" },
            age: { type: "integer", description: "User age", default: 30 },
            score: { type: "number", description: "User score", default: 95.5 },
            status: { type: "string", description: "User status", enum: ["active", "inactive", "pending"], default: "active" },
            verified: { type: "boolean", description: "Verification status", default: true },
          }),
        },
        "Elicitation completed:",
      ),
  );
  server.tool(
    { name: "test_elicitation_sep1330_enums", description: "Elicitation with the five enum schema variants" },
    async (_, ctx) => {
      const choices = (prefix, title) => [1, 2, 3].map((i) => ({ const: `${prefix}${i}`, title: `${title} ${i}` }));
      return elicit(
        ctx,
        {
          message: "Please select options from the enum fields",
          requestedSchema: object({
            untitledSingle: { type: "string", description: "Pick one", enum: ["option1", "option2", "option3"] },
            titledSingle: { type: "string", description: "Pick one (titled)", oneOf: choices("value", "Option") },
            legacyEnum: {
              type: "string",
              description: "Pick one (legacy)",
              enum: ["opt1", "opt2", "opt3"],
              enumNames: ["Option One", "Option Two", "Option Three"],
            },
            untitledMulti: {
              type: "array",
              description: "Pick several",
              minItems: 1,
              maxItems: 3,
              items: { type: "string", enum: ["option1", "option2", "option3"] },
            },
            titledMulti: {
              type: "array",
              description: "Pick several (titled)",
              minItems: 1,
              maxItems: 3,
              items: { anyOf: choices("value", "Choice") },
            },
          }),
        },
        "Elicitation completed:",
      );
    },
  );
  server.tool(
    {
      name: "json_schema_2020_12_tool",
      description: "Takes arguments described with JSON Schema 2020-12",
      inputSchema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        $defs: {
          address: {
            $anchor: "addressDef",
            type: "object",
            properties: { street: { type: "string" }, city: { type: "string" } },
          },
        },
        properties: {
          name: { type: "string" },
          address: { $ref: "#/$defs/address" },
          contactMethod: { type: "string", enum: ["phone", "email"] },
          phone: { type: "string" },
          email: { type: "string" },
        },
        allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
        if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
        then: { required: ["phone"] },
        else: { required: ["email"] },
        additionalProperties: false,
      },
    },
    async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
  );
  server.tool(
    { name: "test_reconnection", description: "Closes its SSE connection after priming, then answers on the resumed stream" },
    async (_, ctx) => {
      await ctx.closeStream();
      await sleep(100);
      return text("Reconnection test completed successfully.");
    },
  );

  // ---- demo
  server.tool(
    {
      name: "long_task",
      description: "Works for `steps` × `step_ms`, reporting progress; survives a dropped connection",
      inputSchema: object({ steps: { type: "integer", minimum: 1, maximum: 1000 }, step_ms: { type: "integer", minimum: 0 } }),
    },
    async ({ steps = 10, step_ms = 200 }, ctx) => {
      const total = Math.min(Math.max(steps, 1), 1000);
      for (let step = 1; step <= total; step++) {
        if (ctx.isCancelled()) return { ...text("cancelled"), isError: true };
        await sleep(Math.min(step_ms, 10000));
        await ctx.progress(step, total, `step ${step} of ${total}`);
      }
      return text(`finished ${total} steps`);
    },
  );
  server.tool(
    {
      name: "record_change",
      description: "Records a data change; every other session of your tenant is notified",
      inputSchema: object({ kind: { type: "string" }, reason: { type: "string" } }, ["kind"]),
    },
    async ({ kind, reason = "updated" }, ctx) => {
      const told = await publishChange(ctx, { kind, reason });
      return text(`notified ${told} other session(s)`);
    },
  );

  // ---- load harness
  server.tool(
    { name: "echo", description: "Returns the `text` argument", inputSchema: object({ text: { type: "string" } }, ["text"]) },
    async (args) => {
      if (typeof args.text !== "string") throw Object.assign(new Error("argument \"text\" (a string) is required"), { code: -32602 });
      return text(args.text);
    },
  );
  server.tool(
    {
      name: "notify",
      description: "Sends `count` notifications, then returns",
      inputSchema: object(
        {
          count: { type: "integer", minimum: 0 },
          standalone: { type: "boolean" },
          interval_ms: { type: "integer", minimum: 0 },
        },
        ["count"],
      ),
    },
    async ({ count, standalone = false, interval_ms = 0 }, ctx) => {
      for (let i = 1; i <= count; i++) {
        if (i > 1 && interval_ms > 0) await sleep(interval_ms);
        if (standalone) await ctx.notifySession("notifications/message", { level: "info", data: { seq: i } });
        else await ctx.progress(i, count);
      }
      return text(`sent ${count}`);
    },
  );

  // ---- resources
  server.resource(
    { uri: "test://static-text", name: "static-text", title: "Static Text Resource", description: "Static text", mimeType: "text/plain" },
    async (uri) => ({ contents: [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }] }),
  );
  server.resource(
    { uri: "test://static-binary", name: "static-binary", title: "Static Binary Resource", description: "A PNG", mimeType: "image/png" },
    async (uri) => ({ contents: [{ uri, mimeType: "image/png", blob: PNG }] }),
  );
  server.resource(
    {
      uri: "test://watched-resource",
      name: "watched-resource",
      title: "Watched Resource",
      description: "Subscribe to hear about changes",
      mimeType: "text/plain",
    },
    async (uri) => ({ contents: [{ uri, mimeType: "text/plain", text: "Watched resource content" }] }),
  );
  server.resourceTemplate(
    { uriTemplate: "test://template/{id}/data", name: "template", title: "Resource Template", description: "Data by id", mimeType: "application/json" },
    async (uri, { id }) => ({
      contents: [{ uri, mimeType: "application/json", text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }],
    }),
  );
  // A subscriber hears the resource's current version at once, so clients see updates arrive.
  server.onSubscribe(async (uri, ctx) => {
    await ctx.notifyResourceUpdated(uri);
  });

  // ---- prompts
  server.prompt({ name: "test_simple_prompt", title: "Simple Test Prompt", description: "A simple prompt without arguments" }, async () => ({
    messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }],
  }));
  server.prompt(
    {
      name: "test_prompt_with_arguments",
      title: "Prompt With Arguments",
      description: "A prompt with required arguments",
      arguments: [
        { name: "arg1", description: "First test argument", required: true },
        { name: "arg2", description: "Second test argument", required: true },
      ],
    },
    async ({ arg1, arg2 }) => {
      if (arg1 === undefined || arg2 === undefined) throw { code: -32602, message: "arg1 and arg2 are required" };
      return { messages: [{ role: "user", content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }] };
    },
  );
  server.prompt(
    {
      name: "test_prompt_with_embedded_resource",
      title: "Prompt With Embedded Resource",
      description: "A prompt that includes an embedded resource",
      arguments: [{ name: "resourceUri", description: "URI of the resource to embed", required: true }],
    },
    async ({ resourceUri }) => {
      if (resourceUri === undefined) throw { code: -32602, message: "resourceUri is required" };
      return {
        messages: [
          { role: "user", content: { type: "resource", resource: { uri: resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." } } },
          { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
        ],
      };
    },
  );
  server.prompt({ name: "test_prompt_with_image", title: "Prompt With Image", description: "A prompt that includes image content" }, async () => ({
    messages: [
      { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }));
  server.completion(async ({ argument }) => {
    const pools = { arg1: ["paris", "park", "party", "test-value", "testing"], arg2: ["alpha", "beta", "gamma"], id: ["1", "2", "123"] };
    const values = (pools[argument.name] ?? []).filter((v) => v.startsWith(argument.value));
    return { values, total: values.length, hasMore: false };
  });
  registerInputFixture(server, announce);
  return server;
}

// ---- the conformance fixture of the 2026-07-28 revision (examples/shared/input_fixture.rs):
// input-required rounds, the capability, logging and streaming probes, list-change triggers and
// a header-mirrored argument. Each handler is written once and also runs on a session, where its
// inputs become real requests to the client. An ask whose answer is not known yet rejects with an
// `InputRequired` error: the handlers let it propagate, and the request ends asking for the input.

const ask = (message, field, kind) => ({
  message,
  requestedSchema: { type: "object", properties: { [field]: { type: kind } }, required: [field] },
});
const sampling = (prompt, maxTokens) => ({
  messages: [{ role: "user", content: { type: "text", text: prompt } }],
  maxTokens,
});
/** A value as JSON text (`null` for none), as the native fixture prints a JSON value. */
const json = (value) => JSON.stringify(value ?? null);
/** An answered elicitation's field. */
const answered = (answer, name) => {
  const value = answer?.content?.[name];
  return typeof value === "string" ? value : json(value);
};
/** A sampling answer's text. */
const sampled = (answer) => {
  const value = answer?.content?.text;
  return typeof value === "string" ? value : json(answer?.content);
};
const rootsOf = (answer) => {
  const roots = Array.isArray(answer?.roots) ? answer.roots : [];
  return `roots: [${roots.map((root) => root?.uri).filter((uri) => typeof uri === "string").join(", ")}]`;
};
/** The state `test_input_required_result_request_state` carries to its second round. */
const STATE = "confirm-requested";
/** The resource `test_trigger_resource_update` announces when its call names none. */
const WATCHED = "test://watched-resource";

function registerInputFixture(server, announce) {
  server.tool(
    { name: "test_input_required_result_elicitation", description: "Asks the user's name (input key user_name)" },
    async (_, ctx) => {
      const answer = await ctx.input("user_name").elicit(ask("What is your name?", "name", "string"));
      return text(`Hello, ${answered(answer, "name")}!`);
    },
  );
  server.tool(
    { name: "test_input_required_result_sampling", description: "Asks the client's model (input key capital_question)" },
    async (_, ctx) => {
      const answer = await ctx.input("capital_question").createMessage(sampling("What is the capital of France?", 100));
      return text(`The model says: ${sampled(answer)}`);
    },
  );
  server.tool(
    { name: "test_input_required_result_list_roots", description: "Asks for the client's roots (input key client_roots)" },
    async (_, ctx) => {
      const answer = await ctx.input("client_roots").listRoots();
      return text(`Client ${rootsOf(answer)}`);
    },
  );
  server.tool(
    { name: "test_input_required_result_request_state", description: "Asks for a confirmation, carrying a request state" },
    async (_, ctx) => {
      ctx.setRequestState(STATE);
      const answer = await ctx.input("confirm").elicit(ask("Please confirm", "ok", "boolean"));
      const verdict = ctx.requestState === STATE ? "state-ok" : "state-missing";
      return text(`${verdict}: confirmed=${json(answer?.content?.ok)}`);
    },
  );
  server.tool(
    { name: "test_input_required_result_multiple_inputs", description: "Asks for a name, a greeting and the roots at once" },
    async (_, ctx) => {
      // All three asks are made before any is awaited, so they travel in one round.
      const settled = await Promise.allSettled([
        ctx.input("user_name").elicit(ask("What is your name?", "name", "string")),
        ctx.input("greeting").createMessage(sampling("Generate a greeting", 50)),
        ctx.input("client_roots").listRoots(),
      ]);
      const [name, greeting, clientRoots] = settled.map((outcome) => {
        if (outcome.status === "rejected") throw outcome.reason;
        return outcome.value;
      });
      return text(`${sampled(greeting)} ${answered(name, "name")}; ${rootsOf(clientRoots)}`);
    },
  );
  server.tool(
    { name: "test_input_required_result_multi_round", description: "Asks two questions, one round each" },
    async (_, ctx) => {
      const name = await ctx.input("step1").elicit(ask("Step 1: What is your name?", "name", "string"));
      const color = await ctx.input("step2").elicit(ask("Step 2: What is your favorite color?", "color", "string"));
      return text(`${answered(name, "name")} likes ${answered(color, "color")}`);
    },
  );
  server.tool(
    { name: "test_input_required_result_tampered_state", description: "Asks for a confirmation under a sealed state" },
    async (_, ctx) => {
      const answer = await ctx.input("confirm").elicit(ask("Please confirm", "ok", "boolean"));
      return text(`confirmed=${json(answer?.content?.ok)}`);
    },
  );
  server.tool(
    {
      name: "test_input_required_result_capabilities",
      description: "Asks only through what this request's client declared: elicitation, else sampling",
    },
    async (_, ctx) => {
      const declared = ctx.clientCapabilities;
      if (declared.elicitation) {
        return text(answered(await ctx.input("user_name").elicit(ask("What is your name?", "name", "string")), "name"));
      }
      if (declared.sampling) {
        const prompt = sampling("What is the capital of France?", 100);
        return text(sampled(await ctx.input("capital_question").createMessage(prompt)));
      }
      return text("nothing to ask through");
    },
  );
  server.prompt(
    { name: "test_input_required_result_prompt", description: "A prompt that asks for its context first" },
    async (_, ctx) => {
      const answer = await ctx.input("user_context").elicit(ask("What context should the prompt use?", "context", "string"));
      const context = `Use this context: ${answered(answer, "context")}`;
      return { messages: [{ role: "user", content: { type: "text", text: context } }] };
    },
  );
  server.tool(
    { name: "test_missing_capability", description: "Needs the client's sampling capability; -32021 without it" },
    // Without the capability the ask rejects with a MissingRequiredClientCapability error, which
    // ends the call with the JSON-RPC error -32021.
    async (_, ctx) => text(sampled(await ctx.createMessage(sampling("Say hi", 10)))),
  );
  server.tool(
    { name: "test_streaming_elicitation", description: "Asks the user through elicitation on its own response" },
    async (_, ctx) => {
      const answer = await ctx.elicit(ask("What is your name?", "name", "string"));
      return text(`Hello, ${answered(answer, "name")}!`);
    },
  );
  server.tool(
    { name: "test_logging_tool", description: "Logs at info three times (only when the request asks for logs)" },
    async (_, ctx) => {
      for (let step = 1; step <= 3; step++) await ctx.log("info", `log message ${step}`, "test");
      return text("logged");
    },
  );
  server.tool({ name: "test_trigger_tool_change", description: "Announces that the tool list changed" }, async (_, ctx) =>
    text(`told ${await announce(ctx, "toolsListChanged")}`),
  );
  server.tool({ name: "test_trigger_prompt_change", description: "Announces that the prompt list changed" }, async (_, ctx) =>
    text(`told ${await announce(ctx, "promptsListChanged")}`),
  );
  server.tool(
    {
      name: "test_trigger_resource_update",
      description: "Announces that the resource at uri changed",
      inputSchema: object({ uri: { type: "string", default: WATCHED } }),
    },
    async (args, ctx) => {
      const uri = args?.uri ?? WATCHED;
      if (typeof uri !== "string") throw Object.assign(new Error("uri must be a string"), { code: -32602 });
      return text(`told ${await announce(ctx, { resourceUpdated: uri })}`);
    },
  );
  server.tool(
    {
      name: "test_header_mirrored_argument",
      description: "Echoes its region, which clients mirror into Mcp-Param-Region",
      inputSchema: {
        type: "object",
        properties: { region: { type: "string", "x-mcp-header": "Region" } },
        required: ["region"],
      },
    },
    async ({ region }) => {
      if (typeof region !== "string") throw Object.assign(new Error("region must be a string"), { code: -32602 });
      return text(`region: ${region}`);
    },
  );
}
