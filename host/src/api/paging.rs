//! The query parameters that page and filter lists, read one way on every route: `limit`,
//! times (`since`, `until`), and cursors from a previous page. Each bad value is a 400
//! `invalid_query` that names the parameter.

use super::ApiError;

/// The most items one page holds.
pub(crate) const MAX_LIMIT: i64 = 1000;

/// `limit`, or `default` without one; refused outside 1..=[`MAX_LIMIT`].
pub(crate) fn limit(given: Option<i64>, default: i64) -> Result<i64, ApiError> {
    let limit = given.unwrap_or(default);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// A time parameter (RFC 3339, or a date) as Unix ms.
pub(crate) fn time(field: &str, given: Option<&str>) -> Result<Option<i64>, ApiError> {
    given
        .map(|t| {
            super::views::parse_time(t).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field}: `{t}` is not an RFC 3339 time"),
                )
            })
        })
        .transpose()
}

/// A cursor `<ms>_<id>` that a previous page answered as its `next_cursor`.
pub(crate) fn cursor(given: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    given
        .map(|c| {
            c.split_once('_')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        "cursor: not a cursor from a previous page",
                    )
                })
        })
        .transpose()
}
