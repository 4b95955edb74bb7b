"""The `stream-transformer` resource of the `transformer` interface
(componentize-py looks for it in a module named after the interface).
Events pass through unchanged."""

from wit_world.exports import transformer
from wit_world.imports import types


class StreamTransformer(transformer.StreamTransformer):
    def __init__(self, req: types.Request) -> None:
        pass

    def transform_event(self, ev: types.Event) -> list:
        return [ev]

    def finish(self) -> list:
        return []
