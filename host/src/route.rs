//! Model routing: the model a client asks for (a name or an alias) → the
//! provider, the model name to send upstream, and a credential.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::Config;
use crate::plugin::bindings::types;

/// One configured provider, ready for requests.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub plugin: String,
    pub base_url: String,
    /// The target records its plugin's `prepare` receives: one per
    /// credential (one with an empty key when it has none), built once
    /// rather than copied for every request.
    targets: Vec<types::Target>,
    next_key: AtomicUsize,
}

impl Provider {
    /// The target record for the next request: its credential taken
    /// round-robin over `api-keys`.
    pub fn target(&self) -> &types::Target {
        match self.targets.len() {
            1 => &self.targets[0],
            n => &self.targets[self.next_key.fetch_add(1, Ordering::Relaxed) % n],
        }
    }
}

/// Where a model name leads.
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Arc<Provider>,
    /// The name sent upstream.
    pub upstream_model: Arc<str>,
}

/// Every model name and alias → its route. Built once per config.
#[derive(Debug, Default)]
pub struct Routes {
    by_name: HashMap<String, Route>,
    providers: Vec<Arc<Provider>>,
    /// (id, owner) in config order, for `/v1/models`.
    listing: Vec<(String, String)>,
}

impl Routes {
    pub fn new(config: &Config) -> Self {
        let mut routes = Routes::default();
        for p in &config.providers {
            let headers: Vec<_> = p
                .headers
                .iter()
                .map(|(n, v)| types::Header {
                    name: n.to_ascii_lowercase(),
                    value: v.clone(),
                })
                .collect();
            let keys = if p.api_keys.is_empty() {
                vec![String::new()]
            } else {
                p.api_keys.clone()
            };
            let provider = Arc::new(Provider {
                name: p.name.clone(),
                plugin: p.plugin.clone(),
                base_url: p.base_url.clone(),
                targets: keys
                    .into_iter()
                    .map(|api_key| types::Target {
                        provider: p.name.clone(),
                        base_url: p.base_url.clone(),
                        api_key,
                        headers: headers.clone(),
                    })
                    .collect(),
                next_key: AtomicUsize::new(0),
            });
            for m in &p.models {
                let route = Route {
                    provider: provider.clone(),
                    upstream_model: Arc::from(m.upstream.as_str()),
                };
                for name in std::iter::once(&m.name).chain(m.aliases.iter()) {
                    routes.by_name.insert(name.clone(), route.clone());
                    routes.listing.push((name.clone(), p.name.clone()));
                }
            }
            routes.providers.push(provider);
        }
        routes
    }

    pub fn get(&self, model: &str) -> Option<&Route> {
        self.by_name.get(model)
    }

    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// Model ids (names and aliases) with the provider that serves each.
    pub fn listing(&self) -> &[(String, String)] {
        &self.listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn routes(yaml: &str) -> Routes {
        let config = Config::parse(yaml, "test.yaml", Path::new("/etc/sluice"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        Routes::new(&config)
    }

    #[test]
    fn targets_take_the_credentials_in_turn() {
        let r = routes(
            "providers:
  - name: two
    plugin: openai
    base-url: http://127.0.0.1:9/v1
    api-keys: [k1, k2]
    headers: {X-Org: o}
    models: [{name: m2}]
  - name: none
    plugin: openai
    base-url: http://127.0.0.1:9/v1
    models: [{name: m0}]
",
        );
        let two = &r.get("m2").unwrap().provider;
        let keys: Vec<&str> = (0..4).map(|_| two.target().api_key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2", "k1", "k2"]);
        let t = two.target();
        assert_eq!(
            (t.provider.as_str(), t.base_url.as_str()),
            ("two", "http://127.0.0.1:9/v1")
        );
        assert_eq!(
            (t.headers[0].name.as_str(), t.headers[0].value.as_str()),
            ("x-org", "o")
        );
        let none = &r.get("m0").unwrap().provider;
        assert_eq!(none.target().api_key, "");
        assert_eq!(none.target().api_key, "");
    }
}
