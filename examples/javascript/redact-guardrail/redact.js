// Pure logic of the redact guardrail: config parsing, blocking, redaction
// and the streaming buffer. No WIT imports here, so Node runs it as is:
//
//     node --test examples/javascript/redact-guardrail/
//
// app.js wires it to the `guardrail` world.

export const DEFAULT_REPLACEMENT = "[REDACTED]";
export const DEFAULT_STREAM_HOLD = 32;
const MAX_STREAM_HOLD = 4096;
const KEYS = ["block", "redact", "replacement", "ignore-case", "stream-hold"];

const HELP =
  'expected {"block": ["regex", ...], "redact": ["regex", ...], "replacement": "[REDACTED]", ' +
  '"ignore-case": false, "stream-hold": 32} (every key optional)';

/// Parses and checks the config JSON. Throws a string saying what is wrong.
export function parseConfig(text) {
  let raw;
  try {
    raw = JSON.parse(text === undefined || text === "" ? "{}" : text);
  } catch (e) {
    throw `the config is not valid JSON (${e.message}); ${HELP}`;
  }
  if (raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw `the config must be a JSON object; ${HELP}`;
  }
  const unknown = Object.keys(raw).filter((k) => !KEYS.includes(k));
  if (unknown.length) {
    throw `unknown key(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}; ${HELP}`;
  }
  const ignoreCase = raw["ignore-case"] ?? false;
  if (typeof ignoreCase !== "boolean") throw `"ignore-case" must be true or false; ${HELP}`;
  const flags = ignoreCase ? "gi" : "g";
  const replacement = raw.replacement ?? DEFAULT_REPLACEMENT;
  if (typeof replacement !== "string") throw `"replacement" must be a string; ${HELP}`;
  const hold = raw["stream-hold"] ?? DEFAULT_STREAM_HOLD;
  if (!Number.isInteger(hold) || hold < 0 || hold > MAX_STREAM_HOLD) {
    throw `"stream-hold" must be a whole number of characters from 0 to ${MAX_STREAM_HOLD}; got ${JSON.stringify(hold)}`;
  }
  return {
    block: patterns(raw, "block", flags),
    redact: patterns(raw, "redact", flags),
    replacement,
    hold,
  };
}

function patterns(raw, key, flags) {
  const list = raw[key] ?? [];
  if (!Array.isArray(list)) throw `"${key}" must be an array of regular expressions (strings); ${HELP}`;
  return list.map((source, i) => {
    if (typeof source !== "string" || source === "") {
      throw `${key}[${i}] must be a non-empty string (a JavaScript regular expression)`;
    }
    let re;
    try {
      re = new RegExp(source, flags);
    } catch (e) {
      throw `${key}[${i}] ${JSON.stringify(source)} is not a valid regular expression: ${e.message}`;
    }
    if (key === "redact" && new RegExp(`^(?:${source})$`, flags.replace("g", "")).test("")) {
      throw `${key}[${i}] ${JSON.stringify(source)} matches the empty string, so it would redact between every character; make it match at least one character`;
    }
    return { index: i, source, re };
  });
}

/// The text of an OpenAI message's content: a string, or text parts.
export function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .filter((p) => p && p.type === "text" && typeof p.text === "string")
      .map((p) => p.text)
      .join("\n");
  }
  return "";
}

/// Roles whose text a `block` pattern is checked against.
const CHECKED_ROLES = ["user", "system", "developer"];

/// The first block pattern a request's user/system text matches, as
/// `{message, pattern}`, or null. Never returns the matched text.
export function findBlocked(chat, config) {
  const messages = Array.isArray(chat.messages) ? chat.messages : [];
  for (let m = 0; m < messages.length; m++) {
    const msg = messages[m];
    if (!msg || !CHECKED_ROLES.includes(msg.role)) continue;
    const text = contentText(msg.content);
    for (const p of config.block) {
      p.re.lastIndex = 0;
      if (p.re.test(text)) return { message: m, role: msg.role, pattern: p };
    }
  }
  return null;
}

/// The client-facing reason for a block: the message and the pattern's
/// index and source, never the text that matched.
export function denyMessage(found) {
  return (
    `request blocked: messages[${found.message}] (${found.role}) matches block pattern ` +
    `#${found.pattern.index} /${found.pattern.source}/`
  );
}

/// `text` with every redact match replaced.
export function redactText(text, config) {
  let out = text;
  for (const p of config.redact) {
    p.re.lastIndex = 0;
    out = out.replace(p.re, () => config.replacement);
  }
  return out;
}

/// Redacts the text of every message (all roles) in a hub request.
/// Returns true when something changed.
export function redactRequest(chat, config) {
  let changed = false;
  for (const msg of Array.isArray(chat.messages) ? chat.messages : []) {
    if (!msg) continue;
    if (typeof msg.content === "string") {
      const r = redactText(msg.content, config);
      if (r !== msg.content) {
        msg.content = r;
        changed = true;
      }
    } else if (Array.isArray(msg.content)) {
      for (const part of msg.content) {
        if (part && part.type === "text" && typeof part.text === "string") {
          const r = redactText(part.text, config);
          if (r !== part.text) {
            part.text = r;
            changed = true;
          }
        }
      }
    }
  }
  return changed;
}

/// Redacts a whole hub response (choices[].message.content and
/// reasoning_content). Returns true when something changed.
export function redactResponse(resp, config) {
  let changed = false;
  for (const choice of Array.isArray(resp.choices) ? resp.choices : []) {
    const msg = choice && choice.message;
    if (!msg) continue;
    for (const key of ["content", "reasoning_content"]) {
      if (typeof msg[key] === "string") {
        const r = redactText(msg[key], config);
        if (r !== msg[key]) {
          msg[key] = r;
          changed = true;
        }
      }
    }
  }
  return changed;
}

/// All redact matches in `text` as [start, end) spans, merged.
function spans(text, config) {
  const found = [];
  for (const p of config.redact) {
    p.re.lastIndex = 0;
    for (const m of text.matchAll(p.re)) {
      if (m[0].length) found.push([m.index, m.index + m[0].length]);
    }
  }
  found.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged = [];
  for (const s of found) {
    const last = merged[merged.length - 1];
    if (last && s[0] < last[1]) last[1] = Math.max(last[1], s[1]);
    else merged.push(s);
  }
  return merged;
}

/// Streamed text: redacts matches even when a match is split across chunks,
/// as long as the part in the later chunk is at most `hold` characters
/// long. The last `hold` characters seen (and any match still running at
/// the end of what was seen) are held back until more text, or the end of
/// the stream, shows whether they belong to a match; so the client sees text
/// up to `hold` characters late, and the tail arrives with the stream's end.
/// `hold: 0` turns buffering off: each chunk is redacted on its own and a
/// match split across chunks goes through.
export class StreamRedactor {
  constructor(config) {
    this.config = config;
    this.pending = "";
  }

  /// One chunk in; the text that may go out now.
  push(text) {
    if (!this.config.redact.length) return text;
    if (this.config.hold === 0) return redactText(text, this.config);
    const buf = this.pending + text;
    const found = spans(buf, this.config);
    let cut = Math.max(0, buf.length - this.config.hold);
    for (const [s, e] of found) {
      if (s < cut && e > cut) {
        // A match crossing the cut: if it ends before the buffer does it is
        // complete and goes out (redacted) whole; if it runs to the end of
        // the buffer it may still grow, so hold it back from its start.
        cut = e < buf.length ? e : s;
        break;
      }
    }
    // Never split a surrogate pair.
    if (cut > 0 && cut < buf.length && isHighSurrogate(buf.charCodeAt(cut - 1))) cut--;
    this.pending = buf.slice(cut);
    return replaceSpans(buf.slice(0, cut), found.filter(([, e]) => e <= cut), this.config.replacement);
  }

  /// The end of the stream: what is still held, redacted.
  finish() {
    const rest = this.pending;
    this.pending = "";
    return redactText(rest, this.config);
  }
}

function isHighSurrogate(c) {
  return c >= 0xd800 && c <= 0xdbff;
}

function replaceSpans(text, found, replacement) {
  let out = "";
  let at = 0;
  for (const [s, e] of found) {
    out += text.slice(at, s) + replacement;
    at = e;
  }
  return out + text.slice(at);
}
