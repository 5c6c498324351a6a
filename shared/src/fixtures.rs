//! Fixtures shared by the unit tests and the criterion benchmarks (`--features bench`): the
//! records an embed mint reads, its signer, and Metabase dashboard/card JSON for the lint.

/// What a mint reads (workspace, membership, item record) and signs with.
pub mod embed {
    use std::collections::BTreeMap;

    use url::Url;

    use crate::ids::{UserId, WorkspaceId};
    use crate::items::{ItemKind, ItemRecord, ItemRef, ItemStatus};
    use crate::lint::{EmbedParamMode, ParameterSummary};
    use crate::secrets::SecretString;
    use crate::signer::{EmbedSigner, SignerSettings};
    use crate::workspaces::{Member, Role, Status, Workspace};

    pub const SECRET: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    pub const NOW: i64 = 1_795_319_100;

    pub fn embed_signer() -> EmbedSigner {
        let settings = SignerSettings {
            tenant_slug: "tenant_id".into(),
            default_minutes: 10,
            cap_minutes: 60,
            site_url: Url::parse("https://analytics.example.com").unwrap(),
        };
        EmbedSigner::new(&SecretString::new(SECRET.into()), settings).unwrap()
    }

    pub fn workspace(id: WorkspaceId) -> Workspace {
        Workspace {
            id,
            name: "Acme".into(),
            description: None,
            tenant_key: "acme".into(),
            owner_id: UserId::generate(),
            status: Status::Active,
            failure_reason: None,
            metabase_collection_id: None,
            metabase_collection_name: None,
            metabase_group_id: None,
            permissions_applied: true,
            created_at: "2026-11-22T03:00:00Z".into(),
            updated_at: "2026-11-22T03:00:00Z".into(),
            version: 1,
            embeds_revoked_until: None,
            embed_appearance: None,
        }
    }

    pub fn record(item: ItemRef, status: ItemStatus) -> ItemRecord {
        let parameters = vec![
            ParameterSummary { slug: "tenant_id".into(), name: "Tenant".into(), kind: "string/=".into() },
            ParameterSummary { slug: "channel".into(), name: "Channel".into(), kind: "string/=".into() },
        ];
        let embedding_params = BTreeMap::from([
            ("tenant_id".to_owned(), EmbedParamMode::Locked),
            ("channel".to_owned(), EmbedParamMode::Enabled),
        ]);
        let reason = (status == ItemStatus::Quarantined).then(|| "card 9 is not filtered by tenant_id".to_owned());
        ItemRecord::new(
            item,
            "Orders".into(),
            None,
            status,
            reason,
            parameters,
            embedding_params,
            "2026-11-22T02:00:00Z".into(),
            "2026-11-22T03:00:00Z".into(),
        )
    }

    pub type Records = (Option<Workspace>, Option<Member>, Option<ItemRecord>);

    pub fn records(kind: ItemKind) -> (ItemRef, UserId, Records) {
        let ws = WorkspaceId::generate();
        let user = UserId::generate();
        let item = ItemRef::new(ws, kind, 7);
        let member = Member::new(ws, user, Role::Viewer, "2026-11-22T03:00:00Z".into());
        (item, user, (Some(workspace(ws)), Some(member), Some(record(item, ItemStatus::Embeddable))))
    }
}

/// Dashboard and card JSON shaped like Metabase's responses.
pub mod lint {
    use serde_json::{Value, json};

    pub const SLUG: &str = "tenant_id";
    pub const P: &str = "f1a2b3c4";

    pub fn text_tag(name: &str) -> Value {
        json!({"id": format!("id-{name}"), "name": name, "display-name": "Tenant", "type": "text", "required": true})
    }

    pub fn field_tag(name: &str) -> Value {
        json!({"id": format!("id-{name}"), "name": name, "display-name": "Tenant", "type": "dimension",
               "dimension": ["field", 101, null], "widget-type": "string/=", "required": true})
    }

    /// A card in the legacy native shape.
    pub fn legacy_native(id: u64, name: &str, sql: &str, tags: Value) -> Value {
        json!({"id": id, "name": name, "dataset_query": {"type": "native", "database": 2,
               "native": {"query": sql, "template-tags": tags}}})
    }

    /// A card in the MBQL 5 native shape (0.57+ responses).
    pub fn mbql5_native(id: u64, name: &str, sql: &str, tags: Value) -> Value {
        json!({"id": id, "name": name, "dataset_query": {"lib/type": "mbql/query", "database": 2,
               "stages": [{"lib/type": "mbql.stage/native", "native": sql, "template-tags": tags}]}})
    }

    pub fn mbql5_table(id: u64, name: &str) -> Value {
        json!({"id": id, "name": name, "dataset_query": {"lib/type": "mbql/query", "database": 2,
               "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 10}]}})
    }

    pub fn legacy_table(id: u64, name: &str) -> Value {
        json!({"id": id, "name": name, "dataset_query": {"type": "query", "database": 2, "query": {"source-table": 10}}})
    }

    pub fn text_card(id: u64, name: &str) -> Value {
        legacy_native(
            id,
            name,
            "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}",
            json!({"tenant_id": text_tag(SLUG)}),
        )
    }

    pub fn variable_target(tag: &str) -> Value {
        json!(["variable", ["template-tag", tag]])
    }

    pub fn mapping(card_id: u64, target: Value) -> Value {
        json!({"parameter_id": P, "card_id": card_id, "target": target})
    }

    pub fn dashcard(id: i64, card: &Value, mappings: Vec<Value>) -> Value {
        json!({"id": id, "card_id": card["id"], "card": card, "series": [], "parameter_mappings": mappings,
               "dashboard_tab_id": null})
    }

    pub fn text_dashcard(id: i64) -> Value {
        json!({"id": id, "card_id": null, "card": {"dataset_query": {}}, "series": [], "parameter_mappings": [],
               "visualization_settings": {"virtual_card": {"display": "text"}, "text": "Hello {{tenant_id}}"}})
    }

    pub fn tenant_param() -> Value {
        json!({"id": P, "name": "Tenant", "slug": SLUG, "type": "string/="})
    }

    pub fn dashboard(parameters: Vec<Value>, dashcards: Vec<Value>) -> Value {
        json!({"id": 5, "name": "Sales", "parameters": parameters, "dashcards": dashcards, "tabs": [],
               "enable_embedding": false, "embedding_params": null})
    }

    /// A dashboard of `cards` native cards, every one wired to the tenant parameter (what the
    /// lint benchmark checks: the cost grows with the cards).
    pub fn wired_dashboard(cards: u64) -> Value {
        let dashcards = (1..=cards)
            .map(|id| {
                let card = text_card(id, &format!("Card {id}"));
                dashcard(id as i64, &card, vec![mapping(id, variable_target(SLUG))])
            })
            .collect();
        dashboard(vec![tenant_param()], dashcards)
    }
}
