//! What a step project is built from, embedded in the binary so that a project needs no flowbox
//! checkout: the WIT contract and each language's SDK.

/// The contract, as the server checks it.
pub(crate) const WIT: &str = include_str!("../../../../wit/step.wit");

/// The Rust SDK, vendored into each project: (path inside `sdk/flowbox-guest/src`, text).
pub(crate) const RUST_SDK: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../../../guest-sdk/src/lib.rs")),
    (
        "audio.rs",
        include_str!("../../../../guest-sdk/src/audio.rs"),
    ),
    (
        "clock.rs",
        include_str!("../../../../guest-sdk/src/clock.rs"),
    ),
    (
        "email.rs",
        include_str!("../../../../guest-sdk/src/email.rs"),
    ),
    (
        "files.rs",
        include_str!("../../../../guest-sdk/src/files.rs"),
    ),
    ("http.rs", include_str!("../../../../guest-sdk/src/http.rs")),
    ("llm.rs", include_str!("../../../../guest-sdk/src/llm.rs")),
    ("log.rs", include_str!("../../../../guest-sdk/src/log.rs")),
    (
        "records.rs",
        include_str!("../../../../guest-sdk/src/records.rs"),
    ),
    (
        "teams.rs",
        include_str!("../../../../guest-sdk/src/teams.rs"),
    ),
    (
        "variables.rs",
        include_str!("../../../../guest-sdk/src/variables.rs"),
    ),
];

/// The Python SDK, the `flowbox` package (`sdk/flowbox/` in a project): the code-step runner's
/// package plus the entry of a step project.
pub(crate) const PYTHON_SDK: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../steps/python/flowbox/__init__.py"),
    ),
    (
        "http.py",
        include_str!("../../../../steps/python/flowbox/http.py"),
    ),
    (
        "_stdio.py",
        include_str!("../../../../steps/python/flowbox/_stdio.py"),
    ),
    (
        "_step.py",
        include_str!("../../../../steps/python/flowbox/_step.py"),
    ),
];

/// The JavaScript SDK, the `flowbox` module (`sdk/flowbox/` in a project): the code-step runner's
/// plus the entry of a step project. `host.js` is written by each build.
pub(crate) const JS_SDK: &[(&str, &str)] = &[
    (
        "index.js",
        include_str!("../../../../steps/javascript/flowbox/index.js"),
    ),
    (
        "http.js",
        include_str!("../../../../steps/javascript/flowbox/http.js"),
    ),
    (
        "mod.js",
        include_str!("../../../../steps/javascript/flowbox/mod.js"),
    ),
    (
        "step.js",
        include_str!("../../../../steps/javascript/flowbox/step.js"),
    ),
    (
        "timers.js",
        include_str!("../../../../steps/javascript/flowbox/timers.js"),
    ),
];
