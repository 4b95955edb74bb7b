"""Ollama native API <-> hub (OpenAI Chat Completions) translation.

Pure functions and plain data only: nothing here imports the generated WIT
bindings, so the module runs (and is unit-tested) under an ordinary Python:

    python3 -m unittest discover -s examples/python/ollama

Errors are raised as `Fail(status, code, message)`; `app.py` turns them into
the WIT `plugin-error`.
"""

import base64
import binascii
import json
import re
from datetime import datetime

CHAT_PATH = "/api/chat"

# Ollama's done_reason -> OpenAI finish_reason.
_FINISH = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}

# Accepted by Ollama's keep_alive: a Go duration ("5m", "1h30m", "-1s") or
# a number of seconds (negative: keep loaded forever; 0: unload at once).
_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+$")

CONFIG_HELP = (
    'ollama-native accepts `{}` or `{"keep-alive": "5m"}` (how long Ollama keeps '
    'the model loaded: a duration like "5m", "1h" or "-1" for ever, or a number of seconds)'
)


class Fail(Exception):
    """A failure reported on purpose: becomes a WIT plugin-error."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message):
    return Fail(400, "invalid_request", "ollama-native: " + message)


def bad_upstream(message):
    return Fail(502, "bad_upstream", "ollama-native: " + message)


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------


def parse_config(text):
    """The config as a dict, or raises ValueError with what is wrong."""
    try:
        config = json.loads(text or "{}")
    except ValueError as e:
        raise ValueError("the config is not valid JSON (%s); %s" % (e, CONFIG_HELP))
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError("the config must be a JSON object; " + CONFIG_HELP)
    unknown = sorted(k for k in config if k != "keep-alive")
    if unknown:
        raise ValueError("unknown key(s) %s; %s" % (", ".join(map(repr, unknown)), CONFIG_HELP))
    keep = config.get("keep-alive")
    if keep is not None:
        if isinstance(keep, bool) or not isinstance(keep, (str, int, float)):
            raise ValueError("`keep-alive` must be a string or a number; " + CONFIG_HELP)
        if isinstance(keep, str) and not _DURATION.match(keep.strip()):
            raise ValueError(
                "`keep-alive` %r is not a duration; %s" % (keep, CONFIG_HELP)
            )
    return config


# --------------------------------------------------------------------------
# request: hub -> Ollama
# --------------------------------------------------------------------------


def _text_and_images(content, where):
    """OpenAI message content (a string or a list of parts) -> (text, images)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise bad_request("%s.content must be a string or an array of parts" % where)
    texts, images = [], []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise bad_request("%s.content[%d] must be an object" % (where, i))
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request("%s.content[%d].text must be a string" % (where, i))
            texts.append(text)
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            images.append(_data_url_base64(url, "%s.content[%d]" % (where, i)))
        else:
            raise bad_request(
                "%s.content[%d] has type %r; Ollama takes only text and image_url parts"
                % (where, i, kind)
            )
    return "\n".join(texts), images


def _data_url_base64(url, where):
    """The base64 payload of a `data:image/...;base64,` URL."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise bad_request(
            "%s: Ollama cannot fetch image URLs; send the image inline as a "
            "data:image/...;base64,... URL" % where
        )
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise bad_request("%s: the data: URL must be base64-encoded (data:image/png;base64,...)" % where)
    payload = payload.strip()
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("%s: the data: URL's base64 payload is invalid" % where)
    return payload


def _tool_calls_to_ollama(calls, where):
    if not isinstance(calls, list):
        raise bad_request("%s.tool_calls must be an array" % where)
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise bad_request("%s.tool_calls[%d].function must be an object" % (where, i))
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                raise bad_request("%s.tool_calls[%d].function.arguments is not valid JSON" % (where, i))
        out.append({"function": {"name": fn.get("name", ""), "arguments": args or {}}})
    return out


def _messages(messages):
    if not isinstance(messages, list) or not messages:
        raise bad_request("`messages` must be a non-empty array")
    out = []
    names = {}  # tool_call_id -> function name, for tool results
    for i, m in enumerate(messages):
        where = "messages[%d]" % i
        if not isinstance(m, dict):
            raise bad_request(where + " must be an object")
        role = m.get("role")
        if role == "developer":
            role = "system"
        text, images = _text_and_images(m.get("content"), where)
        msg = {"role": role, "content": text}
        if images:
            msg["images"] = images
        if m.get("tool_calls"):
            msg["tool_calls"] = _tool_calls_to_ollama(m["tool_calls"], where)
            for call in m["tool_calls"]:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    names[call["id"]] = call["function"].get("name", "")
        if role == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id"))
            if name:
                msg["tool_name"] = name
        out.append(msg)
    return out


def build_request(body, model, stream, config):
    """The Ollama /api/chat body (a dict) for a hub request body (a dict)."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    out = {"model": model, "messages": _messages(body.get("messages")), "stream": bool(stream)}
    options = {}
    for hub, ollama in (
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("seed", "seed"),
        ("presence_penalty", "presence_penalty"),
        ("frequency_penalty", "frequency_penalty"),
    ):
        if body.get(hub) is not None:
            options[ollama] = body[hub]
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        options["num_predict"] = limit
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(x, str) for x in stop):
            raise bad_request("`stop` must be a string or an array of strings")
        options["stop"] = stop
    if options:
        out["options"] = options
    if body.get("tools"):
        out["tools"] = body["tools"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            out["format"] = "json"
        elif fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema is not None:
                out["format"] = schema
    if config.get("keep-alive") is not None:
        out["keep_alive"] = config["keep-alive"]
    return out


# --------------------------------------------------------------------------
# response: Ollama -> hub
# --------------------------------------------------------------------------


def created_at(value):
    """Unix seconds of Ollama's RFC 3339 `created_at` (nanosecond precision), or 0."""
    if not isinstance(value, str):
        return 0
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if not m:
        return 0
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        return int(datetime.fromisoformat(m.group(1) + tz).timestamp())
    except ValueError:
        return 0


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage(line):
    prompt = _count(line.get("prompt_eval_count"))
    completion = _count(line.get("eval_count"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_calls_to_hub(calls, first_index=0):
    if not isinstance(calls, list):
        return []
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise bad_upstream("a tool call in the Ollama answer has no `function` object")
        args = fn.get("arguments", {})
        out.append(
            {
                "index": first_index + i,
                "id": "call_%d" % (first_index + i),
                "type": "function",
                "function": {
                    "name": fn.get("name", ""),
                    "arguments": args if isinstance(args, str) else json.dumps(args, separators=(",", ":")),
                },
            }
        )
    return out


def finish_reason(line, saw_tool_calls):
    if saw_tool_calls:
        return "tool_calls"
    return _FINISH.get(line.get("done_reason") or "stop", "stop")


def parse_line(data, what):
    """One Ollama JSON object; an `{"error": ...}` object is an upstream failure."""
    try:
        line = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise bad_upstream("%s is not valid JSON (%s)" % (what, e))
    if not isinstance(line, dict):
        raise bad_upstream("%s is not a JSON object" % what)
    if line.get("error"):
        raise bad_upstream("Ollama reported an error: %s" % line["error"])
    return line


def map_response(data, completion_id, fallback_model):
    """A whole /api/chat answer (bytes) -> hub chat.completion (dict)."""
    line = parse_line(data, "the Ollama response")
    message = line.get("message")
    if not isinstance(message, dict):
        raise bad_upstream("the Ollama response has no `message`")
    calls = _tool_calls_to_hub(message.get("tool_calls"))
    content = message.get("content")
    out_msg = {"role": "assistant", "content": content if isinstance(content, str) else ""}
    if calls:
        for c in calls:
            del c["index"]
        out_msg["tool_calls"] = calls
        if not out_msg["content"]:
            out_msg["content"] = None
    if message.get("thinking"):
        out_msg["reasoning_content"] = message["thinking"]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created_at(line.get("created_at")),
        "model": line.get("model") or fallback_model,
        "choices": [{"index": 0, "message": out_msg, "finish_reason": finish_reason(line, bool(calls))}],
        "usage": usage(line),
    }


class StreamState:
    """Maps Ollama NDJSON lines to hub chunks for one stream."""

    def __init__(self, completion_id, model, include_usage):
        self.id = completion_id
        self.model = model
        self.include_usage = include_usage
        self.created = 0
        self.sent_role = False
        self.tool_calls = 0
        self.done = False

    def _chunk(self, delta, finish=None):
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def line(self, data):
        """One NDJSON line (str) -> a list of hub chunk dicts."""
        if self.done:
            return []
        line = parse_line(data, "an Ollama stream line")
        if not self.created:
            self.created = created_at(line.get("created_at"))
        if isinstance(line.get("model"), str) and line["model"]:
            self.model = line["model"]
        message = line.get("message")
        if not isinstance(message, dict):
            message = {}
        delta = {}
        if not self.sent_role:
            delta["role"] = "assistant"
        if isinstance(message.get("content"), str) and message["content"]:
            delta["content"] = message["content"]
        if isinstance(message.get("thinking"), str) and message["thinking"]:
            delta["reasoning_content"] = message["thinking"]
        calls = _tool_calls_to_hub(message.get("tool_calls"), self.tool_calls)
        if calls:
            delta["tool_calls"] = calls
            self.tool_calls += len(calls)
        out = []
        if delta:
            # The first chunk carries the role even when it has no text yet.
            self.sent_role = True
            out.append(self._chunk(delta))
        if line.get("done"):
            self.done = True
            out.append(self._chunk({}, finish_reason(line, self.tool_calls > 0)))
            if self.include_usage:
                u = self._chunk({})
                u["choices"] = []
                u["usage"] = usage(line)
                out.append(u)
        return out

    def finish(self):
        if not self.done:
            raise bad_upstream(
                "the Ollama stream ended without its final `\"done\": true` line "
                "(the model may have been unloaded or Ollama restarted)"
            )
        return []
