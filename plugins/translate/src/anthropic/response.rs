//! Whole responses and usage: Anthropic → hub (provider side) and hub →
//! Anthropic (ingress).

use serde_json::{Map, Value};
use sluice_sdk::hub::{self, ChatResponse, Choice, PromptTokensDetails};

use super::request::assistant_to_hub;
use super::types::{Block, MessagesResponse, Usage};
use crate::common::{self, Ctx, anthropic_stop_to_finish, finish_to_anthropic_stop, raw_arguments};
use crate::ext;

/// Anthropic usage as hub usage. `prompt_tokens` includes cached tokens
/// (read and written), as OpenAI counts them; `cached_tokens` is the cache
/// read, the cache write goes to the `cache_creation_tokens` extension.
pub fn usage_to_hub(u: &Usage) -> hub::Usage {
    let read = u.cache_read_input_tokens.unwrap_or(0);
    let write = u.cache_creation_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.unwrap_or(0) + read + write;
    let mut out = hub::Usage::new(prompt, u.output_tokens.unwrap_or(0));
    if u.cache_read_input_tokens.is_some() || u.cache_creation_input_tokens.is_some() {
        let mut d = PromptTokensDetails {
            cached_tokens: Some(read),
            ..Default::default()
        };
        if let Some(w) = u.cache_creation_input_tokens {
            d.extra
                .insert(ext::CACHE_CREATION_TOKENS.into(), Value::from(w));
        }
        out.prompt_tokens_details = Some(d);
    }
    if let Some(e) = u.extra.get(ext::ESTIMATED) {
        out.extra.insert(ext::ESTIMATED.into(), e.clone());
    }
    out
}

/// Hub usage as Anthropic usage (the inverse of [`usage_to_hub`]).
pub fn usage_from_hub(u: &hub::Usage) -> Usage {
    let details = u.prompt_tokens_details.as_ref();
    let read = details.and_then(|d| d.cached_tokens);
    let write = details
        .and_then(|d| d.extra.get(ext::CACHE_CREATION_TOKENS))
        .and_then(Value::as_u64);
    let input = u
        .prompt_tokens
        .saturating_sub(read.unwrap_or(0))
        .saturating_sub(write.unwrap_or(0));
    let mut out = Usage {
        input_tokens: Some(input),
        output_tokens: Some(u.completion_tokens),
        cache_creation_input_tokens: write,
        cache_read_input_tokens: read,
        extra: Map::new(),
    };
    if common::is_estimated(u) {
        out.extra.insert(ext::ESTIMATED.into(), Value::Bool(true));
    }
    out
}

/// Output characters of Anthropic blocks (for usage estimates).
fn output_chars(blocks: &[Block]) -> usize {
    blocks
        .iter()
        .map(|b| {
            b.text.as_deref().map_or(0, |t| t.chars().count())
                + b.thinking.as_deref().map_or(0, |t| t.chars().count())
                + b.input.as_ref().map_or(0, |i| i.get().chars().count())
        })
        .sum()
}

/// Maps an Anthropic response to a hub response. Usage is estimated (and
/// marked) when the upstream sent none; `prompt_chars` is the prompt's size
/// for that estimate.
pub fn response_to_hub(resp: MessagesResponse, ctx: &Ctx, prompt_chars: usize) -> ChatResponse {
    let usage = match &resp.usage {
        Some(u) if u.input_tokens.is_some() || u.output_tokens.is_some() => usage_to_hub(u),
        _ => common::estimated_usage(prompt_chars, output_chars(&resp.content)),
    };
    let message = assistant_to_hub(resp.content, true);
    let mut choice = Choice {
        index: 0,
        message,
        finish_reason: Some(
            anthropic_stop_to_finish(resp.stop_reason.as_deref().unwrap_or("end_turn")).into(),
        ),
        extra: Map::new(),
    };
    if let Some(seq) = resp.stop_sequence {
        choice
            .extra
            .insert(ext::STOP_SEQUENCE.into(), Value::String(seq));
    }
    ChatResponse {
        id: resp.id,
        object: hub::CHAT_COMPLETION.into(),
        created: ctx.created,
        model: if resp.model.is_empty() {
            ctx.model.clone()
        } else {
            resp.model
        },
        choices: vec![choice],
        usage: Some(usage),
        extra: Map::new(),
    }
}

/// An Anthropic message id for a hub id (`msg_` prefixed).
pub fn message_id(hub_id: &str) -> String {
    if hub_id.starts_with("msg_") {
        hub_id.to_owned()
    } else if hub_id.is_empty() {
        "msg_sluice".to_owned()
    } else {
        format!("msg_{hub_id}")
    }
}

/// The blocks of a hub assistant message, in Anthropic order: thinking,
/// text, tool_use.
pub fn message_blocks(m: &hub::Message) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(Value::Array(list)) = m.extra.get(ext::THINKING_BLOCKS) {
        blocks.extend(
            list.iter()
                .filter_map(|b| serde_json::from_value::<Block>(b.clone()).ok()),
        );
    } else {
        if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            blocks.push(Block {
                kind: "thinking".into(),
                thinking: Some(r.to_owned()),
                signature: Some(
                    m.extra
                        .get(ext::REASONING_SIGNATURE)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                ),
                ..Default::default()
            });
        }
        if let Some(Value::Array(list)) = m.extra.get(ext::REDACTED_THINKING) {
            for d in list.iter().filter_map(Value::as_str) {
                blocks.push(Block {
                    kind: "redacted_thinking".into(),
                    data: Some(d.to_owned()),
                    ..Default::default()
                });
            }
        }
    }
    let text = m.text();
    if !text.is_empty() {
        blocks.push(Block::text(text));
    } else if let Some(Value::String(refusal)) = m.extra.get("refusal") {
        blocks.push(Block::text(refusal.clone()));
    }
    for (i, call) in m.tool_calls.iter().flatten().enumerate() {
        let f = call.function.clone().unwrap_or_default();
        blocks.push(Block {
            kind: "tool_use".into(),
            id: Some(call.id.clone().unwrap_or_else(|| format!("toolu_{i}"))),
            name: Some(f.name.unwrap_or_default()),
            input: Some(raw_arguments(f.arguments.as_deref().unwrap_or(""))),
            ..Default::default()
        });
    }
    blocks
}

/// Maps a hub response to an Anthropic response (for Anthropic clients).
/// Only the first choice is used. Usage is estimated (and marked) when the
/// hub response has none.
pub fn response_from_hub(resp: ChatResponse, ctx: &Ctx, prompt_chars: usize) -> MessagesResponse {
    let choice = resp.choices.into_iter().next();
    let (content, finish, stop_sequence) = match &choice {
        Some(c) => (
            message_blocks(&c.message),
            c.finish_reason.clone(),
            c.extra
                .get(ext::STOP_SEQUENCE)
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        None => (Vec::new(), None, None),
    };
    let usage = match &resp.usage {
        Some(u) => usage_from_hub(u),
        None => usage_from_hub(&common::estimated_usage(
            prompt_chars,
            output_chars(&content),
        )),
    };
    let stop_reason =
        finish_to_anthropic_stop(finish.as_deref().unwrap_or("stop"), stop_sequence.is_some());
    MessagesResponse {
        id: message_id(&resp.id),
        kind: "message".into(),
        role: "assistant".into(),
        content,
        model: if resp.model.is_empty() {
            ctx.client_model().to_owned()
        } else {
            resp.model
        },
        stop_reason: Some(stop_reason.into()),
        stop_sequence: if stop_reason == "stop_sequence" {
            stop_sequence
        } else {
            None
        },
        usage: Some(usage),
        extra: Map::new(),
    }
}
