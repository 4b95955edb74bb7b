//! The thinking translator: reading intents and writing them per provider.

mod common;

use common::request;
use serde_json::{Value, json};
use translate::thinking::{Config, transform_request, translate};

fn run(body: Value, dialect: &str, target: &str, suffix: Option<&str>) -> Value {
    let mut b = body;
    translate(&mut b, dialect, target, suffix, &Config::default());
    b
}

#[test]
fn suffix_levels_for_anthropic_from_the_hub() {
    let out = run(
        json!({"model": "m", "messages": [], "reasoning_effort": "low", "temperature": 0.2}),
        "openai",
        "anthropic",
        Some("high"),
    );
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 24576})
    );
    assert_eq!(out["max_tokens"], 24576 + 4096);
    assert!(out.get("reasoning_effort").is_none());
    assert!(out.get("temperature").is_none());
    // max_tokens above the budget stays; at or below gets budget + max(value, 1024).
    let out = run(
        json!({"messages": [], "max_tokens": 30000}),
        "openai",
        "anthropic",
        Some("high"),
    );
    assert_eq!(out["max_tokens"], 30000);
    let out = run(
        json!({"messages": [], "max_completion_tokens": 2000}),
        "openai",
        "anthropic",
        Some("medium"),
    );
    assert_eq!(out["max_completion_tokens"], 8192 + 2000);
    // Budgets below Anthropic's minimum are raised to 1024.
    let out = run(
        json!({"messages": []}),
        "openai",
        "anthropic",
        Some("minimal"),
    );
    assert_eq!(out["thinking"]["budget_tokens"], 1024);
    let out = run(json!({"messages": []}), "openai", "anthropic", Some("none"));
    assert_eq!(out["thinking"], json!({"type": "disabled"}));
    assert!(out.get("max_tokens").is_none());
}

#[test]
fn numbers_and_levels_for_openai() {
    for (suffix, effort) in [
        ("8192", json!("medium")),
        ("100", json!("minimal")),
        ("99999", json!("high")),
        ("low", json!("low")),
        ("none", json!("none")),
    ] {
        let out = run(
            json!({"messages": [], "reasoning_effort": "high"}),
            "openai",
            "openai",
            Some(suffix),
        );
        assert_eq!(out["reasoning_effort"], effort, "{suffix}");
    }
    let out = run(
        json!({"messages": [], "reasoning_effort": "high"}),
        "openai",
        "openai",
        Some("auto"),
    );
    assert!(out.get("reasoning_effort").is_none());
    // Anthropic client → OpenAI provider: the budget becomes a level, the extension goes.
    let out = run(
        json!({"messages": [], "thinking": {"type": "enabled", "budget_tokens": 10000}}),
        "openai",
        "openai",
        None,
    );
    assert_eq!(out["reasoning_effort"], "high");
    assert!(out.get("thinking").is_none());
    // Gemini client → OpenAI provider.
    let out = run(
        json!({"messages": [], "thinking_config": {"thinkingBudget": 0}}),
        "openai",
        "openai",
        None,
    );
    assert_eq!(out["reasoning_effort"], "none");
}

#[test]
fn gemini_targets() {
    let out = run(
        json!({"messages": [], "reasoning_effort": "high"}),
        "openai",
        "gemini",
        None,
    );
    assert_eq!(
        out["thinking_config"],
        json!({"thinkingBudget": 24576, "includeThoughts": true})
    );
    assert!(out.get("reasoning_effort").is_none());
    let out = run(
        json!({"messages": [], "thinking": {"type": "adaptive"}}),
        "openai",
        "gemini",
        None,
    );
    assert_eq!(
        out["thinking_config"],
        json!({"thinkingBudget": -1, "includeThoughts": true})
    );
    let out = run(
        json!({"messages": [], "thinking": {"type": "disabled"}}),
        "openai",
        "gemini",
        None,
    );
    assert_eq!(out["thinking_config"], json!({"thinkingBudget": 0}));
    // A Gemini body passed through: the suffix rewrites generationConfig.thinkingConfig.
    let out = run(
        json!({"contents": [], "generationConfig": {"temperature": 1, "thinkingConfig": {"thinkingBudget": 99}}}),
        "gemini",
        "gemini",
        Some("low"),
    );
    assert_eq!(
        out["generationConfig"],
        json!({"temperature": 1, "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}})
    );
    let out = run(json!({"contents": []}), "gemini", "gemini", Some("0"));
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 0})
    );
}

#[test]
fn gemini_intent_for_anthropic() {
    let out = run(
        json!({"messages": [], "thinking_config": {"thinkingBudget": 2048, "includeThoughts": true}}),
        "openai",
        "anthropic",
        None,
    );
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert!(out.get("thinking_config").is_none());
    let out = run(
        json!({"messages": [], "thinking_config": {"thinkingLevel": "high"}}),
        "openai",
        "anthropic",
        None,
    );
    assert_eq!(out["thinking"]["budget_tokens"], 24576);
    let out = run(
        json!({"messages": [], "thinking_config": {"thinkingBudget": -1}}),
        "openai",
        "anthropic",
        None,
    );
    assert_eq!(out["thinking"]["budget_tokens"], 8192);
}

#[test]
fn anthropic_passthrough_body_with_suffix_and_forced_tools() {
    let body = json!({"model": "claude", "max_tokens": 1000, "temperature": 0.5, "top_k": 5, "top_p": 0.5,
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true}, "messages": []});
    let mut b = body.clone();
    let o = translate(
        &mut b,
        "anthropic",
        "anthropic",
        Some("4000"),
        &Config::default(),
    );
    assert_eq!(
        b["thinking"],
        json!({"type": "enabled", "budget_tokens": 4000})
    );
    assert_eq!(b["max_tokens"], 4000 + 1024);
    assert_eq!(
        b["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    for k in ["temperature", "top_k", "top_p"] {
        assert!(b.get(k).is_none(), "{k}");
    }
    assert_eq!(o.notes.len(), 5, "{:?}", o.notes);
    assert!(o.before.is_none());
    assert!(o.after.unwrap().to_string().contains("4000"));
}

#[test]
fn native_intents_without_suffix_are_left_alone() {
    for (body, dialect, target) in [
        (
            json!({"messages": [], "thinking": {"type": "enabled", "budget_tokens": 3000}, "max_tokens": 100}),
            "anthropic",
            "anthropic",
        ),
        (
            json!({"messages": [], "thinking": {"type": "adaptive"}}),
            "openai",
            "anthropic",
        ),
        (
            json!({"messages": [], "reasoning_effort": "minimal"}),
            "openai",
            "openai",
        ),
        (
            json!({"contents": [], "generationConfig": {"thinkingConfig": {"thinkingBudget": 5}}}),
            "gemini",
            "gemini",
        ),
        (
            json!({"messages": [], "thinking_config": {"thinkingBudget": 5}}),
            "openai",
            "gemini",
        ),
        (json!({"messages": []}), "openai", "anthropic"),
    ] {
        let mut b = body.clone();
        let o = translate(&mut b, dialect, target, None, &Config::default());
        assert_eq!(b, body);
        assert!(o.after.is_none());
    }
    // Unknown suffix: ignored.
    let body = json!({"messages": [], "reasoning_effort": "low"});
    assert_eq!(run(body.clone(), "openai", "openai", Some("turbo")), body);
}

#[test]
fn configured_levels() {
    let cfg =
        Config::parse(r#"{"levels": {"high": 32000, "xhigh": 60000}, "answer-tokens": 1000}"#)
            .unwrap();
    let mut b = json!({"messages": []});
    translate(&mut b, "openai", "anthropic", Some("high"), &cfg);
    assert_eq!(b["thinking"]["budget_tokens"], 32000);
    assert_eq!(b["max_tokens"], 33024);
    let mut b = json!({"messages": []});
    translate(&mut b, "openai", "gemini", Some("xhigh"), &cfg);
    assert_eq!(b["thinking_config"]["thinkingBudget"], 60000);
    let mut b = json!({"messages": []});
    translate(&mut b, "openai", "openai", Some("50000"), &cfg);
    assert_eq!(b["reasoning_effort"], "xhigh");
    assert!(Config::parse(r#"{"levels": {"none": 5}}"#).is_err());
    assert!(Config::parse(r#"{"levels": {"12": 5}}"#).is_err());
    assert!(
        Config::parse(r#"{"budgets": {}}"#)
            .unwrap_err()
            .contains("unknown field")
    );
    assert!(Config::parse(r#"{"levels": {"low": "x"}}"#).is_err());
}

#[test]
fn transform_request_uses_metadata() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    // No provider-dialect: unchanged.
    let req = request(&body, "openai", "openai", &[("model-suffix", "high")]);
    assert_eq!(
        transform_request(&req, &Config::default()).unwrap(),
        req.body
    );
    // No intent at all: same bytes.
    let req = request(
        &body,
        "openai",
        "openai",
        &[("provider-dialect", "anthropic")],
    );
    assert_eq!(
        transform_request(&req, &Config::default()).unwrap(),
        req.body
    );
    let req = request(
        &body,
        "openai",
        "openai",
        &[("provider-dialect", "anthropic"), ("model-suffix", "8192")],
    );
    let out: Value =
        serde_json::from_slice(&transform_request(&req, &Config::default()).unwrap()).unwrap();
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(out["max_tokens"], 8192 + 4096);
}

/// `transform_request` reads and writes only the top-level thinking fields:
/// its answer is what [`translate`] makes of the whole body, and everything
/// else (the conversation with its escapes and number spellings) reaches
/// the provider byte for byte.
#[test]
fn transform_request_edits_only_the_thinking_fields() {
    let bodies = [
        ("anthropic", common::json("anthropic/request_basic.json")),
        (
            "anthropic",
            common::json("anthropic/request_tool_loop.json"),
        ),
        ("openai", common::json("openai/request_basic.json")),
        ("openai", common::json("openai/request_tools_history.json")),
        ("gemini", common::json("gemini/request_basic.json")),
        (
            "gemini",
            common::json("gemini/request_function_history.json"),
        ),
    ];
    let extras = [
        json!({}),
        json!({"thinking": {"type": "enabled", "budget_tokens": 3000}, "temperature": 0.2,
            "top_k": 5, "top_p": 0.5, "tool_choice": {"type": "any"}, "max_tokens": 100}),
        json!({"reasoning_effort": "low", "max_completion_tokens": 10, "tool_choice": "required"}),
        json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}),
    ];
    let mut changed = 0;
    for (dialect, body) in &bodies {
        for extra in &extras {
            let mut body = body.clone();
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            for target in ["openai", "anthropic", "gemini"] {
                for suffix in [None, Some("high"), Some("none"), Some("20000")] {
                    let mut meta = vec![("provider-dialect", target)];
                    if let Some(s) = suffix {
                        meta.push(("model-suffix", s));
                    }
                    let req = request(&body, dialect, dialect, &meta);
                    let out = transform_request(&req, &Config::default()).unwrap();
                    let expected = run(body.clone(), dialect, target, suffix);
                    let got: Value = serde_json::from_slice(&out).unwrap();
                    assert_eq!(got, expected, "{dialect} -> {target}, suffix {suffix:?}");
                    changed += usize::from(out != req.body);
                }
            }
        }
    }
    assert!(changed > 50, "only {changed} bodies were rewritten");

    // Escapes and number spellings outside the thinking fields are kept.
    let raw = br#"{"model":"m","messages":[{"role":"user","content":"caf\u00e9 \"q\""}],"temperature":1.50,"n":1e0}"#;
    let mut req = request(
        &json!({}),
        "openai",
        "openai",
        &[("provider-dialect", "anthropic"), ("model-suffix", "high")],
    );
    req.body = raw.to_vec();
    let out = String::from_utf8(transform_request(&req, &Config::default()).unwrap()).unwrap();
    assert!(
        out.starts_with(
            r#"{"model":"m","messages":[{"role":"user","content":"caf\u00e9 \"q\""}],"#
        ),
        "{out}"
    );
    assert!(out.contains(r#""n":1e0"#), "{out}");
    assert!(
        !out.contains("temperature"),
        "temperature 1.5 is refused with thinking: {out}"
    );
}
