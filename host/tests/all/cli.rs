//! `flowbox step inspect` and `flowbox step run`, as a user runs them; the API client commands
//! against a real server.

use std::process::{Command, Output};

use crate::common::{guest_path, root};

fn flowbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args(args)
        .env(
            "FLOWBOX_CACHE_DIR",
            root().join("target/test-cache/compiled"),
        )
        .env_remove("FLOWBOX_SERVER")
        .env_remove("FLOWBOX_TOKEN")
        .env("FLOWBOX_CONFIG", "/nonexistent/flowbox.yaml")
        .output()
        .expect("run flowbox")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(name: &str) -> String {
    guest_path(name).display().to_string()
}

#[test]
fn run_prints_the_output_json_and_exits_0() {
    let out = flowbox(&["step", "run", &path("increment"), "--input", r#"{"n": 41}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("stdout is JSON");
    assert_eq!(value, serde_json::json!({"n": 42}));
    assert_eq!(stderr(&out), "");
}

#[test]
fn grants_and_variables_reach_the_step() {
    let out = flowbox(&[
        "step",
        "run",
        &path("normal"),
        "--input",
        r#"{"n": 1}"#,
        "--grant",
        "log",
        "--grant",
        "flowbox:step/variables",
        "--grant",
        "clock",
        "--variables",
        r#"{"seen": true}"#,
        "--verbose",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(value["seen"], true);
    let err = stderr(&out);
    assert!(err.contains("normal step normal attempt 1"), "{err}");
    assert!(err.contains("[set] last = 2"), "{err}");
    assert!(err.contains("fuel used:"), "{err}");
}

/// Each failure: exit code, and one line on stderr that names it.
#[test]
fn every_failure_is_one_line_and_a_nonzero_exit() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["step", "run", &path("spin"), "--fuel", "100000000"],
            1,
            "fuel exhausted",
        ),
        (
            &[
                "step",
                "run",
                &path("spin"),
                "--no-fuel",
                "--timeout-ms",
                "200",
            ],
            1,
            "deadline exceeded",
        ),
        (
            &["step", "run", &path("memory_bomb"), "--memory-mb", "16"],
            1,
            "memory limit",
        ),
        (&["step", "run", &path("recursion")], 1, "stack overflow"),
        (
            &["step", "run", &path("panic"), "--input", r#"{"what": "x"}"#],
            1,
            "the guest gave up on x",
        ),
        (
            &["step", "run", &path("huge_output")],
            1,
            "output too large: 104857602 bytes",
        ),
        (&["step", "run", &path("bad_json")], 1, "output is not JSON"),
        (
            &[
                "step",
                "run",
                &path("fail"),
                "--input",
                r#"{"kind": "permanent", "message": "no"}"#,
            ],
            1,
            "permanent failure: no",
        ),
        (
            &["step", "run", &path("http_call")],
            4,
            "not granted: flowbox:step/http@0.1.0 (grant: http)",
        ),
        (
            &["step", "run", &path("http_call"), "--grant", "http"],
            1,
            "unavailable",
        ),
        (
            &["step", "run", &path("no_run_export")],
            4,
            "missing export",
        ),
        (
            &["step", "run", &path("wrong_signature")],
            4,
            "mistyped export",
        ),
        (
            &["step", "run", &path("increment"), "--input", "{oops"],
            2,
            "--input is not JSON",
        ),
        (
            &["step", "run", &path("increment"), "--grant", "sockets"],
            2,
            "unknown capability `sockets`",
        ),
        (
            &["step", "run", "/no/such/file.wasm"],
            2,
            "cannot read /no/such/file.wasm",
        ),
    ];
    let readme = root().join("README.md");
    let readme = readme.display().to_string();
    let mut all: Vec<(&[&str], i32, &str)> = cases.to_vec();
    let not_wasm: [&str; 3] = ["step", "run", readme.as_str()];
    all.push((&not_wasm, 4, "not a WebAssembly component"));
    for (args, code, needle) in all {
        let out = flowbox(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err:?}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
        assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn inspect_prints_exports_imports_size_and_hash() {
    let file = guest_path("normal");
    let out = flowbox(&["step", "inspect", &file.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        text.contains(&format!("size:    {} bytes", bytes.len())),
        "{text}"
    );
    assert!(
        text.contains(&flowbox::sandbox::content_hash(&bytes)),
        "{text}"
    );
    assert!(text.contains("run: func(ctx: record"), "{text}");
    assert!(
        text.contains("flowbox:step/log@0.1.0 (capability, needs a grant)"),
        "{text}"
    );
    assert!(
        text.contains("capabilities: log, variables, clock"),
        "{text}"
    );

    let out = flowbox(&["step", "inspect", "--json", &path("http_call")]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(info["capabilities"], serde_json::json!(["http"]));
}

/// The client commands, run as a user runs them (a separate process), against a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands_reach_a_server() {
    let s = crate::common::TestServer::start(crate::common::Db::Sqlite).await;
    let (url, token) = (s.url.clone(), s.admin.clone());
    let out = tokio::task::spawn_blocking(move || {
        let upload = flowbox(&[
            "step",
            "upload",
            "increment",
            &path("increment"),
            "--server",
            &url,
            "--token",
            &token,
        ]);
        let refused = flowbox(&[
            "step",
            "upload",
            "x",
            &path("increment"),
            "--server",
            &url,
            "--token",
            "fbx_wrong",
        ]);
        let down = flowbox(&[
            "step",
            "upload",
            "x",
            &path("increment"),
            "--server",
            "http://127.0.0.1:9",
            "--token",
            &token,
        ]);
        (upload, refused, down)
    })
    .await
    .unwrap();
    let (upload, refused, down) = out;
    assert!(
        upload.status.success(),
        "{}{}",
        stdout(&upload),
        stderr(&upload)
    );
    let (status, v) = s.get("/v1/steps/increment").await;
    assert_eq!(status, 200, "uploaded through the CLI: {v}");
    assert_eq!(refused.status.code(), Some(4), "refused");
    assert!(
        stderr(&refused).contains("the API token is not valid"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(down.status.code(), Some(5), "unreachable");
    let err = stderr(&down);
    assert!(
        !err.contains("panicked"),
        "a clear error, not a panic: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// `workflow apply`, `run`, `execution show` and `execution list`, as a user runs them: their
/// output says what happened, and a refused definition or a failed execution exits non-zero
/// with one line naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_run_show_and_list_from_the_cli() {
    let s = crate::common::TestServer::start(crate::common::Db::Sqlite).await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("twice.yaml");
    std::fs::write(
        &good,
        "name: twice\nsteps:\n  - { id: a, action: increment }\n  - { id: b, action: increment }\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "name: bad\nsteps:\n  - { id: a, goto: nowhere }\n").unwrap();
    let failing = dir.path().join("stops.yaml");
    std::fs::write(
        &failing,
        "name: stops\nsteps:\n  - { id: s, stop: { failed: true, reason: no luck } }\n",
    )
    .unwrap();
    let (url, token) = (s.url.clone(), s.admin.clone());
    let cli = move |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &url, "--token", &token]);
        flowbox(&all)
    };
    let at = |p: &std::path::Path| p.display().to_string();
    let (good, bad, failing) = (at(&good), at(&bad), at(&failing));
    let outs = tokio::task::spawn_blocking(move || {
        let checked = cli(&["workflow", "validate", &good]);
        let not_valid = cli(&["workflow", "validate", &bad]);
        assert!(checked.status.success(), "{}", stderr(&checked));
        assert!(
            stdout(&checked).contains("twice: valid (2 steps, 0 triggers)"),
            "{}",
            stdout(&checked)
        );
        assert!(!not_valid.status.success(), "{}", stdout(&not_valid));
        assert!(
            stderr(&not_valid).contains("there is no step `nowhere`"),
            "{}",
            stderr(&not_valid)
        );
        let applied = cli(&["workflow", "apply", &good]);
        let again = cli(&["workflow", "apply", &good]);
        let refused = cli(&["workflow", "apply", &bad]);
        cli(&["workflow", "apply", &failing]);
        let ran = cli(&["run", "twice", "--input", r#"{"n": 40}"#, "--json"]);
        let run: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap_or_default();
        let id = run["id"].as_str().unwrap_or_default().to_string();
        let shown = cli(&["execution", "show", &id]);
        let shown_json = cli(&["execution", "show", &id, "--json"]);
        let listed = cli(&["execution", "list", "--workflow", "twice"]);
        let stopped = cli(&["run", "stops"]);
        let unknown = cli(&["execution", "show", "nope"]);
        (
            applied, again, refused, ran, id, shown, shown_json, listed, stopped, unknown,
        )
    })
    .await
    .unwrap();
    let (applied, again, refused, ran, id, shown, shown_json, listed, stopped, unknown) = outs;

    assert!(applied.status.success(), "{}", stderr(&applied));
    assert_eq!(stdout(&applied).trim(), "twice version 1 (saved)");
    assert_eq!(stdout(&again).trim(), "twice version 1 (unchanged)");
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("there is no step `nowhere`") && err.contains("invalid_definition"),
        "{err}"
    );

    assert!(ran.status.success(), "{}", stderr(&ran));
    let run: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], serde_json::json!({"n": 42}));

    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(text.contains(&id) && text.contains("completed"), "{text}");
    for step in ["a", "b"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().any(|w| w == step)),
            "step {step} in the history: {text}"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&shown_json.stdout).unwrap();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(json["steps"].as_array().map(Vec::len), Some(2), "{json}");

    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));

    assert!(
        !stopped.status.success(),
        "a failed execution exits non-zero"
    );
    assert!(stderr(&stopped).contains("failed"), "{}", stderr(&stopped));
    assert!(!unknown.status.success());
    assert_eq!(unknown.status.code(), Some(3), "not found");
    let err = stderr(&unknown);
    assert!(err.contains("execution_not_found"), "{err}");
    assert_eq!(
        err.trim().lines().collect::<Vec<_>>()[1..],
        ["hint: `flowbox execution list` shows the executions"],
        "the error, then a hint: {err}"
    );
}

/// A reader that stops early (`flowbox ... | head`) ends the command quietly, not with a panic.
#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args(["step", "inspect", &path("increment")])
        .env(
            "FLOWBOX_CACHE_DIR",
            root().join("target/test-cache/compiled"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run flowbox");
    // Nobody reads: the first line printed meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(stderr(&out), "", "no panic message");
}

/// `serve --help` shows the server's options only; the client commands take `--server` and
/// `--token`.
#[test]
fn server_and_client_options_are_apart() {
    let serve = stdout(&flowbox(&["serve", "--help"]));
    assert!(serve.contains("--listen"), "{serve}");
    assert!(
        !serve.contains("--server") && !serve.contains("--token"),
        "{serve}"
    );
    for cmd in [
        &["workflow", "apply", "--help"][..],
        &["run", "--help"],
        &["execution", "list", "--help"],
        &["step", "upload", "--help"],
    ] {
        let help = stdout(&flowbox(cmd));
        assert!(
            help.contains("--server") && help.contains("--token"),
            "{cmd:?}: {help}"
        );
    }
}
