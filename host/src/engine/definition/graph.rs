//! A workflow's steps as a graph (nodes and the edges a step can take), for the console to draw.
//! Built from the validated steps, so defaults (the following step, `end`, a goal's paths) are
//! already resolved.

use serde_json::{Value, json};

use super::{StepKind, Target, Workflow};

/// The longest label a node gets; the definition has the whole text.
const LABEL_CHARS: usize = 80;

impl Workflow {
    /// `{nodes: [{id, kind, label}], edges: [{from, to, kind, label}]}`; `to` is a step's id or
    /// `end`. Nodes are in definition order: the first is where executions start.
    pub fn graph(&self) -> Value {
        let mut nodes = Vec::with_capacity(self.steps.len());
        let mut edges = Vec::new();
        let sources = self.source["steps"].as_array();
        for (i, step) in self.steps.iter().enumerate() {
            let kind = step.kind.name();
            let source = sources.and_then(|s| s.get(i));
            nodes.push(json!({"id": step.id, "kind": kind, "label": label(&step.kind, source)}));
            let mut edge = |to: &Target, kind: &str, label: Option<String>| {
                let to = match to {
                    Target::Step(id) => id.as_str(),
                    Target::End => "end",
                };
                edges.push(json!({"from": step.id, "to": to, "kind": kind, "label": label}));
            };
            match &step.kind {
                StepKind::Action {
                    branches,
                    on_failure_goto,
                    ..
                } => {
                    edge(&step.next, "next", None);
                    for (name, to) in branches {
                        edge(to, "branch", Some(name.clone()));
                    }
                    if let Some(to) = on_failure_goto {
                        edge(to, "on_failure", None);
                    }
                }
                StepKind::Condition {
                    then, otherwise, ..
                } => {
                    edge(then, "then", None);
                    edge(otherwise, "else", None);
                }
                StepKind::Goal { met, not_met, .. } => {
                    edge(met, "met", None);
                    edge(not_met, "not_met", None);
                }
                StepKind::Goto {
                    target,
                    max_iterations,
                    fail_at_cap,
                } => {
                    let cap = format!("max {max_iterations}");
                    edge(&Target::Step(target.clone()), "goto", Some(cap));
                    if !fail_at_cap {
                        edge(&step.next, "next", None);
                    }
                }
                // It ends the execution, whatever follows it.
                StepKind::Stop { .. } => edge(&Target::End, "next", None),
                StepKind::Delay(_)
                | StepKind::Set { .. }
                | StepKind::StartWorkflow { .. }
                | StepKind::PauseWorkflow { .. }
                | StepKind::CancelWorkflow { .. } => edge(&step.next, "next", None),
            }
        }
        json!({"nodes": nodes, "edges": edges})
    }
}

/// What a step does, in short: its module, or the text under its kind's key in the definition.
fn label(kind: &StepKind, source: Option<&Value>) -> String {
    if let StepKind::Action {
        module, code: None, ..
    } = kind
    {
        return module.clone();
    }
    let text = match source.and_then(|s| s.get(kind.name())) {
        Some(Value::String(s)) => s.clone(),
        // `{"for": "1h"}` reads as `for 1h`.
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k} {s}"),
                v => format!("{k} {v}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > LABEL_CHARS || text.lines().nth(1).is_some() {
        let short: String = line.chars().take(LABEL_CHARS - 1).collect();
        format!("{short}…")
    } else {
        line.to_string()
    }
}
