"""Native unit tests of the translation (no WebAssembly needed):

    python3 -m unittest discover -s examples/python/ollama
"""

import json
import unittest

import translate as t

PNG = "iVBORw0KGgo="


class Config(unittest.TestCase):
    def test_accepts_empty_and_keep_alive(self):
        self.assertEqual(t.parse_config("{}"), {})
        self.assertEqual(t.parse_config('{"keep-alive": "5m"}'), {"keep-alive": "5m"})
        self.assertEqual(t.parse_config('{"keep-alive": -1}'), {"keep-alive": -1})
        self.assertEqual(t.parse_config('{"keep-alive": "1h30m"}')["keep-alive"], "1h30m")

    def test_rejects_clearly(self):
        for text, words in [
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
            ('{"keepalive": "5m"}', "unknown key(s) 'keepalive'"),
            ('{"keep-alive": "soon"}', "not a duration"),
            ('{"keep-alive": true}', "string or a number"),
        ]:
            with self.assertRaises(ValueError) as e:
                t.parse_config(text)
            self.assertIn(words, str(e.exception))
            self.assertIn("keep-alive", str(e.exception))


class Request(unittest.TestCase):
    def test_full_translation(self):
        body = {
            "model": "llama",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
                ]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
            ],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": "END", "seed": 7,
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {}}}],
            "stream": True,
        }
        out = t.build_request(body, "llama3.2", True, {"keep-alive": "5m"})
        self.assertEqual(out["model"], "llama3.2")
        self.assertIs(out["stream"], True)
        self.assertEqual(out["messages"][0], {"role": "system", "content": "Be brief."})
        self.assertEqual(out["messages"][1], {"role": "user", "content": "What is this?", "images": [PNG]})
        self.assertEqual(out["messages"][2]["tool_calls"], [{"function": {"name": "look", "arguments": {"x": 1}}}])
        self.assertEqual(out["messages"][3], {"role": "tool", "content": "a cat", "tool_name": "look"})
        self.assertEqual(out["options"], {"temperature": 0.2, "top_p": 0.9, "seed": 7,
                                          "num_predict": 50, "stop": ["END"]})
        self.assertEqual(out["tools"], body["tools"])
        self.assertEqual(out["keep_alive"], "5m")

    def test_minimal_has_no_options(self):
        out = t.build_request({"messages": [{"role": "user", "content": "hi"}]}, "m", False, {})
        self.assertEqual(out, {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False})
        out = t.build_request({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 9,
                               "max_tokens": 3}, "m", False, {})
        self.assertEqual(out["options"], {"num_predict": 9})

    def test_bad_requests(self):
        for body, words in [
            ({"messages": []}, "non-empty"),
            ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                           "image_url": {"url": "https://x/y.png"}}]}]}, "inline"),
            ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input_audio"),
        ]:
            with self.assertRaises(t.Fail) as e:
                t.build_request(body, "m", False, {})
            self.assertEqual(e.exception.status, 400)
            self.assertIn(words, e.exception.message)


class Response(unittest.TestCase):
    def test_whole_answer(self):
        data = json.dumps({
            "model": "llama3.2", "created_at": "2024-01-02T03:04:05.123456789Z",
            "message": {"role": "assistant", "content": "Hi!"},
            "done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2,
        }).encode()
        out = t.map_response(data, "chatcmpl-1", "fallback")
        self.assertEqual(out["object"], "chat.completion")
        self.assertEqual(out["created"], 1704164645)
        self.assertEqual(out["model"], "llama3.2")
        self.assertEqual(out["choices"], [{"index": 0, "message": {"role": "assistant", "content": "Hi!"},
                                           "finish_reason": "stop"}])
        self.assertEqual(out["usage"], {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})

    def test_tool_calls_and_length(self):
        data = json.dumps({"message": {"role": "assistant", "content": "",
                                       "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                           "done_reason": "stop"}).encode()
        out = t.map_response(data, "id", "m")
        msg = out["choices"][0]["message"]
        self.assertEqual(msg["tool_calls"], [{"id": "call_0", "type": "function",
                                              "function": {"name": "f", "arguments": "{\"a\":1}"}}])
        self.assertIsNone(msg["content"])
        self.assertEqual(out["choices"][0]["finish_reason"], "tool_calls")
        out = t.map_response(b'{"message":{"content":"x"},"done_reason":"length"}', "id", "m")
        self.assertEqual(out["choices"][0]["finish_reason"], "length")

    def test_upstream_errors(self):
        for data in [b"nope", b'{"error":"model not found"}', b"{}"]:
            with self.assertRaises(t.Fail) as e:
                t.map_response(data, "id", "m")
            self.assertEqual(e.exception.status, 502)


class Stream(unittest.TestCase):
    LINES = [
        {"model": "llama3.2", "created_at": "2024-01-02T03:04:05Z", "message": {"role": "assistant", "content": "Hel"}, "done": False},
        {"model": "llama3.2", "message": {"role": "assistant", "content": "lo"}, "done": False},
        {"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop", "prompt_eval_count": 4, "eval_count": 2},
    ]

    def run_lines(self, include_usage):
        s = t.StreamState("id", "m", include_usage)
        out = []
        for line in self.LINES:
            out.extend(s.line(json.dumps(line)))
        s.finish()
        return out

    def test_chunks(self):
        out = self.run_lines(False)
        self.assertEqual([c["choices"][0]["delta"] for c in out],
                         [{"role": "assistant", "content": "Hel"}, {"content": "lo"}, {}])
        self.assertEqual([c["choices"][0]["finish_reason"] for c in out], [None, None, "stop"])
        self.assertTrue(all(c["object"] == "chat.completion.chunk" and c["model"] == "llama3.2" for c in out))
        self.assertEqual(out[0]["created"], 1704164645)

    def test_usage_chunk(self):
        out = self.run_lines(True)
        self.assertEqual(len(out), 4)
        self.assertEqual(out[-1]["choices"], [])
        self.assertEqual(out[-1]["usage"], {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})

    def test_truncated_stream_and_errors(self):
        s = t.StreamState("id", "m", False)
        s.line(json.dumps(self.LINES[0]))
        with self.assertRaises(t.Fail):
            s.finish()
        with self.assertRaises(t.Fail) as e:
            t.StreamState("id", "m", False).line('{"error":"out of memory"}')
        self.assertIn("out of memory", e.exception.message)


if __name__ == "__main__":
    unittest.main()
