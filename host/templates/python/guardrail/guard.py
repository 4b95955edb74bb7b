"""The `stream-guard` resource of the `guard` interface (componentize-py
looks for it in a module named after the interface). Every piece of
streamed text is allowed."""

from wit_world.exports import guard
from wit_world.imports import types


class StreamGuard(guard.StreamGuard):
    def __init__(self, req: types.Request) -> None:
        pass

    def check_text(self, text: str) -> types.Verdict:
        return types.Verdict_Allow()

    def finish(self) -> types.Verdict:
        return types.Verdict_Allow()
