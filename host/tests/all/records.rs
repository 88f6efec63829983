//! Object types and typed records over HTTP, on SQLite and PostgreSQL: every write is checked
//! field by field and leaves an event (with each changed field's old and new value and its
//! cause) in the same transaction; archive, delete, import, filtered listing and activities.

use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    object_types_are_validated,
    records_are_typed_and_bad_fields_are_named,
    every_write_leaves_an_event_with_its_changes,
    archive_unarchive_delete,
    import_and_filtered_listing,
    activities_are_scheduled_logged_and_completed,
);

pub const COMPANY: &str = "
name: company
fields:
  name: { type: text, required: true }
";

pub const DEAL: &str = "
name: deal
fields:
  title: { type: text }
  amount: { type: number }
  won: { type: boolean }
  stage: { type: stage, stages: [lead, qualified, won, lost] }
  tier: { type: choice, choices: [gold, silver] }
  owner: { type: owner }
  company: { type: relation, object: company }
  email: { type: email, unique: true }
  close_date: { type: date }
  signed_at: { type: datetime }
  contract: { type: file }
  renewal: { type: date }
";

pub async fn with_deals(db: Db) -> TestServer {
    let s = TestServer::start(db).await;
    s.define_object(COMPANY).await;
    s.define_object(DEAL).await;
    let (status, v) = s
        .put("/v1/teams/sales", json!({"members": ["ada@acme.io"]}))
        .await;
    assert_eq!(status, 200, "{v}");
    s
}

fn error_fields(v: &Value) -> Vec<String> {
    let mut fields: Vec<String> = v["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {v}"))
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    fields
}

async fn events(s: &TestServer, object: &str, id: &str) -> Vec<Value> {
    let (status, v) = s.get(&format!("/v1/records/{object}/{id}/events")).await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

async fn object_types_are_validated(db: Db) {
    let s = TestServer::start(db).await;
    let (status, v) = s.post_raw("/v1/objects", DEAL).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["fields"]["stage"]["stages"][2], "won");
    let (status, _) = s.post_raw("/v1/objects", DEAL).await;
    assert_eq!(status, 200, "saving it again replaces it");
    let (status, v) = s.get("/v1/objects/deal").await;
    assert_eq!((status, v["name"].as_str()), (200, Some("deal")));
    let (_, v) = s.get("/v1/objects").await;
    assert_eq!(v["objects"].as_array().unwrap().len(), 1);

    let (status, v) = s
        .post_raw(
            "/v1/objects",
            "name: bad\nfields:\n  s: { type: stage }\n  r: { type: relation }\n  id: { type: text }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_fields");
    assert_eq!(v["error"]["code"], "invalid_fields");
    assert_eq!(error_fields(&v), ["fields.id", "fields.r", "fields.s"]);
    let (status, v) = s
        .post_raw(
            "/v1/objects",
            "name: bad\nfields: { a: { type: colour } }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_fields");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );
    let (status, v) = s.post_raw("/v1/objects", "{ not json").await;
    assert_error(status, &v, 422, "invalid_fields");
    let (status, v) = s.get("/v1/objects/nope").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("object_not_found"))
    );
}

async fn records_are_typed_and_bad_fields_are_named(db: Db) {
    let s = with_deals(db).await;
    s.create_record("company", "acme", json!({"name": "ACME"}))
        .await;
    let v = s
        .create_record(
            "deal",
            "d1",
            json!({
                "title": "Big", "amount": 1200.5, "won": false, "stage": "lead", "tier": "gold",
                "owner": "ada@acme.io", "company": "acme", "email": "buyer@acme.io",
                "close_date": "2026-12-01", "signed_at": "2026-11-01T10:00:00+01:00",
                "contract": "sha256:abc"
            }),
        )
        .await;
    assert_eq!(
        v["fields"]["signed_at"], "2026-11-01T09:00:00.000Z",
        "stored in UTC"
    );
    assert_eq!(v["event"]["kind"], "created");
    let (status, v) = s.get("/v1/records/deal/d1").await;
    assert_eq!(
        (status, v["fields"]["amount"].as_f64()),
        (200, Some(1200.5))
    );

    // A new id when none is given.
    let (status, v) = s
        .post("/v1/records/deal", json!({"fields": {"amount": 1}}))
        .await;
    assert_eq!(status, 201, "{v}");
    assert!(v["id"].as_str().unwrap().len() > 10);

    // Each bad field is named.
    let (status, v) = s
        .post(
            "/v1/records/deal",
            json!({"fields": {
                "amount": "12", "won": "yes", "stage": "maybe", "tier": "bronze", "colour": "red",
                "email": "not-an-email", "close_date": "2026-02-30", "signed_at": "yesterday",
                "company": "ghost", "owner": "nobody"
            }}),
        )
        .await;
    assert_error(status, &v, 422, "invalid_fields");
    assert_eq!(v["error"]["code"], "invalid_fields");
    assert_eq!(
        error_fields(&v),
        [
            "amount",
            "close_date",
            "colour",
            "email",
            "signed_at",
            "stage",
            "tier",
            "won"
        ]
    );
    // The relation and the owner are checked once the types are right.
    let (status, v) = s
        .post(
            "/v1/records/deal",
            json!({"fields": {"company": "ghost", "owner": "nobody"}}),
        )
        .await;
    assert_error(status, &v, 422, "invalid_fields");
    assert_eq!(error_fields(&v), ["company", "owner"]);
    assert!(
        v["error"]["details"][1]["message"]
            .as_str()
            .unwrap()
            .starts_with("`nobody` is not a member of any team"),
        "{v}"
    );
    assert!(
        v["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no `company` record `ghost`"),
        "{v}"
    );
    // Required fields.
    let (status, v) = s.post("/v1/records/company", json!({"fields": {}})).await;
    assert_eq!((status, error_fields(&v)), (422, vec!["name".to_string()]));
    let (status, v) = s
        .patch("/v1/records/company/acme", json!({"name": null}))
        .await;
    assert_eq!((status, error_fields(&v)), (422, vec!["name".to_string()]));
    // Unknown object, unknown record, taken id, duplicate unique value, malformed bodies.
    let (status, v) = s
        .post("/v1/records/planet", json!({"fields": {"x": 1}}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("object_not_found")),
        "{v}"
    );
    let (status, v) = s.patch("/v1/records/deal/nope", json!({"amount": 1})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("record_not_found")),
        "{v}"
    );
    let (status, v) = s
        .post("/v1/records/deal", json!({"id": "d1", "fields": {}}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("id_taken")),
        "{v}"
    );
    let (status, v) = s
        .post(
            "/v1/records/deal",
            json!({"id": "d2", "fields": {"email": "buyer@acme.io"}}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("duplicate")),
        "{v}"
    );
    assert_eq!(
        v["error"]["details"],
        json!({"field": "email", "value": "buyer@acme.io", "record": "d1"})
    );
    let (status, v) = s.get("/v1/records/deal/d2").await;
    assert_error(status, &v, 404, "record_not_found"); // a refused write leaves nothing
    let (status, v) = s.post_raw("/v1/records/deal", "{\"fields\": ").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{v}"
    );
    let (status, v) = s
        .post("/v1/records/deal", json!({"fields": {}, "colour": 1}))
        .await;
    assert_error(status, &v, 400, "invalid_body");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );
    let (status, v) = s
        .post("/v1/records/deal", json!({"id": "a b", "fields": {}}))
        .await;
    assert_error(status, &v, 422, "invalid_name");

    // Moving a unique value frees the old one and takes the new one.
    let (status, v) = s
        .patch("/v1/records/deal/d1", json!({"email": "new@acme.io"}))
        .await;
    assert_eq!(status, 200, "{v}");
    s.create_record("deal", "d3", json!({"email": "buyer@acme.io"}))
        .await;
    let (status, v) = s
        .post(
            "/v1/records/deal",
            json!({"id": "d4", "fields": {"email": "new@acme.io"}}),
        )
        .await;
    assert_error(status, &v, 409, "duplicate");
    assert_eq!(v["error"]["details"]["record"], "d1", "{v}");
}

async fn every_write_leaves_an_event_with_its_changes(db: Db) {
    let s = with_deals(db).await;
    s.create_record("deal", "d1", json!({"stage": "lead", "amount": 10}))
        .await;
    let (status, v) = s
        .patch("/v1/records/deal/d1", json!({"amount": 20, "title": "T"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["fields"],
        json!({"stage": "lead", "amount": 20, "title": "T"})
    );
    let (_, v) = s
        .patch(
            "/v1/records/deal/d1",
            json!({"stage": "won", "title": null}),
        )
        .await;
    assert_eq!(v["fields"], json!({"stage": "won", "amount": 20}));
    // Nothing changes: no event.
    let (_, v) = s.patch("/v1/records/deal/d1", json!({"amount": 20})).await;
    assert!(v["event"].is_null(), "{v}");
    let (_, v) = s
        .patch("/v1/records/deal/d1?form=signup", json!({"amount": 20}))
        .await;
    assert_eq!(
        v["event"]["kind"], "form_submitted",
        "a form submission always counts"
    );

    let evs = events(&s, "deal", "d1").await;
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["form_submitted", "stage_changed", "updated", "created"]
    );
    assert_eq!(
        evs[2]["changes"],
        json!({"amount": {"old": 10, "new": 20}, "title": {"old": null, "new": "T"}})
    );
    assert_eq!(
        evs[1]["changes"],
        json!({"stage": {"old": "lead", "new": "won"}, "title": {"old": "T", "new": null}})
    );
    assert_eq!(evs[1]["detail"]["stages"], json!(["stage"]));
    assert_eq!(evs[0]["detail"]["form"], "signup");
    for e in &evs {
        assert_eq!(e["cause"]["kind"], "api", "{e}");
        assert_eq!(e["cause"]["name"], "bootstrap", "{e}");
        assert!(e["at"].is_string());
    }
    // Replacing all the fields records the ones that went.
    let (status, v) = s.put("/v1/records/deal/d1", json!({"amount": 5})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["event"]["changes"],
        json!({"amount": {"old": 20, "new": 5}, "stage": {"old": "won", "new": null}})
    );
    let (status, v) = s.put("/v1/records/deal/d9", json!({"amount": 5})).await;
    assert_eq!(
        (status, v["event"]["kind"].as_str()),
        (201, Some("created"))
    );
}

async fn archive_unarchive_delete(db: Db) {
    let s = with_deals(db).await;
    s.create_record("deal", "d1", json!({"amount": 1, "email": "a@b.io"}))
        .await;
    let (status, v) = s.post("/v1/records/deal/d1/archive", json!({})).await;
    assert_eq!((status, v["archived"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(v["event"]["kind"], "archived");
    let (_, v) = s.post("/v1/records/deal/d1/archive", json!({})).await;
    assert!(v["event"].is_null(), "archiving twice changes nothing: {v}");
    let (_, list) = s.get("/v1/records/deal").await;
    assert_eq!(
        list["records"].as_array().unwrap().len(),
        0,
        "archived records are hidden"
    );
    let (_, list) = s.get("/v1/records/deal?archived=true").await;
    assert_eq!(list["records"][0]["id"], "d1");
    let (_, v) = s.post("/v1/records/deal/d1/unarchive", json!({})).await;
    assert_eq!(
        (v["archived"].as_bool(), v["event"]["kind"].as_str()),
        (Some(false), Some("unarchived"))
    );

    let (status, v) = s.delete("/v1/records/deal/d1").await;
    assert_eq!(
        (status, v["event"]["kind"].as_str()),
        (200, Some("deleted")),
        "{v}"
    );
    let (status, v) = s.get("/v1/records/deal/d1").await;
    assert_error(status, &v, 404, "record_not_found");
    let (status, v) = s.delete("/v1/records/deal/d1").await;
    assert_error(status, &v, 404, "record_not_found");
    let kinds: Vec<String> = events(&s, "deal", "d1")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["deleted", "unarchived", "archived", "created"],
        "events outlive the record"
    );
    // Its unique value is free again.
    s.create_record("deal", "d2", json!({"email": "a@b.io"}))
        .await;
}

async fn import_and_filtered_listing(db: Db) {
    let s = with_deals(db).await;
    let records: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("d{i:02}"), "fields": {"amount": i * 10, "stage": if i % 3 == 0 { "won" } else { "lead" }}}))
        .chain([
            json!({"id": "bad", "fields": {"amount": "lots"}}),
            json!({"id": "d05", "fields": {"amount": 1}}),
        ])
        .collect();
    let (status, v) = s
        .post("/v1/records/deal/import", json!({"records": records}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["created"].as_i64(), v["failed"].as_i64()),
        (Some(30), Some(2)),
        "{v}"
    );
    assert_eq!(v["results"][30]["error"]["code"], "invalid_fields");
    assert_eq!(
        v["results"][31]["error"]["code"], "id_taken",
        "d05 exists: {v}"
    );
    let (_, v) = s
        .post(
            "/v1/records/deal/import",
            json!({"mode": "upsert", "records": [{"id": "d05", "fields": {"amount": 55}}, {"id": "d07", "fields": {"amount": 70, "stage": "lead"}}]}),
        )
        .await;
    assert_eq!(
        (v["updated"].as_i64(), v["unchanged"].as_i64()),
        (Some(1), Some(1)),
        "{v}"
    );

    let (status, v) = s
        .get("/v1/records/deal?filter=record.stage%20%3D%3D%20%27won%27%20and%20record.amount%20%3E%3D%20100&limit=3")
        .await;
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d12", "d15", "d18"]);
    let cursor = v["next_cursor"].as_str().unwrap().to_string();
    let (_, v) = s
        .get(&format!("/v1/records/deal?filter=record.stage%20%3D%3D%20%27won%27%20and%20record.amount%20%3E%3D%20100&limit=3&cursor={cursor}"))
        .await;
    let ids: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d21", "d24", "d27"]);
    let (_, v) = s.get("/v1/records/deal?limit=1000").await;
    assert_eq!(v["records"].as_array().unwrap().len(), 30);
    assert!(v["next_cursor"].is_null());
    let (status, v) = s.get("/v1/records/deal?filter=record.amount%20%3E").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid_filter")),
        "{v}"
    );
    let (status, v) = s.get("/v1/records/deal?archived=maybe").await;
    assert_error(status, &v, 400, "invalid_query");
    // Every list takes `limit` alike: 1 to 1000, or a 400 that says so (not a silent clamp).
    for path in [
        "/v1/records/deal?limit=0",
        "/v1/records/deal?limit=1001",
        "/v1/records/deal/d21/events?limit=0",
        "/v1/events?limit=5000",
        "/v1/executions?limit=0",
        "/v1/audit?limit=0",
    ] {
        let (status, v) = s.get(path).await;
        assert_error(status, &v, 400, "invalid_query");
        assert_eq!(
            v["error"]["message"], "limit must be between 1 and 1000",
            "{path}"
        );
    }
    let (status, v) = s
        .post("/v1/records/deal/import", json!({"records": "all"}))
        .await;
    assert_error(status, &v, 400, "invalid_body");
}

async fn activities_are_scheduled_logged_and_completed(db: Db) {
    let s = with_deals(db).await;
    s.create_record("deal", "d1", json!({})).await;
    let (status, call) = s
        .post(
            "/v1/records/deal/d1/activities",
            json!({"type": "call", "subject": "intro", "details": {"minutes": 5}}),
        )
        .await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["status"], "done");
    let (status, task) = s
        .post(
            "/v1/records/deal/d1/activities",
            json!({"type": "task", "due_at": "2030-01-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, task["status"].as_str()),
        (201, Some("scheduled")),
        "{task}"
    );
    let (_, list) = s.get("/v1/records/deal/d1/activities").await;
    assert_eq!(list["activities"].as_array().unwrap().len(), 2);
    let id = task["id"].as_str().unwrap();
    let (status, done) = s
        .post(&format!("/v1/activities/{id}/complete"), json!({}))
        .await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("done")),
        "{done}"
    );
    let (status, v) = s
        .post(&format!("/v1/activities/{id}/complete"), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("activity_done")),
        "{v}"
    );
    let (status, v) = s.post("/v1/activities/nope/complete", json!({})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("activity_not_found")),
        "{v}"
    );

    let evs = events(&s, "deal", "d1").await;
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "activity_logged",
            "activity_scheduled",
            "activity_logged",
            "created"
        ]
    );
    assert_eq!(evs[0]["detail"]["activity"]["type"], "task");
    assert_eq!(evs[2]["detail"]["activity"]["type"], "call");

    let (status, v) = s
        .post(
            "/v1/records/deal/d1/activities",
            json!({"type": "task", "done": false}),
        )
        .await;
    assert_error(status, &v, 422, "invalid_value"); // a scheduled activity needs a due time
    let (status, v) = s
        .post("/v1/records/deal/nope/activities", json!({"type": "call"}))
        .await;
    assert_error(status, &v, 404, "record_not_found");
    let (status, v) = s
        .post(
            "/v1/records/deal/d1/activities",
            json!({"type": "call", "due_at": "soon"}),
        )
        .await;
    assert_error(status, &v, 400, "invalid_body");
}
