//! Keeping secrets out of what flowbox prints and answers: passwords in URLs (the database's,
//! the SMTP server's), and API keys that a model provider echoes back.

use serde_json::Value;

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // It may hold a password that broke the parse: show no more than the scheme.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://..."),
            None => "...".to_string(),
        },
    }
}

/// `text` without `key`. JSON text is cleaned as decoded (a provider may echo the key with
/// characters escaped, `\u0073k-...`, which a search of the raw text would miss) and encoded
/// again; other text as it is. Keys shorter than 8 bytes are not searched for.
pub fn redact_key(text: &str, key: &str) -> String {
    if key.len() < 8 {
        return text.to_string();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) if text.contains('\\') => {
            scrub(&mut v, key);
            v.to_string()
        }
        _ => text.replace(key, "***"),
    }
}

fn scrub(v: &mut Value, key: &str) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains(key) => *s = s.replace(key, "***"),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains(key)) {
                    let cleaned = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (k.replace(key, "***"), v))
                        .collect();
                    *map = cleaned;
                }
                stack.extend(map.values_mut());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_urls() {
        assert_eq!(
            redact_url("postgres://flow:s3cret@db.example:5432/flowbox"),
            "postgres://flow:***@db.example:5432/flowbox"
        );
        assert_eq!(
            redact_url("sqlite://data/flowbox.db"),
            "sqlite://data/flowbox.db"
        );
        assert_eq!(redact_url("postgres://flow:s3c%ret@[bad"), "postgres://...");
    }

    #[test]
    fn keys_leave_text_escaped_or_not() {
        let key = "sk-test-0123456789";
        assert_eq!(redact_key(&format!("bad key {key}!"), key), "bad key ***!");
        let escaped = r#"{"error": {"message": "Incorrect API key: \u0073k-test-0123456789"}}"#;
        let out = redact_key(escaped, key);
        assert!(!out.contains("0123456789"), "{out}");
        assert!(out.contains("Incorrect API key: ***"), "{out}");
        // Plain JSON passes through unchanged but for the key.
        assert_eq!(
            redact_key(r#"{"a":"sk-test-0123456789"}"#, key),
            r#"{"a":"***"}"#
        );
    }
}
