//! The host side of step capabilities: what a step's calls to `llm`, `audio`, `email`, `http`,
//! `teams` and `files` reach. Each backend serves one step run (the sandbox holds it while the
//! step runs); the shared parts (the HTTP client, the mailer, providers' rate limits) are made
//! once by the engine.
//!
//! Services use the store and the sandbox's types, never the engine's executor: the engine
//! hands them to steps.

pub mod email;
pub mod files;
pub mod http;
pub mod llm;
pub mod teams;
