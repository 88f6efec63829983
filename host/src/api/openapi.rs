//! The API's OpenAPI description, served at `/openapi.json`. Paths come from the handlers'
//! `#[utoipa::path]` annotations, through the same routers that serve them, so a route cannot
//! be served without being described; a test checks the description against the routes, the
//! roles they need, and real answers.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flowbox",
        description = "An automation engine: workflows of sandboxed WebAssembly steps, started by record events, schedules, webhooks and API calls. Every route under /v1 needs `Authorization: Bearer <token>`; each operation's `security` names the least role it needs (client < developer < admin). Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
    ),
    modifiers(&BearerTokens),
    tags(
        (name = "workflows", description = "Definitions, versions, switches and kill switches"),
        (name = "executions", description = "Starting, reading and controlling executions"),
        (name = "records", description = "Object types, records, activities and record events"),
        (name = "webhooks", description = "Webhook triggers"),
        (name = "teams", description = "Teams: round-robin members and notification channels"),
        (name = "files", description = "Files for records' file fields, named by their SHA-256"),
        (name = "llm", description = "Model providers for AI steps (admin); keys stay in the server's environment"),
        (name = "steps", description = "Step modules (WebAssembly components) and their grants"),
        (name = "tokens", description = "API tokens and the audit log"),
    )
)]
pub(super) struct ApiDoc;

/// API tokens: `Authorization: Bearer fbx_...`, with a role.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token; the scopes listed on an operation are the least role it needs",
                    ))
                    .build(),
            ),
        );
    }
}
