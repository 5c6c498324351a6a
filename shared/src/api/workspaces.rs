//! HTTP handlers of the `workspaces` function: workspaces and their members.
//!
//! Authorisation: every `/api/workspaces/{id}…` route reads the workspace and the caller's
//! membership in one round trip; a non-member gets `404` whether or not the workspace exists
//! (no existence leak), a member without the needed role `403`. The operator (the SaaS backend,
//! `X-Api-Key`) acts as an owner of every workspace.

use http::StatusCode;
use lambda_http::Request;
use serde::Serialize;

use crate::auth::{self, Caller};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::request::{self, JsonFields};
use crate::http::{HttpResponse, Matched, json, no_content};
use crate::ids::{MetabaseCollectionId, MetabaseGroupId, UserId, WorkspaceId};
use crate::routes::Endpoint;
use crate::signer::Appearance;
use crate::templates::database::{self, DatabaseView, Registration};
use crate::templates::{self, Catalog, TemplateDashboardView};
use crate::users;
use crate::workspaces::members::{self, Added, MemberView};
use crate::workspaces::{self, Inserted, Role, Status, Workspace, provision};

pub(super) async fn handle(deps: &Deps, matched: Matched, request: &Request) -> Result<HttpResponse> {
    let caller = auth::caller(deps, request).await?;
    match matched.endpoint {
        Endpoint::ListWorkspaces => list(deps, &caller).await,
        Endpoint::CreateWorkspace => create(deps, &caller, request).await,
        endpoint => {
            let id = matched.params.get("id").unwrap_or_default();
            let access = authorize(deps, &caller, id).await?;
            match endpoint {
                Endpoint::GetWorkspace => Ok(json(StatusCode::OK, &WorkspaceView::from(&access.workspace))),
                Endpoint::UpdateWorkspace => update(deps, access, request).await,
                Endpoint::DeleteWorkspace => delete(deps, access).await,
                Endpoint::ListMembers => Ok(json(StatusCode::OK, &members::views(deps, &access.workspace).await?)),
                Endpoint::AddMember => add_member(deps, access, request).await,
                Endpoint::UpdateMember => update_member(deps, access, matched.params.get("user_id"), request).await,
                Endpoint::RemoveMember => remove_member(deps, access, matched.params.get("user_id")).await,
                Endpoint::RegisterWorkspaceDatabase => register_database(deps, access, request).await,
                other => Err(Error::internal(format!("{other:?} is not an endpoint of the workspaces function"))),
            }
        }
    }
}

/// The workspace as clients see it.
#[derive(Debug, Serialize)]
pub struct WorkspaceView {
    pub id: WorkspaceId,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: UserId,
    pub status: Status,
    pub tenant_key: String,
    pub metabase_collection_id: Option<MetabaseCollectionId>,
    pub metabase_collection_name: Option<String>,
    pub metabase_group_id: Option<MetabaseGroupId>,
    pub is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed_appearance: Option<Appearance>,
    pub created_at: String,
    /// Dashboards created from `templates` at creation (absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dashboards: Vec<TemplateDashboardView>,
}

impl From<&Workspace> for WorkspaceView {
    fn from(w: &Workspace) -> Self {
        Self {
            id: w.id,
            name: w.name.clone(),
            description: w.description.clone(),
            owner_id: w.owner_id,
            status: w.status,
            tenant_key: w.tenant_key.clone(),
            metabase_collection_id: w.metabase_collection_id,
            metabase_collection_name: w.metabase_collection_name.clone(),
            metabase_group_id: w.metabase_group_id,
            is_active: w.is_active(),
            failure_reason: w.failure_reason.clone(),
            role: None,
            embed_appearance: w.embed_appearance.clone(),
            created_at: w.created_at.clone(),
            dashboards: Vec::new(),
        }
    }
}

/// A caller's standing in one workspace.
pub struct Access {
    pub workspace: Workspace,
    /// `Owner` for the operator.
    pub role: Role,
    pub caller: Caller,
}

impl Access {
    pub(super) fn require(&self, role: Role, action: &str) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("only a workspace {role:?} or above may {action}").to_lowercase()))
        }
    }
}

fn not_found() -> Error {
    Error::NotFound("workspace not found".to_owned())
}

/// Resolves the caller's role in workspace `raw_id`; anything short of a membership is 404.
///
/// # Errors
/// 404 for an unknown id or a non-member.
pub async fn authorize(deps: &Deps, caller: &Caller, raw_id: &str) -> Result<Access> {
    let id: WorkspaceId = raw_id.parse().map_err(|_| not_found())?;
    match caller {
        Caller::Operator => {
            let workspace = workspaces::get(&deps.store, id).await?.ok_or_else(not_found)?;
            Ok(Access { workspace, role: Role::Owner, caller: caller.clone() })
        }
        Caller::User(principal) => match workspaces::get_with_member(&deps.store, id, principal.user_id).await? {
            (Some(workspace), Some(member)) => Ok(Access { workspace, role: member.role, caller: caller.clone() }),
            _ => Err(not_found()),
        },
    }
}

async fn list(deps: &Deps, caller: &Caller) -> Result<HttpResponse> {
    let views: Vec<WorkspaceView> = match caller {
        Caller::Operator => workspaces::all(&deps.store).await?.iter().map(WorkspaceView::from).collect(),
        Caller::User(principal) => workspaces::of_user(&deps.store, principal.user_id)
            .await?
            .iter()
            .map(|(w, role)| WorkspaceView { role: Some(*role), ..WorkspaceView::from(w) })
            .collect(),
    };
    Ok(json(StatusCode::OK, &views))
}

const MAX_DESCRIPTION: usize = 1000;
const MAX_TENANT_KEY: usize = 128;

fn workspace_name(raw: &str) -> Result<String> {
    request::display_name(raw)
}

fn description(body: &JsonFields) -> Result<Option<String>> {
    match body.optional_string("description")? {
        Some(text) if text.chars().count() > MAX_DESCRIPTION => Err(Error::bad_request(
            "invalid_description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        )),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other.map(|t| t.trim().to_owned())),
    }
}

/// A tenant key chosen by the operator: the SaaS's own tenant id as it appears in the data.
/// Non-empty, no surrounding or control whitespace, bounded.
fn tenant_key(raw: &str) -> Result<String> {
    if raw.is_empty() || raw.trim() != raw || raw.len() > MAX_TENANT_KEY || raw.chars().any(|c| c.is_control()) {
        return Err(Error::bad_request(
            "invalid_tenant_key",
            format!("tenant_key must be 1 to {MAX_TENANT_KEY} characters without surrounding spaces"),
        ));
    }
    Ok(raw.to_owned())
}

/// Idempotency keys are scoped to the caller, so two users cannot collide on a key.
fn idempotency_key(request: &Request, caller: &Caller) -> Result<Option<String>> {
    let Some(key) = request::header(request, "idempotency-key") else { return Ok(None) };
    if key.is_empty() || key.len() > 200 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
        ));
    }
    let scope = caller.user_id().map_or_else(|| "operator".to_owned(), |u| u.to_string());
    Ok(Some(format!("IDEM#{scope}#{key}")))
}

const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 3600;

async fn create(deps: &Deps, caller: &Caller, request: &Request) -> Result<HttpResponse> {
    let body = request::json_object(request)?;
    let name = workspace_name(&body.required_string("name")?)?;
    let description = description(&body)?;
    let requested_key = body.optional_string("tenant_key")?;
    let owner_email = body.optional_string("owner_email")?;
    let template_names = template_names(deps, &body)?;
    let (owner_id, tenant_key) = match caller {
        Caller::User(principal) => {
            if requested_key.is_some() {
                return Err(Error::Forbidden(
                    "tenant_key decides whose rows a workspace sees: only the operator (X-Api-Key) may choose it"
                        .to_owned(),
                ));
            }
            if owner_email.is_some() {
                return Err(Error::Forbidden("only the operator may create a workspace for another owner".to_owned()));
            }
            (principal.user_id, format!("tb_{}", uuid::Uuid::new_v4().simple()))
        }
        Caller::Operator => {
            let email = owner_email.ok_or_else(|| {
                Error::bad_request("missing_field", "owner_email is required when the operator creates a workspace")
            })?;
            let email = users::accounts::normalise_email(&email)?;
            let owner = users::find_by_email(&deps.store, &email)
                .await?
                .ok_or_else(|| Error::bad_request("unknown_owner", format!("no account with the email {email}")))?;
            let key = match requested_key {
                Some(raw) => tenant_key(&raw)?,
                None => format!("tb_{}", uuid::Uuid::new_v4().simple()),
            };
            (owner.id, key)
        }
    };
    let idempotency = idempotency_key(request, caller)?;
    let now = provision::now(deps);
    let workspace = Workspace {
        id: WorkspaceId::generate(),
        name,
        description,
        tenant_key,
        owner_id,
        status: Status::Provisioning,
        failure_reason: None,
        metabase_collection_id: None,
        metabase_collection_name: None,
        metabase_group_id: None,
        permissions_applied: false,
        created_at: now.clone(),
        updated_at: now,
        version: 0,
        embeds_revoked_until: None,
        embed_appearance: None,
    };
    let expires = deps.clock.unix_seconds() + IDEMPOTENCY_TTL_SECONDS;
    let workspace =
        match workspaces::insert(&deps.store, &workspace, idempotency.as_deref().map(|k| (k, expires))).await? {
            Inserted::Created => {
                tracing::info!(workspace = %workspace.id, "workspace created; provisioning");
                workspace
            }
            Inserted::Replayed(existing) => {
                let existing = workspaces::get(&deps.store, existing).await?.ok_or_else(not_found)?;
                tracing::info!(workspace = %existing.id, "idempotent replay");
                existing
            }
            Inserted::TenantKeyTaken => {
                return Err(Error::conflict("tenant_key_taken", "another workspace already uses this tenant_key"));
            }
        };
    let workspace = match workspace.status {
        Status::Active | Status::Archived => workspace,
        Status::Provisioning | Status::Failed => {
            Box::pin(provision::provision(deps, workspace.clone(), &mut Vec::new())).await.map_err(|error| {
                Error::unavailable(
                    "metabase",
                    format!(
                        "workspace {} is not provisioned yet ({error}); retry with the same Idempotency-Key",
                        workspace.id
                    ),
                )
            })?
        }
    };
    let dashboards = match &template_names {
        Some((catalog, names)) => Box::pin(templates::ensure_all(deps, catalog, &workspace, names)).await?,
        None => Vec::new(),
    };
    Ok(json(
        StatusCode::CREATED,
        &WorkspaceView { role: Some(Role::Owner), dashboards, ..WorkspaceView::from(&workspace) },
    ))
}

/// `templates: ["executive", …]` of a create request, checked against the catalogue before
/// anything is created.
fn template_names(deps: &Deps, body: &JsonFields) -> Result<Option<(Catalog, Vec<String>)>> {
    let invalid = || Error::bad_request("invalid_field", "templates must be an array of template names");
    let names: Vec<String> = match body.0.get("templates") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Array(items)) if items.len() <= 20 => {
            items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid)).collect::<Result<_>>()?
        }
        Some(_) => return Err(invalid()),
    };
    let catalog = Catalog::builtin(&deps.config.tenant_slug)?;
    templates::check_names(&catalog, &names)?;
    let mut unique = Vec::new();
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    Ok(Some((catalog, unique)))
}

async fn register_database(deps: &Deps, access: Access, request: &Request) -> Result<HttpResponse> {
    access.require(Role::Owner, "register a database")?;
    let registration = Registration::parse(request::json_object(request)?.0)?;
    let (record, created) = database::register(deps, &access.workspace, registration).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, &DatabaseView::from(&record)))
}

async fn update(deps: &Deps, access: Access, request: &Request) -> Result<HttpResponse> {
    access.require(Role::Editor, "rename a workspace")?;
    let body = request::json_object(request)?;
    if let Some(key) = body.0.keys().find(|k| !matches!(k.as_str(), "name" | "description" | "embed_appearance")) {
        return Err(Error::bad_request("invalid_field", format!("{key} cannot be changed here")));
    }
    let mut workspace = access.workspace;
    if workspace.status == Status::Archived {
        return Err(Error::conflict("archived", "an archived workspace cannot be changed"));
    }
    if let Some(raw) = body.optional_string("name")? {
        workspace.name = workspace_name(&raw)?;
    }
    if body.0.contains_key("description") {
        workspace.description = description(&body)?;
    }
    if let Some(raw) = body.0.get("embed_appearance") {
        workspace.embed_appearance = embed_appearance(raw)?;
    }
    if let Some(collection) = workspace.metabase_collection_id
        && workspace.metabase_collection_name.as_deref() != Some(workspace.name.as_str())
    {
        let admin = deps.metabase_admin().await?;
        admin.update_collection(collection, &serde_json::json!({ "name": workspace.name })).await?;
        workspace.metabase_collection_name = Some(workspace.name.clone());
    }
    let saved = workspaces::save(&deps.store, &workspace, &provision::now(deps))
        .await?
        .ok_or_else(|| Error::conflict("concurrent_update", "the workspace changed meanwhile; retry"))?;
    Ok(json(StatusCode::OK, &WorkspaceView::from(&saved)))
}

/// The workspace's default embed appearance: an object of the embed hash options (unknown keys
/// and values outside the allowed set refused), or `null` to clear it.
fn embed_appearance(raw: &serde_json::Value) -> Result<Option<Appearance>> {
    if raw.is_null() {
        return Ok(None);
    }
    serde_json::from_value(raw.clone())
        .map(Some)
        .map_err(|e| Error::bad_request("invalid_appearance", format!("embed_appearance is not accepted: {e}")))
}

async fn delete(deps: &Deps, access: Access) -> Result<HttpResponse> {
    access.require(Role::Owner, "delete a workspace")?;
    let archived = Box::pin(provision::archive(deps, access.workspace, &mut Vec::new())).await?;
    Ok(json(StatusCode::OK, &WorkspaceView::from(&archived)))
}

fn role_field(body: &JsonFields) -> Result<Role> {
    Role::parse(&body.required_string("role")?)
}

fn member_id(raw: Option<&str>) -> Result<UserId> {
    raw.and_then(|r| r.parse().ok()).ok_or_else(|| Error::NotFound("member not found".to_owned()))
}

fn writable(access: &Access) -> Result<()> {
    match access.workspace.status {
        Status::Archived => Err(Error::conflict("archived", "an archived workspace cannot be changed")),
        _ => Ok(()),
    }
}

async fn add_member(deps: &Deps, access: Access, request: &Request) -> Result<HttpResponse> {
    access.require(Role::Owner, "add members")?;
    writable(&access)?;
    let body = request::json_object(request)?;
    let email = users::accounts::normalise_email(&body.required_string("email")?)?;
    let role = role_field(&body)?;
    let added = members::add(deps, &access.workspace, &email, role, access.caller.user_id()).await?;
    let view = match added {
        Added::Member(member) => {
            let user = users::get(&deps.store, member.user_id).await?;
            MemberView {
                user_id: Some(member.user_id),
                email,
                first_name: user.as_ref().map(|u| u.first_name.clone()),
                last_name: user.as_ref().map(|u| u.last_name.clone()),
                role: member.role,
                status: "active",
                created_at: member.created_at,
            }
        }
        Added::Invited(invitation) => MemberView {
            user_id: None,
            email,
            first_name: None,
            last_name: None,
            role: invitation.role,
            status: "invited",
            created_at: invitation.created_at,
        },
    };
    Ok(json(StatusCode::CREATED, &view))
}

async fn update_member(deps: &Deps, access: Access, user: Option<&str>, request: &Request) -> Result<HttpResponse> {
    let user = member_id(user)?;
    access.require(Role::Owner, "change member roles")?;
    writable(&access)?;
    let role = role_field(&request::json_object(request)?)?;
    let member = members::set_role(deps, &access.workspace, user, role).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "user_id": member.user_id, "role": member.role })))
}

async fn remove_member(deps: &Deps, access: Access, user: Option<&str>) -> Result<HttpResponse> {
    let user = member_id(user)?;
    // Anyone may leave; removing someone else takes an owner.
    if access.caller.user_id() != Some(user) {
        access.require(Role::Owner, "remove other members")?;
    }
    members::remove(deps, &access.workspace, user).await?;
    Ok(no_content())
}
