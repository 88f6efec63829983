//! When a delay step wakes up.

use chrono::{Datelike, TimeZone, Utc};
use serde_json::Value;

use super::definition::Delay;
use crate::expr::{ExprError, Scope};
use crate::time::parse_datetime;

/// The wake-up time (Unix ms) of a delay that starts at `now`, or why it cannot be computed.
/// A time already past means no wait.
pub fn wake_at(
    delay: &Delay,
    now_ms: i64,
    scope: &Scope,
    record: Option<&Value>,
) -> Result<i64, ExprError> {
    let fail = ExprError::Failed;
    match delay {
        Delay::For(d) => Ok(now_ms + d.as_millis() as i64),
        Delay::Until(template) => {
            let value = template.render(scope).map_err(|e| e.within("`until`"))?;
            let text = value
                .as_str()
                .ok_or_else(|| fail(format!("`until` gave {value}, not a date-time")))?;
            let t = parse_datetime(text).ok_or_else(|| {
                fail(format!("`until` gave {text:?}, not a date-time (RFC 3339)"))
            })?;
            Ok(t.timestamp_millis())
        }
        Delay::Field { field, offset_ms } => {
            let value = record
                .and_then(|r| r.get(field))
                .cloned()
                .unwrap_or(Value::Null);
            let text = value.as_str().ok_or_else(|| {
                fail(format!(
                    "the record's field `{field}` holds {value}, not a date"
                ))
            })?;
            let t = parse_datetime(text).ok_or_else(|| {
                fail(format!(
                    "the record's field `{field}` holds {text:?}, not a date"
                ))
            })?;
            Ok(t.timestamp_millis() + offset_ms)
        }
        Delay::Weekday {
            days,
            time,
            timezone,
        } => {
            let now = Utc
                .timestamp_millis_opt(now_ms)
                .single()
                .ok_or_else(|| fail("the clock is out of range".into()))?
                .with_timezone(timezone);
            for ahead in 0..=7 {
                let date = now.date_naive() + chrono::Days::new(ahead);
                if !days.contains(&date.weekday()) {
                    continue;
                }
                // A local time that does not exist (a DST gap) moves to the next valid instant.
                let Some(candidate) = timezone
                    .from_local_datetime(&date.and_time(*time))
                    .earliest()
                else {
                    continue;
                };
                if candidate.timestamp_millis() > now_ms {
                    return Ok(candidate.timestamp_millis());
                }
            }
            Err(fail("no matching weekday".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};
    use std::sync::Arc;

    fn at(s: &str) -> i64 {
        parse_datetime(s).unwrap().timestamp_millis()
    }

    #[test]
    fn weekday_and_time_in_a_time_zone() {
        let scope = Scope::new(Arc::new(Value::Null));
        let delay = Delay::Weekday {
            days: vec![Weekday::Mon],
            time: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            timezone: chrono_tz::Europe::Paris,
        };
        // Wednesday 2026-11-25 12:00 UTC -> Monday 2026-11-30 09:00 Paris (08:00 UTC).
        assert_eq!(
            wake_at(&delay, at("2026-11-25T12:00:00Z"), &scope, None).unwrap(),
            at("2026-11-30T08:00:00Z")
        );
        // Monday 07:00 UTC (08:00 Paris) -> the same day.
        assert_eq!(
            wake_at(&delay, at("2026-11-30T07:00:00Z"), &scope, None).unwrap(),
            at("2026-11-30T08:00:00Z")
        );
        // Monday 08:00 UTC exactly -> next week.
        assert_eq!(
            wake_at(&delay, at("2026-11-30T08:00:00Z"), &scope, None).unwrap(),
            at("2026-12-07T08:00:00Z")
        );
    }

    #[test]
    fn record_date_field_with_offset() {
        let scope = Scope::new(Arc::new(Value::Null));
        let delay = Delay::Field {
            field: "renewal".into(),
            offset_ms: -2 * 86_400_000,
        };
        let record = serde_json::json!({"renewal": "2026-12-10"});
        assert_eq!(
            wake_at(&delay, 0, &scope, Some(&record)).unwrap(),
            at("2026-12-08T00:00:00Z")
        );
        let err = wake_at(&delay, 0, &scope, Some(&serde_json::json!({}))).unwrap_err();
        assert!(err.to_string().contains("`renewal`"), "{err}");
    }
}
