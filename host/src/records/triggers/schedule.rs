//! `schedule` triggers: a cron expression in a time zone, optionally over the records a filter
//! picks.

use serde::Deserialize;
use serde_json::Value;

use super::{Errors, deserialize};
use crate::expr::Expr;

/// A cron trigger: once per occurrence (global), or once per record its filter picks.
#[derive(Debug)]
pub struct Schedule {
    pub cron: croner::Cron,
    pub timezone: chrono_tz::Tz,
    /// Record-scoped workflows: which records (not archived) to run on; default all.
    pub filter: Option<Expr>,
}

impl Schedule {
    /// The first occurrence after `after` (Unix ms).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = chrono::DateTime::from_timestamp_millis(after)?.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

pub(super) fn timezone(name: Option<String>, path: &str, errors: &mut Errors<'_>) -> chrono_tz::Tz {
    match name {
        None => chrono_tz::UTC,
        Some(n) => n.parse().unwrap_or_else(|_| {
            errors.add(
                format!("{path}.timezone"),
                format!("`{n}` is not a time zone (e.g. Europe/Paris, America/New_York, UTC)"),
            );
            chrono_tz::UTC
        }),
    }
}

pub(super) fn schedule(
    value: Value,
    path: &str,
    record_scoped: bool,
    errors: &mut Errors<'_>,
) -> Option<Schedule> {
    let raw: RawSchedule = deserialize(value, path, errors)?;
    let n = errors.0.len();
    let cron = raw
        .cron
        .parse::<croner::Cron>()
        .map_err(|e| {
            errors.add(
                format!("{path}.cron"),
                format!(
                    "`{}` is not a cron expression (minute hour day month weekday): {e}",
                    raw.cron
                ),
            )
        })
        .ok();
    let timezone = timezone(raw.timezone, path, errors);
    let filter = match (raw.filter, record_scoped) {
        (Some(_), false) => {
            errors.add(
                format!("{path}.filter"),
                "a filter picks records: the workflow must be record-scoped",
            );
            None
        }
        (Some(f), true) => Expr::compile(&f)
            .map_err(|e| errors.add(format!("{path}.filter"), e.to_string()))
            .ok(),
        (None, _) => None,
    };
    let cron = cron?;
    (errors.0.len() == n).then_some(Schedule {
        cron,
        timezone,
        filter,
    })
}
