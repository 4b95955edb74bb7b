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
    api_keys: Vec<String>,
    pub headers: Vec<types::Header>,
    next_key: AtomicUsize,
}

impl Provider {
    /// The credential for the next request (round-robin over `api-keys`).
    pub fn next_key(&self) -> &str {
        match self.api_keys.len() {
            0 => "",
            1 => &self.api_keys[0],
            n => &self.api_keys[self.next_key.fetch_add(1, Ordering::Relaxed) % n],
        }
    }

    /// The target record a provider plugin's `prepare` receives.
    pub fn target(&self) -> types::Target {
        types::Target {
            provider: self.name.clone(),
            base_url: self.base_url.clone(),
            api_key: self.next_key().to_string(),
            headers: self.headers.clone(),
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
            let provider = Arc::new(Provider {
                name: p.name.clone(),
                plugin: p.plugin.clone(),
                base_url: p.base_url.clone(),
                api_keys: p.api_keys.clone(),
                headers: p
                    .headers
                    .iter()
                    .map(|(n, v)| types::Header {
                        name: n.to_ascii_lowercase(),
                        value: v.clone(),
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
