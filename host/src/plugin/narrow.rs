//! What of a request a plugin is sent: only the `metadata` pairs and client
//! headers it declared it reads (`reads-metadata`, `reads-headers`, from
//! `describe`). Every pair or header sent costs the call two strings
//! allocated in the guest, each a call into the plugin's allocator (~500
//! instructions); a plugin that reads none of them saves all of it.
//!
//! The rest is set aside for the one call and put back after it, in the
//! same places, so the stages after it get every pair and header they read.

use super::PluginInfo;
use super::bindings::types;

/// A request's metadata and headers with what one plugin does not read set
/// aside; [`Narrowed::restore`] puts it back.
#[must_use = "restore the request after the call"]
pub(super) struct Narrowed {
    metadata: Option<Lent<(String, String)>>,
    headers: Option<Lent<types::Header>>,
}

/// One list of a request with some items lent to the call.
struct Lent<T> {
    /// Every item, with blanks where the lent ones were.
    all: Vec<T>,
    /// Where in `all` each lent item came from.
    at: Vec<usize>,
}

impl Narrowed {
    /// Leave in `req` only what `info` declared the plugin reads.
    pub(super) fn narrow(info: &PluginInfo, req: &mut types::Request) -> Self {
        Narrowed {
            metadata: lend(
                info.reads_metadata.as_deref(),
                &mut req.metadata,
                |(k, _)| k,
                |(k, v)| (std::mem::take(k), std::mem::take(v)),
            ),
            headers: lend(
                info.reads_headers.as_deref(),
                &mut req.headers,
                |h| &h.name,
                |h| types::Header {
                    name: std::mem::take(&mut h.name),
                    value: std::mem::take(&mut h.value),
                },
            ),
        }
    }

    /// Put every pair and header back where it was.
    pub(super) fn restore(self, req: &mut types::Request) {
        give_back(self.metadata, &mut req.metadata);
        give_back(self.headers, &mut req.headers);
    }
}

/// Keep in `list` the items whose key is one of `keys` (compared without
/// regard to ASCII case: header names are case-insensitive, metadata keys
/// lower-case); `None` when there is nothing to set aside.
fn lend<T>(
    keys: Option<&[String]>,
    list: &mut Vec<T>,
    key: impl Fn(&T) -> &str,
    take: impl Fn(&mut T) -> T,
) -> Option<Lent<T>> {
    let keys = keys?;
    let reads = |item: &T| keys.iter().any(|k| k.eq_ignore_ascii_case(key(item)));
    if list.iter().all(reads) {
        return None;
    }
    let mut all = std::mem::take(list);
    let mut at = Vec::new();
    for (i, item) in all.iter_mut().enumerate() {
        if reads(item) {
            at.push(i);
            list.push(take(item));
        }
    }
    Some(Lent { all, at })
}

fn give_back<T>(lent: Option<Lent<T>>, list: &mut Vec<T>) {
    let Some(Lent { mut all, at }) = lent else {
        return;
    };
    for (i, item) in at.into_iter().zip(list.drain(..)) {
        all[i] = item;
    }
    *list = all;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Kind, StreamFormat};

    const PAIRS: &[(&str, &str)] = &[
        ("request-id", "req_1"),
        ("provider", "oa"),
        ("provider-dialect", "openai"),
        ("operation", "chat"),
        ("model-suffix", "high"),
    ];
    const HEADERS: &[(&str, &str)] = &[
        ("user-agent", "sdk/1.0"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "tools-2024"),
    ];

    fn request() -> types::Request {
        types::Request {
            model: "m".into(),
            requested_model: "m".into(),
            stream: false,
            client_dialect: "openai".into(),
            body_dialect: "openai".into(),
            headers: HEADERS
                .iter()
                .map(|(n, v)| types::Header {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            body: b"{}".to_vec(),
            metadata: PAIRS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn info(metadata: Option<&[&str]>, headers: Option<&[&str]>) -> PluginInfo {
        let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        PluginInfo {
            name: "p".into(),
            version: "1".into(),
            kind: Kind::Transform,
            description: String::new(),
            dialect: String::new(),
            stream_format: StreamFormat::Sse,
            pass_through: Default::default(),
            reads_metadata: metadata.map(owned),
            reads_headers: headers.map(owned),
            origin: String::new(),
            sha256: String::new(),
            size: 0,
        }
    }

    /// Every pair and header, names and values, in order.
    fn all(req: &types::Request) -> Vec<(String, String)> {
        let headers = req
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.value.clone()));
        req.metadata.iter().cloned().chain(headers).collect()
    }

    fn seen(req: &types::Request) -> (Vec<&str>, Vec<&str>) {
        (
            req.metadata.iter().map(|(k, _)| k.as_str()).collect(),
            req.headers.iter().map(|h| h.name.as_str()).collect(),
        )
    }

    #[test]
    fn a_plugin_is_sent_only_what_it_reads_and_the_request_keeps_all_of_it() {
        let whole = request();
        for (metadata, headers, want) in [
            (Some(&[][..]), Some(&[][..]), (vec![], vec![])),
            (
                Some(&["model-suffix", "provider-dialect"][..]),
                None,
                (
                    vec!["provider-dialect", "model-suffix"],
                    vec!["user-agent", "anthropic-version", "anthropic-beta"],
                ),
            ),
            (
                Some(&["operation", "no-such-key"][..]),
                Some(&["Anthropic-Beta", "anthropic-version"][..]),
                (
                    vec!["operation"],
                    vec!["anthropic-version", "anthropic-beta"],
                ),
            ),
        ] {
            let mut req = request();
            let narrowed = Narrowed::narrow(&info(metadata, headers), &mut req);
            assert_eq!(seen(&req), want, "declared {metadata:?} / {headers:?}");
            if let Some(h) = req.headers.iter().find(|h| h.name == "anthropic-beta") {
                assert_eq!(h.value, "tools-2024");
            }
            narrowed.restore(&mut req);
            assert_eq!(
                all(&req),
                all(&whole),
                "{metadata:?} / {headers:?}: order or values changed"
            );
        }
    }

    #[test]
    fn nothing_is_set_aside_when_a_plugin_reads_everything_it_is_sent() {
        let mut req = request();
        let n = Narrowed::narrow(&info(None, None), &mut req);
        assert!(n.metadata.is_none() && n.headers.is_none());
        n.restore(&mut req);
        let keys: Vec<&str> = PAIRS.iter().map(|(k, _)| *k).collect();
        let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
        let n = Narrowed::narrow(&info(Some(&keys), Some(&names)), &mut req);
        assert!(n.metadata.is_none() && n.headers.is_none());
        n.restore(&mut req);
        assert_eq!(all(&req), all(&request()));
        // Nothing to hide, whatever the plugin declared.
        req.metadata.clear();
        req.headers.clear();
        let n = Narrowed::narrow(&info(Some(&[]), Some(&[])), &mut req);
        assert!(n.metadata.is_none() && n.headers.is_none());
    }
}
