//! `flowbox step test`: build the project, then run each case of `tests.yaml` in the local
//! sandbox with fake capabilities fed from the file, and compare.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowbox::sandbox::{
    Backends, Capability, Grants, HostError, HttpBackend, HttpRequest, HttpResponse, Limits,
    RecordRef, RecordsBackend, Sandbox, SandboxConfig, StepContext, StepRequest, TeamsBackend,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cli::{CacheChoice, EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE, Failure};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixtures {
    /// Variables every case sees (a case's own are merged over them).
    #[serde(default)]
    variables: Map<String, Value>,
    /// What `records.get` answers, by "object/id".
    #[serde(default)]
    records: BTreeMap<String, Value>,
    /// Teams' members, in rotation order.
    #[serde(default)]
    teams: BTreeMap<String, Vec<String>>,
    /// What `http` answers: the first whose method and URL match. Any other request is refused.
    #[serde(default)]
    http: Vec<HttpAnswer>,
    cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpAnswer {
    #[serde(default = "get")]
    method: String,
    /// The whole URL, query included.
    url: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A string is sent as it is; any other JSON value as JSON (with its content type).
    #[serde(default)]
    body: Option<Value>,
}

fn get() -> String {
    "GET".into()
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    variables: Map<String, Value>,
    /// The record the step runs on: "object/id".
    #[serde(default)]
    record: Option<String>,
    /// The output it must give...
    #[serde(default)]
    output: Option<Value>,
    /// ... or the error.
    #[serde(default)]
    error: Option<ExpectedError>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    /// `invalid_input`, `step_failed`, `step_failed_retryable`, `fuel_exhausted`, ...
    code: String,
    /// A part of the message.
    #[serde(default)]
    message: Option<String>,
}

fn record_ref(text: &str) -> Option<RecordRef> {
    let (object, id) = text.split_once('/')?;
    Some(RecordRef {
        object: object.to_string(),
        id: id.to_string(),
    })
}

/// Records from the fixture file; writes are accepted and kept for `--verbose`.
struct FakeRecords {
    records: BTreeMap<String, Value>,
    writes: Mutex<Vec<String>>,
}

impl FakeRecords {
    fn wrote(&self, what: String) {
        if let Ok(mut w) = self.writes.lock() {
            w.push(what);
        }
    }
}

#[async_trait::async_trait]
impl RecordsBackend for FakeRecords {
    async fn get(&self, _: &StepContext, r: &RecordRef) -> Result<Value, HostError> {
        let key = format!("{}/{}", r.object, r.id);
        self.records.get(&key).cloned().ok_or_else(|| {
            HostError::NotFound(format!("record {key} (not in tests.yaml's `records`)"))
        })
    }
    async fn update_fields(
        &self,
        _: &StepContext,
        r: &RecordRef,
        fields: Value,
    ) -> Result<(), HostError> {
        self.wrote(format!("update {}/{} {fields}", r.object, r.id));
        Ok(())
    }
    async fn increment(
        &self,
        _: &StepContext,
        r: &RecordRef,
        field: &str,
        by: serde_json::Number,
    ) -> Result<(), HostError> {
        self.wrote(format!("increment {}/{} {field} by {by}", r.object, r.id));
        Ok(())
    }
    async fn create_related(
        &self,
        _: &StepContext,
        parent: &RecordRef,
        object: &str,
        relation: &str,
        fields: Value,
    ) -> Result<RecordRef, HostError> {
        self.wrote(format!(
            "create {object} ({relation} -> {}/{}) {fields}",
            parent.object, parent.id
        ));
        Ok(RecordRef {
            object: object.to_string(),
            id: "test-record".into(),
        })
    }
    async fn add_activity(
        &self,
        _: &StepContext,
        r: &RecordRef,
        activity: Value,
    ) -> Result<String, HostError> {
        self.wrote(format!("activity on {}/{} {activity}", r.object, r.id));
        Ok("test-activity".into())
    }
}

/// HTTP answered from the fixture file; a request it has no answer for is refused, as one to a
/// host off the allow-list is on a server.
struct FakeHttp {
    answers: Vec<HttpAnswer>,
}

#[async_trait::async_trait]
impl HttpBackend for FakeHttp {
    async fn send(&self, _: &StepContext, req: HttpRequest) -> Result<HttpResponse, HostError> {
        let answer = self
            .answers
            .iter()
            .find(|a| a.method.eq_ignore_ascii_case(&req.method) && a.url == req.url)
            .ok_or_else(|| {
                HostError::Denied(format!(
                    "{} {} (no answer in tests.yaml's `http`)",
                    req.method, req.url
                ))
            })?;
        let mut headers: Vec<(String, String)> = answer
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let body = match &answer.body {
            None => Vec::new(),
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(json) => {
                if !answer
                    .headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                json.to_string().into_bytes()
            }
        };
        Ok(HttpResponse {
            status: answer.status,
            headers,
            body,
        })
    }
}

/// Teams from the fixture file; the rotation always starts at the first member.
struct FakeTeams {
    teams: BTreeMap<String, Vec<String>>,
    posted: Mutex<Vec<String>>,
}

impl FakeTeams {
    fn team(&self, team: &str) -> Result<&Vec<String>, HostError> {
        self.teams.get(team).ok_or_else(|| {
            HostError::NotFound(format!("team {team} (not in tests.yaml's `teams`)"))
        })
    }
}

#[async_trait::async_trait]
impl TeamsBackend for FakeTeams {
    async fn members(&self, _: &StepContext, team: &str) -> Result<Vec<String>, HostError> {
        self.team(team).cloned()
    }
    async fn next_member(&self, _: &StepContext, team: &str) -> Result<String, HostError> {
        self.team(team)?
            .first()
            .cloned()
            .ok_or_else(|| HostError::Invalid(format!("team {team} has no members")))
    }
    async fn notify(
        &self,
        _: &StepContext,
        team: &str,
        channel: &str,
        text: String,
        _: Option<Value>,
    ) -> Result<(), HostError> {
        self.team(team)?;
        if let Ok(mut p) = self.posted.lock() {
            p.push(format!("notify {team}/{channel}: {text}"));
        }
        Ok(())
    }
}

/// Build, run every case, print PASS/FAIL with a diff; fails if any case does.
pub(crate) async fn test(dir: &Path, verbose: bool, cache: &CacheChoice) -> Result<(), Failure> {
    let (project, wasm) = super::build(dir)?;
    let path = dir.join("tests.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::new(
            EXIT_USAGE,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })?;
    let fixtures: Fixtures = serde_yaml_ng::from_str(&text)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("error: {}: {e}", path.display())))?;
    let grants: Grants = project
        .manifest
        .capabilities
        .iter()
        .map(|c| c.parse::<Capability>())
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::new(EXIT_USAGE, format!("error: step.toml: {e}")))?;
    let mut config = SandboxConfig {
        max_concurrent: 4,
        ..SandboxConfig::default()
    };
    cache.apply(&mut config);
    let sandbox =
        Sandbox::new(config).map_err(|e| Failure::new(EXIT_FAILED, format!("error: {e:#}")))?;
    let bytes = std::fs::read(&wasm).map_err(|e| {
        Failure::new(
            EXIT_FAILED,
            format!("error: cannot read {}: {e}", wasm.display()),
        )
    })?;
    let module = sandbox.load(&bytes, &grants).map_err(|e| {
        Failure::new(
            EXIT_REFUSED,
            format!("error: {e} (step.toml's `capabilities` grant what the code imports)"),
        )
    })?;
    let limits = {
        let l = &project.manifest.limits;
        let d = Limits::default();
        Limits {
            fuel: l.fuel.unwrap_or(d.fuel),
            memory_bytes: l.memory_mb.map_or(d.memory_bytes, |m| m << 20),
            timeout: l.timeout_ms.map_or(d.timeout, Duration::from_millis),
            output_bytes: l.output_kb.map_or(d.output_bytes, |k| k << 10),
        }
    };
    let records = Arc::new(FakeRecords {
        records: fixtures.records.clone(),
        writes: Mutex::default(),
    });
    let teams = Arc::new(FakeTeams {
        teams: fixtures.teams.clone(),
        posted: Mutex::default(),
    });
    let http = Arc::new(FakeHttp {
        answers: fixtures.http.clone(),
    });
    let (mut passed, mut failed) = (0, 0);
    for case in &fixtures.cases {
        let mut variables = fixtures.variables.clone();
        variables.extend(case.variables.clone());
        let mut request = StepRequest::new(case.input.to_string());
        request.context.execution_id = "test".into();
        request.context.workflow_id = "test".into();
        request.context.step_id = project.manifest.name.clone();
        request.context.record = case.record.as_deref().and_then(record_ref);
        request.variables = Arc::new(variables);
        request.limits = limits;
        request.backends = Backends {
            records: Some(records.clone()),
            teams: Some(teams.clone()),
            http: Some(http.clone()),
            ..Backends::default()
        };
        let outcome = sandbox.run(&module, request).await;
        let verdict = judge(case, &outcome.result);
        match &verdict {
            None => {
                passed += 1;
                println!(
                    "PASS {} ({:.1} ms, fuel {})",
                    case.name,
                    outcome.duration.as_secs_f64() * 1000.0,
                    outcome.fuel_used
                );
            }
            Some(why) => {
                failed += 1;
                println!("FAIL {}", case.name);
                for line in why.lines() {
                    println!("    {line}");
                }
            }
        }
        if verbose || verdict.is_some() {
            for l in &outcome.logs {
                println!(
                    "    log [{}] {}",
                    format!("{:?}", l.level).to_lowercase(),
                    l.message
                );
            }
        }
    }
    if verbose {
        for w in records.writes.lock().map(|w| w.clone()).unwrap_or_default() {
            println!("records: {w}");
        }
        for p in teams.posted.lock().map(|p| p.clone()).unwrap_or_default() {
            println!("teams: {p}");
        }
    }
    println!(
        "{} cases: {passed} passed, {failed} failed",
        passed + failed
    );
    if failed > 0 {
        return Err(Failure::new(
            EXIT_FAILED,
            format!("error: {failed} of the cases in {} failed", path.display()),
        ));
    }
    Ok(())
}

/// `None` if the case passes, else why not (with a diff for outputs).
fn judge(case: &Case, result: &Result<Value, flowbox::sandbox::StepFailure>) -> Option<String> {
    match (result, &case.error) {
        (Ok(actual), None) => {
            let Some(expected) = &case.output else {
                return None;
            };
            if actual == expected {
                return None;
            }
            let pretty =
                |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
            let (e, a) = (pretty(expected), pretty(actual));
            let diff = similar::TextDiff::from_lines(&e, &a)
                .unified_diff()
                .header("expected", "actual")
                .to_string();
            Some(format!("the output differs:\n{diff}"))
        }
        (Ok(text), Some(want)) => Some(format!(
            "expected the error {}, got the output {text}",
            want.code
        )),
        (Err(failure), None) => Some(format!("failed: {failure} ({})", failure.code())),
        (Err(failure), Some(want)) => {
            let message = failure.to_string();
            if failure.code() != want.code {
                Some(format!(
                    "expected the error {}, got {} ({message})",
                    want.code,
                    failure.code()
                ))
            } else if want
                .message
                .as_deref()
                .is_some_and(|m| !message.contains(m))
            {
                Some(format!(
                    "the error's message {message:?} does not contain {:?}",
                    want.message.as_deref().unwrap_or_default()
                ))
            } else {
                None
            }
        }
    }
}
