"""@NAME@: a sluice transform plugin in Python (world `transform`).

It passes requests, responses and stream events through unchanged and logs
each request. Rewrite the hub (OpenAI chat) JSON in `transform_request` /
`transform_response` / `StreamTransformer.transform_event` (transformer.py)
to make it do something.

componentize-py finds the exported interfaces here by name (`Plugin`,
`Transformer`) and the stream-transformer resource in `transformer.py`.
Module-level code runs at build time, so call the host only inside functions.

Config (`plugins.settings.@NAME@.config`): `{}`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

VERSION = "0.1.0"


class Plugin(exports.Plugin):
    def describe(self) -> types.PluginInfo:
        # A transform that leaves answers or streams alone can say so, and
        # the host skips those calls, e.g.
        # host.pass_through(host.Hooks.RESPONSE | host.Hooks.STREAM)

        # This plugin reads none of a request's metadata and client headers,
        # so the host copies neither into every call (docs/plugins.md,
        # "Metadata and headers a plugin reads"). Name the keys and headers
        # here once the plugin reads some.
        host.reads_metadata([])
        host.reads_headers([])
        return types.PluginInfo(
            name="@NAME@",
            version=VERSION,
            kind=types.PluginKind.TRANSFORM,
            description="@DESCRIPTION@",
            dialect="",
            stream_format=types.StreamFormat.SSE,
        )

    def validate_config(self, config: str) -> None:
        try:
            value = json.loads(config or "{}")
        except ValueError as e:
            raise Err("@NAME@: the config is not valid JSON (%s)" % e)
        if value != {}:
            raise Err("@NAME@: this plugin takes no config yet; use {}")


class Transformer(exports.Transformer):
    def transform_request(self, req: types.Request) -> bytes:
        host.log(host.LogLevel.INFO, "request for model %s (%d bytes, stream: %s)" % (
            req.requested_model, len(req.body), req.stream))
        return req.body

    def transform_response(self, req: types.Request, body: bytes) -> bytes:
        return body
