"""@NAME@: a sluice guardrail plugin in Python (world `guardrail`).

It allows everything except requests whose messages contain a word,
`forbidden` unless the config says otherwise (compared without regard to
case). Return `types.Verdict_Rewrite(new_body_bytes)` to change a request or
answer instead; streamed text is checked in `StreamGuard` (guard.py).

componentize-py finds the exported interfaces here by name (`Plugin`,
`Guard`) and the stream-guard resource in `guard.py`. Module-level code runs
at build time, so call the host only inside functions.

Config (`plugins.settings.@NAME@.config`): `{}` or `{"deny-word": "word"}`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

VERSION = "0.1.0"
CONFIG_HELP = 'accepted: {} or {"deny-word": "word"}'


def check_config(text):
    """The config as a dict; raises ValueError saying what is wrong."""
    try:
        config = json.loads(text or "{}")
    except ValueError as e:
        raise ValueError("the config is not valid JSON (%s); %s" % (e, CONFIG_HELP))
    if not isinstance(config, dict):
        raise ValueError("the config must be a JSON object; " + CONFIG_HELP)
    unknown = sorted(k for k in config if k != "deny-word")
    if unknown:
        raise ValueError("unknown key(s) %s; %s" % (", ".join(unknown), CONFIG_HELP))
    word = config.get("deny-word", "forbidden")
    if not isinstance(word, str) or not word.strip():
        raise ValueError("`deny-word` must be a non-empty string")
    return config


def message_text(m):
    content = m.get("content") if isinstance(m, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


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
            kind=types.PluginKind.GUARDRAIL,
            description="@DESCRIPTION@",
            dialect="",
            stream_format=types.StreamFormat.SSE,
        )

    def validate_config(self, config: str) -> None:
        try:
            check_config(config)
        except ValueError as e:
            raise Err("@NAME@: %s" % e)


class Guard(exports.Guard):
    def check_request(self, req: types.Request) -> types.Verdict:
        if req.body_dialect != "openai":
            return types.Verdict_Allow()
        word = check_config(host.get_config()).get("deny-word", "forbidden").lower()
        try:
            chat = json.loads(req.body)
        except ValueError as e:
            raise Err(types.PluginError(400, "invalid_request", "@NAME@: the body is not JSON (%s)" % e))
        for i, m in enumerate(chat.get("messages") or []):
            if word in message_text(m).lower():
                host.log(host.LogLevel.INFO, "denied: messages[%d] contains the deny word" % i)
                return types.Verdict_Deny(
                    "@NAME@: messages[%d] contains the word %r, which this gateway does not allow" % (i, word))
        return types.Verdict_Allow()

    def check_response(self, req: types.Request, body: bytes) -> types.Verdict:
        return types.Verdict_Allow()
