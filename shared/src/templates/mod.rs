//! Dashboard templates as code (issue 12): the specs in `templates/`, the dashboards created from
//! them in a workspace's collection, their in-place upgrade, and the per-workspace database they
//! may target.
//!
//! A created dashboard is recorded twice: by discovery as any dashboard (`WS#<ws>/DASH#<id>`, the
//! lint verdict the embed signer reads), and here (`WS#<ws>/TEMPLATE#<id>`) with the template, its
//! version, the cards by key and the fingerprint of what we last wrote to Metabase. Upgrades
//! compare that fingerprint with Metabase's current dashboard to refuse overwriting hand edits.

pub mod database;
mod fingerprint;
mod spec;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use fingerprint::fingerprint;
pub use spec::{CHART_TYPES, CardSpec, Catalog, ChartSummary, Spec, Summary, TENANT_PARAMETER_ID};

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseCardId, MetabaseDashboardId, MetabaseDatabaseId, WorkspaceId};
use crate::items::{self, ItemKind, ItemRef, ItemView};
use crate::metabase::MetabaseClient;
use crate::store::{Condition, Store, WriteOutcome, from_item};
use crate::workspaces::{Status, Workspace, workspace_pk};

const SK_PREFIX: &str = "TEMPLATE#";

/// `WS#<ws>/TEMPLATE#<dashboard id>`: a dashboard created from a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub workspace_id: WorkspaceId,
    pub dashboard_id: u64,
    pub template: String,
    pub version: u32,
    /// Card id by spec card key: upgrades update these cards in place.
    pub cards: BTreeMap<String, u64>,
    pub database_id: u64,
    /// [`fingerprint`] of the dashboard as we last wrote it.
    pub fingerprint: String,
    /// Set while an upgrade to this version is under way: a retry resumes it instead of taking
    /// our own half-written changes for a hand edit.
    #[serde(default)]
    pub upgrading_to: Option<u32>,
    /// Optimistic-concurrency counter: every write is conditional on it.
    pub revision: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl TemplateRecord {
    fn save_condition(&self) -> Condition {
        if self.revision == 0 {
            return Condition::not_exists();
        }
        Condition {
            expression: "#rev = :rev".to_owned(),
            names: [("#rev".to_owned(), "revision".to_owned())].into(),
            values: [(":rev".to_owned(), aws_sdk_dynamodb::types::AttributeValue::N(self.revision.to_string()))].into(),
        }
    }
}

/// Writes `record` if nobody else wrote it since it was read; returns it with its new revision.
async fn save(store: &Store, mut record: TemplateRecord, now: &str) -> Result<TemplateRecord> {
    let condition = record.save_condition();
    record.revision += 1;
    record.updated_at = now.to_owned();
    match store.put_if(&record, condition).await? {
        WriteOutcome::Applied => Ok(record),
        WriteOutcome::ConditionFailed => {
            Err(Error::conflict("concurrent_update", "the dashboard is being changed by another request; retry"))
        }
    }
}

/// The template record of one dashboard.
///
/// # Errors
/// DynamoDB failed.
pub async fn get(store: &Store, workspace: WorkspaceId, dashboard: u64) -> Result<Option<TemplateRecord>> {
    store.get(&workspace_pk(workspace), &format!("{SK_PREFIX}{dashboard}")).await
}

/// Every template dashboard of a workspace.
///
/// # Errors
/// DynamoDB failed.
pub async fn list(store: &Store, workspace: WorkspaceId) -> Result<Vec<TemplateRecord>> {
    let raw = store.query_partition(None, &workspace_pk(workspace), Some(SK_PREFIX)).await?;
    raw.into_iter().map(from_item::<TemplateRecord>).collect()
}

/// Which template (and version) a dashboard was created from, as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateRef {
    pub name: String,
    pub version: u32,
}

impl From<&TemplateRecord> for TemplateRef {
    fn from(record: &TemplateRecord) -> Self {
        Self { name: record.template.clone(), version: record.version }
    }
}

/// A template dashboard's record: the discovered dashboard plus its template.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateDashboardView {
    #[serde(flatten)]
    pub item: ItemView,
    pub template: TemplateRef,
}

/// The collection of an active workspace, where template content goes.
fn writable(workspace: &Workspace) -> Result<u64> {
    if workspace.status != Status::Active {
        return Err(Error::conflict("workspace_not_active", "dashboards can be added only to an active workspace"));
    }
    workspace
        .metabase_collection_id
        .map(|c| c.0)
        .ok_or_else(|| Error::conflict("workspace_not_active", "the workspace has no Metabase collection yet"))
}

/// The database template cards of `workspace` query: its own database when one is registered,
/// the shared analytics database otherwise.
///
/// # Errors
/// DynamoDB or Metabase failed, or the analytics database is not connected (bootstrap not run).
pub async fn target_database(deps: &Deps, admin: &MetabaseClient, workspace: &Workspace) -> Result<MetabaseDatabaseId> {
    if let Some(own) = database::get(&deps.store, workspace.id).await? {
        return Ok(MetabaseDatabaseId(own.metabase_database_id));
    }
    let name = &deps.config.analytics_db_name;
    admin.databases().await?.into_iter().find(|d| &d.name == name).map(|d| d.id).ok_or_else(|| {
        Error::unavailable("metabase", format!("the analytics database {name:?} is not connected; run bootstrap"))
    })
}

fn id_of(value: &Value, what: &str) -> Result<u64> {
    value.get("id").and_then(Value::as_u64).ok_or_else(|| Error::upstream("metabase", format!("{what} without an id")))
}

/// The dashboard layout body: tenant parameter, one dashcard per card (existing dashcards keep
/// their ids, new ones get negative ids), and the tabs (existing ones, matched by name, keep
/// theirs). One `PUT /api/dashboard/:id` creates and wires everything (§19.4).
fn layout_body(spec: &Spec, cards: &BTreeMap<String, u64>, current: Option<&Value>, tenant_slug: &str) -> Value {
    let existing_tabs: BTreeMap<String, i64> = current
        .and_then(|d| d.get("tabs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.get("name")?.as_str()?.to_owned(), t.get("id")?.as_i64()?)))
        .collect();
    let existing_dashcards: BTreeMap<u64, i64> = current
        .and_then(|d| d.get("dashcards"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|dc| Some((dc.get("card_id")?.as_u64()?, dc.get("id")?.as_i64()?)))
        .collect();
    let mut next_new = 0_i64;
    let mut fresh = || {
        next_new -= 1;
        next_new
    };
    let tabs: Vec<(String, i64)> = spec
        .tabs
        .iter()
        .map(|name| (name.clone(), existing_tabs.get(name).copied().unwrap_or_else(&mut fresh)))
        .collect();
    let dashcards: Vec<Value> = spec
        .cards
        .iter()
        .filter_map(|card| {
            let card_id = *cards.get(&card.key)?;
            let tab = card.tab.as_ref().and_then(|t| tabs.iter().find(|(n, _)| n == t)).map(|(_, id)| *id);
            let id = existing_dashcards.get(&card_id).copied().unwrap_or_else(&mut fresh);
            Some(card.dashcard(id, card_id, tab, tenant_slug))
        })
        .collect();
    json!({
        "parameters": Spec::parameters(tenant_slug),
        "dashcards": dashcards,
        "tabs": tabs.iter().enumerate().map(|(i, (name, id))| json!({"id": id, "name": name, "position": i})).collect::<Vec<_>>(),
    })
}

/// Lints and publishes through discovery (so the record has the shape of any discovered
/// dashboard), then returns the dashboard's record with its template.
async fn publish(deps: &Deps, workspace: &Workspace, record: &TemplateRecord) -> Result<TemplateDashboardView> {
    crate::discovery::sync_workspace(deps, workspace).await?;
    let item = items::get(&deps.store, ItemRef::new(workspace.id, ItemKind::Dashboard, record.dashboard_id))
        .await?
        .ok_or_else(|| Error::internal(format!("discovery did not record dashboard {}", record.dashboard_id)))?;
    Ok(TemplateDashboardView { item: ItemView::from(&item), template: TemplateRef::from(record) })
}

/// Cards created before a failure are archived (best effort) so they do not linger as questions.
async fn archive_cards(admin: &MetabaseClient, cards: impl IntoIterator<Item = u64>) {
    for id in cards {
        if let Err(error) = admin.update_card(MetabaseCardId(id), &json!({"archived": true})).await {
            tracing::warn!(card = id, %error, "could not archive a template card");
        }
    }
}

/// Undoes a creation that failed before it was recorded: the dashboard (when it was made) and
/// its cards are archived (best effort), so no unrecorded copy lingers in the collection for
/// discovery to publish beside the one a retry creates.
async fn abandon(admin: &MetabaseClient, dashboard: Option<u64>, cards: &BTreeMap<String, u64>) {
    if let Some(id) = dashboard
        && let Err(error) = admin.update_dashboard(MetabaseDashboardId(id), &json!({"archived": true})).await
    {
        tracing::warn!(dashboard = id, %error, "could not archive an unfinished template dashboard");
    }
    archive_cards(admin, cards.values().copied()).await;
}

/// Creates a dashboard from `template` in `workspace`'s collection: its cards (native SQL on the
/// workspace's target database), then the dashboard, wired in one `PUT`; records it, then lints
/// and publishes it through discovery.
///
/// # Errors
/// 400 for an unknown template or name; 409 when the workspace is not active; Metabase or
/// DynamoDB failures (what was created before the failure is archived).
pub async fn create(
    deps: &Deps,
    catalog: &Catalog,
    workspace: &Workspace,
    template: &str,
    name: Option<&str>,
) -> Result<TemplateDashboardView> {
    let spec = catalog.get(template).ok_or_else(|| unknown_template(catalog, template))?;
    let collection = writable(workspace)?;
    let name = crate::http::request::display_name(name.unwrap_or(&spec.title))?;
    let admin = deps.metabase_admin().await?;
    let database = target_database(deps, &admin, workspace).await?;
    let slug = &deps.config.tenant_slug;

    let mut cards: BTreeMap<String, u64> = BTreeMap::new();
    let mut made_dashboard = None;
    let created = async {
        for card in &spec.cards {
            let made = admin.create_card(&card.question(database.0, Some(collection))).await?;
            cards.insert(card.key.clone(), id_of(&made, "card")?);
        }
        let dashboard = admin
            .create_dashboard(&json!({"name": name, "description": spec.description, "collection_id": collection}))
            .await?;
        let id = id_of(&dashboard, "dashboard")?;
        made_dashboard = Some(id);
        let wired = admin.update_dashboard(MetabaseDashboardId(id), &layout_body(spec, &cards, None, slug)).await?;
        Ok::<_, Error>((id, wired))
    }
    .await;
    let (dashboard_id, wired) = match created {
        Ok(done) => done,
        Err(error) => {
            abandon(&admin, made_dashboard, &cards).await;
            return Err(error);
        }
    };
    let now = crate::workspaces::provision::now(deps);
    let record = TemplateRecord {
        pk: workspace_pk(workspace.id),
        sk: format!("{SK_PREFIX}{dashboard_id}"),
        workspace_id: workspace.id,
        dashboard_id,
        template: spec.name.clone(),
        version: spec.version,
        cards,
        database_id: database.0,
        fingerprint: fingerprint(&wired),
        upgrading_to: None,
        revision: 0,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let record = match save(&deps.store, record.clone(), &now).await {
        Ok(saved) => saved,
        Err(error) => {
            abandon(&admin, Some(dashboard_id), &record.cards).await;
            return Err(error);
        }
    };
    tracing::info!(workspace = %workspace.id, dashboard = dashboard_id, template = %spec.name, version = spec.version,
                   "dashboard created from a template");
    publish(deps, workspace, &record).await
}

/// Re-applies the newest version of a template dashboard's template in place (same Metabase
/// dashboard id, so embeds keep working): cards updated by key, new cards created, dropped cards
/// archived, layout replaced in one `PUT`.
///
/// Refused with 409 `edited_by_hand` when the dashboard's [`fingerprint`] differs from the one
/// recorded at our last write (someone changed a card's query, chart or settings, the layout,
/// the parameters, the tabs or the name in Metabase), and with 409 `up_to_date` when there is no
/// newer version.
///
/// # Errors
/// As above; 404 when the dashboard was not created from a template; Metabase or DynamoDB
/// failures (a retry resumes the upgrade).
pub async fn upgrade(
    deps: &Deps,
    catalog: &Catalog,
    workspace: &Workspace,
    dashboard_id: u64,
) -> Result<TemplateDashboardView> {
    let not_found = || Error::NotFound("template dashboard not found".to_owned());
    let record = get(&deps.store, workspace.id, dashboard_id).await?.ok_or_else(not_found)?;
    let collection = writable(workspace)?;
    let spec = catalog.get(&record.template).ok_or_else(|| {
        Error::conflict("template_gone", format!("the template {:?} no longer exists", record.template))
    })?;
    let resuming = record.upgrading_to == Some(spec.version);
    if spec.version <= record.version && !resuming {
        return Err(Error::conflict(
            "up_to_date",
            format!("the dashboard already has version {} of the {:?} template", record.version, spec.name),
        ));
    }
    let admin = deps.metabase_admin().await?;
    let current = admin.dashboard(MetabaseDashboardId(dashboard_id)).await?.ok_or_else(not_found)?;
    if !resuming && fingerprint(&current) != record.fingerprint {
        return Err(Error::conflict(
            "edited_by_hand",
            "the dashboard was changed in Metabase since it was created or last upgraded; upgrading would overwrite \
             those changes (create a new dashboard from the template instead)",
        ));
    }
    let now = crate::workspaces::provision::now(deps);
    let mut record = save(&deps.store, TemplateRecord { upgrading_to: Some(spec.version), ..record }, &now).await?;
    let database = target_database(deps, &admin, workspace).await?;
    let slug = &deps.config.tenant_slug;

    for card in &spec.cards {
        let body = card.question(database.0, Some(collection));
        match record.cards.get(&card.key) {
            Some(id) => {
                admin.update_card(MetabaseCardId(*id), &body).await?;
            }
            None => {
                let made = admin.create_card(&body).await?;
                record.cards.insert(card.key.clone(), id_of(&made, "card")?);
                // Recorded at once, so a retry updates this card instead of creating another.
                record = save(&deps.store, record, &now).await?;
            }
        }
    }
    let wired = admin
        .update_dashboard(MetabaseDashboardId(dashboard_id), &layout_body(spec, &record.cards, Some(&current), slug))
        .await?;
    let dropped: Vec<u64> =
        record.cards.iter().filter(|(key, _)| spec.cards.iter().all(|c| &c.key != *key)).map(|(_, id)| *id).collect();
    archive_cards(&admin, dropped.iter().copied()).await;
    record.cards.retain(|_, id| !dropped.contains(id));
    let previous = record.version;
    let record = save(
        &deps.store,
        TemplateRecord {
            version: spec.version,
            database_id: database.0,
            fingerprint: fingerprint(&wired),
            upgrading_to: None,
            ..record
        },
        &now,
    )
    .await?;
    tracing::info!(workspace = %workspace.id, dashboard = dashboard_id, template = %spec.name, from = previous,
                   to = spec.version, "template dashboard upgraded");
    publish(deps, workspace, &record).await
}

fn unknown_template(catalog: &Catalog, name: &str) -> Error {
    let known: Vec<&str> = catalog.specs().iter().map(|s| s.name.as_str()).collect();
    Error::bad_request("unknown_template", format!("no template named {name:?}; known: {}", known.join(", ")))
}

/// Checks that every name in `names` is a template of `catalog` (before anything is created).
///
/// # Errors
/// 400 `unknown_template` naming the first unknown one.
pub fn check_names(catalog: &Catalog, names: &[String]) -> Result<()> {
    match names.iter().find(|n| catalog.get(n).is_none()) {
        Some(unknown) => Err(unknown_template(catalog, unknown)),
        None => Ok(()),
    }
}

/// Creates the dashboards of `names` that `workspace` does not have yet (for `POST
/// /api/workspaces {templates}`, whose idempotent replays must not duplicate them).
///
/// # Errors
/// As [`create`].
pub async fn ensure_all(
    deps: &Deps,
    catalog: &Catalog,
    workspace: &Workspace,
    names: &[String],
) -> Result<Vec<TemplateDashboardView>> {
    let existing = list(&deps.store, workspace.id).await?;
    let mut views = Vec::new();
    for name in names {
        if let Some(record) = existing.iter().find(|r| &r.template == name) {
            if let Some(item) =
                items::get(&deps.store, ItemRef::new(workspace.id, ItemKind::Dashboard, record.dashboard_id)).await?
            {
                views.push(TemplateDashboardView { item: ItemView::from(&item), template: TemplateRef::from(record) });
                continue;
            }
        }
        views.push(Box::pin(create(deps, catalog, workspace, name, None)).await?);
    }
    Ok(views)
}
