// @NAME@: a sluice transform plugin in JavaScript (world `transform`),
// built with jco + componentize-js (QuickJS backend).
//
// It passes requests, responses and stream events through unchanged and
// logs each request. Rewrite the hub (OpenAI chat) JSON in
// `transformRequest` / `transformResponse` / `transformEvent` to make it do
// something (bodies are Uint8Arrays of UTF-8 JSON).
//
// WIT in JavaScript: records are objects with camelCase keys, enums are
// strings, variants are {tag, val}, list<u8> is a Uint8Array, and a
// `result` is "return the ok value, or throw the error value". Module-level
// code runs at build time, so call the host only inside functions.
//
// Config (`plugins.settings.@NAME@.config`): `{}`.

import host from "sluice:plugin/host@0.1.0";

const NAME = "@NAME@";
const VERSION = "0.1.0";

export const plugin = {
  describe() {
    // A transform that leaves answers or streams alone can say so, and the
    // host skips those calls, e.g.
    // host.passThrough({ response: true, stream: true });

    // This plugin reads none of a request's metadata and client headers, so
    // the host copies neither into every call (docs/plugins.md, "Metadata
    // and headers a plugin reads"). Name the keys and headers here once the
    // plugin reads some.
    host.readsMetadata([]);
    host.readsHeaders([]);
    return {
      name: NAME,
      version: VERSION,
      kind: "transform",
      description: "@DESCRIPTION@",
      dialect: "",
      streamFormat: "sse",
    };
  },

  validateConfig(text) {
    let config;
    try {
      config = JSON.parse(text || "{}");
    } catch (e) {
      throw `${NAME}: the config is not valid JSON (${e.message})`;
    }
    if (config === null || typeof config !== "object" || Object.keys(config).length) {
      throw `${NAME}: this plugin takes no config yet; use {}`;
    }
  },
};

class StreamTransformer {
  constructor(_req) {}
  transformEvent(ev) {
    return [ev];
  }
  finish() {
    return [];
  }
}

export const transformer = {
  transformRequest(req) {
    host.log("info", `request for model ${req.requestedModel} (${req.body.length} bytes, stream: ${req.stream})`);
    return req.body;
  },

  transformResponse(_req, body) {
    return body;
  },

  StreamTransformer,
};
