//! The set of live plugin versions, by described name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Kind, PluginVersion};

/// Live plugins by name. A registry is immutable once built; a reload builds
/// a new one and swaps it in whole.
#[derive(Default, Clone, Debug)]
pub struct Registry {
    by_name: BTreeMap<String, Arc<PluginVersion>>,
    /// The version each name had before its current one: what serves again
    /// if the current version is taken out of service after repeated traps.
    previous: BTreeMap<String, Arc<PluginVersion>>,
}

impl Registry {
    /// Add a plugin; a later one with the same name replaces an earlier one
    /// (a file in `plugins.dir` overrides a built-in). Returns the replaced one.
    pub fn insert(&mut self, plugin: Arc<PluginVersion>) -> Option<Arc<PluginVersion>> {
        self.by_name.insert(plugin.info.name.clone(), plugin)
    }

    /// Remember `old` as the version to roll back to for its name.
    pub fn set_previous(&mut self, old: Arc<PluginVersion>) {
        self.previous.insert(old.info.name.clone(), old);
    }

    /// The version to roll back to for `name`, if any.
    pub fn previous(&self, name: &str) -> Option<&Arc<PluginVersion>> {
        self.previous.get(name)
    }

    /// The serving version of a plugin: the current one, or the previous
    /// one if the current was taken out of service after repeated traps.
    pub fn get(&self, name: &str) -> Option<&Arc<PluginVersion>> {
        let current = self.by_name.get(name)?;
        if !current.is_disabled() {
            return Some(current);
        }
        self.previous.get(name).filter(|p| !p.is_disabled())
    }

    /// Every version that may serve `name`: the current one and the one
    /// kept for roll-back.
    pub fn versions(&self, name: &str) -> impl Iterator<Item = &Arc<PluginVersion>> {
        self.by_name
            .get(name)
            .into_iter()
            .chain(self.previous.get(name))
    }

    /// Whether `name` is loaded but out of service (repeated traps, nothing
    /// to roll back to).
    pub fn is_out_of_service(&self, name: &str) -> bool {
        self.by_name.contains_key(name) && self.get(name).is_none()
    }

    /// A provider plugin by name.
    pub fn provider(&self, name: &str) -> Option<&Arc<PluginVersion>> {
        self.get(name).filter(|p| p.info.kind == Kind::Provider)
    }

    /// The plugin that serves clients speaking `dialect`.
    pub fn ingress(&self, dialect: &str) -> Option<&Arc<PluginVersion>> {
        let name = self
            .by_name
            .values()
            .find(|p| p.info.dialect == dialect && p.has_ingress())?
            .info
            .name
            .clone();
        self.get(&name)
    }

    /// The current version of every plugin, including ones taken out of
    /// service (not the previous versions kept for roll-back).
    pub fn iter_all(&self) -> impl Iterator<Item = &Arc<PluginVersion>> {
        self.by_name.values()
    }

    /// The serving version of every plugin.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<PluginVersion>> {
        self.by_name.keys().filter_map(|n| self.get(n))
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
