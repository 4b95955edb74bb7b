//! Whole responses and usage: Gemini → hub (provider side) and hub → Gemini
//! (ingress).

use serde_json::{Map, Value};
use sluice_sdk::hub::{self, ChatResponse, Choice, CompletionTokensDetails, PromptTokensDetails};

use super::request::{model_parts_to_message, thought_signature};
use super::types::{
    Candidate, Content, FunctionCall, GenerateContentResponse, Part, UsageMetadata,
};
use crate::common::{self, Ctx, gemini_finish_to_hub, hub_finish_to_gemini, parse_arguments};
use crate::ext;

/// Gemini usage as hub usage: `prompt_tokens` = prompt + tool-use prompt
/// tokens; `completion_tokens` = candidates + thoughts (OpenAI counts
/// reasoning as output); `reasoning_tokens` = thoughts; `cached_tokens` =
/// `cachedContentTokenCount`.
pub fn usage_to_hub(u: &UsageMetadata) -> hub::Usage {
    let prompt = u.prompt_token_count.unwrap_or(0) + u.tool_use_prompt_token_count.unwrap_or(0);
    let completion = u.candidates_token_count.unwrap_or(0) + u.thoughts_token_count.unwrap_or(0);
    let mut out = hub::Usage::new(prompt, completion);
    if let Some(t) = u.total_token_count {
        out.total_tokens = t;
    }
    if let Some(c) = u.cached_content_token_count {
        out.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(c),
            ..Default::default()
        });
    }
    if let Some(r) = u.thoughts_token_count {
        out.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(r),
            ..Default::default()
        });
    }
    if let Some(e) = u.extra.get(ext::ESTIMATED) {
        out.extra.insert(ext::ESTIMATED.into(), e.clone());
    }
    out
}

/// Hub usage as Gemini `usageMetadata` (the inverse of [`usage_to_hub`]).
pub fn usage_from_hub(u: &hub::Usage) -> UsageMetadata {
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens);
    let mut out = UsageMetadata {
        prompt_token_count: Some(u.prompt_tokens),
        candidates_token_count: Some(u.completion_tokens.saturating_sub(reasoning.unwrap_or(0))),
        total_token_count: Some(u.total_tokens),
        cached_content_token_count: u
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens),
        thoughts_token_count: reasoning,
        ..Default::default()
    };
    if common::is_estimated(u) {
        out.extra.insert(ext::ESTIMATED.into(), Value::Bool(true));
    }
    out
}

/// The id given to the `part`-th part of candidate `candidate` of a response
/// when its `functionCall` has no id: `call_` and 16 hex digits, stable for a
/// given response id, position, name and arguments.
pub fn response_call_id(
    response_id: &str,
    candidate: u32,
    part: usize,
    fc: &FunctionCall,
) -> String {
    let args = fc.args.as_ref().map(Value::to_string).unwrap_or_default();
    let h = common::fnv64(&[
        response_id,
        &candidate.to_string(),
        &part.to_string(),
        &fc.name,
        &args,
    ]);
    format!("call_{h:016x}")
}

fn parts_chars(parts: &[Part]) -> usize {
    parts
        .iter()
        .map(|p| {
            p.text.as_deref().map_or(0, |t| t.chars().count())
                + p.function_call
                    .as_ref()
                    .and_then(|f| f.args.as_ref())
                    .map_or(0, |a| a.to_string().chars().count())
        })
        .sum()
}

/// Maps a Gemini response to a hub response (one choice per candidate).
/// Usage is estimated (and marked) when the upstream sent none.
pub fn response_to_hub(
    resp: GenerateContentResponse,
    ctx: &Ctx,
    prompt_chars: usize,
) -> ChatResponse {
    let rid = resp.response_id.clone().unwrap_or_default();
    let blocked = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.get("blockReason"))
        .is_some();
    let mut out_chars = 0;
    let mut choices = Vec::new();
    for (pos, c) in resp.candidates.into_iter().enumerate() {
        let index = c.index.unwrap_or(pos as u32);
        let parts = c.content.map(|c| c.parts).unwrap_or_default();
        out_chars += parts_chars(&parts);
        let message =
            model_parts_to_message(parts, true, |pi, fc| response_call_id(&rid, index, pi, fc));
        let has_calls = message.tool_calls.is_some();
        let finish = gemini_finish_to_hub(c.finish_reason.as_deref().unwrap_or("STOP"), has_calls);
        choices.push(Choice {
            index,
            message,
            finish_reason: Some(finish.into()),
            extra: Map::new(),
        });
    }
    if choices.is_empty() {
        choices.push(Choice {
            index: 0,
            message: hub::Message::assistant(""),
            finish_reason: Some(if blocked { "content_filter" } else { "stop" }.into()),
            extra: Map::new(),
        });
    }
    let usage = match &resp.usage_metadata {
        Some(u) if u.prompt_token_count.is_some() || u.candidates_token_count.is_some() => {
            usage_to_hub(u)
        }
        _ => common::estimated_usage(prompt_chars, out_chars),
    };
    ChatResponse {
        id: if rid.is_empty() {
            format!(
                "chatcmpl-{:016x}",
                common::fnv64(&[&ctx.model, &ctx.created.to_string()])
            )
        } else {
            rid
        },
        object: hub::CHAT_COMPLETION.into(),
        created: ctx.created,
        model: resp.model_version.unwrap_or_else(|| ctx.model.clone()),
        choices,
        usage: Some(usage),
        extra: Map::new(),
    }
}

/// The parts of a hub assistant message for a Gemini client: the reasoning
/// as a thought part, the text (with the message's thought signature), then
/// the function calls (with their ids and signatures).
pub fn message_parts(m: &hub::Message) -> Vec<Part> {
    let mut parts = Vec::new();
    if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
        parts.push(Part {
            text: Some(r.to_owned()),
            thought: Some(true),
            ..Default::default()
        });
    }
    let text = m.text();
    let sig = thought_signature(&m.extra);
    if !text.is_empty() || sig.is_some() {
        parts.push(Part {
            text: Some(text),
            thought_signature: sig,
            ..Default::default()
        });
    }
    for c in m.tool_calls.iter().flatten() {
        let f = c.function.clone().unwrap_or_default();
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: c.id.clone(),
                name: f.name.unwrap_or_default(),
                args: Some(parse_arguments(f.arguments.as_deref().unwrap_or(""))),
                extra: Map::new(),
            }),
            thought_signature: thought_signature(&c.extra),
            ..Default::default()
        });
    }
    parts
}

/// Maps a hub response to a Gemini response (for Gemini clients). Usage is
/// estimated (and marked) when the hub response has none.
pub fn response_from_hub(
    resp: ChatResponse,
    ctx: &Ctx,
    prompt_chars: usize,
) -> GenerateContentResponse {
    let mut out_chars = 0;
    let candidates: Vec<Candidate> = resp
        .choices
        .iter()
        .map(|c| {
            let parts = message_parts(&c.message);
            out_chars += parts_chars(&parts);
            Candidate {
                content: Some(Content {
                    role: Some("model".into()),
                    parts,
                    extra: Map::new(),
                }),
                finish_reason: Some(
                    hub_finish_to_gemini(c.finish_reason.as_deref().unwrap_or("stop")).into(),
                ),
                index: Some(c.index),
                extra: Map::new(),
            }
        })
        .collect();
    let usage = match &resp.usage {
        Some(u) => usage_from_hub(u),
        None => usage_from_hub(&common::estimated_usage(prompt_chars, out_chars)),
    };
    GenerateContentResponse {
        candidates,
        prompt_feedback: None,
        usage_metadata: Some(usage),
        model_version: Some(if resp.model.is_empty() {
            ctx.client_model().to_owned()
        } else {
            resp.model
        }),
        response_id: Some(resp.id),
        extra: Map::new(),
    }
}
