//! `date` triggers: a time relative to a record's date field, on business days if asked.

use serde::Deserialize;
use serde_json::Value;

use super::schedule::timezone;
use super::{Errors, deserialize};

/// Which way a run that falls on a weekend moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessDays {
    /// It stays on the weekend.
    Ignore,
    /// To the Monday after.
    Next,
    /// To the Friday before.
    Previous,
}

/// A run on or around a date field of each record.
#[derive(Debug)]
pub struct DateTrigger {
    pub field: String,
    /// Days after the date (negative: before).
    pub days: i64,
    /// The time of day, for date fields (datetime fields keep theirs).
    pub time: chrono::NaiveTime,
    pub timezone: chrono_tz::Tz,
    pub business_days: BusinessDays,
}

impl DateTrigger {
    /// When to run for a record whose field holds `value` (a date or an RFC 3339 time).
    pub fn run_at(&self, value: &Value) -> Option<i64> {
        use chrono::{Datelike, Duration, TimeZone, Weekday};
        let s = value.as_str()?;
        let local = match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(date) => date.and_time(self.time),
            Err(_) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()?
                .with_timezone(&self.timezone)
                .naive_local(),
        };
        let mut local = local.checked_add_signed(Duration::days(self.days))?;
        let shift = match (self.business_days, local.weekday()) {
            (BusinessDays::Next, Weekday::Sat) => 2,
            (BusinessDays::Next, Weekday::Sun) => 1,
            (BusinessDays::Previous, Weekday::Sat) => -1,
            (BusinessDays::Previous, Weekday::Sun) => -2,
            _ => 0,
        };
        local = local.checked_add_signed(Duration::days(shift))?;
        // A local time skipped by a clock change runs at the first valid instant after it.
        let t = self
            .timezone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.timezone
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })?;
        Some(t.timestamp_millis())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDate {
    field: String,
    #[serde(default)]
    days: i64,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    business_days: Option<String>,
}

pub(super) fn date_trigger(
    value: Value,
    path: &str,
    errors: &mut Errors<'_>,
) -> Option<DateTrigger> {
    let raw: RawDate = deserialize(value, path, errors)?;
    let n = errors.0.len();
    let time = match raw.time.as_deref() {
        None => chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        Some(t) => chrono::NaiveTime::parse_from_str(t, "%H:%M").unwrap_or_else(|_| {
            errors.add(
                format!("{path}.time"),
                format!("`{t}` is not a time of day (HH:MM)"),
            );
            chrono::NaiveTime::default()
        }),
    };
    let timezone = timezone(raw.timezone, path, errors);
    let business_days = match raw.business_days.as_deref() {
        None => BusinessDays::Ignore,
        Some("next") => BusinessDays::Next,
        Some("previous") => BusinessDays::Previous,
        Some(other) => {
            errors.add(
                format!("{path}.business_days"),
                format!("`{other}` is not next or previous"),
            );
            BusinessDays::Ignore
        }
    };
    if raw.days.abs() > 3660 {
        errors.add(format!("{path}.days"), "at most 3660 days before or after");
    }
    (errors.0.len() == n).then_some(DateTrigger {
        field: raw.field,
        days: raw.days,
        time,
        timezone,
        business_days,
    })
}
