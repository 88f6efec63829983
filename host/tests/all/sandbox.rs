//! The sandbox against real guests: a normal step, each hostile one, and what must survive them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use flowbox::clock::ManualClock;
use flowbox::sandbox::{
    Capability, Grants, GuestErrorKind, ImportKind, Limits, LoadError, LogSource, RecordRef,
    StepFailure, StepRequest,
};
use serde_json::json;

use crate::common::{guest, load, run, sandbox, sandbox_with, tight, variables};

fn grants(caps: &[Capability]) -> Grants {
    caps.iter().copied().collect()
}

const NORMAL_GRANTS: &[Capability] = &[Capability::Log, Capability::Variables, Capability::Clock];

#[tokio::test]
async fn normal_step_runs_with_its_grants_and_reports_everything() {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let sandbox = sandbox_with(|c| c.clock = Arc::new(clock.clone()));
    let module = load(&sandbox, "normal", grants(NORMAL_GRANTS));
    let mut request = StepRequest::new(r#"{"n": 41}"#);
    request.variables = variables(json!({"seen": ["a", 1]}));
    request.context.step_id = "s1".into();
    request.context.attempt = 3;
    request.context.record = Some(RecordRef {
        object: "deal".into(),
        id: "d-7".into(),
    });
    let outcome = sandbox.run(&module, request).await;

    let output = outcome.result.expect("normal step succeeds");
    assert_eq!(output["n"], 42);
    assert_eq!(output["seen"], json!(["a", 1]));
    assert_eq!(output["record"], "deal/d-7");
    // Both the clock import and WASI's wall clock read the host's (manual) clock.
    assert_eq!(output["now"], 1_700_000_000_000u64);
    assert_eq!(output["wasi_now"], 1_700_000_000_000u64);
    assert_eq!(
        outcome.variable_writes,
        vec![("last".to_string(), json!(42))]
    );
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.source == LogSource::Log && l.message == "normal step s1 attempt 3")
    );
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.source == LogSource::Stdout && l.message.contains("n = 41"))
    );
    assert!(outcome.fuel_used > 0);
    assert!(
        outcome.memory_peak >= 64 << 10,
        "a Rust guest has at least one 64 KiB page"
    );
}

#[tokio::test]
async fn each_hostile_guest_gets_its_own_error_and_the_host_carries_on() {
    let sandbox = sandbox();
    let normal = load(&sandbox, "normal", grants(NORMAL_GRANTS));
    type Expect = fn(&StepFailure) -> bool;
    let cases: Vec<(&str, &str, Limits, Expect)> = vec![
        ("spin", "{}", tight(), |f| {
            matches!(f, StepFailure::FuelExhausted { limit: 500_000_000 })
        }),
        (
            "memory_bomb",
            "{}",
            tight(),
            |f| matches!(f, StepFailure::MemoryLimit { requested, limit } if *limit == 32 << 20 && requested > limit),
        ),
        ("recursion", "{}", tight(), |f| {
            matches!(f, StepFailure::StackOverflow { .. })
        }),
        (
            "panic",
            r#"{"what": "the answer"}"#,
            tight(),
            |f| matches!(f, StepFailure::Trap { message, .. } if message.contains("the guest gave up on the answer")),
        ),
        (
            "huge_output",
            r#"{"mb": 100}"#,
            Limits {
                memory_bytes: 256 << 20,
                fuel: Limits::DEFAULT_FUEL,
                ..tight()
            },
            |f| matches!(f, StepFailure::OutputTooLarge { size, limit } if *size == (100 << 20) + 2 && *limit == 64 << 10),
        ),
        ("bad_json", "{}", tight(), |f| {
            matches!(f, StepFailure::OutputNotJson { .. })
        }),
        (
            "fail",
            r#"{"kind": "retryable", "message": "busy"}"#,
            tight(),
            |f| matches!(f, StepFailure::Guest { kind: GuestErrorKind::Retryable, message } if message == "busy"),
        ),
    ];
    for (name, input, limits, expected) in cases {
        let module = load(&sandbox, name, Grants::none());
        let outcome = run(&sandbox, &module, input, limits).await;
        let failure = outcome.result.expect_err(name);
        assert!(expected(&failure), "{name}: unexpected failure {failure:?}");
        assert!(outcome.variable_writes.is_empty());
        // The same process, the same sandbox: a normal step still runs correctly.
        let after = run(&sandbox, &normal, r#"{"n": 1}"#, Limits::default()).await;
        assert_eq!(
            after.result.expect("normal after hostile")["n"],
            2,
            "after {name}"
        );
    }
}

#[tokio::test]
async fn failure_messages_name_the_limit() {
    let sandbox = sandbox();
    let spin = load(&sandbox, "spin", Grants::none());
    let failure = run(&sandbox, &spin, "{}", tight())
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.code(), "fuel_exhausted");
    assert!(
        failure.to_string().contains("500000000 units of fuel"),
        "{failure}"
    );
    let bomb = load(&sandbox, "memory_bomb", Grants::none());
    let failure = run(&sandbox, &bomb, "{}", tight())
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.code(), "memory_limit");
    assert!(
        failure.to_string().contains("the limit is 33554432 bytes"),
        "{failure}"
    );
    assert!(!failure.is_retryable());
}

#[tokio::test]
async fn a_trap_carries_the_guest_backtrace() {
    let sandbox = sandbox();
    let module = load(&sandbox, "panic", Grants::none());
    match run(&sandbox, &module, "{}", tight()).await.result {
        Err(StepFailure::Trap { message, backtrace }) => {
            assert!(message.contains("unreachable"), "{message}");
            let backtrace = backtrace.expect("a backtrace");
            assert!(
                backtrace.contains("panic"),
                "guest function names in {backtrace}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn a_looping_step_is_stopped_within_100ms_of_its_deadline() {
    // Without fuel, only the deadline can stop it.
    let sandbox = sandbox_with(|c| c.fuel_metering = false);
    let module = load(&sandbox, "spin", Grants::none());
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = run(
        &sandbox,
        &module,
        "{}",
        Limits {
            timeout,
            ..Limits::default()
        },
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        matches!(outcome.result, Err(StepFailure::DeadlineExceeded { timeout: t }) if t == timeout)
    );
    assert!(elapsed >= timeout, "stopped early: {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(100),
        "stopped {elapsed:?} after start"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_long_step_does_not_hold_the_runtime_thread() {
    // One runtime thread: if the spinning guest did not yield, the ticker could not run.
    let sandbox = sandbox_with(|c| c.fuel_metering = false);
    let module = load(&sandbox, "spin", Grants::none());
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let limits = Limits {
        timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let outcome = run(&sandbox, &module, "{}", limits).await;
    ticker.abort();
    assert!(matches!(
        outcome.result,
        Err(StepFailure::DeadlineExceeded { .. })
    ));
    let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        ticks >= 10,
        "the ticker ran only {ticks} times while the step spun"
    );
}

#[tokio::test]
async fn ungranted_imports_are_refused_at_load_with_the_list() {
    let sandbox = sandbox();
    match sandbox.load(&guest("normal"), &grants(&[Capability::Log])) {
        Err(LoadError::UngrantedImports { missing }) => {
            assert_eq!(
                missing,
                vec![
                    "flowbox:step/clock@0.1.0 (grant: clock)".to_string(),
                    "flowbox:step/variables@0.1.0 (grant: variables)".to_string(),
                ]
            );
        }
        other => panic!("expected UngrantedImports, got {other:?}"),
    }
    let err = sandbox
        .load(&guest("http_call"), &Grants::none())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("flowbox:step/http@0.1.0 (grant: http)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_granted_capability_without_a_backend_fails_the_step_cleanly() {
    let sandbox = sandbox();
    let module = load(&sandbox, "http_call", grants(&[Capability::Http]));
    match run(&sandbox, &module, "{}", tight()).await.result {
        Err(StepFailure::Guest {
            kind: GuestErrorKind::Permanent,
            message,
        }) => {
            assert!(
                message.contains("unavailable") && message.contains("http"),
                "{message}"
            );
        }
        other => panic!("expected a clean step error, got {other:?}"),
    }
}

#[tokio::test]
async fn what_is_not_a_step_is_refused_at_load() {
    let sandbox = sandbox();
    let not_wasm = sandbox
        .load(b"{\"this\": \"is json\"}", &Grants::all())
        .unwrap_err();
    assert!(
        matches!(not_wasm, LoadError::NotAComponent { .. }),
        "{not_wasm}"
    );

    // A core module: the first one embedded in a real component of ours.
    let component = guest("increment");
    let core = wasmparser::Parser::new(0)
        .parse_all(&component)
        .find_map(|p| match p {
            Ok(wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            }) => Some(component[unchecked_range].to_vec()),
            _ => None,
        })
        .expect("a component embeds a core module");
    match sandbox.load(&core, &Grants::all()) {
        Err(LoadError::NotAComponent { reason }) => {
            assert!(reason.contains("core WebAssembly module"), "{reason}")
        }
        other => panic!("expected NotAComponent, got {other:?}"),
    }

    match sandbox.load(&guest("no_run_export"), &Grants::all()) {
        Err(LoadError::MissingExport { exports }) => {
            assert_eq!(exports, vec!["start: func(input: string) -> string"])
        }
        other => panic!("expected MissingExport, got {other:?}"),
    }
    let mistyped = sandbox
        .load(&guest("wrong_signature"), &Grants::all())
        .unwrap_err();
    assert!(
        matches!(mistyped, LoadError::MistypedExport { .. }),
        "{mistyped}"
    );

    let mut truncated = guest("increment");
    truncated.truncate(truncated.len() / 2);
    let invalid = sandbox.load(&truncated, &Grants::all()).unwrap_err();
    assert!(matches!(invalid, LoadError::Invalid { .. }), "{invalid}");
}

#[tokio::test]
async fn inspect_lists_exports_imports_and_capabilities() {
    let sandbox = sandbox();
    let bytes = guest("normal");
    let info = sandbox.inspect(&bytes).expect("inspect");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.hash, flowbox::sandbox::content_hash(&bytes));
    assert_eq!(
        info.capabilities,
        vec![Capability::Log, Capability::Variables, Capability::Clock]
    );
    assert!(
        info.exports[0].starts_with("run: func(ctx: record {"),
        "{:?}",
        info.exports
    );
    assert!(
        info.imports
            .iter()
            .any(|i| i.name.starts_with("wasi:cli/stdout@") && i.kind == ImportKind::Wasi)
    );
}

#[tokio::test]
async fn step_errors_keep_their_kind() {
    let sandbox = sandbox();
    let module = load(&sandbox, "fail", Grants::none());
    for (kind, expected) in [
        ("invalid-input", GuestErrorKind::InvalidInput),
        ("permanent", GuestErrorKind::Permanent),
        ("retryable", GuestErrorKind::Retryable),
    ] {
        let input = json!({"kind": kind, "message": "m"}).to_string();
        match run(&sandbox, &module, &input, tight()).await.result {
            Err(StepFailure::Guest { kind, message }) => {
                assert_eq!(kind, expected);
                assert_eq!(message, "m");
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
    // The SDK refuses input that is not JSON before the step's code runs.
    let increment = load(&sandbox, "increment", Grants::none());
    let failure = run(&sandbox, &increment, "not json", tight())
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(
            failure,
            StepFailure::Guest {
                kind: GuestErrorKind::InvalidInput,
                ..
            }
        ),
        "{failure}"
    );
}

#[tokio::test]
async fn output_over_the_limit_is_refused_even_when_small() {
    let sandbox = sandbox();
    let module = load(&sandbox, "increment", Grants::none());
    let input = json!({"n": 1, "pad": "y".repeat(2000)}).to_string();
    let limits = Limits {
        output_bytes: 1000,
        ..tight()
    };
    match run(&sandbox, &module, &input, limits).await.result {
        Err(StepFailure::OutputTooLarge { size, limit: 1000 }) => assert!(size > 2000),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failed_step_discards_its_variable_writes() {
    let sandbox = sandbox();
    let module = load(&sandbox, "normal", grants(NORMAL_GRANTS));
    // The step sets `last`, then its output does not fit: the write must not survive.
    let limits = Limits {
        output_bytes: 10,
        ..tight()
    };
    let outcome = run(&sandbox, &module, r#"{"n": 5}"#, limits).await;
    assert!(matches!(
        outcome.result,
        Err(StepFailure::OutputTooLarge { .. })
    ));
    assert!(outcome.variable_writes.is_empty());
}

#[tokio::test]
async fn many_steps_run_concurrently_in_isolation() {
    let sandbox = Arc::new(sandbox());
    let module = load(&sandbox, "normal", grants(NORMAL_GRANTS));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (sandbox, module) = (sandbox.clone(), module.clone());
        tasks.push(tokio::spawn(async move {
            let mut request = StepRequest::new(json!({"n": i}).to_string());
            request.variables = variables(json!({"seen": i}));
            sandbox.run(&module, request).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.expect("task");
        let output = outcome.result.expect("ok");
        assert_eq!(output["n"], i as i64 + 1);
        assert_eq!(
            output["seen"], i as i64,
            "each run sees only its own variables"
        );
        assert_eq!(
            outcome.variable_writes,
            vec![("last".to_string(), json!(i as i64 + 1))]
        );
    }
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_and_a_bad_artifact_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = guest("increment");
    let hash = flowbox::sandbox::content_hash(&bytes);
    let artifacts = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    {
        let sandbox = sandbox_with(|c| c.cache_dir = Some(dir.path().to_path_buf()));
        sandbox
            .load(&bytes, &Grants::none())
            .expect("first load compiles");
    }
    let files = artifacts();
    assert_eq!(files.len(), 1, "{files:?}");
    let artifact = files[0].clone();
    assert!(
        artifact
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&hash)
    );
    let written = std::fs::metadata(&artifact).unwrap().modified().unwrap();

    // A new sandbox (a restart) uses the artifact as it is.
    let sandbox = sandbox_with(|c| c.cache_dir = Some(dir.path().to_path_buf()));
    let module = sandbox
        .load(&bytes, &Grants::none())
        .expect("load from cache");
    assert_eq!(
        run(&sandbox, &module, r#"{"n": 1}"#, tight())
            .await
            .result
            .unwrap(),
        json!({"n": 2})
    );
    assert_eq!(
        std::fs::metadata(&artifact).unwrap().modified().unwrap(),
        written,
        "not recompiled"
    );

    // A corrupt artifact is not trusted: the component is compiled again and the file replaced.
    std::fs::write(&artifact, b"garbage").unwrap();
    let sandbox = sandbox_with(|c| c.cache_dir = Some(dir.path().to_path_buf()));
    let module = sandbox.load(&bytes, &Grants::none()).expect("recompile");
    assert_eq!(
        run(&sandbox, &module, r#"{"n": 2}"#, tight())
            .await
            .result
            .unwrap(),
        json!({"n": 3})
    );
    assert!(
        std::fs::read(&artifact).unwrap().len() > 1000,
        "artifact rewritten"
    );
}

/// A pool of two step slots runs six steps at once without one failing: each waits for the
/// room its component takes (before, the third instantiation failed: pool exhausted), and the
/// room comes back when they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_wait_for_room_in_the_instance_pool() {
    let sandbox = Arc::new(sandbox_with(|c| c.max_concurrent = 2));
    let free = sandbox.free_core_instances();
    let module = load(&sandbox, "slow", grants(&[]));
    let needs = module.pool_needs();
    assert!(needs.core_instances >= 1, "{needs:?}");
    let started = Instant::now();
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let (sandbox, module) = (sandbox.clone(), module.clone());
            tokio::spawn(async move {
                let limits = Limits {
                    timeout: Duration::from_secs(10),
                    ..Limits::default()
                };
                run(&sandbox, &module, r#"{"ms": 200}"#, limits).await
            })
        })
        .collect();
    for r in runs {
        let outcome = r.await.unwrap();
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    }
    // Two at a time, 200 ms each: three rounds.
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(sandbox.free_core_instances(), free, "the room came back");
}

/// The Python runner takes dozens of core instances: a pool too small for it refuses it at load
/// with the figures, instead of failing each run.
#[tokio::test]
async fn a_component_larger_than_the_pool_is_refused_at_load() {
    let small = sandbox_with(|c| c.max_concurrent = 1);
    let grants: Grants = Capability::ALL.into_iter().collect();
    let python = std::fs::read(crate::common::root().join("target/wasm/python.wasm")).unwrap();
    match small.load(&python, &grants) {
        Err(LoadError::Invalid { reason }) => {
            assert!(
                reason.contains("too large for the instance pool"),
                "{reason}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let needs = sandbox().load(&python, &grants).unwrap().pool_needs();
    assert!(needs.core_instances > 8, "{needs:?}");
    eprintln!("python runner pool needs: {needs:?}");
}
