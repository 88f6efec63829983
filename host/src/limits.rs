//! The host's own limits on what callers and steps hand it: how big, how deep, how many. Steps
//! are fenced by fuel, memory and time in the sandbox; these fence the host around them (the
//! table in docs/operations.md lists them all, with the flags that change them).

use serde_json::Value;

/// The deepest JSON the host takes anywhere (bodies, inputs, step outputs, variables): values
/// nest inside an execution's stored state, which must always read back.
pub const MAX_JSON_DEPTH: usize = 64;

/// The most values (objects, arrays, scalars) in one JSON body or structured webhook payload:
/// a small body of many tiny values would otherwise take far more memory parsed than sent.
pub const MAX_JSON_VALUES: usize = 100_000;

/// The most rows of a CSV webhook payload.
pub const MAX_CSV_ROWS: usize = 10_000;

/// The largest value of one variable, as JSON text.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// The largest input of one step (what its template renders to), as JSON text.
pub const MAX_STEP_INPUT_BYTES: usize = 4 << 20;

/// The largest state of one execution (its variables and the step outputs it keeps), as JSON
/// text.
pub const MAX_STATE_BYTES: usize = 16 << 20;

/// The largest workflow or object type definition.
pub const MAX_DEFINITION_BYTES: usize = 1 << 20;

/// Why a document is refused before it is parsed, or after.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("it nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("it holds more than {max} values")]
    TooManyValues { max: usize },
}

/// Why a definition's text is refused before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionTextError {
    #[error("the definition is {size} bytes; a definition takes at most {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the definition is refused: {0}")]
    Shape(#[from] ShapeError),
}

/// Check a definition (a workflow, an object type: JSON or YAML) before parsing it: its size,
/// how deep it nests, how many values it holds.
pub fn check_definition_text(text: &str) -> Result<(), DefinitionTextError> {
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(DefinitionTextError::TooLarge {
            size: text.len(),
            max: MAX_DEFINITION_BYTES,
        });
    }
    check_yaml_text(text, MAX_JSON_DEPTH)?;
    check_json_text(text.as_bytes(), MAX_JSON_VALUES, usize::MAX)?;
    Ok(())
}

/// How deep a JSON value nests (a scalar is 1), without recursing.
pub fn json_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// The size of a value as JSON text, without writing it out.
pub fn json_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Why a value is over a bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("it is {size} bytes of JSON, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("it nests {depth} levels deep, over the limit of {max}")]
    TooDeep { depth: usize, max: usize },
}

/// Whether a value fits `max_bytes` as JSON text and [`MAX_JSON_DEPTH`]; if not, why.
pub fn check_value(value: &Value, max_bytes: usize) -> Result<(), ValueError> {
    let size = json_size(value);
    if size > max_bytes {
        return Err(ValueError::TooLarge {
            size,
            max: max_bytes,
        });
    }
    let depth = json_depth(value);
    if depth > MAX_JSON_DEPTH {
        return Err(ValueError::TooDeep {
            depth,
            max: MAX_JSON_DEPTH,
        });
    }
    Ok(())
}

/// Check JSON text before parsing it: at most `max_values` values and `max_depth` levels. One
/// pass over the bytes, outside strings; text that is not JSON passes (the parser names it).
pub fn check_json_text(text: &[u8], max_values: usize, max_depth: usize) -> Result<(), ShapeError> {
    let (mut depth, mut values) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ShapeError::TooDeep { max: max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            // Each separator starts one more value (a key-value pair counts once).
            b',' => {
                values += 1;
                if values > max_values {
                    return Err(ShapeError::TooManyValues { max: max_values });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check a YAML (or JSON) document before parsing it: flow collections (`[`, `{`) nested no
/// deeper than `max_depth`, block nesting no deeper either (by indentation, and by `- `
/// sequences opened on one line). YAML parsers take time that grows fast with nesting.
pub fn check_yaml_text(text: &str, max_depth: usize) -> Result<(), ShapeError> {
    let too_deep = ShapeError::TooDeep { max: max_depth };
    let mut flow = 0usize;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let mut rest = line.trim_start();
        let mut dashes = 0;
        while let Some(r) = rest.strip_prefix('-') {
            if !(r.is_empty() || r.starts_with([' ', '\t'])) {
                break;
            }
            dashes += 1;
            rest = r.trim_start();
        }
        // Two columns a level, the narrowest indentation that nests.
        if indent / 2 + dashes > max_depth {
            return Err(too_deep);
        }
        let (mut quote, mut prev) = (None, ' ');
        for c in line.chars() {
            match quote {
                Some(q) => {
                    if c == q && prev != '\\' {
                        quote = None;
                    }
                }
                None => match c {
                    '\'' | '"' => quote = Some(c),
                    '#' if prev.is_whitespace() => break,
                    '[' | '{' => {
                        flow += 1;
                        if flow > max_depth {
                            return Err(too_deep);
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_of_values() {
        assert_eq!(json_depth(&json!(1)), 1);
        assert_eq!(json_depth(&json!({"a": [1, {"b": 2}]})), 4);
        let mut deep = json!(0);
        for _ in 0..1000 {
            deep = json!([deep]);
        }
        assert_eq!(json_depth(&deep), 1001);
    }

    #[test]
    fn json_text_is_checked_before_parsing() {
        assert_eq!(
            check_json_text(br#"{"a": [1, 2, {"b": "[[[,,,"}]}"#, 10, 3),
            Ok(())
        );
        assert_eq!(
            check_json_text(br#"[[[[1]]]]"#, 10, 3),
            Err(ShapeError::TooDeep { max: 3 })
        );
        let many = format!("[{}]", vec!["{}"; 101].join(","));
        assert_eq!(
            check_json_text(many.as_bytes(), 100, 10),
            Err(ShapeError::TooManyValues { max: 100 })
        );
        // Escaped quotes do not end a string.
        assert_eq!(check_json_text(br#"["a\",[[[[[", 1]"#, 10, 2), Ok(()));
    }

    #[test]
    fn yaml_text_is_checked_before_parsing() {
        let ok = "name: x\nsteps:\n  - id: a\n    action: b\n    input: { n: [1, 2] }  # [[[[\n";
        assert_eq!(check_yaml_text(ok, 8), Ok(()));
        let flow = format!("steps: {}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            check_yaml_text(&flow, 64),
            Err(ShapeError::TooDeep { max: 64 })
        );
        let dashes = format!("steps:\n  {}x\n", "- ".repeat(100));
        assert_eq!(
            check_yaml_text(&dashes, 64),
            Err(ShapeError::TooDeep { max: 64 })
        );
        let indented = format!("a:\n{}b: 1\n", " ".repeat(300));
        assert_eq!(
            check_yaml_text(&indented, 64),
            Err(ShapeError::TooDeep { max: 64 })
        );
        // Brackets inside quotes do not count.
        assert_eq!(
            check_yaml_text(&format!("a: '{}'\n", "[".repeat(100)), 8),
            Ok(())
        );
    }
}
