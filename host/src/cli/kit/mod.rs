//! The step kit: `flowbox step new`, `build` and `test` for step projects that live anywhere on
//! disk, outside any flowbox checkout. A project is a folder with a `step.toml`.

mod build;
mod componentize;
mod fixtures;
mod scaffold;
mod sdk;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub(crate) use build::build;
pub(crate) use fixtures::test;

pub(crate) use scaffold::{NewArgs, new};

use super::{EXIT_USAGE, Failure};

/// `step.toml`: what the step is and what it asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub name: String,
    pub language: Language,
    /// The capabilities its code uses: what `step upload` grants and `step test` allows.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// With `http`: the hosts it may call.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Limits for `step test` runs (workflows set their own per step).
    #[serde(default)]
    pub limits: ManifestLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Language {
    Rust,
    Python,
    Js,
}

impl Language {
    /// As `step.toml` spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestLimits {
    pub fuel: Option<u64>,
    pub memory_mb: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub output_kb: Option<u64>,
}

/// A step project on disk.
#[derive(Debug)]
pub(crate) struct Project {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Project {
    pub(crate) fn open(dir: &Path) -> Result<Project, Failure> {
        let path = dir.join("step.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!(
                    "error: {} is not a step project: cannot read {}: {e} (`flowbox step new NAME` makes one)",
                    dir.display(),
                    path.display()
                ),
            )
        })?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("error: {}: {e}", path.display())))?;
        check_name(&manifest.name)?;
        Ok(Project {
            // Absolute: the builds run tools in other folders.
            dir: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
            manifest,
        })
    }

    /// Where `step build` puts the component.
    pub(crate) fn wasm(&self) -> PathBuf {
        self.dir
            .join("target")
            .join(format!("{}.wasm", self.manifest.name))
    }
}

/// A step name: what the module is uploaded as, and the crate's name. Lowercase letters, digits
/// and `_`, starting with a letter: one spelling that is a valid module name, crate name and
/// Python/JS identifier alike.
pub(crate) fn check_name(name: &str) -> Result<(), Failure> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_USAGE,
            format!(
                "error: `{name}` is not a step name: 1-64 of a-z, 0-9 and `_`, starting with a letter"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["greet", "a", "send_2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Greet", "2go", "a-b", "a/b", "..", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
