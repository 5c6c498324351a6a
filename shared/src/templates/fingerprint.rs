//! The fingerprint of a template dashboard: a hash of everything we write to Metabase, read back
//! from `GET /api/dashboard/:id` (which hydrates each dashcard's card, §19.3).
//!
//! It covers the dashboard's name, description and parameters, its tabs, and per dashcard the
//! card, layout, tab, mappings and settings, and per card its name, description, chart type,
//! query and visualisation settings. It leaves out what changes without anyone editing content:
//! `updated_at`, the embedding switch and params (discovery publishes), and read-only
//! hydration (`can_write`, `last-edit-info`, counts).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn pick(source: &Value, fields: &[&str]) -> Value {
    let mut picked = serde_json::Map::new();
    for field in fields {
        picked.insert((*field).to_owned(), source.get(*field).cloned().unwrap_or(Value::Null));
    }
    Value::Object(picked)
}

/// The fingerprint of a dashboard as Metabase returns it (`GET` or the `PUT` response).
pub fn fingerprint(dashboard: &Value) -> String {
    let mut dashcards: Vec<Value> = dashboard
        .get("dashcards")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .map(|dc| {
                    let mut layout = pick(
                        dc,
                        &[
                            "id",
                            "card_id",
                            "row",
                            "col",
                            "size_x",
                            "size_y",
                            "dashboard_tab_id",
                            "parameter_mappings",
                            "visualization_settings",
                        ],
                    );
                    let card = dc.get("card").unwrap_or(&Value::Null);
                    layout["card"] = pick(
                        card,
                        &["name", "description", "display", "dataset_query", "visualization_settings", "archived"],
                    );
                    layout
                })
                .collect()
        })
        .unwrap_or_default();
    dashcards.sort_by_key(|dc| dc.get("id").and_then(Value::as_i64));
    let tabs: Vec<Value> = dashboard
        .get("tabs")
        .and_then(Value::as_array)
        .map(|all| all.iter().map(|t| pick(t, &["id", "name", "position"])).collect())
        .unwrap_or_default();
    let content = json!({
        "dashboard": pick(dashboard, &["name", "description", "parameters"]),
        "tabs": tabs,
        "dashcards": dashcards,
    });
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard() -> Value {
        json!({
            "name": "Executive", "description": "d", "updated_at": "t1", "enable_embedding": false,
            "parameters": [{"id": "p", "slug": "tenant_id", "type": "string/="}],
            "tabs": [{"id": 1, "name": "Overview", "position": 0}],
            "dashcards": [
                {"id": 2, "card_id": 9, "row": 0, "col": 0, "size_x": 6, "size_y": 4, "dashboard_tab_id": 1,
                 "parameter_mappings": [], "visualization_settings": {}, "updated_at": "t1",
                 "card": {"name": "Revenue", "display": "scalar", "dataset_query": {"q": 1}, "updated_at": "t1",
                          "can_write": true, "visualization_settings": {}}}
            ]
        })
    }

    #[test]
    fn publishing_and_timestamps_do_not_count_as_edits() {
        let mut published = dashboard();
        published["enable_embedding"] = json!(true);
        published["embedding_params"] = json!({"tenant_id": "locked"});
        published["updated_at"] = json!("t2");
        published["dashcards"][0]["card"]["updated_at"] = json!("t3");
        published["dashcards"][0]["card"]["can_write"] = json!(false);
        assert_eq!(fingerprint(&dashboard()), fingerprint(&published));
    }

    #[test]
    fn content_edits_change_it() {
        let base = fingerprint(&dashboard());
        let edits: [(&str, Value); 5] = [
            ("/name", json!("Renamed")),
            ("/dashcards/0/card/dataset_query", json!({"q": 2})),
            ("/dashcards/0/card/display", json!("table")),
            ("/dashcards/0/size_x", json!(12)),
            ("/tabs/0/name", json!("Other")),
        ];
        for (path, value) in edits {
            let mut edited = dashboard();
            *edited.pointer_mut(path).unwrap() = value;
            assert_ne!(fingerprint(&edited), base, "{path}");
        }
        let mut removed = dashboard();
        removed["dashcards"] = json!([]);
        assert_ne!(fingerprint(&removed), base);
    }
}
