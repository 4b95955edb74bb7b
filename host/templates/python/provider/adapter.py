"""The `stream-mapper` resource of the `adapter` interface (componentize-py
looks for an exported interface's resources in a module named after the
interface). Unused while `prepare` answers locally: events pass through."""

from wit_world.exports import adapter
from wit_world.imports import types


class StreamMapper(adapter.StreamMapper):
    def __init__(self, req: types.Request) -> None:
        self.model = req.model

    def map_event(self, ev: types.Event) -> list:
        return [ev]

    def finish(self) -> list:
        return []
