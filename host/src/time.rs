//! Times and dates as flowbox reads and writes them: RFC 3339 in UTC, or a bare date.

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};

/// A date from `YYYY-MM-DD` or from the date part of an RFC 3339 time.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime(s).map(|t| t.date_naive()))
}

/// A UTC time from RFC 3339 (or a date, taken as midnight UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN).and_utc())
        })
}

/// A Unix-ms time as RFC 3339 in UTC, with milliseconds (`2026-03-01T09:00:00.000Z`).
pub fn rfc3339(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(format)
}

/// A time as flowbox writes every time: RFC 3339 in UTC with milliseconds
/// (`2026-03-01T09:00:00.000Z`), in answers, history, variables and record fields alike.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
