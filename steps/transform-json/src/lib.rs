//! `transform_json`: reshapes a JSON object. Needs no grant.
//!
//! Input: `{"data": {...}, "pick"?: ["a", "b.c"], "rename"?: {"old": "new"},
//! "defaults"?: {"k": value}}`. `pick` keeps only those fields (a dotted path keeps a nested
//! value under its last name); then `rename` renames; then `defaults` fills fields that are
//! missing or null. Output: the new object.

use flowbox_guest::{Context, StepError, Value, export_step};
use serde_json::Map;

fn lookup<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |v, key| v.get(key))
}

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let data = input
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| StepError::invalid_input("`data` must be an object"))?;
    let mut out: Map<String, Value> = match input.get("pick") {
        None | Some(Value::Null) => data.as_object().cloned().unwrap_or_default(),
        Some(Value::Array(paths)) => {
            let mut picked = Map::new();
            for p in paths {
                let path = p
                    .as_str()
                    .ok_or_else(|| StepError::invalid_input("`pick` lists field names"))?;
                if let Some(v) = lookup(data, path) {
                    let name = path.rsplit('.').next().unwrap_or(path);
                    picked.insert(name.to_string(), v.clone());
                }
            }
            picked
        }
        Some(_) => return Err(StepError::invalid_input("`pick` must be a list")),
    };
    if let Some(rename) = input.get("rename").and_then(Value::as_object) {
        for (old, new) in rename {
            let new = new
                .as_str()
                .ok_or_else(|| StepError::invalid_input("`rename` maps names to names"))?;
            if let Some(v) = out.remove(old) {
                out.insert(new.to_string(), v);
            }
        }
    }
    if let Some(defaults) = input.get("defaults").and_then(Value::as_object) {
        for (k, v) in defaults {
            if out.get(k).is_none_or(Value::is_null) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

export_step!(run);
