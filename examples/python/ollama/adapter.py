"""The `stream-mapper` resource of the `adapter` interface.

componentize-py looks for an exported interface's resources in a module
named after the interface, hence this file's name.
"""

import json

from wit_world.exports import adapter
from wit_world.imports import types

import translate
from app import completion_id, parse_body, reported


class StreamMapper(adapter.StreamMapper):
    """One per streamed response: Ollama NDJSON lines -> hub chunks."""

    def __init__(self, req: types.Request) -> None:
        try:
            body = parse_body(req)
        except translate.Fail:
            body = {}
        options = body.get("stream_options") if isinstance(body, dict) else None
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self.state = translate.StreamState(completion_id(req), req.model, include_usage)

    @reported
    def map_event(self, ev: types.Event) -> list:
        chunks = self.state.line(ev.data)
        return [types.Event(None, json.dumps(c, separators=(",", ":"), ensure_ascii=False)) for c in chunks]

    @reported
    def finish(self) -> list:
        return self.state.finish()
