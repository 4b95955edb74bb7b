//! `sluice plugin inspect FILE`: what a plugin file is and whether this
//! gateway can load it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::Config;
use crate::pipeline::engine_settings;
use crate::plugin::{PluginEngine, PluginInfo, version};

/// What `inspect` found.
pub struct Report {
    pub file: String,
    pub size: usize,
    pub sha256: String,
    pub compile_time: Option<Duration>,
    pub from_cache: bool,
    pub world: Option<&'static str>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub info: Option<PluginInfo>,
    pub problem: Option<String>,
}

impl Report {
    /// Whether the gateway would load this file with default settings.
    pub fn loadable(&self) -> bool {
        self.problem.is_none() && self.info.is_some()
    }
}

/// Compile and load `file` the way the gateway would (default settings,
/// the default compile cache), without serving anything.
pub fn inspect(file: &Path) -> Result<Report, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read the file: {e}"))?;
    let config = Config::embedded_default();
    let engine = PluginEngine::new(&engine_settings(&config)).map_err(|e| e.to_string())?;
    let linker = version::linker(&engine.engine).map_err(|e| e.to_string())?;
    let mut report = Report {
        file: file.display().to_string(),
        size: bytes.len(),
        sha256: String::new(),
        compile_time: None,
        from_cache: false,
        world: None,
        imports: Vec::new(),
        exports: Vec::new(),
        info: None,
        problem: None,
    };
    match engine.compile(&bytes) {
        Ok(c) => {
            report.sha256 = c.sha256.clone();
            report.compile_time = Some(c.took);
            report.from_cache = c.from_cache;
            let ty = c.component.component_type();
            report.imports = ty
                .imports(&engine.engine)
                .map(|(n, _)| n.to_string())
                .collect();
            report.exports = ty
                .exports(&engine.engine)
                .map(|(n, _)| n.to_string())
                .collect();
            let has = |iface: &str| {
                report
                    .exports
                    .iter()
                    .any(|e| e.starts_with(&format!("sluice:plugin/{iface}@")))
            };
            report.world = match (
                has("adapter"),
                has("ingress"),
                has("transformer"),
                has("guard"),
            ) {
                (true, true, _, _) => Some("dialect"),
                (true, false, _, _) => Some("provider"),
                (_, _, true, _) => Some("transform"),
                (_, _, _, true) => Some("guardrail"),
                _ => None,
            };
        }
        Err(e) => {
            report.problem = Some(e.to_string());
            return Ok(report);
        }
    }
    match version::load(&engine, &linker, &bytes, &report.file, &|n| {
        config.plugins.settings_for(n)
    }) {
        Ok(v) => report.info = Some(v.info.clone()),
        Err(e) => report.problem = Some(e.to_string()),
    }
    Ok(report)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "file:      {}", self.file)?;
        writeln!(f, "size:      {} bytes", self.size)?;
        if !self.sha256.is_empty() {
            writeln!(f, "sha256:    {}", self.sha256)?;
        }
        if let Some(t) = self.compile_time {
            let how = if self.from_cache {
                " (from the compile cache)"
            } else {
                ""
            };
            writeln!(f, "compile:   {:.1} ms{how}", t.as_secs_f64() * 1e3)?;
        }
        writeln!(
            f,
            "world:     {}",
            self.world.unwrap_or("none of sluice:plugin's worlds")
        )?;
        if let Some(i) = &self.info {
            writeln!(
                f,
                "describe:  name={} version={} kind={} dialect={} stream-format={:?}",
                i.name,
                i.version,
                i.kind.as_str(),
                i.dialect,
                i.stream_format
            )?;
            writeln!(f, "           {}", i.description)?;
            let skipped = i.pass_through.names();
            if !skipped.is_empty() {
                writeln!(
                    f,
                    "passes through: {} (the host does not call these hooks)",
                    skipped.join(", ")
                )?;
            }
            let none_or = |l: &[String]| {
                if l.is_empty() {
                    "none".to_string()
                } else {
                    l.join(", ")
                }
            };
            if let Some(keys) = &i.reads_metadata {
                writeln!(
                    f,
                    "reads metadata: {} (the host sends no other pairs)",
                    none_or(keys)
                )?;
            }
            if let Some(names) = &i.reads_headers {
                writeln!(
                    f,
                    "reads headers:  {} (the host sends no other client headers)",
                    none_or(names)
                )?;
            }
        }
        writeln!(f, "imports:")?;
        for i in &self.imports {
            writeln!(f, "  {i}")?;
        }
        writeln!(f, "exports:")?;
        for e in &self.exports {
            writeln!(f, "  {e}")?;
        }
        match &self.problem {
            None => writeln!(f, "loadable:  yes"),
            Some(p) => writeln!(f, "loadable:  NO — {p}"),
        }
    }
}
