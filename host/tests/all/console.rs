//! The web console in a real browser: Debian's chromium, driven through chromedriver
//! (WebDriver), against a real `flowbox serve` with real executions. Each scenario saves a
//! screenshot into `target/console-shots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, Db, fresh_db_url, root};
use crate::crash::{Server, admin_client, call, post_text, upload};

/// Fails at its second step with the guest's own message.
const BROKEN: &str = "
name: broken
steps:
  - { id: one, action: increment, input: { n: 1 } }
  - id: two
    action: fail
    input: { kind: permanent, message: 'invalid account 42' }
";

/// Waits an hour between two increments: an execution to pause and resume.
const SLEEPY: &str = "
name: sleepy
steps:
  - { id: first, action: increment, input: { n: 1 } }
  - { id: nap, delay: { for: 1h } }
  - { id: last, action: increment }
";

/// A condition, a failure handled by `on_failure_goto`, a goto: the path of an execution
/// through it is start, big (else), risky, recover, done.
const BRANCHY: &str = "
name: branchy
steps:
  - { id: start, action: increment, input: { n: 1 } }
  - { id: big, condition: 'steps.start.output.n > 5', then: wait, else: risky }
  - id: risky
    action: fail
    input: { kind: permanent, message: declined }
    on_failure_goto: recover
  - { id: wait, delay: { for: 1h } }
  - { id: again, goto: start, max_iterations: 2 }
  - { id: recover, set: { recovered: true } }
  - { id: done, stop: { output: { ok: true } } }
";

/// chromedriver and the browser session it drives.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open() -> Browser {
        let port = crate::crash::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/test.sh installs it)");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session through chromedriver: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The first element `css` matches, once there is one (at most 10 s).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(e) => e,
            Err(e) => panic!("no element `{css}` on {}: {e}", self.url().await),
        }
    }

    async fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// The button whose text is `label` (exactly), once there is one.
    async fn button(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!("//button[normalize-space(.)='{label}']");
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(&xpath))
            .await;
        match found {
            Ok(e) => e,
            Err(e) => panic!("no button `{label}` on {}: {e}", self.url().await),
        }
    }

    /// Wait until the page's text contains `text` (at most 10 s).
    async fn sees(&self, text: &str) {
        let started = Instant::now();
        loop {
            let body = self.text().await;
            if body.contains(text) {
                return;
            }
            if started.elapsed() > Duration::from_secs(10) {
                panic!(
                    "`{text}` never showed on {}; the page says:\n{body}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Save what the browser shows as `target/console-shots/NAME.png`.
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir: PathBuf = root().join("target/console-shots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The JavaScript errors the page logged (a console that throws fails the test).
    async fn errors(&self) -> Vec<String> {
        let log = self
            .client
            .execute("return window.__errors || []", vec![])
            .await
            .unwrap_or(Value::Null);
        log.as_array()
            .into_iter()
            .flatten()
            .map(|v| v.to_string())
            .collect()
    }

    async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/ui/")).await;
        let input = self.find("input#token").await;
        input.send_keys(token).await.unwrap();
        self.button("Sign in").await.click().await.unwrap();
        self.find("header.top nav").await;
    }

    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A failed test still stops its chromedriver (and the browser with it).
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Start `workflow` (with a `wait` in seconds), answering the execution.
async fn start(http: &reqwest::Client, base: &str, workflow: &str, wait: u32) -> Value {
    let (status, body) = call(
        http,
        "POST",
        format!("{base}/v1/workflows/{workflow}/executions?wait={wait}"),
        Some(json!({"input": {}})),
    )
    .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db_url(Db::Sqlite, dir.path()).await;
    let server = Server::start(&db, &dir.path().join("data"), 0, &[]).await;
    let base = server.url.clone();
    let http = admin_client();
    upload(&http, &base, "increment", &[]).await;
    upload(&http, &base, "fail", &[]).await;
    for def in [BROKEN, SLEEPY, BRANCHY] {
        let (status, body) = post_text(&http, format!("{base}/v1/workflows"), def).await;
        assert_eq!(status, 201, "{body}");
    }
    for _ in 0..3 {
        start(&http, &base, "sleepy", 0).await;
    }
    let failed = start(&http, &base, "broken", 10).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let failed_id = failed["id"].as_str().unwrap().to_string();
    let taken = start(&http, &base, "branchy", 10).await;
    assert_eq!(taken["status"], "completed", "{taken}");
    let taken_id = taken["id"].as_str().unwrap().to_string();
    let (_, client_token) = call(
        &http,
        "POST",
        format!("{base}/v1/tokens"),
        Some(json!({"name": "viewer", "role": "client"})),
    )
    .await;
    let client_token = client_token["token"].as_str().unwrap().to_string();

    let browser = Browser::open().await;

    // Sign in: a wrong token is refused with a message, the admin token lets in.
    browser.goto(&format!("{base}/ui/executions")).await;
    browser
        .find("input#token")
        .await
        .send_keys("fbx_wrong")
        .await
        .unwrap();
    browser.button("Sign in").await.click().await.unwrap();
    browser.sees("not accepted").await;
    browser.shot("sign-in").await;
    browser.sign_in(&base, ADMIN_TOKEN).await;

    // Find the failed execution by filter.
    browser.goto(&format!("{base}/ui/executions")).await;
    browser.sees("broken").await;
    browser.sees("sleepy").await;
    browser
        .find("select[name=status]")
        .await
        .select_by_value("failed")
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let text = browser
            .find("main table")
            .await
            .text()
            .await
            .unwrap_or_default();
        if text.contains(&failed_id[..8]) && !text.contains("sleepy") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the failed filter shows:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        browser.url().await.contains("status=failed"),
        "the filter is in the URL"
    );
    browser.shot("executions-failed").await;

    // Open it: the failed step's error (the guest's message) and the timeline.
    browser
        .find(&format!("main table a[href='/ui/executions/{failed_id}']"))
        .await
        .click()
        .await
        .unwrap();
    browser.sees("invalid account 42").await;
    browser.find("[data-test=timeline]").await;
    let bars = browser.all("[data-test=timeline] [data-test=bar]").await;
    assert!(bars.len() >= 2, "one bar per step run, got {}", bars.len());
    browser.shot("execution-failed").await;

    // Pause and resume a waiting execution from its page.
    let (_, waiting) = call(
        &http,
        "GET",
        format!("{base}/v1/executions?workflow=sleepy&status=waiting&limit=1"),
        None,
    )
    .await;
    let waiting_id = waiting["executions"][0]["id"].as_str().unwrap().to_string();
    browser
        .goto(&format!("{base}/ui/executions/{waiting_id}"))
        .await;
    let status = browser.find("[data-test=execution-status]").await;
    assert_eq!(status.text().await.unwrap(), "waiting");
    browser.button("Pause").await.click().await.unwrap();
    wait_status(&browser, "paused").await;
    let (_, row) = call(
        &http,
        "GET",
        format!("{base}/v1/executions/{waiting_id}"),
        None,
    )
    .await;
    assert_eq!(row["status"], "paused", "the server has it paused");
    browser.shot("execution-paused").await;
    browser.button("Resume").await.click().await.unwrap();
    wait_status(&browser, "waiting").await;
    let (_, row) = call(
        &http,
        "GET",
        format!("{base}/v1/executions/{waiting_id}"),
        None,
    )
    .await;
    assert_eq!(row["status"], "waiting", "the server has it waiting again");

    // The workflow's graph, with the path the execution took.
    browser
        .goto(&format!("{base}/ui/workflows/branchy?execution={taken_id}"))
        .await;
    browser.find("[data-test=node][data-step=start]").await;
    for step in ["start", "big", "risky", "recover", "done"] {
        let node = browser
            .find(&format!("[data-test=node][data-step='{step}']"))
            .await;
        let class = node.attr("class").await.unwrap().unwrap_or_default();
        assert!(
            class.contains("taken"),
            "{step} is on the path: class `{class}`"
        );
    }
    for step in ["wait", "again"] {
        let node = browser
            .find(&format!("[data-test=node][data-step='{step}']"))
            .await;
        let class = node.attr("class").await.unwrap().unwrap_or_default();
        assert!(
            !class.contains("taken"),
            "{step} is not on the path: class `{class}`"
        );
    }
    let edge = browser
        .find("[data-test=edge][data-from=risky][data-to=recover]")
        .await;
    let class = edge.attr("class").await.unwrap().unwrap_or_default();
    assert!(
        class.contains("taken"),
        "the on_failure edge was taken: `{class}`"
    );
    browser.shot("workflow-graph").await;

    // Edit a definition: an error at its step as you type, fixed, saved as a new version.
    browser
        .goto(&format!("{base}/ui/workflows/broken/edit"))
        .await;
    let editor = browser.find("textarea#definition").await;
    editor.clear().await.unwrap();
    let bad = r#"{"name": "broken", "steps": [
  {"id": "one", "action": "increment", "input": {"n": 1}},
  {"id": "check", "condition": "vars.x > 1", "then": "nowhere", "else": "end"}
]}"#;
    editor.send_keys(bad).await.unwrap();
    let error = browser
        .find("[data-test=validation-errors] [data-test=validation-error][data-step=check]")
        .await;
    let said = error.text().await.unwrap();
    assert!(
        said.contains("nowhere"),
        "the error names the missing step: {said}"
    );
    browser.shot("editor-error").await;
    editor.clear().await.unwrap();
    editor
        .send_keys(&bad.replace("\"nowhere\"", "\"end\""))
        .await
        .unwrap();
    let started = Instant::now();
    while !browser.all("[data-test=validation-error]").await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the fixed definition still has errors"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.button("Save").await.click().await.unwrap();
    let saved = browser.find("[data-test=saved]").await;
    assert!(
        saved.text().await.unwrap().contains('2'),
        "saved as version 2"
    );
    let (_, versions) = call(
        &http,
        "GET",
        format!("{base}/v1/workflows/broken/versions"),
        None,
    )
    .await;
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        2,
        "{versions}"
    );
    browser.shot("editor-saved").await;

    // Admin pages are there for an admin.
    browser.goto(&format!("{base}/ui/admin")).await;
    browser.sees("increment").await;
    browser.shot("admin").await;
    let errors = browser.errors().await;
    assert!(errors.is_empty(), "the console logged errors: {errors:?}");
    browser.close().await;

    // A client token sees no admin or developer controls, and the admin page refuses it.
    let browser = Browser::open().await;
    browser.sign_in(&base, &client_token).await;
    let nav = browser.find("header.top nav").await.text().await.unwrap();
    assert!(
        !nav.contains("Admin"),
        "a client's navigation has no Admin: {nav}"
    );
    browser.goto(&format!("{base}/ui/workflows/branchy")).await;
    browser.find("[data-test=node][data-step=start]").await;
    let mut controls = Vec::new();
    for el in browser
        .all("main button, main a, main input, main select")
        .await
    {
        let label = el.text().await.unwrap_or_default();
        let aria = el
            .attr("aria-label")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        controls.push(format!("{label} {aria}").to_lowercase());
    }
    for control in [
        "edit",
        "kill switch",
        "new workflow",
        "turn",
        "enable",
        "disable",
        "rotate",
    ] {
        let seen: Vec<&String> = controls.iter().filter(|c| c.contains(control)).collect();
        assert!(
            seen.is_empty(),
            "a client has a control `{control}`: {seen:?}"
        );
    }
    assert!(
        controls.iter().any(|c| c.trim() == "start"),
        "a client can start an execution: {controls:?}"
    );
    browser.shot("client-workflow").await;

    // On a phone: nothing is wider than the screen (tables scroll inside their box).
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{base}/ui/executions")).await;
    browser.find("main table tbody tr").await;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page is wider than a phone by {overflow}px"
    );
    browser.shot("phone-executions").await;
    browser.goto(&format!("{base}/ui/admin")).await;
    browser.sees("Not allowed").await;
    browser.close().await;
    server.kill();
}

/// Wait until the execution page's status badge says `want`.
async fn wait_status(browser: &Browser, want: &str) {
    let started = Instant::now();
    loop {
        let now = browser
            .find("[data-test=execution-status]")
            .await
            .text()
            .await
            .unwrap_or_default();
        if now == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "status stayed `{now}`, not `{want}`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
