//! The test command's own scripts, run from a checkout that sits in a private folder (as root's
//! mode-700 home, or a private temporary folder, are on a fresh machine).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::root;

/// `scripts/test-postgres.sh` from a checkout in a mode-700 folder: the server (run as the
/// `postgres` user when we are root) still gets a data folder it can reach, and answers.
#[test]
fn test_postgres_starts_from_a_checkout_in_a_private_folder() {
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let checkout = private.path().join("flowbox");
    std::fs::create_dir_all(checkout.join("scripts")).unwrap();
    std::fs::copy(
        root().join("scripts/test-postgres.sh"),
        checkout.join("scripts/test-postgres.sh"),
    )
    .unwrap();
    // A port of its own, so the suite's server is not the one that answers.
    let port = "55499";
    let out = Command::new("bash")
        .arg(checkout.join("scripts/test-postgres.sh"))
        .env("PGPORT", port)
        .env_remove("FLOWBOX_PG_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let data = stderr
        .lines()
        .find_map(|l| {
            l.split_once("its data is in ")
                .map(|(_, d)| d.trim().to_string())
        })
        .unwrap_or_else(|| checkout.join("target/postgres").display().to_string());
    let stop = || {
        let pg_ctl = format!(
            "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl -D '{data}/data' -m immediate stop"
        );
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        let cmd = if uid.trim_ascii() == b"0" {
            format!("su postgres -s /bin/sh -c \"{pg_ctl}\"")
        } else {
            pg_ctl
        };
        Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        let _ = std::fs::remove_dir_all(&data);
    };
    let ok = out.status.success();
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ready = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_isready -q -h 127.0.0.1 -p {port}"
        ))
        .status()
        .unwrap()
        .success();
    stop();
    assert!(ok, "test-postgres.sh failed: {stderr}");
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    );
    assert!(ready, "the server does not answer: {stderr}");
}
