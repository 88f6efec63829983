//! Loading step components: validation (is a component, exports `run` with the step world's
//! type, imports only what was granted), compilation cached in memory by content hash and on
//! disk by content hash and engine, and the `InstancePre` each run instantiates from.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::component::{Component, Linker};

use super::bindings::StepPre;
use super::capabilities::{Capability, Grants};
use super::error::LoadError;
use super::pool::PoolNeeds;
use super::state::StepState;

/// What a component is: its identity, what it exports and which capabilities it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// SHA-256 of the component's bytes, hex.
    pub hash: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// Exports, with their types.
    pub exports: Vec<String>,
    /// Every import, with what it is.
    pub imports: Vec<ImportInfo>,
    /// The flowbox capabilities it needs granted.
    pub capabilities: Vec<Capability>,
}

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportInfo {
    /// The import's name, e.g. `flowbox:step/log@0.1.0`.
    pub name: String,
    /// `capability` (needs a grant), `wasi` (provided, locked down) or `forbidden`.
    pub kind: ImportKind,
}

/// How the sandbox treats an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    /// A flowbox interface; needs a grant.
    Capability,
    /// A WASI interface that every step gets, locked down (no files, env, network).
    Wasi,
    /// Shared flowbox types; no capability.
    Types,
    /// Not available to steps.
    Forbidden,
}

/// WASI interfaces a step may import. They are linked with an empty context: no preopened
/// directories, no environment; clocks and randomness come from the host. `wasi:sockets` is
/// linked because language runtimes import it whether or not they use it (componentize-py's
/// CPython does), but TCP, UDP and name lookup are switched off in every step's context: each
/// socket call fails with `access-denied`. A step reaches the network only through `http`.
const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

fn classify_import(name: &str) -> ImportKind {
    if Capability::from_import(name).is_some() {
        ImportKind::Capability
    } else if name.starts_with("flowbox:step/types@") {
        ImportKind::Types
    } else if ALLOWED_WASI.iter().any(|p| name.starts_with(p)) {
        ImportKind::Wasi
    } else {
        ImportKind::Forbidden
    }
}

/// A compiled component, ready to instantiate, shared by every module with the same bytes.
pub(crate) struct Compiled {
    pub(crate) info: ModuleInfo,
    pub(crate) pre: StepPre<StepState>,
    pub(crate) needs: PoolNeeds,
}

/// A step component loaded with a set of grants: what [`super::Sandbox::run`] runs.
#[derive(Clone)]
pub struct StepModule {
    pub(crate) compiled: Arc<Compiled>,
    grants: Grants,
}

impl StepModule {
    /// What the component is.
    pub fn info(&self) -> &ModuleInfo {
        &self.compiled.info
    }

    /// The capabilities it was granted.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// What one run of it takes from the sandbox's instance pool.
    pub fn pool_needs(&self) -> PoolNeeds {
        self.compiled.needs
    }
}

impl std::fmt::Debug for StepModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepModule")
            .field("hash", &self.compiled.info.hash)
            .field("grants", &self.grants)
            .finish()
    }
}

/// SHA-256 of `bytes`, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) struct Registry {
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    cache_dir: Option<PathBuf>,
    engine_tag: String,
}

impl Registry {
    pub(crate) fn new(engine: &Engine, cache_dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Registry {
            compiled: Mutex::default(),
            cache_dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        }
    }

    /// Inspect a component without any grants: what it is and what it asks for.
    pub(crate) fn inspect(
        &self,
        engine: &Engine,
        linker: &Linker<StepState>,
        bytes: &[u8],
    ) -> Result<ModuleInfo, LoadError> {
        Ok(self.compile(engine, linker, bytes)?.info.clone())
    }

    pub(crate) fn load(
        &self,
        engine: &Engine,
        linker: &Linker<StepState>,
        bytes: &[u8],
        grants: &Grants,
    ) -> Result<StepModule, LoadError> {
        let compiled = self.compile(engine, linker, bytes)?;
        let missing: Vec<String> = compiled
            .info
            .imports
            .iter()
            .filter_map(|i| Capability::from_import(&i.name).map(|c| (i, c)))
            .filter(|(_, c)| !grants.contains(*c))
            .map(|(i, c)| format!("{} (grant: {c})", i.name))
            .collect();
        if !missing.is_empty() {
            return Err(LoadError::UngrantedImports { missing });
        }
        Ok(StepModule {
            compiled,
            grants: grants.clone(),
        })
    }

    fn compile(
        &self,
        engine: &Engine,
        linker: &Linker<StepState>,
        bytes: &[u8],
    ) -> Result<Arc<Compiled>, LoadError> {
        let hash = content_hash(bytes);
        if let Some(found) = self
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(found.clone());
        }
        check_is_component(bytes)?;
        let component = self.component(engine, bytes, &hash)?;
        let info = describe(engine, &component, &hash, bytes.len() as u64);
        let forbidden: Vec<String> = info
            .imports
            .iter()
            .filter(|i| i.kind == ImportKind::Forbidden)
            .map(|i| i.name.clone())
            .collect();
        if !forbidden.is_empty() {
            return Err(LoadError::ForbiddenImports { imports: forbidden });
        }
        let ty = component.component_type();
        match ty.get_export(engine, "run").map(|e| e.ty) {
            None => {
                return Err(LoadError::MissingExport {
                    exports: info.exports.clone(),
                });
            }
            Some(ComponentItem::ComponentFunc(_)) => {}
            Some(other) => {
                return Err(LoadError::MistypedExport {
                    reason: format!("`run` is a {}, not a function", item_kind(&other)),
                });
            }
        }
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid {
                reason: format!("cannot link its imports: {e:#}"),
            })?;
        let pre = StepPre::new(instance_pre).map_err(|e| LoadError::MistypedExport {
            reason: format!("{e:#}"),
        })?;
        let needs = PoolNeeds::of(&component, bytes);
        let compiled = Arc::new(Compiled { info, pre, needs });
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, compiled.clone());
        Ok(compiled)
    }

    /// Compile, or load the artifact an earlier compile left on disk.
    fn component(&self, engine: &Engine, bytes: &[u8], hash: &str) -> Result<Component, LoadError> {
        let cached = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{hash}-{}.cwasm", self.engine_tag)));
        if let Some(path) = &cached
            && path.exists()
        {
            match deserialize(engine, path) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled artifact")
                }
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid {
            reason: format!("{e:#}"),
        })?;
        if let Some(path) = &cached
            && let Err(e) = store_artifact(&component, path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not cache the compiled component");
        }
        Ok(component)
    }
}

#[expect(
    unsafe_code,
    reason = "deserializing native code; the files are ones this process's registry wrote"
)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // Read into memory rather than map the file: a mapped file truncated underneath a running
    // process would crash it (SIGBUS).
    let bytes = std::fs::read(path)?;
    // SAFETY: the cache directory is private to flowbox and holds only artifacts that
    // `store_artifact` wrote from `Component::serialize`; wasmtime checks that the artifact was
    // made by a compatible engine before using it.
    unsafe { Component::deserialize(engine, &bytes) }.map_err(|e| anyhow::anyhow!("{e:#}"))
}

fn store_artifact(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let dir = path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn check_is_component(bytes: &[u8]) -> Result<(), LoadError> {
    if wasmparser::Parser::is_component(bytes) {
        Ok(())
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        Err(LoadError::NotAComponent {
            reason: "this is a core WebAssembly module; build the step as a component (target wasm32-wasip2, as scripts/build-guests.sh does)".into(),
        })
    } else {
        Err(LoadError::NotAComponent {
            reason: "the bytes are not WebAssembly (no `\\0asm` header)".into(),
        })
    }
}

fn describe(engine: &Engine, component: &Component, hash: &str, size: u64) -> ModuleInfo {
    let ty = component.component_type();
    let exports = ty
        .exports(engine)
        .map(|(name, e)| describe_item(name, &e.ty))
        .collect();
    let mut imports: Vec<ImportInfo> = ty
        .imports(engine)
        .map(|(name, _)| ImportInfo {
            name: name.to_string(),
            kind: classify_import(name),
        })
        .collect();
    imports.sort_by(|a, b| a.name.cmp(&b.name));
    let mut capabilities: Vec<Capability> = imports
        .iter()
        .filter_map(|i| Capability::from_import(&i.name))
        .collect();
    capabilities.sort();
    capabilities.dedup();
    ModuleInfo {
        hash: hash.to_string(),
        size,
        exports,
        imports,
        capabilities,
    }
}

fn item_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "function",
        ComponentItem::CoreFunc(_) => "core function",
        ComponentItem::Module(_) => "core module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

fn describe_item(name: &str, item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(f) => {
            let params: Vec<String> = f
                .params()
                .map(|(n, t)| format!("{n}: {}", describe_type(&t, 0)))
                .collect();
            let results: Vec<String> = f.results().map(|t| describe_type(&t, 0)).collect();
            let arrow = if results.is_empty() {
                String::new()
            } else {
                format!(" -> {}", results.join(", "))
            };
            format!("{name}: func({}){arrow}", params.join(", "))
        }
        other => format!("{name}: {}", item_kind(other)),
    }
}

/// A short WIT-like rendering of a type, for `flowbox step inspect`.
fn describe_type(ty: &Type, depth: usize) -> String {
    if depth > 3 {
        return "...".into();
    }
    let d = |t: &Type| describe_type(t, depth + 1);
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", d(&l.ty())),
        Type::Option(o) => format!("option<{}>", d(&o.ty())),
        Type::Result(r) => {
            let ok = r.ok().map(|t| d(&t)).unwrap_or_else(|| "_".into());
            let err = r.err().map(|t| d(&t)).unwrap_or_else(|| "_".into());
            format!("result<{ok}, {err}>")
        }
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, d(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => format!(
            "tuple<{}>",
            t.types().map(|t| d(&t)).collect::<Vec<_>>().join(", ")
        ),
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, d(&t)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}").chars().take(40).collect(),
    }
}
