//! The step kit as a new user meets it: a project made in an empty folder outside the
//! repository, built, tested against its fixtures, uploaded to a real server and run in a
//! workflow.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{Db, TestServer, root};

fn flowbox(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args(args)
        .current_dir(cwd)
        .env_remove("FLOWBOX_SERVER")
        .env_remove("FLOWBOX_TOKEN")
        .env("FLOWBOX_CONFIG", cwd.join("no-config.yaml"))
        .env(
            "FLOWBOX_CACHE_DIR",
            root().join("target/test-cache/compiled"),
        )
        // Share std and the SDK's crates with scripts/build-guests.sh (same profile and flags):
        // the first build then takes seconds. Without it: about 140 s on 2 cores.
        .env("FLOWBOX_STEP_TARGET_DIR", root().join("target/guests"))
        .output()
        .expect("run flowbox")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = flowbox(cwd, args);
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn fails(cwd: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = flowbox(cwd, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn joined<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(more).copied().collect()
}

fn has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_step_from_new_to_a_workflow() {
    let s = TestServer::start(Db::Sqlite).await;
    let (url, token) = (s.url.clone(), s.admin.clone());
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_path_buf();
    assert!(!home.starts_with(root()), "outside the repository");
    tokio::task::spawn_blocking(move || {
        let server = ["--server", url.as_str(), "--token", token.as_str()];

        // New: a project with everything it needs; names checked; nothing overwritten.
        has(&ok(&home, &["step", "new", "kit_greet"]), "created a Rust step project in kit_greet");
        let project = home.join("kit_greet");
        for file in ["step.toml", "tests.yaml", "src/lib.rs", "Cargo.toml", "Cargo.lock", "wit/step.wit", "sdk/flowbox-guest/src/lib.rs"] {
            assert!(project.join(file).is_file(), "{file}");
        }
        let (_, err) = fails(&home, &["step", "new", "kit_greet"], 2);
        has(&err, "already exists");
        has(&fails(&home, &["step", "new", "Kit-Greet"], 2).1, "is not a step name");
        assert!(!home.join("Kit-Greet").exists());

        // Build and test: both cases of the fixture file pass.
        ok(&project, &["step", "build"]);
        assert!(project.join("target/kit_greet.wasm").is_file());
        let tested = ok(&project, &["step", "test"]);
        has(&tested, "PASS greets by name");
        has(&tested, "PASS refuses an input without a name");
        has(&tested, "2 cases: 2 passed, 0 failed");

        // A case that no longer holds fails the command, with a diff.
        let fixtures = std::fs::read_to_string(project.join("tests.yaml")).unwrap();
        std::fs::write(project.join("tests.yaml"), fixtures.replace("Hello, Ada!", "Hello, Bob!")).unwrap();
        let (out, err) = fails(&project, &["step", "test"], 1);
        has(&out, "FAIL greets by name");
        has(&out, "-  \"greeting\": \"Hello, Bob!\"");
        has(&out, "+  \"greeting\": \"Hello, Ada!\"");
        has(&out, "2 cases: 1 passed, 1 failed");
        has(&err, "1 of the cases");
        std::fs::write(project.join("tests.yaml"), &fixtures).unwrap();

        // Upload the project (grants from step.toml) and run it in a workflow.
        let up = ok(&home, &joined(&["step", "upload", "kit_greet", "kit_greet"], &server));
        has(&up, "(grants: log)");
        std::fs::write(home.join("flow.yaml"), "name: kit_flow\nsteps:\n  - { id: hi, action: kit_greet }\n").unwrap();
        ok(&home, &joined(&["workflow", "apply", "flow.yaml"], &server));
        let ran = ok(&home, &joined(&["run", "kit_flow", "--input", r#"{"name": "Ada"}"#, "--json"], &server));
        let ran: Value = serde_json::from_str(&ran).unwrap();
        assert_eq!(ran["status"], "completed", "{ran}");
        assert_eq!(ran["output"], json!({"greeting": "Hello, Ada!"}));

        // Code that calls http without declaring it: refused at upload, the grant named; its
        // own tests refuse to load it too.
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        let fetching = lib.replace(
            "    log::info(",
            "    if input[\"fetch\"] == true {\n        let _ = flowbox_guest::http::Request::get(\"https://example.com\").send();\n    }\n    log::info(",
        );
        assert_ne!(fetching, lib, "the scaffold's step changed shape");
        std::fs::write(project.join("src/lib.rs"), fetching).unwrap();
        ok(&project, &["step", "build"]);
        let (_, err) = fails(&home, &joined(&["step", "upload", "kit_fetch", "kit_greet"], &server), 4);
        has(&err, "flowbox:step/http");
        has(&err, "grant: http");
        has(&fails(&project, &["step", "test"], 4).1, "grant: http");
    })
    .await
    .unwrap();
    // The shared target holds this project's output too: keep scripts/build-guests.sh's
    // listing of components to its own.
    let _ = std::fs::remove_file(root().join("target/guests/wasm32-wasip2/release/kit_greet.wasm"));
}
