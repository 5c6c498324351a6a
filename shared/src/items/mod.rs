//! Discovered dashboards and questions: the records discovery writes and the embed signer
//! reads.
//!
//! Items live in their workspace's partition (`WS#<ws>/DASH#<metabase id>` and
//! `WS#<ws>/CARD#<metabase id>`), so listing a workspace's items is one query, and the record
//! id clients use (`<workspace id>.<metabase id>`, see [`ItemRef`]) names the partition: the
//! embed route can fetch the workspace, the caller's membership and the item in one
//! `BatchGetItem` from the path and the token alone.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{MetabaseCollectionId, UserId, WorkspaceId};
use crate::lint::{EmbedParamMode, ParameterSummary};
use crate::store::{Store, from_item, keys, sdk_error, to_item};
use crate::workspaces::{self, META, Member, Workspace, member_sk, workspace_pk};

/// Dashboard or question (Metabase calls questions "cards" in its API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Dashboard,
    Question,
}

impl ItemKind {
    fn sk_prefix(self) -> &'static str {
        match self {
            Self::Dashboard => "DASH#",
            Self::Question => "CARD#",
        }
    }
}

/// Our id of an item: `<workspace id>.<metabase id>`; the kind comes from the route
/// (`/dashboards/{id}` or `/questions/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemRef {
    pub workspace_id: WorkspaceId,
    pub kind: ItemKind,
    pub metabase_id: u64,
}

impl ItemRef {
    pub fn new(workspace_id: WorkspaceId, kind: ItemKind, metabase_id: u64) -> Self {
        Self { workspace_id, kind, metabase_id }
    }

    /// Parses the id of a route of `kind`.
    ///
    /// # Errors
    /// 404 (not 400: a malformed id names nothing, and must not be distinguishable from an id
    /// the caller may not see).
    pub fn parse(kind: ItemKind, raw: &str) -> Result<Self> {
        let not_found = || Error::NotFound(format!("{} not found", kind.label()));
        let (workspace, metabase) = raw.split_once('.').ok_or_else(not_found)?;
        let workspace_id = WorkspaceId::from_str(workspace).map_err(|_| not_found())?;
        let metabase_id = metabase.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(not_found)?;
        Ok(Self { workspace_id, kind, metabase_id })
    }

    pub fn sk(&self) -> String {
        format!("{}{}", self.kind.sk_prefix(), self.metabase_id)
    }
}

impl ItemKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Dashboard => "dashboard",
            Self::Question => "question",
        }
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.workspace_id, self.metabase_id)
    }
}

/// Whether an item may be embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Passed the isolation lint and is published in Metabase with the tenant slug locked.
    Embeddable,
    /// Failed the lint (see `reason`); un-published in Metabase.
    Quarantined,
    /// Deleted, archived or moved out of the workspace's collection.
    Removed,
}

/// A discovered item as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub workspace_id: WorkspaceId,
    pub kind: ItemKind,
    pub metabase_id: u64,
    pub name: String,
    #[serde(default)]
    pub collection_id: Option<MetabaseCollectionId>,
    pub status: ItemStatus,
    /// Why it is quarantined (each failed check, naming the card), or removed.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub parameters: Vec<ParameterSummary>,
    /// The whitelist published in Metabase (tenant slug locked, the rest enabled).
    #[serde(default)]
    pub embedding_params: BTreeMap<String, EmbedParamMode>,
    /// Metabase's `updated_at` when last linted: an unchanged value means no detail fetch.
    pub metabase_updated_at: String,
    pub created_at: String,
    pub updated_at: String,
    /// Item-scope revocation: mints refused until this time (Unix seconds).
    #[serde(default)]
    pub revoked_until: Option<i64>,
    /// Dashboards: Metabase's `updated_at` of each card (and series card) on it when last linted,
    /// keyed by card id. Editing a card does not touch its dashboard's `updated_at`, so this is
    /// how a card edit that drops the tenant filter still gets the dashboard re-linted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub card_versions: BTreeMap<String, String>,
}

impl ItemRecord {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        item: ItemRef,
        name: String,
        collection_id: Option<MetabaseCollectionId>,
        status: ItemStatus,
        reason: Option<String>,
        parameters: Vec<ParameterSummary>,
        embedding_params: BTreeMap<String, EmbedParamMode>,
        metabase_updated_at: String,
        now: String,
    ) -> Self {
        Self {
            pk: workspace_pk(item.workspace_id),
            sk: item.sk(),
            workspace_id: item.workspace_id,
            kind: item.kind,
            metabase_id: item.metabase_id,
            name,
            collection_id,
            status,
            reason,
            parameters,
            embedding_params,
            metabase_updated_at,
            created_at: now.clone(),
            updated_at: now,
            revoked_until: None,
            card_versions: BTreeMap::new(),
        }
    }

    pub fn item_ref(&self) -> ItemRef {
        ItemRef::new(self.workspace_id, self.kind, self.metabase_id)
    }

    pub fn is_embeddable(&self) -> bool {
        self.status == ItemStatus::Embeddable
    }
}

/// The item as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemView {
    pub id: String,
    pub workspace_id: WorkspaceId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metabase_dashboard_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metabase_card_id: Option<u64>,
    pub name: String,
    pub status: ItemStatus,
    pub reason: Option<String>,
    pub is_public: bool,
    pub parameters: Vec<ParameterSummary>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ItemRecord> for ItemView {
    fn from(item: &ItemRecord) -> Self {
        let (dashboard, card) = match item.kind {
            ItemKind::Dashboard => (Some(item.metabase_id), None),
            ItemKind::Question => (None, Some(item.metabase_id)),
        };
        Self {
            id: item.item_ref().to_string(),
            workspace_id: item.workspace_id,
            metabase_dashboard_id: dashboard,
            metabase_card_id: card,
            name: item.name.clone(),
            status: item.status,
            reason: item.reason.clone(),
            is_public: item.is_embeddable(),
            parameters: item.parameters.clone(),
            created_at: item.created_at.clone(),
            updated_at: item.updated_at.clone(),
        }
    }
}

/// # Errors
/// DynamoDB failed.
pub async fn get(store: &Store, item: ItemRef) -> Result<Option<ItemRecord>> {
    store.get(&workspace_pk(item.workspace_id), &item.sk()).await
}

/// The items of one kind in a workspace (one query, all pages), ordered by Metabase id.
///
/// # Errors
/// DynamoDB failed.
pub async fn list(store: &Store, workspace: WorkspaceId, kind: ItemKind) -> Result<Vec<ItemRecord>> {
    let raw = store.query_partition(None, &workspace_pk(workspace), Some(kind.sk_prefix())).await?;
    let mut found = raw.into_iter().map(from_item::<ItemRecord>).collect::<Result<Vec<_>>>()?;
    found.sort_by_key(|i| i.metabase_id);
    Ok(found)
}

/// Every dashboard and question record of a workspace (one query, all pages), ordered by kind and
/// Metabase id.
///
/// # Errors
/// DynamoDB failed.
pub async fn list_workspace(store: &Store, workspace: WorkspaceId) -> Result<Vec<ItemRecord>> {
    let mut found = Vec::new();
    for raw in workspaces::partition(store, workspace).await? {
        let sk = raw.get(keys::SK).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or_default();
        if sk.starts_with(ItemKind::Dashboard.sk_prefix()) || sk.starts_with(ItemKind::Question.sk_prefix()) {
            found.push(from_item::<ItemRecord>(raw)?);
        }
    }
    found.sort_by_key(|i| (i.kind, i.metabase_id));
    Ok(found)
}

/// Every item record of every workspace, grouped by workspace (the discovery sweep's read: a
/// parallel Scan of a few large pages instead of one Query per workspace).
///
/// # Errors
/// DynamoDB failed.
pub async fn all_by_workspace(store: &Store) -> Result<HashMap<WorkspaceId, Vec<ItemRecord>>> {
    let prefixes = [ItemKind::Dashboard.sk_prefix(), ItemKind::Question.sk_prefix()];
    let mut found: HashMap<WorkspaceId, Vec<ItemRecord>> = HashMap::new();
    for raw in store.scan_prefixed("WS#", &prefixes, SCAN_SEGMENTS).await? {
        let record = from_item::<ItemRecord>(raw)?;
        // A record is only ever filed under the partition of the workspace it names.
        if record.pk == workspace_pk(record.workspace_id) {
            found.entry(record.workspace_id).or_default().push(record);
        }
    }
    for records in found.values_mut() {
        records.sort_by_key(|i| (i.kind, i.metabase_id));
    }
    Ok(found)
}

/// Parallel segments of the item-record Scan.
const SCAN_SEGMENTS: i32 = 4;

/// Writes records in batches of 25 (DynamoDB's limit), retrying unprocessed ones.
///
/// # Errors
/// DynamoDB failed or kept items unprocessed.
pub async fn put_all(store: &Store, records: &[ItemRecord]) -> Result<()> {
    for chunk in records.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|record| {
                let put = PutRequest::builder().set_item(Some(to_item(record)?)).build().map_err(Error::internal)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        for attempt in 0..6u32 {
            let output = store
                .client()
                .batch_write_item()
                .request_items(store.table(), requests)
                .send()
                .await
                .map_err(sdk_error)?;
            requests = output.unprocessed_items.and_then(|mut u| u.remove(store.table())).unwrap_or_default();
            if requests.is_empty() {
                break;
            }
            if attempt == 5 {
                return Err(Error::unavailable("dynamodb", "items stayed unprocessed"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 * 2u64.pow(attempt))).await;
        }
    }
    Ok(())
}

/// The three records the embed hot path needs — the workspace, the caller's membership and the
/// item — in one `BatchGetItem`.
///
/// # Errors
/// DynamoDB failed.
pub async fn with_access(
    store: &Store,
    item: ItemRef,
    user: UserId,
) -> Result<(Option<Workspace>, Option<Member>, Option<ItemRecord>)> {
    let pk = workspace_pk(item.workspace_id);
    let keys = [(pk.clone(), META.to_owned()), (pk.clone(), member_sk(user)), (pk, item.sk())];
    let (mut workspace, mut member, mut record) = (None, None, None);
    // Strongly consistent: a revocation or quarantine must stop mints at once.
    for raw in store.batch_get(&keys, true).await? {
        let sk = raw.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        if sk == META {
            workspace = Some(workspaces::meta_from_item(raw)?);
        } else if sk.starts_with("MEMBER#") {
            member = Some(from_item::<Member>(raw)?);
        } else {
            record = Some(from_item::<ItemRecord>(raw)?);
        }
    }
    Ok((workspace, member, record))
}

/// Sets an item's `revoked_until` (item-scope embed revocation) with one conditional
/// `UpdateItem`, so a concurrent discovery write of the other fields is not overwritten. Returns
/// the updated record, `None` when there is no such record.
///
/// # Errors
/// DynamoDB failed.
pub async fn set_revoked_until(store: &Store, item: ItemRef, until: i64) -> Result<Option<ItemRecord>> {
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(HashMap::from([
            (keys::PK.to_owned(), AttributeValue::S(workspace_pk(item.workspace_id))),
            (keys::SK.to_owned(), AttributeValue::S(item.sk())),
        ])))
        .update_expression("SET #until = :until")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#until", "revoked_until")
        .expression_attribute_names("#pk", keys::PK)
        .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(output) => output.attributes.map(from_item::<ItemRecord>).transpose(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
        Err(e) => Err(sdk_error(e)),
    }
}
