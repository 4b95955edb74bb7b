//! Reasoning ("thinking") intent: read it from wherever the client put it,
//! write what the target provider accepts.
//!
//! Sources, highest priority first:
//! 1. the metadata `model-suffix` (`model(high)`, `model(8192)`): a level
//!    name, `none`/`off`, `auto`, or a number of budget tokens;
//! 2. the body: Anthropic `thinking` (the top-level field of an Anthropic
//!    body, or the hub extension `thinking`), Gemini `thinkingConfig`
//!    (`generationConfig.thinkingConfig` of a Gemini body, or the hub
//!    extension `thinking_config`), OpenAI `reasoning_effort`.
//!
//! Targets (the `provider-dialect`):
//! * `openai`: `reasoning_effort` (`none`, a level name; a budget becomes the
//!   smallest level whose budget covers it; `auto` removes the field);
//! * `anthropic`: `thinking: {"type":"enabled","budget_tokens":B}` (B at
//!   least 1024) or `{"type":"disabled"}`; `max_tokens` is raised above B
//!   when needed, and settings Anthropic refuses with thinking on
//!   (`temperature` ≠ 1, `top_k`, `top_p` < 0.95, forced tool use) are
//!   removed;
//! * `gemini`: `thinkingConfig: {"thinkingBudget": B, "includeThoughts": ..}`
//!   (0 = off, -1 = dynamic).
//!
//! In a hub body the Anthropic and Gemini forms are written as the hub
//! extensions `thinking` and `thinking_config`; the provider adapters copy
//! them into the upstream request.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_sdk::log::debug;

use crate::dialect::{ANTHROPIC, GEMINI, OPENAI};
use crate::ext;

/// Anthropic's smallest thinking budget.
pub const MIN_ANTHROPIC_BUDGET: u64 = 1024;

/// The default level → budget table.
pub fn default_levels() -> BTreeMap<String, u64> {
    [
        ("minimal", 512),
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// [`default_levels`], built once.
fn defaults() -> &'static BTreeMap<String, u64> {
    static DEFAULTS: std::sync::OnceLock<BTreeMap<String, u64>> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(default_levels)
}

/// The thinking translator's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Level name → budget tokens; merged over [`default_levels`].
    #[serde(default)]
    pub levels: BTreeMap<String, u64>,
    /// Answer room added above the thinking budget when Anthropic's
    /// `max_tokens` is unset (default 4096).
    #[serde(default = "default_answer_tokens")]
    pub answer_tokens: u64,
}

fn default_answer_tokens() -> u64 {
    4096
}

impl Default for Config {
    fn default() -> Self {
        Config {
            levels: BTreeMap::new(),
            answer_tokens: default_answer_tokens(),
        }
    }
}

impl Config {
    /// Parses and checks the config JSON.
    pub fn parse(raw: &str) -> Result<Config, String> {
        let c: Config = sluice_sdk::config::parse(raw).map_err(|e| {
            format!(
                "thinking-translator: {e}; accepted keys: `levels` (e.g. {{\"low\": 1024, \"high\": 24576}}) and `answer-tokens`"
            )
        })?;
        for name in c.levels.keys() {
            if name.parse::<i64>().is_ok() || ["none", "off", "auto"].contains(&name.as_str()) {
                return Err(format!(
                    "thinking-translator: `{name}` cannot be a level name (numbers, none, off and auto have a fixed meaning)"
                ));
            }
        }
        Ok(c)
    }

    /// The effective level table (defaults with the config's entries on
    /// top). Without entries of its own (the usual config), the default
    /// table, built once.
    pub fn table(&self) -> Cow<'static, BTreeMap<String, u64>> {
        if self.levels.is_empty() {
            return Cow::Borrowed(defaults());
        }
        let mut t = default_levels();
        t.extend(self.levels.clone());
        Cow::Owned(t)
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// No reasoning.
    Off,
    /// The provider decides (dynamic thinking).
    Auto,
    /// A named level (`low`, `high`, ...).
    Level(String),
    /// A token budget.
    Budget(u64),
}

/// Where an intent came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    /// The metadata `model-suffix`.
    Suffix,
    /// OpenAI `reasoning_effort`.
    OpenAi,
    /// Anthropic `thinking`.
    Anthropic,
    /// Gemini `thinkingConfig`.
    Gemini,
}

impl Source {
    fn dialect(self) -> Option<&'static str> {
        match self {
            Source::Suffix => None,
            Source::OpenAi => Some(OPENAI),
            Source::Anthropic => Some(ANTHROPIC),
            Source::Gemini => Some(GEMINI),
        }
    }
}

/// A client's reasoning intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// What was asked for.
    pub mode: Mode,
    /// Whether the reasoning text should be returned (Gemini
    /// `includeThoughts`), when the client said so.
    pub include_thoughts: Option<bool>,
    /// Where it came from.
    pub source: Source,
}

/// Reads a `model(suffix)` value. Unknown words give `None`.
pub fn read_suffix(suffix: &str, table: &BTreeMap<String, u64>) -> Option<Mode> {
    let s = suffix.trim().to_ascii_lowercase();
    match s.as_str() {
        "" => None,
        "none" | "off" | "disabled" | "0" => Some(Mode::Off),
        "auto" | "dynamic" | "adaptive" | "-1" => Some(Mode::Auto),
        _ if table.contains_key(&s) => Some(Mode::Level(s)),
        _ => s.parse::<u64>().ok().map(Mode::Budget),
    }
}

/// Reads an OpenAI `reasoning_effort`.
pub fn read_effort(effort: &str) -> Mode {
    match effort.trim().to_ascii_lowercase().as_str() {
        "none" => Mode::Off,
        "auto" => Mode::Auto,
        other => match other.parse::<u64>() {
            Ok(0) => Mode::Off,
            Ok(n) => Mode::Budget(n),
            Err(_) => Mode::Level(other.to_owned()),
        },
    }
}

/// Reads an Anthropic `thinking` object.
pub fn read_anthropic(v: &Value) -> Option<Intent> {
    let mode = match v.get("type").and_then(Value::as_str)? {
        "enabled" => match v.get("budget_tokens").and_then(Value::as_u64) {
            Some(n) => Mode::Budget(n),
            None => Mode::Auto,
        },
        "adaptive" => Mode::Auto,
        "disabled" => Mode::Off,
        _ => return None,
    };
    Some(Intent {
        include_thoughts: None,
        mode,
        source: Source::Anthropic,
    })
}

/// Reads a Gemini `thinkingConfig` (camelCase or snake_case keys).
pub fn read_gemini(v: &Value) -> Option<Intent> {
    let get = |camel: &str, snake: &str| v.get(camel).or_else(|| v.get(snake));
    let include = get("includeThoughts", "include_thoughts").and_then(Value::as_bool);
    let mode = if let Some(b) = get("thinkingBudget", "thinking_budget").and_then(Value::as_i64) {
        match b {
            0 => Mode::Off,
            b if b < 0 => Mode::Auto,
            b => Mode::Budget(b as u64),
        }
    } else if let Some(l) = get("thinkingLevel", "thinking_level").and_then(Value::as_str) {
        match l.to_ascii_lowercase().as_str() {
            "thinking_level_unspecified" => Mode::Auto,
            other => Mode::Level(other.to_owned()),
        }
    } else if include == Some(true) {
        Mode::Auto
    } else {
        return None;
    };
    Some(Intent {
        mode,
        include_thoughts: include,
        source: Source::Gemini,
    })
}

/// The budget of a mode (`Off` → 0, `Auto` → the `medium` level).
pub fn budget_of(mode: &Mode, table: &BTreeMap<String, u64>) -> u64 {
    let medium = table.get("medium").copied().unwrap_or(8192);
    match mode {
        Mode::Off => 0,
        Mode::Auto => medium,
        Mode::Budget(n) => *n,
        Mode::Level(l) => table.get(l).copied().unwrap_or_else(|| {
            debug(&format!(
                "unknown reasoning level `{l}`: using the `medium` budget"
            ));
            medium
        }),
    }
}

/// The smallest level whose budget covers `budget` (the largest level when
/// none does).
pub fn level_for_budget(budget: u64, table: &BTreeMap<String, u64>) -> String {
    let mut levels: Vec<(&String, &u64)> = table.iter().collect();
    levels.sort_by_key(|(_, b)| **b);
    levels
        .iter()
        .find(|(_, b)| **b >= budget)
        .or(levels.last())
        .map(|(l, _)| (*l).clone())
        .unwrap_or_else(|| "medium".into())
}

/// The OpenAI `reasoning_effort` for an Anthropic `thinking` object, with the
/// default levels: used by the anthropic ingress when the provider speaks
/// plain OpenAI. Disabled and adaptive give `None` (the field is left out).
pub fn anthropic_to_effort(v: &Value) -> Option<String> {
    match read_anthropic(v)?.mode {
        Mode::Budget(n) => Some(effort_for_budget(n)),
        _ => None,
    }
}

/// The OpenAI `reasoning_effort` for a thinking budget, with the default
/// levels: the smallest level whose budget covers it.
pub fn effort_for_budget(budget: u64) -> String {
    level_for_budget(budget, defaults())
}

/// The OpenAI `reasoning_effort` for a Gemini `thinkingConfig` (see
/// [`anthropic_to_effort`]).
pub fn gemini_to_effort(v: &Value) -> Option<String> {
    match read_gemini(v)?.mode {
        Mode::Off => Some("none".into()),
        Mode::Budget(n) => Some(level_for_budget(n, defaults())),
        Mode::Level(l) => Some(l),
        Mode::Auto => None,
    }
}

/// Reads the intent in a body of `body_dialect` (no suffix).
pub fn read_body(body: &Value, body_dialect: &str) -> Option<Intent> {
    match body_dialect {
        ANTHROPIC => body.get("thinking").and_then(read_anthropic),
        GEMINI => gemini_config(body).and_then(read_gemini),
        _ => body
            .get(ext::THINKING)
            .and_then(read_anthropic)
            .or_else(|| body.get(ext::THINKING_CONFIG).and_then(read_gemini))
            .or_else(|| {
                body.get("reasoning_effort")
                    .and_then(Value::as_str)
                    .map(|e| Intent {
                        mode: read_effort(e),
                        include_thoughts: None,
                        source: Source::OpenAi,
                    })
            }),
    }
}

fn gemini_config(body: &Value) -> Option<&Value> {
    let gc = body
        .get("generationConfig")
        .or_else(|| body.get("generation_config"))?;
    gc.get("thinkingConfig")
        .or_else(|| gc.get("thinking_config"))
}

/// What [`translate`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The thinking settings found, if any (for logs: formatted only when
    /// a line is written).
    pub before: Option<Value>,
    /// The thinking settings written, if anything was written.
    pub after: Option<Value>,
    /// Other changes (max_tokens raised, settings removed).
    pub notes: Vec<String>,
}

/// The thinking-related fields of a body, as one object (for logs).
pub fn describe(body: &Value, body_dialect: &str) -> Option<Value> {
    let mut m = Map::new();
    let keys: &[&str] = match body_dialect {
        ANTHROPIC => &["thinking", "max_tokens"],
        GEMINI => &[],
        _ => &[
            "reasoning_effort",
            ext::THINKING,
            ext::THINKING_CONFIG,
            "max_tokens",
            "max_completion_tokens",
        ],
    };
    for k in keys {
        if let Some(v) = body.get(*k) {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    if body_dialect == GEMINI
        && let Some(v) = gemini_config(body)
    {
        m.insert("thinkingConfig".into(), v.clone());
    }
    let interesting = m.keys().any(|k| !k.starts_with("max_"));
    interesting.then(|| Value::Object(m))
}

/// Rewrites the thinking settings of `body` (in `body_dialect`) for a
/// provider of `target` dialect. `suffix` is the metadata `model-suffix`.
///
/// With no suffix, a body whose intent is already in the target's own form
/// is left alone (an Anthropic `thinking` for an Anthropic provider, ...).
pub fn translate(
    body: &mut Value,
    body_dialect: &str,
    target: &str,
    suffix: Option<&str>,
    config: &Config,
) -> Outcome {
    let table = config.table();
    let mut outcome = Outcome {
        before: describe(body, body_dialect),
        ..Default::default()
    };
    let from_suffix = suffix.and_then(|s| {
        let m = read_suffix(s, &table);
        if m.is_none() {
            debug(&format!(
                "model suffix `{s}` is not a reasoning level, `none`, `auto` or a number: ignored"
            ));
        }
        m
    });
    let intent = match from_suffix {
        Some(mode) => Intent {
            mode,
            include_thoughts: None,
            source: Source::Suffix,
        },
        None => match read_body(body, body_dialect) {
            Some(i) => i,
            None => return outcome,
        },
    };
    if intent.source.dialect() == Some(target) {
        return outcome;
    }
    let Value::Object(obj) = body else {
        return outcome;
    };
    let hub = body_dialect != ANTHROPIC && body_dialect != GEMINI;
    let notes = &mut outcome.notes;
    let written = match target {
        OPENAI if hub => {
            obj.remove(ext::THINKING);
            obj.remove(ext::THINKING_CONFIG);
            let effort = match &intent.mode {
                Mode::Off => Some("none".to_owned()),
                Mode::Auto => None,
                Mode::Level(l) => Some(l.clone()),
                Mode::Budget(n) => Some(level_for_budget(*n, &table)),
            };
            match effort {
                Some(e) => {
                    obj.insert("reasoning_effort".into(), Value::String(e.clone()));
                    json!({ "reasoning_effort": e })
                }
                None => {
                    obj.remove("reasoning_effort");
                    json!({ "reasoning_effort": null })
                }
            }
        }
        ANTHROPIC if body_dialect != GEMINI => {
            let thinking = if intent.mode == Mode::Off {
                json!({"type": "disabled"})
            } else {
                let budget = budget_of(&intent.mode, &table).max(MIN_ANTHROPIC_BUDGET);
                raise_max_tokens(obj, hub, budget, config.answer_tokens, notes);
                strip_for_anthropic_thinking(obj, hub, notes);
                json!({"type": "enabled", "budget_tokens": budget})
            };
            if hub {
                obj.remove("reasoning_effort");
                obj.remove(ext::THINKING_CONFIG);
                obj.insert(ext::THINKING.into(), thinking.clone());
            } else {
                obj.insert("thinking".into(), thinking.clone());
            }
            thinking
        }
        GEMINI if body_dialect != ANTHROPIC => {
            let budget: i64 = match &intent.mode {
                Mode::Off => 0,
                Mode::Auto => -1,
                m => budget_of(m, &table) as i64,
            };
            let include = intent.include_thoughts.unwrap_or(intent.mode != Mode::Off);
            let mut tc = Map::new();
            tc.insert("thinkingBudget".into(), json!(budget));
            if include {
                tc.insert("includeThoughts".into(), Value::Bool(true));
            }
            let tc = Value::Object(tc);
            if hub {
                obj.remove("reasoning_effort");
                obj.remove(ext::THINKING);
                obj.insert(ext::THINKING_CONFIG.into(), tc.clone());
            } else {
                let gc = if obj.contains_key("generation_config") {
                    "generation_config"
                } else {
                    "generationConfig"
                };
                let gc = obj.entry(gc).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(gc) = gc {
                    gc.remove("thinking_config");
                    gc.insert("thinkingConfig".into(), tc.clone());
                }
            }
            tc
        }
        _ => {
            debug(&format!(
                "thinking: cannot write for provider dialect `{target}` into a `{body_dialect}` body; left as is"
            ));
            return outcome;
        }
    };
    outcome.after = Some(written);
    outcome
}

/// Makes `max_tokens` larger than the thinking budget: unset → budget +
/// `answer_tokens`; at most the budget → budget + max(value, 1024).
fn raise_max_tokens(
    obj: &mut Map<String, Value>,
    hub: bool,
    budget: u64,
    answer_tokens: u64,
    notes: &mut Vec<String>,
) {
    let key = if hub && obj.contains_key("max_completion_tokens") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let current = obj.get(key).and_then(Value::as_u64);
    let new = match current {
        Some(m) if m > budget => return,
        Some(m) => budget + m.max(1024),
        None => budget + answer_tokens.max(1024),
    };
    notes.push(format!(
        "{key} {} -> {new} (must exceed the thinking budget {budget})",
        current.map_or("unset".to_owned(), |m| m.to_string())
    ));
    obj.insert(key.into(), json!(new));
}

/// Removes what Anthropic refuses together with extended thinking.
fn strip_for_anthropic_thinking(obj: &mut Map<String, Value>, hub: bool, notes: &mut Vec<String>) {
    if let Some(t) = obj.get("temperature").and_then(Value::as_f64)
        && t != 1.0
    {
        obj.remove("temperature");
        notes.push(format!("temperature {t} removed (thinking requires 1)"));
    }
    if obj.remove("top_k").is_some() {
        notes.push("top_k removed (not allowed with thinking)".into());
    }
    if let Some(p) = obj.get("top_p").and_then(Value::as_f64)
        && p < 0.95
    {
        obj.remove("top_p");
        notes.push(format!("top_p {p} removed (thinking allows 0.95 to 1)"));
    }
    let forced = match obj.get("tool_choice") {
        Some(Value::String(s)) => hub && s == "required",
        Some(Value::Object(o)) => {
            if hub {
                true
            } else {
                matches!(o.get("type").and_then(Value::as_str), Some("any" | "tool"))
            }
        }
        _ => false,
    };
    if forced {
        if hub {
            obj.insert("tool_choice".into(), json!("auto"));
        } else if let Some(Value::Object(o)) = obj.get_mut("tool_choice") {
            o.insert("type".into(), json!("auto"));
            o.remove("name");
        }
        notes.push("forced tool_choice relaxed to auto (not allowed with thinking)".into());
    }
}

/// Parses a hub request body for a provider adapter, after the default
/// thinking translation: [`translate`] with no suffix and the default
/// levels, which converts `reasoning_effort` (and the other dialect's
/// extension) into the target's own form and leaves a body already in that
/// form alone. Only the fields in [`FIELDS`] are edited, and only in a body
/// that mentions reasoning; the rest (the conversation, the tool schemas)
/// goes from the bytes straight into the typed request.
pub fn hub_request_for(
    body: &[u8],
    target: &str,
) -> Result<sluice_sdk::hub::ChatRequest, sluice_sdk::PluginError> {
    let edited = if crate::common::mentions(body, &crate::common::needles::THINKING)
        || crate::common::mentions(body, &crate::common::needles::REASONING)
    {
        let mut outcome = Outcome::default();
        let edited = sluice_sdk::json::edit_top_level(body, FIELDS, |fields| {
            outcome = translate(fields, OPENAI, target, None, &Config::default());
            outcome.after.is_some()
        })?;
        if let Some(after) = &outcome.after
            && sluice_sdk::log::enabled(sluice_sdk::log::Level::Debug)
        {
            debug(&format!(
                "thinking for {target}: {} -> {after}",
                outcome.before.map(|v| v.to_string()).unwrap_or_default()
            ));
        }
        edited
    } else {
        None
    };
    sluice_sdk::json::parse(edited.as_deref().unwrap_or(body))
}

/// What the `thinking-translator` plugin does with a request
/// (`transformer.transform-request`): reads the intent (metadata
/// `model-suffix`, then the body), writes it for the metadata
/// `provider-dialect`, and logs the original and the processed settings at
/// debug level. Returns the same bytes when nothing changed.
pub fn transform_request(
    req: &sluice_sdk::Request,
    config: &Config,
) -> Result<Vec<u8>, sluice_sdk::PluginError> {
    let Some(target) = crate::common::meta(req, "provider-dialect") else {
        debug("thinking-translator: no `provider-dialect` metadata; body left as is");
        return Ok(req.body.clone());
    };
    let dialect = req.body_dialect.as_str();
    if ![OPENAI, ANTHROPIC, GEMINI].contains(&dialect) {
        return Ok(req.body.clone());
    }
    let suffix = crate::common::meta(req, "model-suffix").filter(|s| !s.is_empty());
    // Without a suffix, only a body that asks for reasoning is translated
    // (`thinking`, `reasoning_effort`, `thinkingConfig`, `thinking_config`):
    // any other body is passed on unparsed.
    if suffix.is_none() && !crate::common::mentions(&req.body, &crate::common::needles::THINKING) {
        // A hub body for an OpenAI-compatible provider can then only hold
        // `reasoning_effort`, which is already that provider's form (the
        // hub extensions `thinking` and `thinking_config` would have
        // matched): nothing to translate. This is the usual case behind an
        // Anthropic client, whose `thinking` the `anthropic` plugin already
        // wrote as `reasoning_effort`. Without debug logs there is nothing
        // to report either.
        let already_openai = dialect == OPENAI
            && target == OPENAI
            && !sluice_sdk::log::enabled(sluice_sdk::log::Level::Debug);
        if already_openai || !crate::common::mentions(&req.body, &crate::common::needles::REASONING)
        {
            return Ok(req.body.clone());
        }
    }
    // Only the top-level fields below are read or written; the rest of
    // the body (the conversation, the tools) is copied as it is, unparsed.
    let mut outcome = Outcome::default();
    let edited = sluice_sdk::json::edit_top_level(&req.body, FIELDS, |fields| {
        outcome = translate(fields, dialect, target, suffix, config);
        outcome.after.is_some()
    })?;
    if outcome.before.is_none() && suffix.is_none() {
        return Ok(req.body.clone());
    }
    // Every request with reasoning settings passes here: build the line
    // only when it is written.
    if sluice_sdk::log::enabled(sluice_sdk::log::Level::Debug) {
        debug(&format!(
            "thinking-translator: original {} (model suffix: {}); for {target}: {}{}",
            outcome.before.map_or("none".to_owned(), |v| v.to_string()),
            suffix.unwrap_or("none"),
            outcome
                .after
                .map_or("unchanged".to_owned(), |v| v.to_string()),
            if outcome.notes.is_empty() {
                String::new()
            } else {
                format!("; {}", outcome.notes.join("; "))
            }
        ));
    }
    Ok(edited.unwrap_or_else(|| req.body.clone()))
}

/// Every top-level field [`translate`] reads or writes, in any dialect.
const FIELDS: &[&str] = &[
    "thinking",
    ext::THINKING,
    ext::THINKING_CONFIG,
    "reasoning_effort",
    "generationConfig",
    "generation_config",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_k",
    "top_p",
    "tool_choice",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_budgets() {
        let t = default_levels();
        assert_eq!(level_for_budget(100, &t), "minimal");
        assert_eq!(level_for_budget(1024, &t), "low");
        assert_eq!(level_for_budget(5000, &t), "medium");
        assert_eq!(level_for_budget(100000, &t), "high");
        assert_eq!(read_suffix("HIGH", &t), Some(Mode::Level("high".into())));
        assert_eq!(read_suffix("8192", &t), Some(Mode::Budget(8192)));
        assert_eq!(read_suffix("none", &t), Some(Mode::Off));
        assert_eq!(read_suffix("0", &t), Some(Mode::Off));
        assert_eq!(read_suffix("auto", &t), Some(Mode::Auto));
        assert_eq!(read_suffix("turbo", &t), None);
    }
}
