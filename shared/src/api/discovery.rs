//! HTTP handlers of the `discovery` function: list a workspace's dashboards or questions (synced
//! with Metabase first so the answer reflects what members just built), list the dashboard
//! templates, create a dashboard from one, and upgrade it to a newer version.
//!
//! Any member may list (viewers embed, so they need the list too); creating and upgrading take an
//! editor. A non-member gets `404`, as for every `/api/workspaces/{id}…` route.

use http::StatusCode;
use lambda_http::Request;
use serde::Serialize;

use super::workspaces::{Access, authorize};
use crate::auth;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::request;
use crate::http::{HttpResponse, Matched, json};
use crate::items::{self, ItemKind, ItemRef, ItemStatus, ItemView};
use crate::routes::Endpoint;
use crate::templates::{self, Catalog, TemplateRef};
use crate::workspaces::Role;

pub(super) async fn handle(deps: &Deps, matched: Matched, request: &Request) -> Result<HttpResponse> {
    let caller = auth::caller(deps, request).await?;
    if matched.endpoint == Endpoint::ListTemplates {
        return Ok(json(StatusCode::OK, &catalog(deps)?.summaries()));
    }
    let access = authorize(deps, &caller, matched.params.get("id").unwrap_or_default()).await?;
    match matched.endpoint {
        Endpoint::ListDashboards => list(deps, &access, ItemKind::Dashboard).await,
        Endpoint::ListQuestions => list(deps, &access, ItemKind::Question).await,
        Endpoint::CreateDashboardFromTemplate => create(deps, &access, request).await,
        Endpoint::UpgradeTemplateDashboard => upgrade(deps, &access, matched.params.get("dashboard_id")).await,
        other => Err(Error::internal(format!("{other:?} is not an endpoint of the discovery function"))),
    }
}

fn catalog(deps: &Deps) -> Result<Catalog> {
    Catalog::builtin(&deps.config.tenant_slug)
}

/// A listed item; dashboards created from a template say which one.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    item: ItemView,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<TemplateRef>,
}

async fn list(deps: &Deps, access: &Access, kind: ItemKind) -> Result<HttpResponse> {
    crate::discovery::sync_workspace(deps, &access.workspace).await?;
    let from_templates =
        if kind == ItemKind::Dashboard { templates::list(&deps.store, access.workspace.id).await? } else { Vec::new() };
    let views: Vec<Listed> = items::list(&deps.store, access.workspace.id, kind)
        .await?
        .iter()
        .filter(|record| record.status != ItemStatus::Removed)
        .map(|record| Listed {
            item: ItemView::from(record),
            template: from_templates.iter().find(|t| t.dashboard_id == record.metabase_id).map(TemplateRef::from),
        })
        .collect();
    Ok(json(StatusCode::OK, &views))
}

async fn create(deps: &Deps, access: &Access, request: &Request) -> Result<HttpResponse> {
    access.require(Role::Editor, "create dashboards")?;
    let body = request::json_object(request)?;
    if let Some(key) = body.0.keys().find(|k| !matches!(k.as_str(), "template" | "name")) {
        return Err(Error::bad_request("invalid_field", format!("{key} is not accepted here")));
    }
    let template = body.required_string("template")?;
    let name = body.optional_string("name")?;
    let view = templates::create(deps, &catalog(deps)?, &access.workspace, &template, name.as_deref()).await?;
    Ok(json(StatusCode::CREATED, &view))
}

/// The dashboard in the path: its record id (`<workspace>.<metabase id>`) or the Metabase id.
fn dashboard_id(access: &Access, raw: Option<&str>) -> Result<u64> {
    let raw = raw.unwrap_or_default();
    let not_found = || Error::NotFound("dashboard not found".to_owned());
    if raw.contains('.') {
        let item = ItemRef::parse(ItemKind::Dashboard, raw)?;
        return if item.workspace_id == access.workspace.id { Ok(item.metabase_id) } else { Err(not_found()) };
    }
    raw.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(not_found)
}

async fn upgrade(deps: &Deps, access: &Access, raw: Option<&str>) -> Result<HttpResponse> {
    access.require(Role::Editor, "upgrade dashboards")?;
    let id = dashboard_id(access, raw)?;
    let view = templates::upgrade(deps, &catalog(deps)?, &access.workspace, id).await?;
    Ok(json(StatusCode::OK, &view))
}
