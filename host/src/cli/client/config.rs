//! Named profiles: which server and token the client commands use, kept in a config file
//! that `flowbox login` writes with owner-only permissions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::super::{EXIT_FAILED, EXIT_USAGE, Failure};

/// The server when neither a flag, the environment nor a profile names one.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The profile used when none is named.
pub(crate) const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The profile used when `--profile` and `FLOWBOX_PROFILE` are not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `FLOWBOX_CONFIG`, else `$XDG_CONFIG_HOME/flowbox/config.yaml`, else
/// `~/.config/flowbox/config.yaml`.
pub(crate) fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLOWBOX_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("flowbox").join("config.yaml"))
}

/// The config file, or an empty one when there is none.
pub(crate) fn load() -> Result<Config, Failure> {
    let Some(path) = path() else {
        return Ok(Config::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!(
                    "error: the config file {} is not valid: {e}",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(Failure::new(
            EXIT_USAGE,
            format!("error: cannot read the config file {}: {e}", path.display()),
        )),
    }
}

/// Write the config file, readable by its owner only: it holds tokens.
pub(crate) fn save(config: &Config) -> Result<PathBuf, Failure> {
    let path = path().ok_or_else(|| {
        Failure::new(
            EXIT_USAGE,
            "error: no place for the config file: set FLOWBOX_CONFIG or HOME",
        )
    })?;
    let failed = |e: std::io::Error| {
        Failure::new(
            EXIT_FAILED,
            format!(
                "error: cannot write the config file {}: {e}",
                path.display()
            ),
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let text = serde_yaml_ng::to_string(config).unwrap_or_default();
    // Written beside it and renamed, so a reader never sees half a file, and created 0600
    // so the token is never readable by others, not even for a moment.
    let tmp = path.with_extension("yaml.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.sync_all().map_err(failed)?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    }
    std::fs::rename(&tmp, &path).map_err(failed)?;
    Ok(path)
}

impl Config {
    /// The profile a command uses: the one named, else the current one, else `default`.
    pub(crate) fn profile_name(&self, named: Option<&str>) -> String {
        named
            .map(str::to_string)
            .or_else(|| self.current.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
    }
}
