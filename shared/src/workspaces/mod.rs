//! Workspaces (tenants): the records, their uniqueness guards, memberships and invitations.
//!
//! Items (design §5):
//! - `WS#<id>/META` — the workspace, with the saga's progress; `GSI1PK = WORKSPACES` lists them all
//!   for the reconciler and the discovery sweep.
//! - `TENANT#<tenant_key>/TENANT` — one workspace per tenant key, written in the creating
//!   transaction, never deleted (tenant keys are never reused).
//! - `IDEM#<caller>#<key>/IDEM` — the workspace an `Idempotency-Key` created (expires after a day).
//! - `WS#<id>/MEMBER#<user>` — a membership; `GSI1PK = USER#<user>` lists a user's workspaces.
//! - `WS#<id>/INVITE#<email>` — a pending invitation; `GSI1PK = INVITE#<email>` finds it at signup.
//! - `MBCOLL#<collection id>/MBCOLL` — which workspace owns a Metabase collection.

pub mod lease;
pub mod members;
pub mod provision;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{MetabaseCollectionId, MetabaseGroupId, UserId, WorkspaceId};
use crate::store::{Condition, Index, Item, Store, WriteOutcome, from_item, keys, sdk_error, to_item};

pub const META: &str = "META";
const WORKSPACES_INDEX_PK: &str = "WORKSPACES";

pub fn workspace_pk(id: WorkspaceId) -> String {
    format!("WS#{id}")
}

pub fn member_sk(user: UserId) -> String {
    format!("MEMBER#{user}")
}

/// The saga's states (design §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Provisioning,
    Active,
    Failed,
    Archived,
}

/// A member's role. Owners and editors are in the workspace's Metabase group; viewers are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "owner" => Ok(Self::Owner),
            "editor" => Ok(Self::Editor),
            "viewer" => Ok(Self::Viewer),
            _ => Err(Error::bad_request("invalid_role", "role must be one of owner, editor, viewer")),
        }
    }

    /// Whether members with this role belong to the Metabase group (may edit in Metabase).
    pub fn in_metabase_group(self) -> bool {
        self >= Self::Editor
    }
}

/// A workspace as stored; the `metabase_*` fields and `permissions_applied` record the saga's
/// progress so a retry resumes where the last attempt stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub tenant_key: String,
    pub owner_id: UserId,
    pub status: Status,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metabase_collection_id: Option<MetabaseCollectionId>,
    #[serde(default)]
    pub metabase_collection_name: Option<String>,
    #[serde(default)]
    pub metabase_group_id: Option<MetabaseGroupId>,
    #[serde(default)]
    pub permissions_applied: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Optimistic-concurrency counter: every save is conditional on it.
    pub version: u64,
    /// Workspace-scope embed revocation: mints and refreshes are refused, and discovery does
    /// not re-publish, until this time (Unix seconds).
    #[serde(default)]
    pub embeds_revoked_until: Option<i64>,
    /// Default appearance of this workspace's embeds (overridable per request).
    #[serde(default)]
    pub embed_appearance: Option<crate::signer::Appearance>,
}

impl Workspace {
    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    /// The name of the workspace's Metabase group, fixed so it can be found again.
    pub fn group_name(&self) -> String {
        format!("Tenant {}", self.id)
    }

    /// The marker in the collection's description by which a retry finds a collection an
    /// earlier attempt created but could not record.
    pub fn collection_marker(&self) -> String {
        format!("tenantbase-workspace:{}", self.id)
    }
}

#[derive(Serialize, Deserialize)]
struct MetaItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    workspace: Workspace,
}

impl MetaItem {
    fn new(workspace: &Workspace) -> Self {
        Self {
            pk: workspace_pk(workspace.id),
            sk: META.to_owned(),
            gsi1pk: WORKSPACES_INDEX_PK.to_owned(),
            gsi1sk: workspace_pk(workspace.id),
            workspace: workspace.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Guard {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    workspace_id: WorkspaceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// A membership as stored (the attribute names are read by `users::memberships` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: String,
    /// User-scope embed revocation: this member's mints and refreshes are refused until lifted.
    #[serde(default)]
    pub embeds_revoked: bool,
}

impl Member {
    pub fn new(workspace_id: WorkspaceId, user_id: UserId, role: Role, created_at: String) -> Self {
        Self {
            pk: workspace_pk(workspace_id),
            sk: member_sk(user_id),
            gsi1pk: format!("USER#{user_id}"),
            gsi1sk: workspace_pk(workspace_id),
            workspace_id,
            user_id,
            role,
            created_at,
            embeds_revoked: false,
        }
    }

    /// The same membership with another role (everything else kept).
    pub fn with_role(&self, role: Role) -> Self {
        Self { role, ..self.clone() }
    }
}

/// A pending invitation of an email without an account, honoured at signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI1PK")]
    gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    gsi1sk: String,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: String,
}

impl Invitation {
    pub fn new(workspace_id: WorkspaceId, email: &str, role: Role, invited_by: Option<UserId>, now: String) -> Self {
        Self {
            pk: workspace_pk(workspace_id),
            sk: format!("INVITE#{email}"),
            gsi1pk: format!("INVITE#{email}"),
            gsi1sk: workspace_pk(workspace_id),
            workspace_id,
            email: email.to_owned(),
            role,
            invited_by,
            created_at: now,
        }
    }
}

/// What a newly created workspace's transaction ran into.
#[derive(Debug)]
pub enum Inserted {
    Created,
    /// The idempotency key already created this workspace.
    Replayed(WorkspaceId),
    TenantKeyTaken,
}

fn guard_condition() -> Condition {
    Condition::not_exists()
}

/// Writes a new workspace with its tenant-key guard, its owner's membership and (when given)
/// its idempotency record, all or nothing.
///
/// # Errors
/// DynamoDB failed.
pub async fn insert(store: &Store, workspace: &Workspace, idempotency: Option<(&str, i64)>) -> Result<Inserted> {
    let owner = Member::new(workspace.id, workspace.owner_id, Role::Owner, workspace.created_at.clone());
    let tenant_guard = Guard {
        pk: format!("TENANT#{}", workspace.tenant_key),
        sk: "TENANT".to_owned(),
        workspace_id: workspace.id,
        expires_at: None,
    };
    let mut writes = vec![
        store.put_op(&MetaItem::new(workspace), Some(guard_condition()))?,
        store.put_op(&tenant_guard, Some(guard_condition()))?,
        store.put_op(&owner, Some(guard_condition()))?,
    ];
    if let Some((key, expires_at)) = idempotency {
        let guard = Guard {
            pk: key.to_owned(),
            sk: "IDEM".to_owned(),
            workspace_id: workspace.id,
            expires_at: Some(expires_at),
        };
        writes.push(store.put_op(&guard, Some(guard_condition()))?);
    }
    match store.transact(writes).await? {
        WriteOutcome::Applied => Ok(Inserted::Created),
        WriteOutcome::ConditionFailed => {
            if let Some((key, _)) = idempotency
                && let Some(existing) = idempotent_workspace(store, key).await?
            {
                return Ok(Inserted::Replayed(existing));
            }
            Ok(Inserted::TenantKeyTaken)
        }
    }
}

/// The workspace an idempotency key created, if any.
///
/// # Errors
/// DynamoDB failed.
pub async fn idempotent_workspace(store: &Store, key: &str) -> Result<Option<WorkspaceId>> {
    Ok(store.get::<Guard>(key, "IDEM").await?.map(|g| g.workspace_id))
}

/// Whether a tenant key is already taken.
///
/// # Errors
/// DynamoDB failed.
pub async fn tenant_key_taken(store: &Store, tenant_key: &str) -> Result<bool> {
    Ok(store.get::<Guard>(&format!("TENANT#{tenant_key}"), "TENANT").await?.is_some())
}

/// Reads a `WS#<id>/META` item fetched by another module's batch.
///
/// # Errors
/// The item is not a workspace record.
pub fn meta_from_item(item: Item) -> Result<Workspace> {
    Ok(from_item::<MetaItem>(item)?.workspace)
}

/// # Errors
/// DynamoDB failed.
pub async fn get(store: &Store, id: WorkspaceId) -> Result<Option<Workspace>> {
    Ok(store.get::<MetaItem>(&workspace_pk(id), META).await?.map(|item| item.workspace))
}

/// Saves `workspace` if nobody saved it since it was read (`version`), bumping the version.
/// Returns the saved record, or `None` when another writer got there first.
///
/// # Errors
/// DynamoDB failed.
pub async fn save(store: &Store, workspace: &Workspace, now: &str) -> Result<Option<Workspace>> {
    let mut next = workspace.clone();
    next.version += 1;
    next.updated_at = now.to_owned();
    let condition = Condition {
        expression: "#w.#v = :v".to_owned(),
        names: HashMap::from([("#w".to_owned(), "workspace".to_owned()), ("#v".to_owned(), "version".to_owned())]),
        values: HashMap::from([(":v".to_owned(), AttributeValue::N(workspace.version.to_string()))]),
    };
    Ok(match store.put_if(&MetaItem::new(&next), condition).await? {
        WriteOutcome::Applied => Some(next),
        WriteOutcome::ConditionFailed => None,
    })
}

/// Records which workspace owns a Metabase collection (for the discovery sweep).
///
/// # Errors
/// DynamoDB failed.
pub async fn record_collection(store: &Store, collection: MetabaseCollectionId, workspace: WorkspaceId) -> Result<()> {
    let item = Guard {
        pk: format!("MBCOLL#{collection}"),
        sk: "MBCOLL".to_owned(),
        workspace_id: workspace,
        expires_at: None,
    };
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(to_item(&item)?))
        .send()
        .await
        .map(|_| ())
        .map_err(sdk_error)
}

/// The workspace and the caller's membership in one round trip (`BatchGetItem`): the
/// authorisation read of every `/api/workspaces/{id}…` route.
///
/// # Errors
/// DynamoDB failed.
pub async fn get_with_member(
    store: &Store,
    id: WorkspaceId,
    user: UserId,
) -> Result<(Option<Workspace>, Option<Member>)> {
    let keys = [(workspace_pk(id), META.to_owned()), (workspace_pk(id), member_sk(user))];
    let mut workspace = None;
    let mut member = None;
    for item in store.batch_get(&keys, true).await? {
        match item.get(keys::SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
            Some(META) => workspace = Some(meta_from_item(item)?),
            Some(_) => member = Some(from_item::<Member>(item)?),
            None => {}
        }
    }
    Ok((workspace, member))
}

/// Every workspace (reconcile, sweep), through the index.
///
/// # Errors
/// DynamoDB failed.
pub async fn all(store: &Store) -> Result<Vec<Workspace>> {
    let items = store.query_partition(Some(Index::Gsi1), WORKSPACES_INDEX_PK, None).await?;
    items.into_iter().map(meta_from_item).collect()
}

/// The items of one workspace's partition (META, members, invitations, items), all pages.
pub(crate) async fn partition(store: &Store, id: WorkspaceId) -> Result<Vec<Item>> {
    store.query_partition(None, &workspace_pk(id), None).await
}

/// The workspaces a user is a member of, with their role.
///
/// # Errors
/// DynamoDB failed.
pub async fn of_user(store: &Store, user: UserId) -> Result<Vec<(Workspace, Role)>> {
    let memberships: Vec<Member> = store
        .query_partition(Some(Index::Gsi1), &format!("USER#{user}"), Some("WS#"))
        .await?
        .into_iter()
        .filter(|item| item.get(keys::SK).and_then(|v| v.as_s().ok()).is_some_and(|sk| sk.starts_with("MEMBER#")))
        .map(from_item::<Member>)
        .collect::<Result<_>>()?;
    let keys: Vec<_> = memberships.iter().map(|m| (workspace_pk(m.workspace_id), META.to_owned())).collect();
    let mut found = Vec::with_capacity(memberships.len());
    for item in store.batch_get(&keys, false).await? {
        let workspace = meta_from_item(item)?;
        if let Some(member) = memberships.iter().find(|m| m.workspace_id == workspace.id) {
            found.push((workspace, member.role));
        }
    }
    found.sort_by(|a, b| a.0.created_at.cmp(&b.0.created_at).then(a.0.id.cmp(&b.0.id)));
    Ok(found)
}

/// The pending invitations of an email across workspaces.
///
/// # Errors
/// DynamoDB failed.
pub async fn invitations_for(store: &Store, email: &str) -> Result<Vec<Invitation>> {
    store
        .query_partition(Some(Index::Gsi1), &format!("INVITE#{email}"), None)
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}
