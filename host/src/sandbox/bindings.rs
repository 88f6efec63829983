//! The host side of `wit/step.wit`, generated. Kept private; the sandbox re-exports what
//! callers need.

wasmtime::component::bindgen!({
    world: "step",
    path: "../wit",
    imports: {
        // These reach outside the process (database, network): async, so a slow call does not
        // hold a worker thread.
        "flowbox:step/records": async | trappable,
        "flowbox:step/teams": async | trappable,
        "flowbox:step/files": async | trappable,
        "flowbox:step/email": async | trappable,
        "flowbox:step/http": async | trappable,
        "flowbox:step/llm": async | trappable,
        "flowbox:step/audio": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});
