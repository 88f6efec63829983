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
        // The toolchains scripts/build-guests.sh installed for the code-step runners.
        .env(
            "FLOWBOX_PYTHON_TOOLCHAIN",
            root().join("target/python-toolchain"),
        )
        .env("FLOWBOX_JS_TOOLCHAIN", root().join("target/js-toolchain"))
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

/// A language's path through the kit: what `step new` writes, and how to make its step call
/// http without declaring it.
struct Lang {
    flag: &'static str,
    title: &'static str,
    files: &'static [&'static str],
    source: &'static str,
    call_http: fn(&str) -> String,
    /// The step also reading teams, a record and a variable (through the fakes of tests.yaml).
    use_host: Option<fn(&str) -> String>,
}

const RUST: Lang = Lang {
    flag: "rust",
    title: "Rust",
    files: &[
        "src/lib.rs",
        "Cargo.toml",
        "Cargo.lock",
        "sdk/flowbox-guest/src/lib.rs",
    ],
    source: "src/lib.rs",
    call_http: |code| {
        code.replace(
            "    log::info(",
            "    if input[\"fetch\"] == true {\n        let _ = flowbox_guest::http::Request::get(\"https://example.com\").send();\n    }\n    log::info(",
        )
    },
    use_host: None,
};

const PYTHON: Lang = Lang {
    flag: "python",
    title: "Python",
    files: &["step.py", "sdk/flowbox/__init__.py", "sdk/flowbox/_step.py"],
    source: "step.py",
    call_http: |code| {
        code.replace(
            "    flowbox.log.info(",
            "    if input.get(\"fetch\") is True:\n        flowbox.http.get(\"https://example.com\")\n    flowbox.log.info(",
        )
    },
    use_host: Some(|code| {
        code.replace(
            "    return {\"greeting\"",
            r#"    if "team" in input:
        return {
            "members": flowbox.teams.members(input["team"]),
            "next": flowbox.teams.next_member(input["team"]),
            "company": flowbox.records.get("contact", "c1")["company"],
            "n": flowbox.variables["n"],
        }
    return {"greeting""#,
        )
    }),
};

const JS: Lang = Lang {
    flag: "js",
    title: "JavaScript",
    files: &["step.js", "sdk/flowbox/index.js", "sdk/flowbox/step.js"],
    source: "step.js",
    call_http: |code| {
        code.replace(
            "import { log, InvalidInput }",
            "import { log, http, InvalidInput }",
        )
        .replace(
            "  log.info(",
            "  if (input.fetch === true) await http.get('https://example.com');\n  log.info(",
        )
    },
    use_host: Some(|code| {
        code.replace("import { log,", "import { log, teams, records, variables,")
            .replace(
                "  return { greeting:",
                r#"  if (input.hang) await new Promise(() => {});
  if (input.team) {
    return {
      members: teams.members(input.team),
      next: teams.nextMember(input.team),
      company: records.get('contact', 'c1').company,
      n: variables.n,
    };
  }
  return { greeting:"#,
            )
    }),
};

/// From an empty folder outside the repository: new, build, test (passing, then failing with a
/// diff), upload with step.toml's grants, run in a workflow; then code that calls http without
/// declaring it is refused at upload with the grant named.
async fn from_new_to_a_workflow(lang: Lang) {
    let name = format!("kit_{}", lang.flag);
    let s = TestServer::start(Db::Sqlite).await;
    let (url, token) = (s.url.clone(), s.admin.clone());
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_path_buf();
    assert!(!home.starts_with(root()), "outside the repository");
    tokio::task::spawn_blocking(move || {
        let server = ["--server", url.as_str(), "--token", token.as_str()];
        let name = name.as_str();

        // New: a project with everything it needs; names checked; nothing overwritten.
        has(
            &ok(&home, &["step", "new", name, "--lang", lang.flag]),
            &format!("created a {} step project in {name}", lang.title),
        );
        let project = home.join(name);
        for file in ["step.toml", "tests.yaml", "wit/step.wit"].iter().chain(lang.files) {
            assert!(project.join(file).is_file(), "{file}");
        }
        has(
            &std::fs::read_to_string(project.join("step.toml")).unwrap(),
            &format!("language = \"{}\"", lang.flag),
        );
        let (_, err) = fails(&home, &["step", "new", name, "--lang", lang.flag], 2);
        has(&err, "already exists");
        has(&fails(&home, &["step", "new", "Kit-Greet"], 2).1, "is not a step name");
        assert!(!home.join("Kit-Greet").exists());

        // Build and test: both cases of the fixture file pass.
        ok(&project, &["step", "build"]);
        let wasm = project.join(format!("target/{name}.wasm"));
        assert!(wasm.is_file());
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
        let up = ok(&home, &joined(&["step", "upload", name, name], &server));
        has(&up, "(grants: log)");
        let flow = format!("name: {name}_flow\nsteps:\n  - {{ id: hi, action: {name} }}\n");
        std::fs::write(home.join("flow.yaml"), flow).unwrap();
        ok(&home, &joined(&["workflow", "apply", "flow.yaml"], &server));
        let workflow = format!("{name}_flow");
        let ran = ok(&home, &joined(&["run", &workflow, "--input", r#"{"name": "Ada"}"#, "--json"], &server));
        let ran: Value = serde_json::from_str(&ran).unwrap();
        assert_eq!(ran["status"], "completed", "{ran}");
        assert_eq!(ran["output"], json!({"greeting": "Hello, Ada!"}));

        // Code that calls http without declaring it: refused at upload, the grant named; its
        // own tests refuse to load it too. (For Python and JavaScript, the same build also
        // reads teams, a record and a variable, declared.)
        let code = std::fs::read_to_string(project.join(lang.source)).unwrap();
        let mut changed = (lang.call_http)(&code);
        assert_ne!(changed, code, "the scaffold's step changed shape");
        if let Some(use_host) = lang.use_host {
            changed = use_host(&changed);
            let manifest = std::fs::read_to_string(project.join("step.toml")).unwrap();
            let declared = manifest.replace(
                "capabilities = [\"log\"]",
                "capabilities = [\"log\", \"teams\", \"records\", \"variables\"]",
            );
            assert_ne!(declared, manifest);
            std::fs::write(project.join("step.toml"), declared).unwrap();
        }
        std::fs::write(project.join(lang.source), changed).unwrap();
        let built = flowbox(&project, &["step", "build"]);
        assert!(built.status.success(), "{}", text(&built.stderr));
        if lang.use_host.is_some() {
            // What the build read in the code: the interfaces the component imports.
            has(&text(&built.stderr), "imports: http, log, records, teams, variables");
        }
        let fetch_name = format!("{name}_fetch");
        let (_, err) = fails(&home, &joined(&["step", "upload", &fetch_name, name], &server), 4);
        has(&err, "flowbox:step/http");
        has(&err, "grant: http");
        has(&fails(&project, &["step", "test"], 4).1, "grant: http");

        // Every SDK wraps the other interfaces too: granted, they are answered by the fixture
        // file's fakes (declaring http too needs no rebuild).
        if lang.use_host.is_some() {
            let manifest = std::fs::read_to_string(project.join("step.toml")).unwrap();
            std::fs::write(project.join("step.toml"), manifest.replace("\"log\",", "\"log\", \"http\",")).unwrap();
            let fixtures = fixtures
                .replace("variables: {}", "variables: { n: 5 }")
                .replace("records: {}", "records: { contact/c1: { company: Acme } }")
                .replace("teams: {}", "teams: { sales: [u1, u2] }")
                .replace("http: []", "http: [{ url: \"https://example.com\", body: hi }]")
                + "  - name: reads the host\n    input: { name: Ada, team: sales }\n    output: { members: [u1, u2], next: u1, company: Acme, n: 5 }\n"
                + "  - name: fetches\n    input: { name: Ada, fetch: true }\n    output: { greeting: \"Hello, Ada!\" }\n"
                + if lang.flag == "js" {
                    // A promise nothing can settle: a clear failure, not the engine's trap.
                    "  - name: never settles\n    input: { name: Ada, hang: true }\n    error: { code: step_failed, message: \"run() never finished\" }\n"
                } else {
                    ""
                };
            std::fs::write(project.join("tests.yaml"), fixtures).unwrap();
            let tested = ok(&project, &["step", "test"]);
            has(&tested, "PASS reads the host");
            has(&tested, "PASS fetches");
            let cases = if lang.flag == "js" { 5 } else { 4 };
            has(&tested, &format!("{cases} cases: {cases} passed, 0 failed"));
        }
    })
    .await
    .unwrap();
    // The shared target holds the Rust project's output too: keep scripts/build-guests.sh's
    // listing of components to its own.
    let _ = std::fs::remove_file(root().join("target/guests/wasm32-wasip2/release/kit_rust.wasm"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_step_from_new_to_a_workflow() {
    from_new_to_a_workflow(RUST).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_step_from_new_to_a_workflow() {
    from_new_to_a_workflow(PYTHON).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_step_from_new_to_a_workflow() {
    from_new_to_a_workflow(JS).await;
}
