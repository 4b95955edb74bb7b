"""@NAME@: a sluice provider plugin in Python (world `provider`).

It answers every chat request itself, like a tiny mock, so it serves
requests without any upstream. To speak to a real API instead, return
`types.Prepared_Forward(types.UpstreamRequest(...))` from `prepare`, turn the
answer into a hub (OpenAI chat) response in `map_response`, and map each
upstream stream event in `StreamMapper` (adapter.py).

componentize-py finds the exported interfaces here by name (`Plugin`,
`Adapter`) and the stream-mapper resource in `adapter.py`. Module-level code
runs at build time (the initialised interpreter is snapshotted), so call the
host (`host.get_config`, `host.log`) only inside functions.

Config (`plugins.settings.@NAME@.config`): `{}` or `{"greeting": "text"}`.
"""

import json
import time

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

VERSION = "0.1.0"
CONFIG_HELP = 'accepted: {} or {"greeting": "text"}'


def check_config(text):
    """The config as a dict; raises ValueError saying what is wrong."""
    try:
        config = json.loads(text or "{}")
    except ValueError as e:
        raise ValueError("the config is not valid JSON (%s); %s" % (e, CONFIG_HELP))
    if not isinstance(config, dict):
        raise ValueError("the config must be a JSON object; " + CONFIG_HELP)
    unknown = sorted(k for k in config if k != "greeting")
    if unknown:
        raise ValueError("unknown key(s) %s; %s" % (", ".join(unknown), CONFIG_HELP))
    if not isinstance(config.get("greeting", ""), str):
        raise ValueError("`greeting` must be a string")
    return config


def chunk(id, created, model, delta, finish=None):
    return types.Event(None, json.dumps({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }))


class Plugin(exports.Plugin):
    def describe(self) -> types.PluginInfo:
        # This plugin reads none of a request's metadata and client headers,
        # so the host copies neither into every call (docs/plugins.md,
        # "Metadata and headers a plugin reads"). Name the keys and headers
        # here once the plugin reads some.
        host.reads_metadata([])
        host.reads_headers([])
        return types.PluginInfo(
            name="@NAME@",
            version=VERSION,
            kind=types.PluginKind.PROVIDER,
            description="@DESCRIPTION@",
            dialect="openai",
            stream_format=types.StreamFormat.SSE,
        )

    def validate_config(self, config: str) -> None:
        try:
            check_config(config)
        except ValueError as e:
            raise Err("@NAME@: %s" % e)


class Adapter(exports.Adapter):
    def prepare(self, req: types.Request, target: types.Target) -> types.Prepared:
        try:
            chat = json.loads(req.body)
        except ValueError as e:
            raise Err(types.PluginError(400, "invalid_request", "@NAME@: the body is not JSON (%s)" % e))
        said = ""
        for m in reversed(chat.get("messages") or []):
            if m.get("role") == "user":
                content = m.get("content")
                said = content if isinstance(content, str) else " ".join(
                    p.get("text", "") for p in content or [] if p.get("type") == "text")
                break
        greeting = check_config(host.get_config()).get("greeting", "Hello from @NAME@!")
        text = "%s You said: %s" % (greeting, said)
        host.log(host.LogLevel.DEBUG, "answering %s locally" % req.requested_model)

        id, model, created = "chatcmpl-@NAME@", req.requested_model, int(time.time())
        usage = {"prompt_tokens": len(said.split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if req.stream:
            events = [
                chunk(id, created, model, {"role": "assistant"}),
                chunk(id, created, model, {"content": text}),
                chunk(id, created, model, {}, "stop"),
            ]
            if (chat.get("stream_options") or {}).get("include_usage"):
                events.append(types.Event(None, json.dumps({
                    "id": id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [], "usage": usage})))
            return types.Prepared_Respond(types.LocalResponse(200, b"", events))
        body = {
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": usage,
        }
        return types.Prepared_Respond(types.LocalResponse(200, json.dumps(body).encode(), []))

    def map_response(self, req: types.Request, response: types.UpstreamResponse) -> bytes:
        raise Err(types.PluginError(500, "internal_error", "@NAME@ answers locally and never forwards upstream"))
