//! Client authentication: API keys from `api-keys` in the config.
//!
//! A key is accepted from `Authorization: Bearer KEY`, `x-api-key: KEY`, or
//! (for Gemini clients) `x-goog-api-key: KEY` or the `key` query parameter.
//! Keys are compared as SHA-256 digests in constant time, so neither the
//! key's content nor its length leaks through timing; a key is never logged
//! or echoed.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who is calling. Today: which configured key matched (by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Client auth is off (no `api-keys` configured).
    Anonymous,
    /// The caller presented the key at this index of `api-keys`.
    Key(usize),
}

/// The configured client keys.
#[derive(Clone, Default)]
pub struct Auth {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({} keys)", self.digests.len())
    }
}

impl Auth {
    pub fn new(keys: &[String]) -> Self {
        Auth {
            digests: keys
                .iter()
                .map(|k| Sha256::digest(k.as_bytes()).into())
                .collect(),
        }
    }

    /// Whether client auth is on.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Check a request's headers. `None` means: refuse with 401.
    pub fn check(&self, headers: &HeaderMap) -> Option<Caller> {
        if self.digests.is_empty() {
            return Some(Caller::Anonymous);
        }
        self.check_key(presented_key(headers)?)
    }

    /// Check a key given in a URL query (`?key=KEY`, as Gemini clients send it).
    pub fn check_query(&self, query: Option<&str>) -> Option<Caller> {
        if self.digests.is_empty() {
            return Some(Caller::Anonymous);
        }
        let key = query?
            .split('&')
            .find_map(|kv| kv.strip_prefix("key="))
            .filter(|k| !k.is_empty())?;
        self.check_key(key.as_bytes())
    }

    fn check_key(&self, presented: &[u8]) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // Compare against every key, without stopping early.
        let mut found = None;
        for (i, d) in self.digests.iter().enumerate() {
            if bool::from(d.ct_eq(&digest)) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(Caller::Key)
    }
}

/// The key a client presented, from `Authorization: Bearer` or `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            let key = v[7..].trim_ascii();
            if !key.is_empty() {
                return Some(key);
            }
        }
    }
    ["x-api-key", "x-goog-api-key"].iter().find_map(|name| {
        headers
            .get(*name)
            .map(|v| v.as_bytes().trim_ascii())
            .filter(|k| !k.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &'static str, v: &'static str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, v.parse().unwrap());
        m
    }

    #[test]
    fn accepts_bearer_and_x_api_key() {
        let a = Auth::new(&["k1".into(), "k2".into()]);
        assert_eq!(
            a.check(&h("authorization", "Bearer k2")),
            Some(Caller::Key(1))
        );
        assert_eq!(
            a.check(&h("authorization", "bearer k1")),
            Some(Caller::Key(0))
        );
        assert_eq!(a.check(&h("x-api-key", "k1")), Some(Caller::Key(0)));
        assert_eq!(a.check(&h("x-api-key", "nope")), None);
        assert_eq!(a.check(&h("authorization", "Basic k1")), None);
        assert_eq!(a.check(&HeaderMap::new()), None);
    }

    #[test]
    fn off_without_keys() {
        assert_eq!(
            Auth::new(&[]).check(&HeaderMap::new()),
            Some(Caller::Anonymous)
        );
    }
}
