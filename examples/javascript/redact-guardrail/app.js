// redact-guardrail: a sluice guardrail plugin in JavaScript (world
// `guardrail` of wit/sluice.wit), built with jco + componentize-js (QuickJS).
//
// - check-request: denies a request whose user/system text matches a `block`
//   pattern (naming the pattern, never the matched text), and rewrites the
//   messages with every `redact` match replaced.
// - check-response: redacts a whole response's message content.
// - stream-guard: redacts streamed text, holding back a short tail so a
//   match split across chunks is still caught (see redact.js).
//
// Config: {"block": ["regex"], "redact": ["regex"], "replacement": "[REDACTED]",
//          "ignore-case": false, "stream-hold": 32}
//
// WIT mapping (componentize-js): records are objects with camelCase keys,
// enums are strings, variants are {tag, val}, list<u8> is a Uint8Array,
// `result` is "return the ok value or throw the error value".

import host from "sluice:plugin/host@0.1.0";
import {
  StreamRedactor,
  denyMessage,
  findBlocked,
  parseConfig,
  redactRequest,
  redactResponse,
} from "./redact.js";
import { decodeUtf8, encodeUtf8 } from "./utf8.js";

const NAME = "redact-guardrail";
const VERSION = "0.1.0";

// Module-level code runs at build time (the initialised engine is
// snapshotted), so the config is read on first use, never at import.
let config = null;
function getConfig() {
  if (config === null) {
    try {
      config = parseConfig(host.getConfig());
    } catch (e) {
      // validate-config has rejected this config already; be safe anyway.
      host.log("error", `${NAME}: ${e}`);
      config = parseConfig("{}");
    }
  }
  return config;
}

const ALLOW = { tag: "allow" };

function readJson(bytes, what) {
  try {
    return JSON.parse(decodeUtf8(bytes));
  } catch (e) {
    throw { status: 400, code: "invalid_request", message: `${NAME}: ${what} is not valid JSON: ${e.message}` };
  }
}

function rewriteJson(value) {
  return { tag: "rewrite", val: encodeUtf8(JSON.stringify(value)) };
}

export const plugin = {
  describe() {
    // It reads no request metadata and no client header: the host sends none.
    host.readsMetadata([]);
    host.readsHeaders([]);
    return {
      name: NAME,
      version: VERSION,
      kind: "guardrail",
      description: "Blocks requests matching regexes and redacts matches in requests and answers (JavaScript)",
      dialect: "",
      streamFormat: "sse",
    };
  },

  validateConfig(text) {
    try {
      parseConfig(text);
    } catch (e) {
      throw `${NAME}: ${e}`;
    }
  },
};

class StreamGuard {
  constructor(_req) {
    this.redactor = new StreamRedactor(getConfig());
  }

  checkText(text) {
    const out = this.redactor.push(text);
    return out === text ? ALLOW : { tag: "rewrite", val: encodeUtf8(out) };
  }

  finish() {
    // Whatever is still held back goes out now, redacted.
    const rest = this.redactor.finish();
    return rest === "" ? ALLOW : { tag: "rewrite", val: encodeUtf8(rest) };
  }
}

export const guard = {
  checkRequest(req) {
    if (req.bodyDialect !== "openai") return ALLOW;
    const cfg = getConfig();
    const chat = readJson(req.body, "the request body");
    const blocked = findBlocked(chat, cfg);
    if (blocked) {
      const message = denyMessage(blocked);
      host.log("info", `${NAME}: ${message}`);
      return { tag: "deny", val: message };
    }
    return redactRequest(chat, cfg) ? rewriteJson(chat) : ALLOW;
  },

  checkResponse(req, body) {
    if (req.bodyDialect !== "openai") return ALLOW;
    const resp = readJson(body, "the response body");
    return redactResponse(resp, getConfig()) ? rewriteJson(resp) : ALLOW;
  },

  StreamGuard,
};
