//! The management API, `/v0/management/*`:
//!
//! - `GET plugins`: every live plugin version (name, version, kind, sha256,
//!   state, loaded at, calls, traps) and the last reload's report.
//! - `POST reload`: reload the config and plugins now.
//! - `GET config`: the running config, secrets redacted.
//!
//! It answers 404 unless `remote-management.secret-key` is set. The key is
//! required (`Authorization: Bearer KEY` or `x-management-key: KEY`,
//! compared in constant time); only loopback callers are served unless
//! `remote-management.allow-remote: true`; an address that sends wrong keys
//! repeatedly is locked out for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::GatewayError;
use crate::pipeline::{Body, Gateway, Snapshot, json_response};

/// Wrong keys allowed from one address within [`LOCKOUT`] before it is locked out.
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered, and how long a lock-out lasts.
pub const LOCKOUT: Duration = Duration::from_secs(600);

/// Failed management logins per address.
#[derive(Default)]
pub struct Lockouts {
    by_addr: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Lockouts {
    /// Seconds left if `addr` is locked out.
    fn locked(&self, addr: IpAddr) -> Option<u64> {
        let map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        let (n, since) = map.get(&addr)?;
        let left = LOCKOUT.checked_sub(since.elapsed())?;
        (*n >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    fn fail(&self, addr: IpAddr) {
        let mut map = self.by_addr.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, since)| since.elapsed() < LOCKOUT);
        let entry = map.entry(addr).or_insert((0, Instant::now()));
        entry.0 += 1;
        if entry.0 >= MAX_FAILURES {
            tracing::warn!(%addr, "management API: too many wrong keys; address locked out for {} s", LOCKOUT.as_secs());
        }
    }

    fn succeed(&self, addr: IpAddr) {
        self.by_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }
}

fn management_error(status: StatusCode, code: &str, message: String) -> Response<Body> {
    let body = json!({"error": {"message": message, "type": "management_error", "code": code}});
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

impl Gateway {
    pub(crate) async fn management<B>(
        self: &Arc<Self>,
        snap: &Snapshot,
        req: Request<B>,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<Response<Body>, GatewayError> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let Some(secret) = snap.config.management.secret_key.as_deref() else {
            return Err(GatewayError::NotFound {
                method: method.to_string(),
                path,
            });
        };
        let ip = peer.map(|p| p.ip());
        if !snap.config.management.allow_remote && !ip.is_some_and(|ip| ip.is_loopback()) {
            return Ok(management_error(
                StatusCode::FORBIDDEN,
                "remote_management_disabled",
                "the management API only serves loopback callers; set remote-management.allow-remote: true to allow others".into(),
            ));
        }
        let ip = ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if let Some(left) = self.lockouts.locked(ip) {
            return Ok(management_error(
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
                format!("too many wrong management keys from this address; try again in {left} s"),
            ));
        }
        let presented = req
            .headers()
            .get("x-management-key")
            .map(|v| v.as_bytes())
            .or_else(|| {
                req.headers()
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes())
                    .and_then(|v| {
                        v.strip_prefix(b"Bearer ")
                            .or_else(|| v.strip_prefix(b"bearer "))
                    })
            })
            .unwrap_or_default();
        let ok: bool = Sha256::digest(presented)
            .ct_eq(&Sha256::digest(secret.as_bytes()))
            .into();
        if !ok {
            self.lockouts.fail(ip);
            return Ok(management_error(
                StatusCode::UNAUTHORIZED,
                "invalid_management_key",
                "missing or wrong management key; send remote-management.secret-key as `Authorization: Bearer KEY` or `x-management-key: KEY`".into(),
            ));
        }
        self.lockouts.succeed(ip);
        let what = path.trim_start_matches("/v0/management/");
        match (method.clone(), what) {
            (Method::GET, "plugins") => Ok(self.plugins_json(snap)),
            (Method::GET, "config") => Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&snap.config.redacted_json()).unwrap_or_default(),
            )),
            (Method::POST, "reload") => {
                let report = self
                    .clone()
                    .reload_in_background("api")
                    .await
                    .map_err(|e| GatewayError::Internal(format!("reload failed: {e}")))?;
                let status = if report.applied && report.problems.is_empty() {
                    StatusCode::OK
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                Ok(json_response(
                    status,
                    serde_json::to_vec(&report).unwrap_or_default(),
                ))
            }
            (_, "plugins" | "config") => Err(GatewayError::MethodNotAllowed {
                method: method.to_string(),
                path,
                allowed: "GET",
            }),
            (_, "reload") => Err(GatewayError::MethodNotAllowed {
                method: method.to_string(),
                path,
                allowed: "POST",
            }),
            (m, _) => Err(GatewayError::NotFound {
                method: m.to_string(),
                path,
            }),
        }
    }

    fn plugins_json(&self, snap: &Snapshot) -> Response<Body> {
        let plugins: Vec<_> = snap
            .registry
            .iter_all()
            .map(|p| {
                let loaded_at = p
                    .loaded_at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "kind": p.info.kind.as_str(),
                    "dialect": p.info.dialect,
                    "pass_through": p.info.pass_through.names(),
                    "reads_metadata": p.info.reads_metadata,
                    "reads_headers": p.info.reads_headers,
                    "sha256": p.info.sha256,
                    "origin": p.info.origin,
                    "size": p.info.size,
                    "state": p.state(),
                    "loaded_at": loaded_at,
                    "calls": p.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                    "traps": p.stats.traps.load(std::sync::atomic::Ordering::Relaxed),
                    "instances_created": p.stats.instances_created.load(std::sync::atomic::Ordering::Relaxed),
                    "idle_instances": p.idle_instances(),
                    "stream_instances": p.stream_instances(),
                })
            })
            .collect();
        let body = json!({"plugins": plugins, "last_reload": self.last_reload()});
        json_response(
            StatusCode::OK,
            serde_json::to_vec(&body).unwrap_or_default(),
        )
    }
}
