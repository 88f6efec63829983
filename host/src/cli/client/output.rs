//! How client commands print: readable tables and views for people (times in the local zone),
//! the API's exact answer as JSON or YAML for scripts.

use chrono::{DateTime, Local};
use clap::ValueEnum;
use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Tables and views for people; times in the local zone.
    Table,
    /// The API's answer, as JSON.
    Json,
    /// The API's answer, as YAML.
    Yaml,
}

/// Print an API answer: as JSON or YAML when asked, else through `view`.
pub(crate) fn emit(format: Format, answer: &Value, view: impl FnOnce(&Value)) {
    match format {
        Format::Json => json(answer),
        Format::Yaml => print!("{}", serde_yaml_ng::to_string(answer).unwrap_or_default()),
        Format::Table => view(answer),
    }
}

pub(crate) fn json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A value as one cell: strings as they are, null as `-`, anything else as compact JSON;
/// control characters (a newline in a name) become spaces so a row stays one line.
pub(crate) fn text(v: &Value) -> String {
    let raw = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    raw.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An RFC 3339 time from the API, in the local zone (`TZ`, else the system's), to the second.
pub(crate) fn time(v: &Value) -> String {
    match v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => text(v),
    }
}

/// A list of strings as `a, b, c` (`-` when empty).
pub(crate) fn list(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// A yes/no flag.
pub(crate) fn flag(v: &Value) -> String {
    if v.as_bool().unwrap_or(false) {
        "yes".into()
    } else {
        "no".into()
    }
}

/// Columns padded to their widest cell. The last column is not padded, and it alone is cut
/// past [`MAX_CELL`]: it holds the free text (an error, a detail); ids, names and URLs before
/// it are always whole.
pub(crate) struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The widest a cell gets before it is cut.
const MAX_CELL: usize = 80;

impl Table {
    pub(crate) fn new(head: &[&str]) -> Self {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let last = cells.len().saturating_sub(1);
        let cells = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last && c.chars().count() > MAX_CELL {
                    let mut cut: String = c.chars().take(MAX_CELL - 1).collect();
                    cut.push('…');
                    cut
                } else {
                    c
                }
            })
            .collect();
        self.rows.push(cells);
    }

    /// Print it; with no rows, say `empty` on stderr instead (stdout stays empty for scripts).
    pub(crate) fn print(self, empty: &str) {
        if self.rows.is_empty() {
            eprintln!("{empty}");
            return;
        }
        let mut widths: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad + 2));
                }
            }
            println!("{}", out.trim_end());
        };
        line(&self.head);
        for row in &self.rows {
            line(row);
        }
    }
}

/// `key: value` lines, keys aligned, for one object.
pub(crate) fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        println!(
            "{key:<width$}  {value}",
            width = width + 1,
            key = format!("{key}:")
        );
    }
}

/// A JSON value as indented YAML under a heading, for nested data in a view.
pub(crate) fn block(heading: &str, v: &Value) {
    println!("{heading}:");
    let yaml = serde_yaml_ng::to_string(v).unwrap_or_default();
    for line in yaml.lines() {
        println!("  {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_stay_on_one_line_and_are_cut() {
        assert_eq!(text(&json!("a\nb")), "a b");
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&json!(3)), "3");
        let mut t = Table::new(&["URL", "DETAIL"]);
        t.row(vec!["u".repeat(200), "x".repeat(200)]);
        assert_eq!(
            t.rows[0][0].chars().count(),
            200,
            "only the last column is cut"
        );
        assert_eq!(t.rows[0][1].chars().count(), MAX_CELL);
    }

    #[test]
    fn times_that_do_not_parse_are_shown_as_they_are() {
        assert_eq!(time(&json!("soon")), "soon");
        assert_eq!(time(&Value::Null), "-");
    }
}
