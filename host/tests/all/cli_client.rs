//! Every client command of the CLI, run as a user runs them (the built binary, a separate
//! process) against a real server: its output, its JSON and YAML, its exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{Db, TestServer, guest_path, root};

/// The CLI as a user with a server and a token runs it. The environment is cleared of the
/// developer's own `FLOWBOX_*` settings and config file.
struct Cli {
    url: String,
    token: String,
    config: PathBuf,
}

impl Cli {
    fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowbox"));
        cmd.args(args)
            .env_remove("FLOWBOX_SERVER")
            .env_remove("FLOWBOX_TOKEN")
            .env_remove("FLOWBOX_PROFILE")
            .env("FLOWBOX_CONFIG", &self.config)
            .env(
                "FLOWBOX_CACHE_DIR",
                root().join("target/test-cache/compiled"),
            );
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--server", &self.url, "--token", &self.token]);
        self.bare(&all).output().expect("run flowbox")
    }

    /// Succeeds; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {:?}\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Succeeds with `--json`; the answer.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// Exits with `code`; its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    fn with_token(&self, token: &str) -> Cli {
        Cli {
            url: self.url.clone(),
            token: token.to_string(),
            config: self.config.clone(),
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

async fn server() -> (TestServer, tempfile::TempDir) {
    let s = TestServer::start(Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    (s, dir)
}

fn cli(s: &TestServer, dir: &Path) -> Cli {
    Cli {
        url: s.url.clone(),
        token: s.admin.clone(),
        config: dir.join("no-config.yaml"),
    }
}

/// Step modules, object types, workflows (every verb), teams, providers, tokens, kill
/// switches and the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_and_admin_from_the_cli() {
    let (s, dir) = server().await;
    let c = cli(&s, dir.path());
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        // Step modules.
        let increment = guest_path("increment").display().to_string();
        has(&c.ok(&["step", "upload", "increment", &increment]), "step module increment = ");
        has(&c.ok(&["step", "list"]), "increment");
        let shown = c.json(&["step", "show", "increment"]);
        assert_eq!(shown["grants"], json!([]));
        let granted = c.ok(&["step", "grants", "increment", "--grant", "log"]);
        has(&granted, "grants:      log");
        has(&c.fails(&["step", "show", "nope"], 3), "module_not_found");

        // Object types and workflows.
        let object = write(&d, "customer.yaml", "name: customer\nfields:\n  name: { type: text, required: true }\n  seats: { type: number }\n  stage: { type: stage, stages: [trial, active] }\n");
        has(&c.ok(&["object", "apply", &object]), "object customer saved");
        has(&c.ok(&["object", "list"]), "customer  name, seats, stage");
        let fields = c.ok(&["object", "show", "customer"]);
        assert!(fields.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["name", "text", "yes", "no", "-"]), "{fields}");

        let v1 = "name: touch\nscope: { object: customer }\ntriggers:\n  - record_created: {}\n  - webhook: { record: { id: \"$.body.id\" } }\n  - schedule: { cron: \"0 9 * * *\" }\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n";
        let file = write(&d, "touch.yaml", v1);
        assert_eq!(c.ok(&["workflow", "validate", &file]).trim(), "touch: valid (1 steps, 3 triggers)");
        assert_eq!(c.ok(&["workflow", "apply", &file]).trim(), "touch version 1 (saved)");
        let file2 = write(&d, "touch2.yaml", &v1.replace("input: { n: 1 }", "input: { n: 2 }"));
        assert_eq!(c.ok(&["workflow", "apply", &file2]).trim(), "touch version 2 (saved)");
        let listed = c.ok(&["workflow", "list"]);
        assert!(listed.lines().any(|l| l.split_whitespace().take(4).collect::<Vec<_>>() == ["touch", "2", "yes", "off"]), "{listed}");
        has(&c.ok(&["workflow", "show", "touch"]), "n: 2");
        has(&c.ok(&["workflow", "show", "touch", "--version", "1"]), "n: 1");
        let versions = c.ok(&["workflow", "versions", "touch"]);
        assert_eq!(versions.lines().count(), 3, "a head and two versions: {versions}");
        let diff = c.ok(&["workflow", "diff", "touch"]);
        has(&diff, "--- touch version 1");
        has(&diff, "-    n: 1");
        has(&diff, "+    n: 2");
        has(&c.ok(&["workflow", "diff", "touch", "2", "2"]), "are the same");
        has(&c.ok(&["workflow", "timers", "touch"]), "schedule  schedule");
        let hooks = c.json(&["workflow", "webhooks", "touch"]);
        let path = hooks["webhooks"][0]["path"].as_str().unwrap().to_string();
        has(&c.ok(&["workflow", "webhooks", "touch"]), &format!("{}{path}", c.url));
        let rotated = c.ok(&["workflow", "rotate-webhook", "touch", "webhook"]);
        has(&rotated, "/hooks/");
        assert!(!rotated.contains(&path), "a new URL: {rotated}");
        assert_eq!(c.ok(&["workflow", "disable", "touch"]).trim(), "workflow touch disabled");
        has(&c.ok(&["workflow", "list"]), "no ");
        assert_eq!(c.ok(&["workflow", "enable", "touch"]).trim(), "workflow touch enabled");
        has(&c.ok(&["workflow", "kill", "touch"]), "touch: on");
        assert_eq!(c.json(&["workflow", "list"])["workflows"][0]["kill_switch"], true);
        has(&c.ok(&["workflow", "kill", "touch", "--off"]), "touch: off");
        let gone = write(&d, "gone.yaml", "name: gone\nsteps:\n  - { id: a, action: increment }\n");
        c.ok(&["workflow", "apply", &gone]);
        assert_eq!(c.ok(&["workflow", "delete", "gone"]).trim(), "deleted workflow gone");
        has(&c.fails(&["workflow", "show", "gone"], 3), "hint: `flowbox workflow list`");
        has(&c.fails(&["step", "delete", "increment"], 4), "module_in_use");

        // YAML is the API's answer too.
        let yaml: Value = serde_yaml_ng::from_str(&c.ok(&["workflow", "list", "-o", "yaml"])).unwrap();
        assert_eq!(yaml, c.json(&["workflow", "list"]));

        // Teams and LLM providers, from files.
        let team = write(&d, "sales.yaml", "name: sales\nmembers: [ann, bo]\nchannels: [general, wins]\n");
        has(&c.ok(&["team", "apply", &team]), "members:   ann, bo");
        has(&c.ok(&["team", "list"]), "sales  ann, bo  general, wins");
        has(&c.ok(&["team", "show", "sales"]), "channels:  general, wins");
        let out = c.run(&["team", "notifications", "sales"]);
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), "", "nothing on stdout when empty");
        has(&text(&out.stderr), "no notifications");
        let notify = guest_path("notify_team").display().to_string();
        c.ok(&["step", "upload", "notify_team", &notify, "--grant", "teams"]);
        let tell = write(&d, "tell.yaml", "name: tell\nsteps:\n  - { id: t, action: notify_team, input: { team: sales, channel: wins, text: \"a big one\" } }\n");
        c.ok(&["workflow", "apply", &tell]);
        c.ok(&["run", "tell"]);
        let posted = c.ok(&["team", "notifications", "sales", "--channel", "wins"]);
        assert!(posted.lines().nth(1).is_some_and(|l| l.contains("wins") && l.ends_with("a big one")), "{posted}");
        let spare = guest_path("fail").display().to_string();
        c.ok(&["step", "upload", "spare", &spare]);
        assert_eq!(c.ok(&["step", "delete", "spare"]).trim(), "deleted step module spare");
        c.fails(&["step", "show", "spare"], 3);
        assert_eq!(c.ok(&["team", "delete", "sales"]).trim(), "deleted team sales");
        let provider = write(&d, "local.yaml", "name: local\nbase_url: http://127.0.0.1:9/v1\ndefault_model: tiny\n");
        has(&c.ok(&["provider", "apply", &provider]), "default_model: tiny");
        has(&c.ok(&["provider", "list"]), "local  http://127.0.0.1:9/v1  tiny   no");
        assert_eq!(c.json(&["provider", "show", "local"])["api_key_set"], false);
        assert_eq!(c.ok(&["provider", "delete", "local"]).trim(), "deleted provider local");
        c.fails(&["provider", "show", "local"], 3);

        // Tokens: made once, refused once revoked.
        let made = c.json(&["token", "create", "ci", "--role", "client"]);
        let secret = made["token"].as_str().unwrap().to_string();
        let id = made["id"].as_str().unwrap().to_string();
        has(&c.ok(&["token", "list"]), "ci ");
        let client = c.with_token(&secret);
        has(&client.ok(&["workflow", "list"]), "touch");
        has(&client.fails(&["kill-switch", "on"], 4), "forbidden");
        assert_eq!(c.ok(&["token", "revoke", &id]).trim(), format!("revoked token {id}"));
        has(&client.fails(&["workflow", "list"], 4), "hint: pass --token");

        // The global kill switch.
        assert_eq!(c.ok(&["kill-switch", "status"]).trim(), "global kill switch: off");
        has(&c.ok(&["kill-switch", "on"]), "global kill switch on");
        assert_eq!(c.ok(&["kill-switch", "status"]).trim(), "global kill switch: on");
        c.ok(&["kill-switch", "off"]);
        assert_eq!(c.json(&["kill-switch", "status"]), json!({"kill_switch": false}));

        // The audit log saw it all.
        has(&c.ok(&["audit", "list", "--action", "workflow.save"]), "touch");
        let audit = c.json(&["audit", "list", "--limit", "2"]);
        assert_eq!(audit["entries"].as_array().unwrap().len(), 2);
        assert!(audit["next_cursor"].is_string());
    })
    .await
    .unwrap();
}

/// Records, activities, events, starts (one, with variables, in bulk) and every execution
/// control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_executions_from_the_cli() {
    let (s, dir) = server().await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    let c = cli(&s, dir.path());
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let object = write(&d, "customer.yaml", "name: customer\nfields:\n  name: { type: text, required: true }\n  seats: { type: number }\n  stage: { type: stage, stages: [trial, active] }\n");
        c.ok(&["object", "apply", &object]);
        let touch = write(&d, "touch.yaml", "name: touch\nscope: { object: customer }\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n");
        c.ok(&["workflow", "apply", &touch]);

        // Records.
        let created = c.ok(&["record", "create", "customer", "--id", "ada", "--fields", r#"{"name": "Ada", "seats": 40}"#]);
        has(&created, "created customer/ada");
        has(&created, "(created): name, seats");
        let seats = write(&d, "bob.json", r#"{"name": "Bob", "seats": 3}"#);
        c.ok(&["record", "create", "customer", "--id", "bob", "--fields", &format!("@{seats}")]);
        let got = c.ok(&["record", "get", "customer", "ada"]);
        has(&got, "seats: 40");
        has(&c.ok(&["record", "patch", "customer", "ada", "--fields", r#"{"stage": "active"}"#]), "(stage_changed): stage");
        has(&c.ok(&["record", "patch", "customer", "ada", "--fields", r#"{"stage": "active"}"#]), "nothing changed");
        let big = c.ok(&["record", "list", "customer", "--filter", "record.seats > 10"]);
        has(&big, "ada");
        assert!(!big.contains("bob"), "{big}");
        let events = c.ok(&["record", "events", "customer", "ada"]);
        has(&events, "stage_changed");
        has(&events, "created");
        let import = write(&d, "more.json", r#"[{"id": "cy", "fields": {"name": "Cy"}}, {"id": "dee", "fields": {"seats": 1}}]"#);
        let out = c.run(&["record", "import", "customer", &import]);
        assert_eq!(out.status.code(), Some(1), "one record failed: {}", text(&out.stderr));
        has(&text(&out.stdout), "created 1, updated 0, unchanged 0, failed 1");
        has(&text(&out.stdout), "#1: ");
        has(&c.ok(&["record", "archive", "customer", "cy"]), "archived customer/cy");
        assert!(!c.ok(&["record", "list", "customer"]).contains("cy"));
        has(&c.ok(&["record", "list", "customer", "--archived", "true"]), "cy");
        c.ok(&["record", "unarchive", "customer", "cy"]);
        assert_eq!(c.ok(&["record", "delete", "customer", "cy"]).trim(), "deleted customer/cy");
        has(&c.fails(&["record", "get", "customer", "cy"], 3), "record_not_found");
        has(&c.fails(&["record", "create", "customer", "--fields", "{oops"], 2), "--fields is not JSON");
        has(&c.fails(&["record", "create", "customer", "--fields", r#"{"seats": "many"}"#], 2), "invalid_fields");

        // Activities.
        let logged = c.json(&["activity", "add", "customer", "ada", "--type", "call", "--subject", "intro"]);
        assert_eq!(logged["status"], "done");
        let due = c.json(&["activity", "add", "customer", "ada", "--type", "meeting", "--due", "2030-01-01T09:00:00Z"]);
        assert_eq!(due["status"], "scheduled");
        let listed = c.ok(&["activity", "list", "customer", "ada"]);
        has(&listed, "intro");
        has(&listed, "scheduled");
        has(&c.ok(&["activity", "complete", due["id"].as_str().unwrap()]), "status:   done");
        c.fails(&["activity", "complete", due["id"].as_str().unwrap()], 4);

        // Events across records, and what the trigger did with them.
        has(&c.ok(&["event", "list", "--object", "customer", "--kind", "created"]), "customer/ada");
        has(&c.ok(&["event", "list", "--workflow", "touch", "--limit", "5"]), "customer/");

        // The trigger's executions, per record.
        let ran = wait_for(|| c.json(&["record", "executions", "customer", "ada"])["executions"].as_array().is_some_and(|e| !e.is_empty()));
        assert!(ran, "record_created started touch on ada");
        has(&c.ok(&["record", "executions", "customer", "ada"]), "touch@1");
        has(&c.ok(&["execution", "list", "--record", "customer/ada"]), "touch@1");
        has(&c.fails(&["execution", "list", "--record", "ada"], 2), "OBJECT/ID");

        // Starts: with variables, in bulk by ids and by a filter.
        let greet = write(&d, "greet.yaml", "name: greet\nvariables:\n  - { name: who, type: string, required: true }\nsteps:\n  - { id: a, action: increment }\n");
        c.ok(&["workflow", "apply", &greet]);
        let run = c.json(&["run", "greet", "--input", r#"{"n": 1}"#, "--variables", r#"{"who": "Ada"}"#]);
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["variables"]["who"], "Ada");
        let shown = c.ok(&["run", "greet", "--input", r#"{"n": 5}"#, "--variables", r#"{"who": "Bo"}"#]);
        has(&shown, "COMPLETED");
        has(&shown, r#"output:  {"n":6}"#);
        let bulk = c.json(&["run", "touch", "--bulk-ids", "ada,bob,nobody"]);
        assert_eq!(bulk["executions"].as_array().unwrap().len(), 2, "{bulk}");
        assert_eq!(bulk["errors"][0]["record_id"], "nobody");
        let by_filter = c.ok(&["run", "touch", "--bulk-filter", "record.seats > 10"]);
        has(&by_filter, "ada");
        assert!(!by_filter.contains("bob"), "{by_filter}");
        has(&c.fails(&["run", "touch", "--bulk-ids", "nobody"], 3), "record_not_found");

        // Watch follows an execution to its end.
        let slowly = write(&d, "slowly.yaml", "name: slowly\nsteps:\n  - { id: first, action: increment }\n  - { id: nap, delay: { for: 1s } }\n  - { id: last, action: increment }\n");
        c.ok(&["workflow", "apply", &slowly]);
        let started = c.json(&["run", "slowly", "--input", r#"{"n": 1}"#, "--wait", "0"]);
        let id = started["id"].as_str().unwrap().to_string();
        let watched = c.ok(&["execution", "watch", &id, "--interval", "0.1"]);
        for needle in ["first (action) completed", "nap (delay)", "last (action) completed", "-> WAITING", "-> COMPLETED"] {
            has(&watched, needle);
        }
        let lines: Vec<Value> = c
            .ok(&["execution", "watch", &id, "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("NDJSON"))
            .collect();
        assert_eq!(lines.last().unwrap()["status"], "completed");
        assert_eq!(lines.len(), 4, "three step runs and the execution: {lines:?}");

        // Show: one line per step, logs, and --verbose for inputs and outputs.
        let shown = c.ok(&["execution", "show", &id]);
        has(&shown, "STEP   KIND");
        assert!(!shown.contains(r#"input:   {"n":2}"#), "{shown}");
        has(&c.ok(&["execution", "show", &id, "--verbose"]), r#"input:   {"n":2}"#);

        // Pause, resume, cancel a waiting execution; meet a goal.
        let long = write(&d, "long.yaml", "name: long\nsteps:\n  - { id: nap, delay: { for: 1h } }\n");
        c.ok(&["workflow", "apply", &long]);
        let id = c.json(&["run", "long", "--wait", "0"])["id"].as_str().unwrap().to_string();
        wait_for(|| c.json(&["execution", "show", &id])["status"] == "waiting");
        has(&c.ok(&["execution", "pause", &id]), &format!("execution {id}: paused"));
        has(&c.ok(&["execution", "resume", &id]), &format!("execution {id}: waiting"));
        has(&c.ok(&["execution", "cancel", &id]), &format!("execution {id}: cancelled"));
        let watched = c.fails(&["execution", "watch", &id], 1);
        has(&watched, "cancelled");
        has(&c.fails(&["execution", "resume", &id], 4), "not_paused");
        let chase = write(&d, "chase.yaml", "name: chase\nscope: { object: customer }\nsteps:\n  - id: replied\n    goal: { condition: \"record.seats > 100\", within: 1h }\n  - { id: done, action: increment, input: { n: 1 } }\n");
        c.ok(&["workflow", "apply", &chase]);
        let id = c.json(&["run", "chase", "--record", "bob", "--wait", "0"])["id"].as_str().unwrap().to_string();
        wait_for(|| c.json(&["execution", "show", &id])["status"] == "waiting");
        has(&c.ok(&["execution", "meet-goal", &id, "replied"]), "goal replied met");
        assert!(wait_for(|| c.json(&["execution", "show", &id])["status"] == "completed"));
        has(&c.fails(&["execution", "show", "nope"], 3), "hint: `flowbox execution list`");
        let failing = write(&d, "stops.yaml", "name: stops\nsteps:\n  - { id: s, stop: { failed: true, reason: no luck } }\n");
        c.ok(&["workflow", "apply", &failing]);
        let out = c.run(&["run", "stops"]);
        assert_eq!(out.status.code(), Some(1));
        has(&text(&out.stdout), "FAILED");
        has(&text(&out.stderr), "failed");
    })
    .await
    .unwrap();
}

/// Polls `check` for up to 10 s.
fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// `flowbox login` checks the token and keeps it, 0600; later commands use the profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_a_profile_that_later_commands_use() {
    use std::os::unix::fs::PermissionsExt;
    let (s, dir) = server().await;
    let config = dir.path().join("conf/flowbox.yaml");
    let c = Cli {
        url: s.url.clone(),
        token: s.admin.clone(),
        config: config.clone(),
    };
    tokio::task::spawn_blocking(move || {
        let refused = c
            .bare(&["login", "--server", &c.url, "--token", "fbx_wrong"])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(4), "{}", text(&refused.stderr));
        assert!(!config.exists(), "nothing kept for a refused token");

        let mut login = c.bare(&["login", "--server", &c.url, "--profile", "test"]);
        login
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = login.spawn().unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{}", c.token).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        has(&text(&out.stdout), "as profile `test`");
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only its owner reads the token");
        has(&std::fs::read_to_string(&config).unwrap(), &c.token);

        // No --server, no --token: the current profile answers.
        let listed = c.bare(&["workflow", "list", "--json"]).output().unwrap();
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        let v: Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(v, json!({"workflows": []}));
        let named = c
            .bare(&["workflow", "list", "--profile", "other"])
            .output()
            .unwrap();
        assert_eq!(named.status.code(), Some(2));
        has(&text(&named.stderr), "no profile `other`");
        // A flag still wins over the profile.
        let down = c
            .bare(&["workflow", "list", "--server", "http://127.0.0.1:9"])
            .output()
            .unwrap();
        assert_eq!(down.status.code(), Some(5), "{}", text(&down.stderr));
        has(
            &text(&down.stderr),
            "cannot reach the flowbox server at http://127.0.0.1:9",
        );
    })
    .await
    .unwrap();
}

/// Times are shown in the local zone; the JSON keeps the API's UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_show_local_times() {
    let (s, dir) = server().await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    let c = cli(&s, dir.path());
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let wf = write(
            &d,
            "a.yaml",
            "name: a\nsteps:\n  - { id: a, action: increment }\n",
        );
        c.ok(&["workflow", "apply", &wf]);
        let v = c.json(&["workflow", "versions", "a"]);
        let utc =
            chrono::DateTime::parse_from_rfc3339(v["versions"][0]["created_at"].as_str().unwrap())
                .unwrap();
        let tokyo = utc.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
        let all = [
            "workflow", "versions", "a", "--server", &c.url, "--token", &c.token,
        ];
        let out = c.bare(&all).env("TZ", "Asia/Tokyo").output().unwrap();
        has(
            &text(&out.stdout),
            &tokyo.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
    })
    .await
    .unwrap();
}

/// Completions and man pages come from the same command definitions.
#[test]
fn completions_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cli {
        url: String::new(),
        token: String::new(),
        config: dir.path().join("none.yaml"),
    };
    for (shell, needle) in [
        ("bash", "_flowbox"),
        ("zsh", "#compdef flowbox"),
        ("fish", "complete -c flowbox"),
    ] {
        let out = c.bare(&["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let script = text(&out.stdout);
        has(&script, needle);
        has(&script, "kill-switch");
        has(&script, "meet-goal");
    }
    let man = dir.path().join("man");
    let out = c
        .bare(&["man", &man.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(man.join("flowbox.1")).unwrap();
    has(&page, ".TH flowbox");
    let workflow = std::fs::read_to_string(man.join("flowbox-workflow.1")).unwrap();
    has(&workflow, "rotate\\-webhook");
    assert!(man.join("flowbox-execution-watch.1").exists());
}
