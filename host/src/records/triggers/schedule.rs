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
        // From the whole second: croner keeps the sub-second part of where it starts, and every
        // occurrence would be late by the milliseconds of the save.
        let start = chrono::DateTime::from_timestamp(after.div_euclid(1000), 0)?
            .with_timezone(&self.timezone);
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
    // Five fields, as in crontab (croner would take a leading seconds field, or a year).
    let fields = raw.cron.split_whitespace().count();
    if fields != 5 && !raw.cron.trim_start().starts_with('@') {
        errors.add(
            format!("{path}.cron"),
            format!(
                "`{}` has {fields} fields: a cron expression has 5 fields (minute hour day month weekday), or is an @alias (@hourly, @daily, @weekly, @monthly, @yearly)",
                raw.cron
            ),
        );
        return None;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(cron: &str) -> Result<Schedule, Vec<String>> {
        let mut list = Vec::new();
        let mut errors = Errors(&mut list);
        let s = schedule(
            json!({ "cron": cron }),
            "triggers[0].schedule",
            false,
            &mut errors,
        );
        s.ok_or_else(|| list.iter().map(|e| e.message.clone()).collect())
    }

    fn ms(t: &str) -> i64 {
        crate::time::parse_datetime(t).unwrap().timestamp_millis()
    }

    #[test]
    fn occurrences_fall_on_the_minute_whatever_the_milliseconds_of_now() {
        let s = parse("0 9 * * *").unwrap();
        assert_eq!(
            s.next_after(ms("2026-03-01T08:00:00.123Z")),
            Some(ms("2026-03-01T09:00:00Z"))
        );
        // Just after an occurrence: the next one, not the same again.
        assert_eq!(
            s.next_after(ms("2026-03-01T09:00:00.456Z")),
            Some(ms("2026-03-02T09:00:00Z"))
        );
    }

    #[test]
    fn a_cron_has_five_fields() {
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("@daily").is_ok());
        for bad in ["0 0 9 * * *", "9 * * *", "0 9 * * * 2026"] {
            let errors = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was taken"));
            assert!(errors[0].contains("5 fields"), "{bad}: {errors:?}");
        }
    }
}
