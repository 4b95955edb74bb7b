//! Open streams share warm instances.
//!
//! Every stream needs per-stream state in each plugin on its path (the
//! provider's stream mapper, each transform and guardrail, the client's
//! encoder). That state is a WIT resource, so one instance can hold the
//! resources of many streams: a stream takes a *slot* in a `StreamHost`
//! (a warm instance) for its duration and locks the instance only for the
//! length of each call.
//!
//! - With `instances: reuse` (default) up to `streams-per-instance` streams
//!   (default 64) share one instance. A new instance is taken from the warm
//!   pool (or created) only when every open one is full, so 2,000 open
//!   streams through one plugin use ~32 instances instead of 2,000 and stay
//!   far from `plugins.max-instances`.
//! - With `instances: fresh` every stream gets an instance of its own,
//!   dropped at the stream's end.
//! - An instance that traps is discarded at once: the stream whose call
//!   trapped gets the trap's error, and every other stream with state in it
//!   ends with an error saying so at its next event (their state is gone).
//!   Streams opened afterwards get another instance.
//! - An instance past `max-uses` calls or `recycle-memory` takes no new
//!   streams; it is dropped when its last stream ends. An instance whose
//!   last stream ended goes back to the warm pool, where requests and new
//!   streams take it from.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::CallError;
use super::bindings::types;
use super::narrow::Narrowed;
use super::state::StoreState;
use super::version::{Exports, PluginVersion, StreamStage, Warm, call, settle};
use crate::config::InstanceMode;

/// One instance holding the per-stream resources of up to
/// `streams-per-instance` open streams.
pub(crate) struct StreamHost {
    /// `None` once the instance was discarded after a failed call.
    warm: Mutex<Option<Warm>>,
    /// Streams with a resource in this instance. Changed only under
    /// `PluginVersion::hosts`, so taking and leaving slots do not race.
    streams: AtomicUsize,
    /// Set when the instance must take no new streams (it failed, or it is
    /// due for recycling).
    closed: AtomicBool,
}

impl StreamHost {
    fn new(warm: Warm) -> Arc<Self> {
        Arc::new(StreamHost {
            warm: Mutex::new(Some(warm)),
            streams: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
        })
    }
}

impl PluginVersion {
    /// Open the per-stream resource of `stage` for one stream, in a shared
    /// instance (or, with `instances: fresh`, an instance of its own).
    pub fn open_stream(
        self: &Arc<Self>,
        stage: StreamStage,
        req: &mut types::Request,
    ) -> Result<StreamSlot, CallError> {
        let host = self.stream_host()?;
        let mut slot = StreamSlot {
            version: self.clone(),
            host,
            handle: None,
            stage,
        };
        let (what, iface) = stage.names();
        let narrowed = Narrowed::narrow(&self.info, req);
        let handle = slot.invoke(what, iface, |s, x| {
            let r = match stage {
                StreamStage::Adapter => x
                    .adapter
                    .as_ref()
                    .map(|a| a.stream_mapper().call_constructor(&mut *s, req)),
                StreamStage::Ingress => x
                    .ingress
                    .as_ref()
                    .map(|a| a.stream_encoder().call_constructor(&mut *s, req)),
                StreamStage::Transform => x
                    .transformer
                    .as_ref()
                    .map(|a| a.stream_transformer().call_constructor(&mut *s, req)),
                StreamStage::Guard => x
                    .guard
                    .as_ref()
                    .map(|a| a.stream_guard().call_constructor(&mut *s, req)),
            };
            r.map(|r| r.map(Ok))
        });
        narrowed.restore(req);
        slot.handle = Some(handle?);
        Ok(slot)
    }

    /// A slot in an open instance with room, else a new shared instance.
    fn stream_host(&self) -> Result<Arc<StreamHost>, CallError> {
        if self.settings.instances == InstanceMode::Fresh {
            return Ok(StreamHost::new(self.instantiate()?));
        }
        let cap = self.settings.streams_per_instance.max(1);
        {
            let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = hosts.iter().find(|h| {
                !h.closed.load(Ordering::Relaxed) && h.streams.load(Ordering::Relaxed) < cap
            }) {
                h.streams.fetch_add(1, Ordering::Relaxed);
                return Ok(h.clone());
            }
        }
        // Every open instance is full: instantiate outside the lock.
        let host = StreamHost::new(self.take_instance()?);
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(host.clone());
        Ok(host)
    }

    /// A stream left `host`; the last one out returns the instance to the
    /// warm pool (or drops it, if it failed or is due for recycling).
    fn leave(&self, host: &Arc<StreamHost>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if host.streams.fetch_sub(1, Ordering::Relaxed) != 1 {
            return;
        }
        hosts.retain(|h| !Arc::ptr_eq(h, host));
        drop(hosts);
        let warm = host.warm.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(warm) = warm {
            self.give_back(warm);
        }
    }

    /// Instances open streams live in right now.
    pub fn stream_instances(&self) -> usize {
        self.hosts.lock().map(|h| h.len()).unwrap_or(0)
    }
}

/// One stream's resource in a plugin instance. Dropping it runs the guest's
/// destructor and leaves the instance.
pub struct StreamSlot {
    version: Arc<PluginVersion>,
    host: Arc<StreamHost>,
    handle: Option<ResourceAny>,
    stage: StreamStage,
}

impl StreamSlot {
    pub fn plugin(&self) -> &Arc<PluginVersion> {
        &self.version
    }

    /// Run one call on the shared instance, holding its lock for the call.
    fn run<R>(
        &self,
        what: &'static str,
        f: impl FnOnce(&mut Store<StoreState>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let mut guard = self.host.warm.lock().unwrap_or_else(|p| p.into_inner());
        let Some(warm) = guard.as_mut() else {
            return Err(CallError::Trap {
                plugin: self.version.info.name.clone(),
                call: what,
                detail: "the instance holding this stream's state failed in an earlier call \
                         (of this stream or another one sharing the instance) and was \
                         discarded with that state; the stream cannot go on"
                    .into(),
            });
        };
        let r = call(&self.version, warm, what, f);
        if r.is_err() {
            // Its memory may be in any state: drop it now, take no new streams.
            *guard = None;
            self.host.closed.store(true, Ordering::Relaxed);
        } else if self.version.due_for_recycling(warm) {
            self.host.closed.store(true, Ordering::Relaxed);
        }
        r
    }

    /// Call an export that returns `result<R, plugin-error>`; `None` from
    /// `f` means the plugin does not export the interface `iface`.
    fn invoke<R>(
        &self,
        what: &'static str,
        iface: &'static str,
        f: impl FnOnce(
            &mut Store<StoreState>,
            &Exports,
        ) -> Option<wasmtime::Result<Result<R, types::PluginError>>>,
    ) -> Result<R, CallError> {
        let r = self.run(what, |s, x| f(s, x).transpose())?;
        settle(&self.version, iface, r)
    }

    fn handle(&self, what: &'static str) -> Result<ResourceAny, CallError> {
        self.handle.ok_or_else(|| CallError::Instantiate {
            plugin: self.version.info.name.clone(),
            detail: format!("{what} after the stream's state was closed"),
        })
    }

    /// One event through the stream resource (not for guards).
    pub fn event(&mut self, ev: &types::Event) -> Result<Vec<types::Event>, CallError> {
        let res = self.handle("stream event")?;
        let (_, iface) = self.stage.names();
        self.invoke("stream event", iface, |s, x| match self.stage {
            StreamStage::Adapter => x
                .adapter
                .as_ref()
                .map(|a| a.stream_mapper().call_map_event(s, res, ev)),
            StreamStage::Ingress => x
                .ingress
                .as_ref()
                .map(|a| a.stream_encoder().call_encode_event(s, res, ev)),
            StreamStage::Transform => x
                .transformer
                .as_ref()
                .map(|a| a.stream_transformer().call_transform_event(s, res, ev)),
            StreamStage::Guard => None,
        })
    }

    /// The end of the stream for the resource (not for guards).
    pub fn finish(&mut self) -> Result<Vec<types::Event>, CallError> {
        let res = self.handle("stream finish")?;
        let (_, iface) = self.stage.names();
        self.invoke("stream finish", iface, |s, x| match self.stage {
            StreamStage::Adapter => x
                .adapter
                .as_ref()
                .map(|a| a.stream_mapper().call_finish(s, res)),
            StreamStage::Ingress => x
                .ingress
                .as_ref()
                .map(|a| a.stream_encoder().call_finish(s, res)),
            StreamStage::Transform => x
                .transformer
                .as_ref()
                .map(|a| a.stream_transformer().call_finish(s, res)),
            StreamStage::Guard => None,
        })
    }

    /// `stream-guard.check-text`.
    pub fn check_text(&mut self, text: &str) -> Result<types::Verdict, CallError> {
        let res = self.handle("check-text")?;
        self.invoke("check-text", super::version::GUARD, |s, x| {
            x.guard
                .as_ref()
                .map(|a| a.stream_guard().call_check_text(s, res, text))
        })
    }

    /// `stream-guard.finish`.
    pub fn check_finish(&mut self) -> Result<types::Verdict, CallError> {
        let res = self.handle("stream-guard finish")?;
        self.invoke("stream-guard finish", super::version::GUARD, |s, x| {
            x.guard
                .as_ref()
                .map(|a| a.stream_guard().call_finish(s, res))
        })
    }

    /// Drop the stream's resource (its destructor runs in the guest). Later
    /// calls on this slot fail; dropping the slot leaves the instance.
    pub fn close(&mut self) {
        if let Some(res) = self.handle.take() {
            // A failing destructor discards the instance; `run` logged it.
            let _ = self.run("resource drop", |s, _| res.resource_drop(s));
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        // A stream cut short (client gone, upstream error) still runs the
        // guest's destructor, so a shared instance holds no stale state.
        self.close();
        self.version.leave(&self.host);
    }
}
