//! The set of live plugin versions, by described name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Kind, PluginVersion};

/// Live plugins by name. A registry is immutable once built; a reload builds
/// a new one and swaps it in whole.
#[derive(Default, Clone, Debug)]
pub struct Registry {
    by_name: BTreeMap<String, Arc<PluginVersion>>,
}

impl Registry {
    /// Add a plugin; a later one with the same name replaces an earlier one
    /// (a file in `plugins.dir` overrides a built-in). Returns the replaced one.
    pub fn insert(&mut self, plugin: Arc<PluginVersion>) -> Option<Arc<PluginVersion>> {
        self.by_name.insert(plugin.info.name.clone(), plugin)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<PluginVersion>> {
        self.by_name.get(name)
    }

    /// A provider plugin by name.
    pub fn provider(&self, name: &str) -> Option<&Arc<PluginVersion>> {
        self.get(name).filter(|p| p.info.kind == Kind::Provider)
    }

    /// The plugin that serves clients speaking `dialect`.
    pub fn ingress(&self, dialect: &str) -> Option<&Arc<PluginVersion>> {
        self.by_name
            .values()
            .find(|p| p.info.dialect == dialect && p.has_ingress())
    }

    /// Every version held, including ones taken out of service.
    pub fn iter_all(&self) -> impl Iterator<Item = &Arc<PluginVersion>> {
        self.by_name.values()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<PluginVersion>> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
