//! `flowbox:step/log`, and the step's captured stdout and stderr.

use serde::{Deserialize, Serialize};

use super::super::bindings::flowbox::step::log::{Host, Level};
use super::super::state::StepState;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug.
    Debug,
    /// Information.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The `log` import.
    Log,
    /// The step's standard output.
    Stdout,
    /// The step's standard error.
    Stderr,
    /// The host, about the step (e.g. lines dropped past the limit).
    Host,
}

/// One line of a step's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Origin.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// What a line costs against the log's bytes beside its text: an empty line still takes room
/// in the stored history (its level, its source, the JSON around them).
const LINE_COST: usize = 48;

/// A step's log, bounded: past `max_bytes` (each line costing its text plus [`LINE_COST`])
/// lines are dropped and the drop is noted once.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    dropped: usize,
}

impl LogBuffer {
    pub(crate) fn new(max_bytes: usize) -> Self {
        LogBuffer {
            lines: Vec::new(),
            bytes: 0,
            max_bytes,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, level: LogLevel, source: LogSource, message: String) {
        let cost = message.len() + LINE_COST;
        if self.bytes + cost > self.max_bytes {
            self.dropped += 1;
            return;
        }
        self.bytes += cost;
        self.lines.push(LogLine {
            level,
            source,
            message,
        });
    }

    pub(crate) fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{} log lines dropped: the step's log is limited to {} bytes ({LINE_COST} a line beside its text)",
                    self.dropped, self.max_bytes
                ),
            });
        }
        self.lines
    }
}

impl Host for StepState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.log.push(level, LogSource::Log, message);
        Ok(())
    }
}
