"""Drive a running sluice gateway with the official OpenAI and Anthropic SDKs.

Usage: python clients.py BASE_URL MODEL [MODEL ...]

Each MODEL routes to an upstream of a different dialect (the Rust test that
runs this script sets that up with mock upstreams). For every model, both
SDKs hold a two-turn conversation with a tool call and its result, streaming
and not. The mock upstreams answer a request without a tool result with a
call to get_weather({"city": "Paris"}), and one with a tool result with a
sentence that quotes the result.
"""

import json
import sys

import anthropic
import openai

BASE = sys.argv[1]
MODELS = sys.argv[2:]
KEY = "sk-test"

oa = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0)
an = anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0)

OA_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}]
AN_TOOLS = [{
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}]
QUESTION = "What is the weather in Paris?"
RESULT = "18C and sunny"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def openai_client(model):
    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": QUESTION},
    ]
    r = oa.chat.completions.create(model=model, messages=msgs, tools=OA_TOOLS)
    call = r.choices[0].message.tool_calls[0]
    check(call.function.name == "get_weather", f"{model}: tool name {call.function.name}")
    check(json.loads(call.function.arguments) == {"city": "Paris"}, f"{model}: args {call.function.arguments}")
    check(r.choices[0].finish_reason == "tool_calls", f"{model}: finish {r.choices[0].finish_reason}")
    check(r.usage.total_tokens > 0, f"{model}: usage {r.usage}")

    msgs += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": RESULT},
    ]
    r2 = oa.chat.completions.create(model=model, messages=msgs, tools=OA_TOOLS)
    check(RESULT in (r2.choices[0].message.content or ""), f"{model}: answer {r2.choices[0].message}")

    # Streaming, first turn: the tool call arrives in pieces.
    name, args, finish = "", "", None
    for chunk in oa.chat.completions.create(model=model, messages=msgs[:2], tools=OA_TOOLS, stream=True,
                                            stream_options={"include_usage": True}):
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                name += tc.function.name or ""
                args += tc.function.arguments or ""
            finish = c.finish_reason or finish
    check(name == "get_weather" and json.loads(args) == {"city": "Paris"}, f"{model}: streamed call {name} {args}")
    check(finish == "tool_calls", f"{model}: streamed finish {finish}")

    # Streaming, second turn: text with a usage chunk at the end.
    text, usage = "", None
    for chunk in oa.chat.completions.create(model=model, messages=msgs, tools=OA_TOOLS, stream=True,
                                            stream_options={"include_usage": True}):
        for c in chunk.choices:
            text += c.delta.content or ""
        usage = chunk.usage or usage
    check(RESULT in text, f"{model}: streamed answer {text!r}")
    check(usage is not None and usage.total_tokens > 0, f"{model}: streamed usage {usage}")


def anthropic_client(model):
    msgs = [{"role": "user", "content": QUESTION}]
    m = an.messages.create(model=model, max_tokens=256, system="You are terse.", messages=msgs, tools=AN_TOOLS)
    uses = [b for b in m.content if b.type == "tool_use"]
    check(len(uses) == 1 and uses[0].name == "get_weather", f"{model}: content {m.content}")
    check(uses[0].input == {"city": "Paris"}, f"{model}: input {uses[0].input}")
    check(m.stop_reason == "tool_use", f"{model}: stop {m.stop_reason}")
    check(m.usage.input_tokens > 0, f"{model}: usage {m.usage}")

    msgs += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": RESULT}]},
    ]
    m2 = an.messages.create(model=model, max_tokens=256, messages=msgs, tools=AN_TOOLS)
    text = "".join(b.text for b in m2.content if b.type == "text")
    check(RESULT in text, f"{model}: answer {m2.content}")
    check(m2.stop_reason == "end_turn", f"{model}: stop {m2.stop_reason}")

    # Streaming, first turn: the SDK assembles the tool call from input_json_delta.
    with an.messages.stream(model=model, max_tokens=256, messages=msgs[:1], tools=AN_TOOLS) as s:
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    check(uses and uses[0].input == {"city": "Paris"}, f"{model}: streamed content {final.content}")
    check(final.stop_reason == "tool_use", f"{model}: streamed stop {final.stop_reason}")

    # Streaming, second turn.
    with an.messages.stream(model=model, max_tokens=256, messages=msgs, tools=AN_TOOLS) as s:
        text = s.get_final_text()
        final = s.get_final_message()
    check(RESULT in text, f"{model}: streamed answer {text!r}")
    check(final.usage.output_tokens > 0, f"{model}: streamed usage {final.usage}")


failures = []
for model in MODELS:
    for client in (openai_client, anthropic_client):
        try:
            client(model)
            print(f"ok   {client.__name__} -> {model}")
        except Exception as e:  # report every failure, not just the first
            failures.append(f"{client.__name__} -> {model}: {type(e).__name__}: {e}")
            print(f"FAIL {failures[-1]}")
if failures:
    sys.exit(1)
