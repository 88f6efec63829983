//! `flowbox step build` for Python and JavaScript projects: componentize-py (a CPython
//! interpreter) or componentize-js (SpiderMonkey), pre-initialised with the project's code and
//! the flowbox SDK, for a world of only the host interfaces the code uses. What a module imports
//! is then what its code calls, and the server's grant check at upload sees exactly that, as it
//! does for a Rust module (whose linker drops the imports it does not call).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::sdk::WIT;
use super::{Language, Project};
use crate::cli::{EXIT_FAILED, EXIT_USAGE, Failure};

const PYTHON_TOOLCHAIN: &str = include_str!("../../../../scripts/python-toolchain.sh");
const JS_TOOLCHAIN: &str = include_str!("../../../../scripts/js-toolchain.sh");
const PYTHON_SCAN: &str = include_str!("scan/imports.py");
const JS_SCAN: &str = include_str!("scan/imports.mjs");

/// The world's name in the generated WIT (any name: the server checks imports and the export).
const WORLD: &str = "project-step";

/// Folders of a project that are not its code.
const NOT_CODE: &[&str] = &["target", "sdk", "wit", "node_modules", "__pycache__"];

fn failed(what: impl std::fmt::Display) -> Failure {
    Failure::new(EXIT_FAILED, format!("error: {what}"))
}

fn io<T>(what: &str, path: &Path, r: std::io::Result<T>) -> Result<T, Failure> {
    r.map_err(|e| failed(format_args!("cannot {what} {}: {e}", path.display())))
}

/// Where a toolchain is installed: `$VAR`, else the user's cache folder.
fn toolchain_dir(var: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("flowbox").join(name)
}

fn run(what: &str, cmd: &mut Command) -> Result<String, Failure> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| failed(format_args!("cannot run {what}: {e}")))?;
    if !out.status.success() {
        return Err(failed(format_args!("{what} failed ({})", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The project's own source files (at its top level, and Python packages below it).
fn sources(project: &Project, ext: &[&str]) -> Result<Vec<PathBuf>, Failure> {
    fn walk(dir: &Path, top: bool, ext: &[&str], out: &mut Vec<PathBuf>) -> Result<(), Failure> {
        let mut entries: Vec<_> = io("read", dir, std::fs::read_dir(dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                // A Python package (a folder with __init__.py) is code; other folders are not.
                if !(top && NOT_CODE.contains(&name)) && path.join("__init__.py").is_file() {
                    walk(&path, false, ext, out)?;
                }
            } else if ext.iter().any(|e| name.ends_with(e)) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&project.dir, true, ext, &mut out)?;
    Ok(out)
}

/// A hash of everything the component is built from: equal, the build is skipped.
fn stamp(project: &Project, toolchain: &str, files: &[PathBuf]) -> Result<String, Failure> {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(toolchain);
    // Of step.toml, only what the component depends on: its grants are not built in.
    h.update(&project.manifest.name);
    h.update(project.manifest.language.as_str());
    let sdk = project.dir.join("sdk");
    let mut all: Vec<PathBuf> = files.to_vec();
    all.push(project.dir.join("wit/step.wit"));
    if let Ok(entries) = std::fs::read_dir(sdk.join("flowbox")) {
        let mut sdk_files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        sdk_files.sort();
        all.extend(sdk_files.into_iter().filter(|p| p.is_file()));
    }
    for path in all {
        h.update(
            path.strip_prefix(&project.dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update([0]);
        h.update(io("read", &path, std::fs::read(&path))?);
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The WIT world of the step, importing only `interfaces`.
fn world(interfaces: &[String]) -> String {
    let imports: String = interfaces
        .iter()
        .map(|i| format!("    import {i};\n"))
        .collect();
    format!(
        "package flowbox:step@0.1.0;\n\n// Written by `flowbox step build`: the interfaces the project's code uses.\nworld {WORLD} {{\n{imports}    use types.{{context, step-error}};\n    export run: func(ctx: context, input: string) -> result<string, step-error>;\n}}\n"
    )
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Failure> {
    io("create", to, std::fs::create_dir_all(to))?;
    for entry in io("read", from, std::fs::read_dir(from))?.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        if name == "__pycache__" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            io("copy", &path, std::fs::copy(&path, to.join(&name)))?;
        }
    }
    Ok(())
}

/// Build a Python or JavaScript project into `target/NAME.wasm`; false when it was up to date.
pub(crate) fn build(project: &Project) -> Result<bool, Failure> {
    let lang = project.manifest.language;
    let (ext, script, var, tool): (&[&str], _, _, _) = match lang {
        Language::Python => (
            &[".py"],
            PYTHON_TOOLCHAIN,
            "FLOWBOX_PYTHON_TOOLCHAIN",
            "python-toolchain",
        ),
        Language::Js => (
            &[".js", ".mjs"],
            JS_TOOLCHAIN,
            "FLOWBOX_JS_TOOLCHAIN",
            "js-toolchain",
        ),
        Language::Rust => unreachable!("Rust projects build with cargo"),
    };
    let entry = match lang {
        Language::Python => "step.py",
        _ => "step.js",
    };
    if !project.dir.join(entry).is_file() {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "error: {} has no {entry}: a {} step project's code starts there",
                project.dir.display(),
                lang.title()
            ),
        ));
    }
    let sdk = project.dir.join("sdk/flowbox");
    if !sdk.is_dir() {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "error: {} is missing: copy it from a new project (`flowbox step new x --lang {}`)",
                sdk.display(),
                lang.as_str()
            ),
        ));
    }
    let files = sources(project, ext)?;
    let out = project.wasm();
    let stamp_file = out.with_extension("wasm.inputs");
    let stamp = stamp(project, script, &files)?;
    if out.is_file() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
        return Ok(false);
    }

    let toolchain = toolchain_dir(var, tool);
    let mut install = Command::new("bash");
    install
        .arg("-c")
        .arg(script)
        .arg(tool)
        .arg(&toolchain)
        .stdout(Stdio::null());
    run(
        &format!("the {} toolchain install", lang.title()),
        &mut install,
    )?;

    // Which interfaces the code uses, from its syntax.
    let scan = match lang {
        Language::Python => {
            let mut c = Command::new(toolchain.join("venv/bin/python"));
            c.arg("-c").arg(PYTHON_SCAN).args(&files);
            c
        }
        _ => {
            let mut c = Command::new("node");
            c.arg("--input-type=module")
                .arg("-e")
                .arg(JS_SCAN)
                .arg("--")
                .args(&files);
            c
        }
    };
    let mut scan = scan;
    let interfaces: Vec<String> = run("the import scan", &mut scan)?
        .split_whitespace()
        .map(str::to_string)
        .collect();

    // A scratch folder: the WIT package with the generated world, and the app (the project's
    // code, the SDK, the main module).
    let target = project.dir.join("target");
    let work = target.join("build");
    if work.exists() {
        io("clear", &work, std::fs::remove_dir_all(&work))?;
    }
    let wit = work.join("wit");
    let app = work.join("app");
    io("create", &wit, std::fs::create_dir_all(&wit))?;
    let contract = std::fs::read_to_string(project.dir.join("wit/step.wit"))
        .unwrap_or_else(|_| WIT.to_string());
    io(
        "write",
        &wit,
        std::fs::write(wit.join("step.wit"), contract),
    )?;
    io(
        "write",
        &wit,
        std::fs::write(wit.join("world.wit"), world(&interfaces)),
    )?;
    copy_tree(&sdk, &app.join("flowbox"))?;
    for file in &files {
        let rel = file.strip_prefix(&project.dir).unwrap_or(file);
        let dest = app.join(rel);
        if let Some(parent) = dest.parent() {
            io("create", parent, std::fs::create_dir_all(parent))?;
        }
        let text = io("read", file, std::fs::read_to_string(file))?;
        let text = match lang {
            // The engine resolves relative paths only: 'flowbox' is the SDK beside the code.
            Language::Js => text
                .replace("from 'flowbox'", "from './flowbox/mod.js'")
                .replace("from \"flowbox\"", "from './flowbox/mod.js'"),
            _ => text,
        };
        io("write", &dest, std::fs::write(&dest, text))?;
    }
    let built = work.join("out.wasm");
    match lang {
        Language::Python => {
            let main = app.join("_flowbox_main.py");
            io(
                "write",
                &main,
                std::fs::write(&main, "from flowbox._step import WitWorld  # noqa: F401\n"),
            )?;
            let venv = toolchain.join("venv");
            let mut c = Command::new(venv.join("bin/componentize-py"));
            // VIRTUAL_ENV points componentize-py at its venv's site-packages, not the caller's.
            c.current_dir(&work)
                .env("VIRTUAL_ENV", &venv)
                .args(["-q", "-d"])
                .arg(&wit)
                .args(["-w", WORLD, "componentize", "-p"])
                .arg(&app)
                .args(["_flowbox_main", "-o"])
                .arg(&built)
                .stdout(Stdio::null());
            run("componentize-py", &mut c)?;
        }
        _ => {
            let host = app.join("flowbox/host.js");
            io("write", &host, std::fs::write(&host, host_js(&interfaces)))?;
            let main = app.join("_flowbox_main.js");
            io(
                "write",
                &main,
                std::fs::write(&main, "export { run } from './flowbox/step.js';\n"),
            )?;
            // `--disable http fetch-event`: no wasi:http (the host refuses it; HTTP goes through
            // flowbox:step/http).
            let mut c = Command::new(toolchain.join("node_modules/.bin/componentize-js"));
            c.current_dir(&app)
                .arg("_flowbox_main.js")
                .arg("--wit")
                .arg(&wit)
                .args([
                    "--world-name",
                    WORLD,
                    "--disable",
                    "http",
                    "fetch-event",
                    "--out",
                ])
                .arg(&built)
                .stdout(Stdio::null());
            run("componentize-js", &mut c)?;
        }
    }
    io("move", &built, std::fs::rename(&built, &out))?;
    io("write", &stamp_file, std::fs::write(&stamp_file, stamp))?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "imports: {} (step.toml grants: {})",
        interfaces.join(", "),
        project.manifest.capabilities.join(", ")
    );
    Ok(true)
}

/// The JavaScript SDK's view of the host: the interfaces the component imports, null for the
/// others (a call then says the interface is missing).
fn host_js(interfaces: &[String]) -> String {
    const FUNCTIONS: &[(&str, &[&str])] = &[
        ("log", &["write"]),
        ("variables", &["get", "set"]),
        (
            "records",
            &[
                "get",
                "updateFields",
                "increment",
                "createRelated",
                "addActivity",
            ],
        ),
        ("files", &["info", "read"]),
        ("teams", &["members", "nextMember", "notify"]),
        ("email", &["send"]),
        ("http", &["send"]),
        ("llm", &["chat"]),
        ("audio", &["transcribe"]),
        ("clock", &["nowMillis"]),
    ];
    let mut imports = String::new();
    let mut exports = String::new();
    for (name, functions) in FUNCTIONS {
        if interfaces.iter().any(|i| i == name) {
            let list: Vec<String> = functions
                .iter()
                .map(|f| format!("{f} as {name}_{f}"))
                .collect();
            imports.push_str(&format!(
                "import {{ {} }} from 'flowbox:step/{name}@0.1.0';\n",
                list.join(", ")
            ));
            let fields: Vec<String> = functions
                .iter()
                .map(|f| format!("{f}: {name}_{f}"))
                .collect();
            exports.push_str(&format!(
                "export const {name} = {{ {} }};\n",
                fields.join(", ")
            ));
        } else {
            exports.push_str(&format!("export const {name} = null;\n"));
        }
    }
    format!(
        "// Written by `flowbox step build`: the interfaces the project's code uses.\n{imports}\n{exports}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_imports_only_what_is_used() {
        let w = world(&["log".into(), "http".into()]);
        assert!(w.contains("import log;") && w.contains("import http;"));
        assert!(!w.contains("import records;"));
        let js = host_js(&["log".into()]);
        assert!(js.contains("import { write as log_write } from 'flowbox:step/log@0.1.0';"));
        assert!(js.contains("export const http = null;"));
    }
}
