// @NAME@: a sluice provider plugin in JavaScript (world `provider`), built
// with jco + componentize-js (QuickJS backend).
//
// It answers every chat request itself, like a tiny mock, so it serves
// requests without any upstream. To speak to a real API instead, return
// {tag: "forward", val: {method, path, headers, body}} from `prepare`, turn
// the answer into a hub (OpenAI chat) response in `mapResponse`, and map
// each upstream stream event in `StreamMapper`.
//
// WIT in JavaScript: records are objects with camelCase keys, enums are
// strings, variants are {tag, val}, list<u8> is a Uint8Array, and a
// `result` is "return the ok value, or throw the error value". Module-level
// code runs at build time (the engine is snapshotted), so call the host
// (`host.getConfig`, `host.log`) only inside functions.
//
// Config (`plugins.settings.@NAME@.config`): `{}` or `{"greeting": "text"}`.

import host from "sluice:plugin/host@0.1.0";

const NAME = "@NAME@";
const VERSION = "0.1.0";

function checkConfig(text) {
  let config;
  try {
    config = JSON.parse(text || "{}");
  } catch (e) {
    throw `${NAME}: the config is not valid JSON (${e.message})`;
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw `${NAME}: the config must be a JSON object; accepted: {} or {"greeting": "text"}`;
  }
  for (const key of Object.keys(config)) {
    if (key !== "greeting") throw `${NAME}: unknown key ${JSON.stringify(key)}; accepted: {} or {"greeting": "text"}`;
  }
  if (config.greeting !== undefined && typeof config.greeting !== "string") {
    throw `${NAME}: "greeting" must be a string`;
  }
  return config;
}

// UTF-8 for list<u8> bodies (QuickJS may lack TextEncoder/TextDecoder).
function encode(s) {
  if (typeof TextEncoder === "function") return new TextEncoder().encode(s);
  const bin = unescape(encodeURIComponent(s));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function decode(bytes) {
  if (typeof TextDecoder === "function") return new TextDecoder().decode(bytes);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 4096) bin += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return decodeURIComponent(escape(bin));
}

function messageText(m) {
  if (typeof m.content === "string") return m.content;
  if (Array.isArray(m.content)) return m.content.filter((p) => p.type === "text").map((p) => p.text).join(" ");
  return "";
}

function chunk(id, created, model, delta, finish = null) {
  return {
    event: null,
    data: JSON.stringify({
      id, object: "chat.completion.chunk", created, model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    }),
  };
}

export const plugin = {
  describe() {
    // This plugin reads none of a request's metadata and client headers, so
    // the host copies neither into every call (docs/plugins.md, "Metadata
    // and headers a plugin reads"). Name the keys and headers here once the
    // plugin reads some.
    host.readsMetadata([]);
    host.readsHeaders([]);
    return {
      name: NAME,
      version: VERSION,
      kind: "provider",
      description: "@DESCRIPTION@",
      dialect: "openai",
      streamFormat: "sse",
    };
  },

  validateConfig(text) {
    checkConfig(text);
  },
};

class StreamMapper {
  // Unused while `prepare` answers locally: events pass through.
  constructor(_req) {}
  mapEvent(ev) {
    return [ev];
  }
  finish() {
    return [];
  }
}

export const adapter = {
  prepare(req, _target) {
    let chat;
    try {
      chat = JSON.parse(decode(req.body));
    } catch (e) {
      throw { status: 400, code: "invalid_request", message: `${NAME}: the body is not JSON (${e.message})` };
    }
    const user = (chat.messages || []).filter((m) => m && m.role === "user").pop();
    const said = user ? messageText(user) : "";
    const greeting = checkConfig(host.getConfig()).greeting ?? `Hello from ${NAME}!`;
    const text = `${greeting} You said: ${said}`;
    host.log("debug", `answering ${req.requestedModel} locally`);

    const id = `chatcmpl-${NAME}`;
    const model = req.requestedModel;
    const created = Math.floor(Date.now() / 1000);
    const words = (s) => s.split(/\s+/).filter(Boolean).length;
    const usage = { prompt_tokens: words(said), completion_tokens: words(text) };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    if (req.stream) {
      const events = [
        chunk(id, created, model, { role: "assistant" }),
        chunk(id, created, model, { content: text }),
        chunk(id, created, model, {}, "stop"),
      ];
      if (chat.stream_options && chat.stream_options.include_usage) {
        events.push({
          event: null,
          data: JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage }),
        });
      }
      return { tag: "respond", val: { status: 200, body: new Uint8Array(), events } };
    }
    const body = {
      id, object: "chat.completion", created, model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage,
    };
    return { tag: "respond", val: { status: 200, body: encode(JSON.stringify(body)), events: [] } };
  },

  mapResponse(_req, _response) {
    throw { status: 500, code: "internal_error", message: `${NAME} answers locally and never forwards upstream` };
  },

  StreamMapper,
};
