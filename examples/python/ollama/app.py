"""ollama-native: a sluice provider plugin for Ollama's native API (/api/chat).

The WIT world is `provider` (wit/sluice.wit). componentize-py looks for the
exported interfaces here by name: `Plugin` (describe, validate-config) and
`Adapter` (prepare, map-response). The adapter's `stream-mapper` resource is
the `StreamMapper` class in `adapter.py` (componentize-py expects resources
in a module named after their interface).

Module-level code runs at build time (componentize-py snapshots the
initialised interpreter), so nothing here calls the host at import.
"""

import functools
import json
import traceback

from wit_world import exports
from componentize_py_types import Err
from wit_world.imports import host, types

import translate

VERSION = "0.1.0"

_config = None


def config():
    """The plugin's config; it never changes for an instance."""
    global _config
    if _config is None:
        try:
            _config = translate.parse_config(host.get_config())
        except ValueError:
            _config = {}
    return _config


def plugin_error(fail):
    return Err(types.PluginError(fail.status, fail.code, fail.message))


def reported(call):
    """Turns `translate.Fail` into the WIT plugin-error, and any other
    exception (a bug) into a 500 plugin-error with the traceback in the
    gateway's log, instead of a trap."""

    @functools.wraps(call)
    def wrapper(*args):
        try:
            return call(*args)
        except Err:
            raise
        except translate.Fail as f:
            raise plugin_error(f)
        except Exception as e:
            host.log(host.LogLevel.ERROR, "%s failed:\n%s" % (call.__name__, traceback.format_exc()))
            raise Err(types.PluginError(
                500, "internal_error", "ollama-native: unexpected %s in %s: %s" % (type(e).__name__, call.__name__, e)))

    return wrapper


def completion_id(req):
    for key, value in req.metadata:
        if key == "request-id":
            return "chatcmpl-" + value
    return "chatcmpl-ollama"


def parse_body(req):
    try:
        return json.loads(req.body)
    except (ValueError, RecursionError) as e:
        raise translate.bad_request("the request body is not valid JSON (%s)" % e)


class Plugin(exports.Plugin):
    def describe(self) -> types.PluginInfo:
        # Of the request's metadata only `request-id` is read (for the
        # answer's id), and no client header: the host sends nothing else.
        host.reads_metadata(["request-id"])
        host.reads_headers([])
        return types.PluginInfo(
            name="ollama-native",
            version=VERSION,
            kind=types.PluginKind.PROVIDER,
            description="Ollama's native API (/api/chat, NDJSON streaming), written in Python",
            dialect="ollama",
            stream_format=types.StreamFormat.NDJSON,
        )

    def validate_config(self, config: str) -> None:
        try:
            translate.parse_config(config)
        except ValueError as e:
            raise Err("ollama-native: %s" % e)


class Adapter(exports.Adapter):
    @reported
    def prepare(self, req: types.Request, target: types.Target) -> types.Prepared:
        body = parse_body(req)
        if req.body_dialect == "ollama" and isinstance(body, dict):
            # Same dialect on both sides: only the model changes.
            out = dict(body, model=req.model)
        else:
            out = translate.build_request(body, req.model, req.stream, config())
        headers = [types.Header("content-type", "application/json")]
        if target.api_key:
            # Ollama itself needs no key; a proxy in front of it may.
            headers.append(types.Header("authorization", "Bearer " + target.api_key))
        headers.extend(target.headers)
        host.log(host.LogLevel.DEBUG, "POST %s%s model=%s stream=%s" % (
            target.base_url, translate.CHAT_PATH, req.model, req.stream))
        return types.Prepared_Forward(types.UpstreamRequest(
            method="POST",
            path=translate.CHAT_PATH,
            headers=headers,
            body=json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode(),
        ))

    @reported
    def map_response(self, req: types.Request, response: types.UpstreamResponse) -> bytes:
        out = translate.map_response(response.body, completion_id(req), req.model)
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()
