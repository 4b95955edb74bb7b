// @NAME@: a sluice guardrail plugin in JavaScript (world `guardrail`),
// built with jco + componentize-js (QuickJS backend).
//
// It allows everything except requests whose messages contain a word,
// `forbidden` unless the config says otherwise (compared without regard to
// case). Return {tag: "rewrite", val: newBodyBytes} to change a request or
// answer instead; streamed text is checked by `StreamGuard`.
//
// WIT in JavaScript: records are objects with camelCase keys, enums are
// strings, variants are {tag, val}, list<u8> is a Uint8Array, and a
// `result` is "return the ok value, or throw the error value". Module-level
// code runs at build time, so call the host only inside functions.
//
// Config (`plugins.settings.@NAME@.config`): `{}` or `{"deny-word": "word"}`.

import host from "sluice:plugin/host@0.1.0";

const NAME = "@NAME@";
const VERSION = "0.1.0";
const ALLOW = { tag: "allow" };

function checkConfig(text) {
  let config;
  try {
    config = JSON.parse(text || "{}");
  } catch (e) {
    throw `${NAME}: the config is not valid JSON (${e.message})`;
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw `${NAME}: the config must be a JSON object; accepted: {} or {"deny-word": "word"}`;
  }
  for (const key of Object.keys(config)) {
    if (key !== "deny-word") throw `${NAME}: unknown key ${JSON.stringify(key)}; accepted: {} or {"deny-word": "word"}`;
  }
  const word = config["deny-word"] ?? "forbidden";
  if (typeof word !== "string" || !word.trim()) throw `${NAME}: "deny-word" must be a non-empty string`;
  return { word: word.toLowerCase() };
}

// UTF-8 for list<u8> bodies (QuickJS may lack TextDecoder).
function decode(bytes) {
  if (typeof TextDecoder === "function") return new TextDecoder().decode(bytes);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 4096) bin += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return decodeURIComponent(escape(bin));
}

function messageText(m) {
  if (!m) return "";
  if (typeof m.content === "string") return m.content;
  if (Array.isArray(m.content)) return m.content.filter((p) => p && p.type === "text").map((p) => p.text).join(" ");
  return "";
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
      kind: "guardrail",
      description: "@DESCRIPTION@",
      dialect: "",
      streamFormat: "sse",
    };
  },

  validateConfig(text) {
    checkConfig(text);
  },
};

class StreamGuard {
  constructor(_req) {}
  checkText(_text) {
    return ALLOW;
  }
  finish() {
    return ALLOW;
  }
}

export const guard = {
  checkRequest(req) {
    if (req.bodyDialect !== "openai") return ALLOW;
    const { word } = checkConfig(host.getConfig());
    let chat;
    try {
      chat = JSON.parse(decode(req.body));
    } catch (e) {
      throw { status: 400, code: "invalid_request", message: `${NAME}: the body is not JSON (${e.message})` };
    }
    const messages = Array.isArray(chat.messages) ? chat.messages : [];
    for (let i = 0; i < messages.length; i++) {
      if (messageText(messages[i]).toLowerCase().includes(word)) {
        host.log("info", `denied: messages[${i}] contains the deny word`);
        return { tag: "deny", val: `${NAME}: messages[${i}] contains the word ${JSON.stringify(word)}, which this gateway does not allow` };
      }
    }
    return ALLOW;
  },

  checkResponse(_req, _body) {
    return ALLOW;
  },

  StreamGuard,
};
