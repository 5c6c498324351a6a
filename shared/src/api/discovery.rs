//! HTTP handlers of the `discovery` function: list a workspace's dashboards or questions, synced
//! with Metabase first so the answer reflects what members just built.
//!
//! Any member may list (viewers embed, so they need the list too); a non-member gets `404`, as
//! for every `/api/workspaces/{id}…` route.

use http::StatusCode;
use lambda_http::Request;

use crate::auth;
use crate::deps::Deps;
use crate::error::Result;
use crate::http::{HttpResponse, Matched, json};
use crate::items::{self, ItemKind, ItemStatus, ItemView};
use crate::routes::Endpoint;

pub(super) async fn handle(deps: &Deps, matched: Matched, request: &Request) -> Result<HttpResponse> {
    let kind = match matched.endpoint {
        Endpoint::ListDashboards => ItemKind::Dashboard,
        Endpoint::ListQuestions => ItemKind::Question,
        other => return Err(super::not_implemented(other)),
    };
    let caller = auth::caller(deps, request).await?;
    let access = super::workspaces::authorize(deps, &caller, matched.params.get("id").unwrap_or_default()).await?;
    crate::discovery::sync_workspace(deps, &access.workspace).await?;
    let views: Vec<ItemView> = items::list(&deps.store, access.workspace.id, kind)
        .await?
        .iter()
        .filter(|record| record.status != ItemStatus::Removed)
        .map(ItemView::from)
        .collect();
    Ok(json(StatusCode::OK, &views))
}
