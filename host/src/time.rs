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

/// A Unix-ms time as JSON: an RFC 3339 string (null if out of range). Every time flowbox puts
/// in an answer, a history entry or a step's input and output goes through here or
/// [`ms_rfc3339`], so that none is ever epoch milliseconds.
pub fn json(ms: i64) -> serde_json::Value {
    rfc3339(ms).map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// Serde for a Unix-ms field written as RFC 3339 (`#[serde(with = "crate::time::ms_rfc3339")]`).
/// Reads either form: rows written before times were RFC 3339 hold numbers.
pub mod ms_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        match super::rfc3339(*ms) {
            Some(text) => s.serialize_str(&text),
            None => s.serialize_i64(*ms),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Ms(i64),
            Text(String),
        }
        match Either::deserialize(d)? {
            Either::Ms(ms) => Ok(ms),
            Either::Text(t) => super::parse_datetime(&t)
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| D::Error::custom(format!("`{t}` is not an RFC 3339 time"))),
        }
    }
}

/// A time as flowbox writes every time: RFC 3339 in UTC with milliseconds
/// (`2026-03-01T09:00:00.000Z`), in answers, history, variables and record fields alike.
pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
