//! `faults`: a TEST plugin for sluice's fault-isolation tests.
//!
//! It misbehaves on demand so the host's tests can check that a broken
//! plugin costs one request, never the gateway. Never configure it in
//! production. `prepare` picks the behaviour from the request's model:
//!
//! | model         | behaviour                                                        |
//! |---------------|------------------------------------------------------------------|
//! | `ok`          | answers locally: `ok from faults` (streaming: `ok`)              |
//! | `trap`        | panics, which is a WebAssembly trap                              |
//! | `loop`        | spins forever (for epoch/fuel interruption)                      |
//! | `hog`         | allocates 1 MiB blocks forever, writing every byte (memory limit) |
//! | `error`       | returns plugin-error 400 `faults_error`                          |
//! | `stream-trap` | streaming: forwards like `openai`, and the stream mapper traps on the 3rd event; otherwise like `ok` |
//! | `forward`     | forwards like `openai` (events pass through, `[DONE]` dropped)   |
//! | `metadata`    | answers locally with the request's metadata and headers as the text: `k=v` pairs in order, joined by `; `, then ` | ` and the headers as `name: value`, joined by `; ` |
//! | anything else | plugin-error 404 `model_not_found`                               |
//!
//! With `{"stamp": "S"}` in its config, every answer's `id` (and every
//! forwarded stream chunk's `id`) is `chatcmpl-faults-S`, so reload tests can
//! tell which version produced a response.
//!
//! Config: anything, except that `validate-config` rejects a config with
//! `"reject": true` (e.g. `{"reject": true}`) with `faults: config says
//! reject`.

use std::cell::Cell;
use std::hint::black_box;

use sluice_sdk::hub::{ChatChunk, ChatResponse, Delta, Extra, Usage};
use sluice_sdk::openai::{self, AuthHeader, CHAT_COMPLETIONS_PATH};
use sluice_sdk::prelude::*;
use sluice_sdk::{error, json};

/// The plugin.
struct Faults;

impl Plugin for Faults {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "faults".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Provider,
            description: "TEST plugin: traps, loops, hogs memory or errors on demand \
                          (fault-isolation tests only)"
                .into(),
            dialect: "openai".into(),
            stream_format: StreamFormat::Sse,
        }
    }

    fn validate_config(config: String) -> Result<(), String> {
        validate(&config)
    }
}

/// Accepts anything (even invalid JSON) except a config whose `reject` is
/// `true`.
fn validate(config: &str) -> Result<(), String> {
    let reject = json::parse::<Extra>(config.as_bytes())
        .is_ok_and(|map| map.get("reject").and_then(|v| v.as_bool()) == Some(true));
    if reject {
        Err("faults: config says reject".to_owned())
    } else {
        Ok(())
    }
}

impl Adapter for Faults {
    type StreamMapper = Mapper;

    fn prepare(req: Request, target: Target) -> Result<Prepared, PluginError> {
        match req.model.as_str() {
            "ok" => ok(&req),
            // Plain stdio: the host must absorb it without blocking.
            "stdio" => {
                println!("faults: hello on stdout");
                eprintln!("faults: hello on stderr");
                ok(&req)
            }
            "trap" => panic!("faults: deliberate trap"),
            "loop" => spin(),
            "hog" => hog(),
            "error" => Err(error::new(400, "faults_error", "faults: deliberate error")),
            "stream-trap" if !req.stream => ok(&req),
            "stream-trap" | "forward" => forward(&req, &target),
            "metadata" => {
                let pairs: Vec<String> = req
                    .metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let headers: Vec<String> = req
                    .headers
                    .iter()
                    .map(|h| format!("{}: {}", h.name, h.value))
                    .collect();
                let text = format!("{} | {}", pairs.join("; "), headers.join("; "));
                answer(&req, &text, &text)
            }
            other => Err(error::model_not_found(other)),
        }
    }

    fn map_response(_req: Request, response: UpstreamResponse) -> Result<Vec<u8>, PluginError> {
        Ok(response.body)
    }
}

/// `chatcmpl-faults-STAMP` when the config has a `stamp`.
fn stamped_id() -> Option<String> {
    sluice_sdk::config::get::<serde_json::Value>()
        .ok()
        .and_then(|v| v.get("stamp").and_then(|s| s.as_str().map(str::to_owned)))
        .map(|s| format!("chatcmpl-faults-{s}"))
}

/// Answers locally with a small valid chat completion (or stream).
fn ok(req: &Request) -> Result<Prepared, PluginError> {
    answer(req, "ok from faults", "ok")
}

/// Answers locally with `whole` (or, streaming, `streamed` as one delta).
fn answer(req: &Request, whole: &str, streamed: &str) -> Result<Prepared, PluginError> {
    let id = stamped_id().unwrap_or_else(|| "chatcmpl-faults-ok".to_owned());
    let id = id.as_str();
    let model = req.requested_model.as_str();
    let local = if req.stream {
        let events = [
            ChatChunk::new(id, 0, model, Delta::role("assistant"), None),
            ChatChunk::new(id, 0, model, Delta::content(streamed), None),
            ChatChunk::new(id, 0, model, Delta::default(), Some("stop")),
        ]
        .iter()
        .map(ChatChunk::to_event)
        .collect::<Result<_, _>>()?;
        LocalResponse {
            status: 200,
            body: Vec::new(),
            events,
        }
    } else {
        let resp = ChatResponse::single(id, 0, model, whole, "stop", Some(Usage::new(1, 4)));
        LocalResponse {
            status: 200,
            body: json::to_vec(&resp)?,
            events: Vec::new(),
        }
    };
    Ok(Prepared::Respond(local))
}

/// Forwards like the `openai` plugin.
fn forward(req: &Request, target: &Target) -> Result<Prepared, PluginError> {
    openai::chat_request(req, target, CHAT_COMPLETIONS_PATH, AuthHeader::default())
        .map(Prepared::Forward)
}

/// Spins forever; `black_box` keeps the optimizer from removing the loop.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks forever, writing to every byte of each and keeping
/// them all alive, until the host's memory limit stops it: either the host
/// traps on `memory.grow`, or the growth fails and this panics (a trap too).
///
/// Allocation failure is handled here rather than by std's default handler,
/// which would write to stderr; the blocks are freed first so the panic
/// message itself can be allocated.
fn hog() -> ! {
    const BLOCK: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block: Vec<u8> = Vec::new();
        if block.try_reserve_exact(BLOCK).is_err() || kept.try_reserve(1).is_err() {
            let blocks = kept.len();
            drop(kept);
            panic!("faults: hog stopped after {blocks} MiB: memory cannot grow any more");
        }
        block.resize(BLOCK, 1);
        kept.push(black_box(block));
        black_box(&kept);
    }
}

/// Passes events through like `openai`; for `stream-trap` it traps on the
/// 3rd event.
struct Mapper {
    trap_on_third: bool,
    seen: Cell<u32>,
    id: Option<String>,
}

impl StreamMapper for Mapper {
    fn new(req: Request) -> Self {
        Mapper {
            trap_on_third: req.model == "stream-trap",
            seen: Cell::new(0),
            id: stamped_id(),
        }
    }

    fn map_event(&self, ev: Event) -> Result<Vec<Event>, PluginError> {
        let seen = self.seen.get() + 1;
        self.seen.set(seen);
        if self.trap_on_third && seen == 3 {
            panic!("faults: deliberate trap on stream event 3");
        }
        let mut out = openai::pass_through_event(ev);
        if let Some(id) = &self.id {
            for e in &mut out {
                if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&e.data)
                    && v.get("id").is_some()
                {
                    v["id"] = serde_json::Value::String(id.clone());
                    e.data = v.to_string();
                }
            }
        }
        Ok(out)
    }

    fn finish(&self) -> Result<Vec<Event>, PluginError> {
        Ok(Vec::new())
    }
}

sluice_sdk::export_provider!(Faults);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(model: &str, stream: bool) -> Request {
        Request {
            model: model.into(),
            requested_model: model.into(),
            stream,
            client_dialect: "openai".into(),
            body_dialect: "openai".into(),
            headers: vec![],
            body: br#"{"model":"x","messages":[{"role":"user","content":"hi"}]}"#.to_vec(),
            metadata: vec![],
        }
    }

    fn target() -> Target {
        Target {
            provider: "faulty".into(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: String::new(),
            headers: vec![],
        }
    }

    fn ev(data: &str) -> Event {
        Event {
            event: None,
            data: data.into(),
        }
    }

    #[test]
    fn config() {
        assert!(validate("{}").is_ok());
        assert!(validate(r#"{"reject": false}"#).is_ok());
        assert!(validate("[1]").is_ok());
        assert_eq!(
            validate(r#"{"reject": true}"#).unwrap_err(),
            "faults: config says reject"
        );
    }

    #[test]
    fn behaviours() {
        let Ok(Prepared::Respond(r)) = Faults::prepare(request("ok", false), target()) else {
            panic!("ok responds")
        };
        let resp: ChatResponse = json::parse(&r.body).unwrap();
        assert_eq!(resp.choices[0].message.text(), "ok from faults");
        assert!(resp.usage.is_some());

        let Ok(Prepared::Respond(r)) = Faults::prepare(request("ok", true), target()) else {
            panic!("ok responds")
        };
        assert_eq!(r.events.len(), 3);
        let chunk: ChatChunk = json::parse(r.events[1].data.as_bytes()).unwrap();
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("ok"));

        let e = Faults::prepare(request("error", false), target()).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (400, "faults_error", "faults: deliberate error")
        );
        let e = Faults::prepare(request("nope", false), target()).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (404, "model_not_found"));

        for (model, stream) in [("forward", false), ("forward", true), ("stream-trap", true)] {
            let Ok(Prepared::Forward(f)) = Faults::prepare(request(model, stream), target()) else {
                panic!("{model} forwards")
            };
            assert_eq!(f.path, "/chat/completions");
            assert!(
                f.body
                    .starts_with(format!(r#"{{"model":"{model}""#).as_bytes())
            );
        }
        assert!(matches!(
            Faults::prepare(request("stream-trap", false), target()),
            Ok(Prepared::Respond(_))
        ));
    }

    #[test]
    #[should_panic(expected = "faults: deliberate trap")]
    fn trap() {
        let _ = Faults::prepare(request("trap", false), target());
    }

    #[test]
    fn forward_mapper_passes_through() {
        let m = Mapper::new(request("forward", true));
        for _ in 0..5 {
            assert_eq!(m.map_event(ev("{}")).unwrap(), [ev("{}")]);
        }
        assert!(m.map_event(ev("[DONE]")).unwrap().is_empty());
    }

    #[test]
    #[should_panic(expected = "stream event 3")]
    fn stream_trap_on_third_event() {
        let m = Mapper::new(request("stream-trap", true));
        assert_eq!(m.map_event(ev("{}")).unwrap(), [ev("{}")]);
        assert_eq!(m.map_event(ev("{}")).unwrap(), [ev("{}")]);
        let _ = m.map_event(ev("{}"));
    }
}
