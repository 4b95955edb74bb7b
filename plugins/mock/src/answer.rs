//! The mock's answers, as plain functions (unit-tested natively).

use serde::Deserialize;
use sluice_sdk::hub::{ChatChunk, ChatRequest, ChatResponse, Delta, Message, Usage};
use sluice_sdk::{LocalResponse, PluginError, Request, config, error, json};

/// At most this many characters of the user's message are quoted back.
const QUOTE_CHARS: usize = 200;

/// The mock's config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Always answer with this text.
    pub reply: Option<String>,
}

/// Checks the config: `{}` or `{"reply": "fixed text"}`.
pub fn validate_config(config: &str) -> Result<(), String> {
    config::parse::<Config>(config).map(|_| ()).map_err(|e| {
        format!("mock: {e}; the mock accepts `{{}}` or `{{\"reply\": \"fixed text\"}}`")
    })
}

/// The local response for a hub request: a whole chat completion, or the
/// stream chunks when `req.stream`.
pub fn answer(req: &Request, config: &Config, created: u64) -> Result<LocalResponse, PluginError> {
    let chat: ChatRequest = json::parse(&req.body)?;
    if chat.messages.is_empty() {
        return Err(error::bad_request(
            "`messages` is empty; send at least one message",
        ));
    }
    let reply = reply_text(&chat, config);
    let (content, finish_reason) = limit_words(&reply, chat.max_output_tokens());
    let usage = Usage::new(
        prompt_tokens(&chat.messages),
        div_ceil4(content.chars().count()),
    );
    let id = format!("chatcmpl-mock-{:016x}", fnv1a(&req.body));
    let model = req.requested_model.as_str();

    if req.stream {
        let events = stream_chunks(
            &id,
            created,
            model,
            content,
            finish_reason,
            chat.include_usage().then_some(usage),
        )
        .iter()
        .map(ChatChunk::to_event)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalResponse {
            status: 200,
            body: Vec::new(),
            events,
        })
    } else {
        let resp = ChatResponse::single(id, created, model, content, finish_reason, Some(usage));
        Ok(LocalResponse {
            status: 200,
            body: json::to_vec(&resp)?,
            events: Vec::new(),
        })
    }
}

/// The configured reply, or a sentence quoting the last user message.
pub fn reply_text(chat: &ChatRequest, config: &Config) -> String {
    if let Some(reply) = &config.reply {
        return reply.clone();
    }
    match chat.messages.iter().rev().find(|m| m.role == "user") {
        Some(m) => {
            let said: String = m.text().chars().take(QUOTE_CHARS).collect();
            format!(
                "This is sluice's built-in mock provider. You said: \"{said}\". \
                 Configure a real provider in the config file to get real answers."
            )
        }
        None => "This is sluice's built-in mock provider. There was no user message to \
                 answer. Configure a real provider in the config file to get real answers."
            .to_owned(),
    }
}

/// Applies an output limit of `max` words: the reply cut to `max` words with
/// finish reason `length`, or the whole reply with `stop`.
pub fn limit_words(reply: &str, max: Option<u64>) -> (&str, &'static str) {
    let Some(max) = max else {
        return (reply, "stop");
    };
    let words = split_words(reply);
    if words.len() as u64 <= max {
        return (reply, "stop");
    }
    let keep: usize = words[..max as usize].iter().map(|w| w.len()).sum();
    (reply[..keep].trim_end(), "length")
}

/// Splits text into words, each with the whitespace that follows it (the
/// first one also with any leading whitespace). Concatenated they give the
/// text back.
pub fn split_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut prev_ws = false;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if !ws && prev_ws && seen_word {
            words.push(&text[start..i]);
            start = i;
        }
        seen_word |= !ws;
        prev_ws = ws;
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    words
}

/// The stream: a role chunk, one chunk per word, a finish chunk and, when
/// `usage` is given (`stream_options.include_usage`), a usage chunk with no
/// choices. No `[DONE]`: the host sends it.
pub fn stream_chunks(
    id: &str,
    created: u64,
    model: &str,
    content: &str,
    finish_reason: &str,
    usage: Option<Usage>,
) -> Vec<ChatChunk> {
    let words = split_words(content);
    let mut chunks = Vec::with_capacity(words.len() + 3);
    chunks.push(ChatChunk::new(
        id,
        created,
        model,
        Delta::role("assistant"),
        None,
    ));
    for word in words {
        chunks.push(ChatChunk::new(
            id,
            created,
            model,
            Delta::content(word),
            None,
        ));
    }
    chunks.push(ChatChunk::new(
        id,
        created,
        model,
        Delta::default(),
        Some(finish_reason),
    ));
    if let Some(usage) = usage {
        chunks.push(ChatChunk::usage(id, created, model, usage));
    }
    chunks
}

/// Rough prompt size: a token per 4 characters of message text, at least 1.
pub fn prompt_tokens(messages: &[Message]) -> u64 {
    let chars: usize = messages.iter().map(|m| m.text().chars().count()).sum();
    div_ceil4(chars).max(1)
}

fn div_ceil4(n: usize) -> u64 {
    n.div_ceil(4) as u64
}

/// FNV-1a, 64 bits: a stable hash for the deterministic completion id.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request(body: Value, stream: bool) -> Request {
        Request {
            model: "mock-1".into(),
            requested_model: "my-model".into(),
            stream,
            client_dialect: "openai".into(),
            body_dialect: "openai".into(),
            headers: vec![],
            body: serde_json::to_vec(&body).unwrap(),
            metadata: vec![],
        }
    }

    fn events(resp: &LocalResponse) -> Vec<Value> {
        resp.events
            .iter()
            .map(|e| {
                assert_eq!(e.event, None);
                serde_json::from_str(&e.data).unwrap()
            })
            .collect()
    }

    #[test]
    fn config_validation() {
        assert!(validate_config("{}").is_ok());
        assert!(validate_config(r#"{"reply": "fixed"}"#).is_ok());
        let e = validate_config(r#"{"replay": "x"}"#).unwrap_err();
        assert!(
            e.contains("unknown field `replay`") && e.contains("reply"),
            "{e}"
        );
        let e = validate_config(r#"{"reply": 1}"#).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert!(validate_config("[]").is_err());
        assert!(validate_config("nope").is_err());
    }

    #[test]
    fn non_streaming_answer() {
        let body = json!({"model": "x", "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "Hello there"}
        ]});
        let resp = answer(&request(body.clone(), false), &Config::default(), 7).unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.events.is_empty());
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        let content = "This is sluice's built-in mock provider. You said: \"Hello there\". \
                       Configure a real provider in the config file to get real answers.";
        let hash = fnv1a(&serde_json::to_vec(&body).unwrap());
        assert_eq!(
            v,
            json!({
                "id": format!("chatcmpl-mock-{hash:016x}"),
                "object": "chat.completion",
                "created": 7,
                "model": "my-model",
                "choices": [{"index": 0,
                             "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 33, "total_tokens": 38}
            })
        );
        // Deterministic.
        let again = answer(&request(body, false), &Config::default(), 7).unwrap();
        assert_eq!(again.body, resp.body);
    }

    #[test]
    fn configured_reply_and_parts() {
        let cfg = Config {
            reply: Some("fixed text".into()),
        };
        let body = json!({"messages": [{"role": "user", "content": "hi"}]});
        let resp = answer(&request(body, false), &cfg, 0).unwrap();
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "fixed text");

        let chat: ChatRequest = serde_json::from_value(json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "part one"},
                                         {"type": "image_url", "image_url": {"url": "x"}}]},
            {"role": "assistant", "content": "ok"}
        ]}))
        .unwrap();
        assert!(reply_text(&chat, &Config::default()).contains("You said: \"part one\"."));

        let chat: ChatRequest =
            serde_json::from_value(json!({"messages": [{"role": "system", "content": "s"}]}))
                .unwrap();
        assert!(reply_text(&chat, &Config::default()).contains("no user message"));

        let long = "é".repeat(300);
        let chat: ChatRequest =
            serde_json::from_value(json!({"messages": [{"role": "user", "content": long}]}))
                .unwrap();
        let reply = reply_text(&chat, &Config::default());
        assert!(reply.contains(&format!("\"{}\".", "é".repeat(200))));
        assert!(!reply.contains(&"é".repeat(201)));
    }

    #[test]
    fn bad_requests() {
        for body in [json!({"messages": []}), json!({"model": "x"})] {
            let e = answer(&request(body, false), &Config::default(), 0).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "invalid_request"));
            assert!(e.message.contains("`messages`"), "{}", e.message);
        }
        let e = answer(
            &request(json!({"messages": "hi"}), false),
            &Config::default(),
            0,
        );
        let e = e.unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("expected a sequence"), "{}", e.message);
        let mut req = request(json!({}), false);
        req.body = b"{not json".to_vec();
        let e = answer(&req, &Config::default(), 0).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
    }

    #[test]
    fn streaming_answer() {
        let cfg = Config {
            reply: Some("one two  three".into()),
        };
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true});
        let resp = answer(&request(body, true), &cfg, 3).unwrap();
        assert!(resp.body.is_empty());
        let evs = events(&resp);
        assert_eq!(evs.len(), 5);
        let id = evs[0]["id"].as_str().unwrap();
        assert!(id.starts_with("chatcmpl-mock-"));
        for ev in &evs {
            assert_eq!(ev["id"], id);
            assert_eq!(ev["object"], "chat.completion.chunk");
            assert_eq!(ev["model"], "my-model");
            assert_eq!(ev["created"], 3);
            assert!(ev.get("usage").is_none());
        }
        assert_eq!(
            evs[0]["choices"],
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}])
        );
        let words: Vec<_> = evs[1..4]
            .iter()
            .map(|e| e["choices"][0]["delta"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(words, ["one ", "two  ", "three"]);
        assert_eq!(
            evs[4]["choices"],
            json!([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        );
    }

    #[test]
    fn streaming_usage_and_limit() {
        let cfg = Config {
            reply: Some("a b c d e".into()),
        };
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "stream": true,
                          "stream_options": {"include_usage": true}, "max_tokens": 2});
        let evs = events(&answer(&request(body, true), &cfg, 0).unwrap());
        assert_eq!(evs.len(), 5);
        assert_eq!(evs[1]["choices"][0]["delta"]["content"], "a ");
        assert_eq!(evs[2]["choices"][0]["delta"]["content"], "b");
        assert_eq!(evs[3]["choices"][0]["finish_reason"], "length");
        assert_eq!(evs[4]["choices"], json!([]));
        assert_eq!(
            evs[4]["usage"],
            json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
        );
    }

    #[test]
    fn word_limits() {
        assert_eq!(limit_words("a b c", None), ("a b c", "stop"));
        assert_eq!(limit_words("a b c", Some(3)), ("a b c", "stop"));
        assert_eq!(limit_words("a b c", Some(2)), ("a b", "length"));
        assert_eq!(limit_words("a b c", Some(0)), ("", "length"));
        let body = json!({"messages": [{"role": "user", "content": "x"}],
                          "max_completion_tokens": 1});
        let cfg = Config {
            reply: Some("hello world".into()),
        };
        let v: Value =
            serde_json::from_slice(&answer(&request(body, false), &cfg, 0).unwrap().body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "hello");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn words() {
        assert_eq!(split_words(""), Vec::<&str>::new());
        assert_eq!(split_words("one"), ["one"]);
        assert_eq!(split_words(" a  b\nc "), [" a  ", "b\n", "c "]);
        assert_eq!(split_words("héllo wörld"), ["héllo ", "wörld"]);
    }
}
