//! `notify_team`: posts a notification to one of a team's channels. Needs `teams`.
//!
//! Input: `{"team": "sales", "channel"?: "general", "text": "...", "data"?: {...}}`. Output:
//! `{"team", "channel"}`. The notification is stored with the step's result (a failed step posts
//! nothing, a retried one posts once) and read with `GET /v1/teams/{team}/notifications`.

use flowbox_guest::{Context, StepError, Value, export_step, json, teams};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let text = |k: &str| {
        input[k]
            .as_str()
            .ok_or_else(|| StepError::invalid_input(format!("`{k}` (text) is required")))
    };
    let team = text("team")?;
    let channel = input["channel"].as_str().unwrap_or("general");
    let data = input.get("data").filter(|d| !d.is_null());
    teams::notify(team, channel, text("text")?, data).map_err(StepError::from_input)?;
    Ok(json!({ "team": team, "channel": channel }))
}

export_step!(run);
