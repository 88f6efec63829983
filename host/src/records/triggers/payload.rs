//! What a webhook call carries, as JSON: the body by its content type (JSON, a form, XML, CSV,
//! or text) and the query string.
//!
//! XML becomes nested objects by hand here (serde's XML support wants a schema): an element is
//! its text, or an object of its children (repeated children make an array), its attributes as
//! `@name`, and any text beside children as `#text`. No DTD is read, so no entity expands beyond
//! the five predefined ones and character references.

use serde_json::{Map, Value};

use crate::limits::{MAX_CSV_ROWS, MAX_JSON_DEPTH, MAX_JSON_VALUES, check_json_text};

/// Nesting deeper than this is refused (a guard against pathological documents).
const MAX_XML_DEPTH: usize = MAX_JSON_DEPTH;

/// Why a body was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// It does not parse as its content type says.
    #[error("{0}")]
    Malformed(String),
    /// It parses into more than the host takes (values, rows, depth): it would take far more
    /// memory parsed than sent.
    #[error("{0}")]
    TooLarge(String),
}

impl From<String> for PayloadError {
    fn from(m: String) -> Self {
        PayloadError::Malformed(m)
    }
}

impl From<&str> for PayloadError {
    fn from(m: &str) -> Self {
        PayloadError::Malformed(m.to_string())
    }
}

fn too_many(what: &str, max: usize) -> PayloadError {
    PayloadError::TooLarge(format!("the body holds more than {max} {what}"))
}

/// Parse a body by its content type. An empty body is `null`.
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, PayloadError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = || std::str::from_utf8(body).map_err(|_| "the body is not UTF-8 text".to_string());
    match mime.as_str() {
        m if m == "application/json" || m.ends_with("+json") => {
            check_json_text(body, MAX_JSON_VALUES, MAX_JSON_DEPTH)
                .map_err(|e| PayloadError::TooLarge(format!("the JSON body is refused: {e}")))?;
            Ok(serde_json::from_slice(body)
                .map_err(|e| format!("the body is not valid JSON: {e}"))?)
        }
        "application/x-www-form-urlencoded" => parse_query(text()?),
        m if m == "application/xml" || m == "text/xml" || m.ends_with("+xml") => xml(text()?),
        "text/csv" => csv(text()?),
        _ => Ok(Value::String(text()?.to_string())),
    }
}

/// A query string (or a form) as an object; a key given more than once is an array.
pub fn parse_query(q: &str) -> Result<Value, PayloadError> {
    if q.matches('&').count() >= MAX_JSON_VALUES {
        return Err(too_many("fields", MAX_JSON_VALUES));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(q).map_err(|e| format!("the form is malformed: {e}"))?;
    let mut out = Map::new();
    for (k, v) in pairs {
        add_child(&mut out, k, Value::String(v));
    }
    Ok(Value::Object(out))
}

fn add_child(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(list)) => list.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// CSV with a header row: an array of objects keyed by the header.
fn csv(text: &str) -> Result<Value, PayloadError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("the CSV is malformed: {e}"))?
        .clone();
    let mut rows = Vec::new();
    let max_rows = MAX_CSV_ROWS.min(MAX_JSON_VALUES / headers.len().max(1));
    for row in reader.records() {
        if rows.len() >= max_rows {
            return Err(too_many(
                &format!("CSV rows (of {} columns)", headers.len()),
                max_rows,
            ));
        }
        let row = row.map_err(|e| format!("the CSV is malformed: {e}"))?;
        let obj: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
            .collect();
        rows.push(Value::Object(obj));
    }
    Ok(Value::Array(rows))
}

struct Element {
    name: String,
    children: Map<String, Value>,
    text: String,
}

impl Element {
    fn new(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut children = Map::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| format!("the XML is malformed: {e}"))?;
            let key = format!("@{}", String::from_utf8_lossy(attr.key.as_ref()));
            let value = attr
                .unescape_value()
                .map_err(|e| format!("the XML is malformed: {e}"))?;
            children.insert(key, Value::String(value.into_owned()));
        }
        Ok(Element {
            name,
            children,
            text: String::new(),
        })
    }

    fn into_value(self) -> Value {
        let text = self.text.trim();
        if self.children.is_empty() {
            return Value::String(text.to_string());
        }
        let mut children = self.children;
        if !text.is_empty() {
            children.insert("#text".into(), Value::String(text.to_string()));
        }
        Value::Object(children)
    }
}

fn xml(text: &str) -> Result<Value, PayloadError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut values = 0usize;
    let mut root: Option<(String, Value)> = None;
    let malformed =
        |e: &dyn std::fmt::Display, at: u64| format!("the XML is malformed at byte {at}: {e}");
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(&e, reader.error_position()))?;
        if matches!(event, Event::Start(_) | Event::Empty(_)) {
            values += 1;
            if values > MAX_JSON_VALUES {
                return Err(too_many("XML elements", MAX_JSON_VALUES));
            }
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(PayloadError::TooLarge(format!(
                        "the XML nests deeper than {MAX_XML_DEPTH} elements"
                    )));
                }
                stack.push(Element::new(&start)?);
            }
            Event::Empty(start) => {
                let element = Element::new(&start)?;
                let (name, value) = (element.name.clone(), element.into_value());
                match stack.last_mut() {
                    Some(parent) => add_child(&mut parent.children, name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t
                        .xml10_content()
                        .map_err(|e| malformed(&e, reader.buffer_position()))?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                let Some(top) = stack.last_mut() else {
                    continue;
                };
                if r.is_char_ref() {
                    match r
                        .resolve_char_ref()
                        .map_err(|e| malformed(&e, reader.buffer_position()))?
                    {
                        Some(c) => top.text.push(c),
                        None => return Err("the XML has a bad character reference".into()),
                    }
                } else {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => top.text.push_str(s),
                        None => {
                            return Err(format!(
                                "the XML uses the entity `&{name};`, which is not one of the predefined ones"
                            )
                            .into());
                        }
                    }
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err("the XML closes an element it never opened".into());
                };
                let (name, value) = (element.name.clone(), element.into_value());
                match stack.last_mut() {
                    Some(parent) => add_child(&mut parent.children, name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML ends inside an element".into());
    }
    let (name, value) = root.ok_or("the XML has no element")?;
    Ok(Value::Object(Map::from_iter([(name, value)])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_content_type() {
        assert_eq!(
            parse_body(Some("application/json; charset=utf-8"), br#"{"a": [1]}"#).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(
            parse_body(Some("application/x-www-form-urlencoded"), b"a=1&b=x+y&a=2").unwrap(),
            json!({"a": ["1", "2"], "b": "x y"})
        );
        assert_eq!(
            parse_body(
                Some("application/xml"),
                br#"<?xml version="1.0"?><order id="7"><item>a &amp; b</item><item>c</item><note><![CDATA[<hi>]]></note><empty/></order>"#
            )
            .unwrap(),
            json!({"order": {"@id": "7", "item": ["a & b", "c"], "note": "<hi>", "empty": ""}})
        );
        assert_eq!(
            parse_body(Some("text/csv"), b"name,qty\nnut,3\nbolt,5\n").unwrap(),
            json!([{"name": "nut", "qty": "3"}, {"name": "bolt", "qty": "5"}])
        );
        assert_eq!(
            parse_body(Some("text/plain"), b"hello").unwrap(),
            json!("hello")
        );
        assert_eq!(parse_body(None, b"").unwrap(), Value::Null);
    }

    #[test]
    fn malformed_bodies_say_so() {
        for (ct, body) in [
            ("application/json", &b"{\"a\":"[..]),
            ("application/xml", b"<a><b></a>"),
            (
                "application/xml",
                b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            ),
            ("text/csv", b"a,b\n1,2,3\n"),
            ("text/plain", b"\xff\xfe"),
        ] {
            assert!(parse_body(Some(ct), body).is_err(), "{ct}: {body:?}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(
            parse_body(Some("text/xml"), deep.as_bytes()),
            Err(PayloadError::TooLarge(m)) if m.contains("deeper")
        ));
    }

    #[test]
    fn bodies_that_parse_into_too_much_are_refused() {
        // A million one-column CSV rows: 2 MB sent, far more parsed.
        let csv = format!("a\n{}", "1\n".repeat(1_000_000));
        let e = parse_body(Some("text/csv"), csv.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, PayloadError::TooLarge(m) if m.contains("10000 CSV rows")),
            "{e}"
        );
        // As many cells in fewer, wider rows.
        let wide = format!(
            "{}\n",
            (0..50)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let row = format!("{}\n", vec!["x"; 50].join(","));
        let csv = wide + &row.repeat(3000);
        assert!(matches!(
            parse_body(Some("text/csv"), csv.as_bytes()),
            Err(PayloadError::TooLarge(_))
        ));
        let json = format!("[{}]", vec!["{}"; 200_000].join(","));
        assert!(matches!(
            parse_body(Some("application/json"), json.as_bytes()),
            Err(PayloadError::TooLarge(_))
        ));
        let xml = format!("<a>{}</a>", "<b/>".repeat(200_000));
        assert!(matches!(
            parse_body(Some("text/xml"), xml.as_bytes()),
            Err(PayloadError::TooLarge(_))
        ));
        let form = "a=1&".repeat(200_000);
        assert!(matches!(
            parse_body(Some("application/x-www-form-urlencoded"), form.as_bytes()),
            Err(PayloadError::TooLarge(_))
        ));
    }
}
