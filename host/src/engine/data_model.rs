//! A definition checked against the object type it runs on, when it is saved or validated: the
//! scope's object type exists; triggers and goals name fields it has; a stage is one of its
//! stage field's stages; date triggers and field delays are on date fields. Without this, each
//! of these saved fine and then never fired.

use super::definition::{DefinitionError, Delay, Scope, StepKind, Workflow};
use crate::records::triggers::{EventMatch, On, TriggerKind};
use crate::records::{FieldType, ObjectType};

/// Every problem of `wf` against `object` (the type its scope names, `None` if there is no such
/// type), each with where it is.
pub(crate) fn check(wf: &Workflow, object: Option<&ObjectType>) -> Vec<DefinitionError> {
    let mut errors = Vec::new();
    let Scope::Record(name) = &wf.scope else {
        return errors;
    };
    let Some(object) = object else {
        errors.push(DefinitionError {
            path: "scope.object".into(),
            message: format!(
                "there is no object type `{name}` (define it first: POST /v1/objects)"
            ),
        });
        return errors;
    };
    let mut err = |path: String, message: String| errors.push(DefinitionError { path, message });
    for (i, t) in wf.triggers.iter().enumerate() {
        let path = format!("triggers[{i}] (id {:?})", t.id);
        match &t.kind {
            TriggerKind::Event(m) => check_match(object, m, &path, &mut err),
            TriggerKind::Date(d) => date_field(object, &d.field, &path, &mut err),
            TriggerKind::Webhook(_) | TriggerKind::Schedule(_) => {}
        }
    }
    for (i, s) in wf.steps.iter().enumerate() {
        let path = format!("steps[{i}] (id {:?})", s.id);
        match &s.kind {
            StepKind::Goal { event: Some(m), .. } => {
                check_match(object, m, &format!("{path}.goal.event"), &mut err)
            }
            StepKind::Delay(Delay::Field { field, .. }) => {
                date_field(object, field, &format!("{path}.delay"), &mut err)
            }
            _ => {}
        }
    }
    errors
}

/// The names of an object type's fields, for messages.
fn field_names(object: &ObjectType) -> String {
    let names: Vec<&str> = object.fields.keys().map(String::as_str).collect();
    if names.is_empty() {
        "it has none".into()
    } else {
        format!("its fields: {}", names.join(", "))
    }
}

fn check_match(
    object: &ObjectType,
    m: &EventMatch,
    path: &str,
    err: &mut impl FnMut(String, String),
) {
    match &m.on {
        On::FieldUpdated { field, .. } if !object.fields.contains_key(field) => {
            err(
                path.to_string(),
                format!(
                    "`{}` has no field `{field}` ({})",
                    object.name,
                    field_names(object)
                ),
            );
        }
        On::StageUpdated { field, from, to } => {
            let stage_fields = object.stage_fields();
            let stages: Vec<&String> = match field {
                Some(f) => match object.fields.get(f) {
                    Some(def) if def.ty == FieldType::Stage => def.stages.iter().collect(),
                    Some(_) => {
                        err(
                            path.to_string(),
                            format!("`{}`.`{f}` is not a stage field", object.name),
                        );
                        return;
                    }
                    None => {
                        err(
                            path.to_string(),
                            format!(
                                "`{}` has no field `{f}` ({})",
                                object.name,
                                field_names(object)
                            ),
                        );
                        return;
                    }
                },
                None if stage_fields.is_empty() => {
                    err(
                        path.to_string(),
                        format!("`{}` has no stage field", object.name),
                    );
                    return;
                }
                None => stage_fields
                    .iter()
                    .filter_map(|f| object.fields.get(f))
                    .flat_map(|def| def.stages.iter())
                    .collect(),
            };
            for stage in [from, to].into_iter().flatten() {
                if !stage.is_empty() && !stages.contains(&stage) {
                    let known: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
                    err(
                        path.to_string(),
                        format!(
                            "no stage `{stage}` (the stages: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
        }
        _ => {}
    }
}

fn date_field(object: &ObjectType, field: &str, path: &str, err: &mut impl FnMut(String, String)) {
    match object.fields.get(field) {
        Some(def) if matches!(def.ty, FieldType::Date | FieldType::Datetime) => {}
        Some(def) => err(
            path.to_string(),
            format!(
                "`{}`.`{field}` is a {} field, not a date or datetime",
                object.name,
                def.ty.name()
            ),
        ),
        None => err(
            path.to_string(),
            format!(
                "`{}` has no field `{field}` ({})",
                object.name,
                field_names(object)
            ),
        ),
    }
}
