//! flowbox's integration tests, in one binary so the host links once.
//! The guests they run are built from source by `scripts/build-guests.sh` (the README's test
//! command runs it first).

mod actions;
mod auth;
mod bursts;
mod cli;
mod cli_client;
mod common;
mod console;
mod console_api;
mod contract;
mod crash;
mod durability;
mod javascript;
mod limits;
mod llm;
mod metrics;
mod notices;
mod openapi;
mod python;
mod records;
mod sandbox;
mod schedules;
mod scripts;
mod serve;
mod step_kit;
mod traces;
mod triggers;
mod webhooks;
mod workflows;
