//! `sluice plugin new`: a new plugin project, ready to build.
//!
//! [`new_plugin`] writes a project for one language ([`Lang`]) and plugin
//! kind ([`Kind`]): a README with the build commands and a config that uses
//! the plugin, a copy of the WIT contract, the build files, and a minimal
//! implementation that works as it is:
//!
//! * **provider**: answers every chat request locally (like a tiny mock),
//!   streaming or not, so it serves requests with no upstream;
//! * **transform**: passes everything through unchanged and logs each request;
//! * **guardrail**: allows everything except requests containing a
//!   configurable word (`forbidden` by default).
//!
//! The templates live in `host/templates/` and are compiled in. Rust
//! projects depend on the SDK by path: the `sdk/` directory of the checkout
//! this binary was built from, unless [`Options::sdk_path`] says otherwise.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The plugin contract, copied into every project.
pub const WIT: &str = include_str!("../../wit/sluice.wit");

/// Where the SDK was when this binary was built.
const BUILD_TIME_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// Tool versions the Python and JavaScript projects pin (the same as the
/// examples in `examples/`).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
pub const JCO_VERSION: &str = "1.35.0";
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The kind of a new plugin (its WIT world).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Provider,
    Transform,
    Guardrail,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Provider, Kind::Transform, Kind::Guardrail];

    /// Also the name of its WIT world.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Transform => "transform",
            Kind::Guardrail => "guardrail",
        }
    }

    /// The world's main exported interface: (WIT name, its resource).
    fn interface(self) -> (&'static str, &'static str) {
        match self {
            Kind::Provider => ("adapter", "StreamMapper"),
            Kind::Transform => ("transformer", "StreamTransformer"),
            Kind::Guardrail => ("guard", "StreamGuard"),
        }
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            _ => Err(format!("unknown language {s:?}: choose rust, python or js")),
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "provider" => Ok(Kind::Provider),
            "transform" => Ok(Kind::Transform),
            "guardrail" => Ok(Kind::Guardrail),
            _ => Err(format!(
                "unknown plugin kind {s:?}: choose provider, transform or guardrail"
            )),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Less common choices for [`new_plugin_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The sluice SDK (`sdk/` of a sluice checkout) a Rust plugin depends
    /// on. Default: where it was when this binary was built.
    pub sdk_path: Option<PathBuf>,
}

/// Writes a new plugin project named `name` into `dir` (created; it must
/// not exist or be empty) and returns the files written.
///
/// `name` is the plugin's name in the gateway config: lower-case letters,
/// digits and `-`, starting with a letter.
pub fn new_plugin(lang: Lang, kind: Kind, name: &str, dir: &Path) -> Result<Vec<PathBuf>, String> {
    new_plugin_with(lang, kind, name, dir, &Options::default())
}

/// [`new_plugin`] with [`Options`].
pub fn new_plugin_with(
    lang: Lang,
    kind: Kind,
    name: &str,
    dir: &Path,
    options: &Options,
) -> Result<Vec<PathBuf>, String> {
    check_name(lang, name)?;
    check_dir(dir)?;
    let sdk = match lang {
        Lang::Rust => Some(sdk_dir(options.sdk_path.as_deref())?),
        _ => None,
    };
    let files = project(lang, kind, name, sdk.as_deref());
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("could not create the directory {}: {e}", dir.display()))?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, file.text)
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        if file.executable {
            make_executable(&path)?;
        }
        written.push(path);
    }
    Ok(written)
}

/// One file of a project.
struct File {
    path: &'static str,
    text: String,
    executable: bool,
}

fn file(path: &'static str, text: String) -> File {
    File {
        path,
        text,
        executable: false,
    }
}

/// Every file of a project, placeholders filled in.
fn project(lang: Lang, kind: Kind, name: &str, sdk: Option<&Path>) -> Vec<File> {
    let (iface, resource) = kind.interface();
    let type_name = type_name(name);
    let sdk_text = sdk.map(|p| p.display().to_string()).unwrap_or_default();
    let description = match kind {
        Kind::Provider => format!("{name}: answers chat requests locally (a starting point)"),
        Kind::Transform => {
            format!("{name}: passes requests through and logs them (a starting point)")
        }
        Kind::Guardrail => {
            format!("{name}: denies requests containing a configured word (a starting point)")
        }
    };
    let usage = match kind {
        Kind::Provider => include_str!("../templates/usage/provider.md"),
        Kind::Transform => include_str!("../templates/usage/transform.md"),
        Kind::Guardrail => include_str!("../templates/usage/guardrail.md"),
    };
    let fill = |template: &str| -> String {
        template
            .replace("@USAGE@", usage.trim_end())
            .replace("@NAME@", name)
            .replace("@TYPE@", &type_name)
            .replace("@CRATE_FILE@", &name.replace('-', "_"))
            .replace("@DESCRIPTION@", &description)
            .replace("@KIND@", kind.as_str())
            .replace("@WORLD@", kind.as_str())
            .replace("@IFACE@", iface)
            .replace("@IFACE_CLASS@", &type_name_of(iface))
            .replace("@IFACE_JS@", iface)
            .replace("@RESOURCE@", resource)
            .replace("@COMPONENTIZE_PY_VERSION@", COMPONENTIZE_PY_VERSION)
            .replace("@JCO_VERSION@", JCO_VERSION)
            .replace("@COMPONENTIZE_JS_VERSION@", COMPONENTIZE_JS_VERSION)
    };
    let mut files = vec![file("wit/sluice.wit", WIT.to_owned())];
    match lang {
        Lang::Rust => {
            let lib = match kind {
                Kind::Provider => include_str!("../templates/rust/provider.rs"),
                Kind::Transform => include_str!("../templates/rust/transform.rs"),
                Kind::Guardrail => include_str!("../templates/rust/guardrail.rs"),
            };
            files.push(file(
                "Cargo.toml",
                fill(include_str!("../templates/rust/Cargo.toml"))
                    .replace("@SDK@", &toml_escape(&sdk_text)),
            ));
            files.push(file("src/lib.rs", fill(lib)));
            files.push(file(
                "README.md",
                fill(include_str!("../templates/rust/README.md")).replace("@SDK@", &sdk_text),
            ));
            files.push(file(
                ".gitignore",
                include_str!("../templates/rust/gitignore").into(),
            ));
            files.push(file(
                ".cargo/config.toml",
                include_str!("../templates/rust/cargo-config.toml").into(),
            ));
        }
        Lang::Python => {
            let (app, resource_module, module_name) = match kind {
                Kind::Provider => (
                    include_str!("../templates/python/provider/app.py"),
                    include_str!("../templates/python/provider/adapter.py"),
                    "adapter.py",
                ),
                Kind::Transform => (
                    include_str!("../templates/python/transform/app.py"),
                    include_str!("../templates/python/transform/transformer.py"),
                    "transformer.py",
                ),
                Kind::Guardrail => (
                    include_str!("../templates/python/guardrail/app.py"),
                    include_str!("../templates/python/guardrail/guard.py"),
                    "guard.py",
                ),
            };
            files.push(file("app.py", fill(app)));
            files.push(file(module_name, fill(resource_module)));
            files.push(File {
                path: "build.sh",
                text: fill(include_str!("../templates/python/build.sh")),
                executable: true,
            });
            files.push(file(
                "README.md",
                fill(include_str!("../templates/python/README.md")),
            ));
            files.push(file(
                ".gitignore",
                include_str!("../templates/python/gitignore").into(),
            ));
        }
        Lang::Js => {
            let app = match kind {
                Kind::Provider => include_str!("../templates/js/provider.js"),
                Kind::Transform => include_str!("../templates/js/transform.js"),
                Kind::Guardrail => include_str!("../templates/js/guardrail.js"),
            };
            files.push(file("app.js", fill(app)));
            files.push(file(
                "package.json",
                fill(include_str!("../templates/js/package.json")),
            ));
            files.push(File {
                path: "build.sh",
                text: fill(include_str!("../templates/js/build.sh")),
                executable: true,
            });
            files.push(file(
                "README.md",
                fill(include_str!("../templates/js/README.md")),
            ));
            files.push(file(
                ".gitignore",
                include_str!("../templates/js/gitignore").into(),
            ));
        }
    }
    files
}

/// Plugin names: lower-case letters, digits and `-`, starting with a
/// letter; for Rust also a valid package name.
fn check_name(lang: Lang, name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(format!(
            "plugin name {name:?} is not valid: use lower-case letters, digits and '-', starting \
             with a letter and at most 64 characters (e.g. my-plugin)"
        ));
    }
    const RESERVED: &[&str] = &[
        "test",
        "std",
        "core",
        "alloc",
        "proc-macro",
        "self",
        "super",
        "crate",
        "fn",
        "mod",
        "struct",
        "enum",
        "trait",
        "impl",
        "type",
        "use",
        "let",
        "match",
        "loop",
        "while",
        "for",
        "if",
        "else",
        "return",
        "async",
        "await",
        "dyn",
        "move",
        "ref",
        "static",
        "const",
        "pub",
        "unsafe",
        "where",
        "true",
        "false",
        "in",
        "as",
        "break",
        "continue",
        "extern",
        "mut",
        "gen",
        "try",
        "box",
        "sluice-sdk",
    ];
    if lang == Lang::Rust && RESERVED.contains(&name) {
        return Err(format!(
            "plugin name {name:?} cannot be a Rust package name (it is a keyword or a built-in \
             crate); choose another, e.g. {name}-plugin"
        ));
    }
    Ok(())
}

/// The project directory must be new or empty.
fn check_dir(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "{} already exists and is not empty; choose another directory (--dir) or \
                     remove it",
                    dir.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() && !dir.is_dir() => Err(format!(
            "{} exists and is not a directory; choose another directory (--dir)",
            dir.display()
        )),
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

/// The SDK directory, canonical, checked to be the sluice SDK.
fn sdk_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    let (path, origin, fix) = match given {
        Some(p) => (
            p.to_path_buf(),
            "the given --sdk-path",
            "--sdk-path must be the sdk/ directory of a sluice checkout",
        ),
        None => (
            PathBuf::from(BUILD_TIME_SDK),
            "where the sluice checkout this binary was built from had it",
            "pass --sdk-path with the path of the sdk/ directory of a sluice checkout",
        ),
    };
    let canonical = std::fs::canonicalize(&path).map_err(|e| {
        format!(
            "the sluice Rust SDK is not at {} ({origin}): {e}; {fix}",
            path.display()
        )
    })?;
    let manifest = std::fs::read_to_string(canonical.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"sluice-sdk\"") {
        return Err(format!(
            "{} ({origin}) is not the sluice Rust SDK (it has no Cargo.toml for sluice-sdk); {fix}",
            canonical.display()
        ));
    }
    Ok(canonical)
}

/// `my-plugin` → `MyPlugin`; a name that would clash with the SDK's
/// prelude or the template's own types gets a `Plugin` suffix.
fn type_name(name: &str) -> String {
    let camel = type_name_of(name);
    const TAKEN: &[&str] = &[
        "Plugin",
        "Adapter",
        "StreamMapper",
        "Ingress",
        "StreamEncoder",
        "Transformer",
        "StreamTransformer",
        "Guard",
        "StreamGuard",
        "Event",
        "Header",
        "LocalResponse",
        "PluginError",
        "PluginInfo",
        "PluginKind",
        "Prepared",
        "Request",
        "StreamFormat",
        "Target",
        "UpstreamRequest",
        "UpstreamResponse",
        "Verdict",
        "Config",
        "PassThrough",
        "AllowAll",
        "ChatChunk",
        "ChatRequest",
        "ChatResponse",
        "Delta",
        "Usage",
        "Deserialize",
        "String",
        "Vec",
        "Option",
        "Result",
        "Ok",
        "Err",
        "Some",
        "None",
        "Box",
        "Self",
    ];
    if TAKEN.contains(&camel.as_str()) {
        camel + "Plugin"
    } else {
        camel
    }
}

fn type_name_of(name: &str) -> String {
    name.split('-')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("could not make {} executable: {e}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sluice-scaffold-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn parses_languages_and_kinds() {
        assert_eq!("rust".parse::<Lang>(), Ok(Lang::Rust));
        assert_eq!("Python".parse::<Lang>(), Ok(Lang::Python));
        assert_eq!("javascript".parse::<Lang>(), Ok(Lang::Js));
        assert_eq!("js".parse::<Lang>(), Ok(Lang::Js));
        assert!(
            "go".parse::<Lang>()
                .unwrap_err()
                .contains("rust, python or js")
        );
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
        assert!(
            "filter"
                .parse::<Kind>()
                .unwrap_err()
                .contains("provider, transform or guardrail")
        );
    }

    #[test]
    fn names_are_checked() {
        for good in ["a", "my-plugin", "x2", "ollama-native"] {
            assert_eq!(check_name(Lang::Rust, good), Ok(()), "{good}");
        }
        for bad in ["", "My", "-a", "a-", "a_b", "2a", "a b", &"a".repeat(65)] {
            assert!(
                check_name(Lang::Js, bad).unwrap_err().contains("not valid"),
                "{bad}"
            );
        }
        assert!(
            check_name(Lang::Rust, "test")
                .unwrap_err()
                .contains("Rust package name")
        );
        assert_eq!(check_name(Lang::Python, "test"), Ok(()));
    }

    #[test]
    fn type_names_avoid_clashes() {
        assert_eq!(type_name("my-cool-plugin"), "MyCoolPlugin");
        assert_eq!(type_name("config"), "ConfigPlugin");
        assert_eq!(type_name("guard"), "GuardPlugin");
        assert_eq!(type_name("plugin"), "PluginPlugin");
    }

    #[test]
    fn every_project_is_complete_and_has_no_placeholder_left() {
        let sdk = sdk_dir(None).expect("the SDK is in this checkout");
        for lang in Lang::ALL {
            for kind in Kind::ALL {
                let files = project(lang, kind, "my-plugin", Some(&sdk));
                let names: Vec<_> = files.iter().map(|f| f.path).collect();
                for must in ["README.md", "wit/sluice.wit", ".gitignore"] {
                    assert!(names.contains(&must), "{lang} {kind}: {names:?}");
                }
                for f in &files {
                    let left: Vec<&str> = f
                        .text
                        .match_indices('@')
                        .filter_map(|(i, _)| {
                            let rest = &f.text[i + 1..];
                            let end = rest.find('@')?;
                            let word = &rest[..end];
                            (!word.is_empty()
                                && word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                            .then_some(word)
                        })
                        .collect();
                    assert!(left.is_empty(), "{lang} {kind} {}: {left:?}", f.path);
                    assert!(!f.text.contains("@NAME"), "{lang} {kind} {}", f.path);
                }
                let readme = &files.iter().find(|f| f.path == "README.md").unwrap().text;
                assert!(readme.contains("my-plugin") && readme.contains(kind.as_str()));
                match lang {
                    Lang::Rust => {
                        let toml = &files.iter().find(|f| f.path == "Cargo.toml").unwrap().text;
                        assert!(toml.contains("[workspace]"));
                        assert!(toml.contains(&format!(
                            "path = \"{}\"",
                            toml_escape(&sdk.display().to_string())
                        )));
                        assert!(names.contains(&"src/lib.rs"));
                        let cargo = &files
                            .iter()
                            .find(|f| f.path == ".cargo/config.toml")
                            .unwrap()
                            .text;
                        assert!(cargo.contains("target-feature=+simd128"));
                    }
                    Lang::Python => {
                        let (iface, _) = kind.interface();
                        assert!(names.contains(&"app.py"));
                        assert!(names.iter().any(|n| *n == format!("{iface}.py")));
                        assert!(files.iter().any(|f| f.path == "build.sh" && f.executable));
                    }
                    Lang::Js => {
                        assert!(names.contains(&"app.js") && names.contains(&"package.json"));
                        let pkg: serde_json::Value = serde_json::from_str(
                            &files
                                .iter()
                                .find(|f| f.path == "package.json")
                                .unwrap()
                                .text,
                        )
                        .unwrap();
                        assert_eq!(pkg["devDependencies"]["@bytecodealliance/jco"], JCO_VERSION);
                    }
                }
            }
        }
    }

    #[test]
    fn writes_files_and_refuses_a_non_empty_directory() {
        let dir = temp("write");
        let written = new_plugin(Lang::Python, Kind::Guardrail, "no-bad-words", &dir).unwrap();
        assert!(written.iter().all(|p| p.is_file() && p.starts_with(&dir)));
        assert_eq!(
            std::fs::read_to_string(dir.join("wit/sluice.wit")).unwrap(),
            WIT
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("build.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
        }
        let again = new_plugin(Lang::Js, Kind::Provider, "other", &dir).unwrap_err();
        assert!(again.contains("not empty"), "{again}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_sdk_is_reported_with_the_way_out() {
        let dir = temp("nosdk");
        let options = Options {
            sdk_path: Some(dir.join("nowhere")),
        };
        let e = new_plugin_with(Lang::Rust, Kind::Provider, "p", &dir, &options).unwrap_err();
        assert!(e.contains("--sdk-path") && e.contains("nowhere"), "{e}");
        assert!(!dir.exists(), "nothing is written when the SDK is missing");
        let e = new_plugin_with(
            Lang::Rust,
            Kind::Provider,
            "p",
            &dir,
            &Options {
                sdk_path: Some(std::env::temp_dir()),
            },
        )
        .unwrap_err();
        assert!(e.contains("not the sluice Rust SDK"), "{e}");
    }

    #[test]
    fn pinned_versions_match_the_examples() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if let Ok(pkg) =
            std::fs::read_to_string(root.join("examples/javascript/redact-guardrail/package.json"))
        {
            assert!(
                pkg.contains(&format!("\"@bytecodealliance/jco\": \"{JCO_VERSION}\"")),
                "{pkg}"
            );
            assert!(pkg.contains(&format!(
                "\"@bytecodealliance/componentize-js\": \"{COMPONENTIZE_JS_VERSION}\""
            )));
        }
        if let Ok(build) = std::fs::read_to_string(root.join("examples/python/ollama/build.sh")) {
            assert!(build.contains(&format!(
                "COMPONENTIZE_PY_VERSION={COMPONENTIZE_PY_VERSION}"
            )));
        }
    }
}
