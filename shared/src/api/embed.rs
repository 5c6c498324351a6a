//! HTTP handlers of the `embed` function: signed embed URLs, the refresh contract, revocation
//! and usage. The logic is in `crate::embed`; these translate HTTP ⇄ domain.
//!
//! Mints and refreshes take a member's bearer token only (the operator key names no user to
//! record); revocation and usage also accept the operator, who acts as an owner.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};

use super::workspaces::authorize;
use crate::auth::{self, Caller};
use crate::deps::Deps;
use crate::embed::{self, EmbedOptions, Via, ledger, revoke};
use crate::error::{Error, Result};
use crate::http::request;
use crate::http::{HttpResponse, Matched, json};
use crate::ids::UserId;
use crate::items::{self, ItemKind, ItemRecord, ItemRef, ItemStatus};
use crate::routes::Endpoint;
use crate::workspaces::{self, Role};

pub(super) async fn handle(deps: &Deps, matched: Matched, request: &Request) -> Result<HttpResponse> {
    let id = matched.params.get("id").unwrap_or_default();
    match matched.endpoint {
        Endpoint::EmbedDashboard => mint(deps, request, ItemKind::Dashboard, id).await,
        Endpoint::EmbedQuestion => mint(deps, request, ItemKind::Question, id).await,
        Endpoint::RefreshEmbedToken => refresh(deps, request).await,
        Endpoint::RevokeDashboardEmbeds => revoke_item(deps, request, ItemKind::Dashboard, id).await,
        Endpoint::RevokeQuestionEmbeds => revoke_item(deps, request, ItemKind::Question, id).await,
        Endpoint::RevokeWorkspaceEmbeds => {
            let access = authorize(deps, &auth::caller(deps, request).await?, id).await?;
            require(access.role, Role::Owner, "revoke the workspace's embeds")?;
            Ok(json(StatusCode::OK, &revoke::revoke_workspace(deps, access.workspace).await?))
        }
        Endpoint::RevokeMemberEmbeds | Endpoint::RestoreMemberEmbeds => {
            let revoked = matched.endpoint == Endpoint::RevokeMemberEmbeds;
            member_revocation(deps, request, id, matched.params.get("user_id"), revoked).await
        }
        Endpoint::EmbedUsage => {
            let access = authorize(deps, &auth::caller(deps, request).await?, id).await?;
            require(access.role, Role::Editor, "read embed usage")?;
            let days = ledger::parse_days(request::query_param(request, "days").as_deref())?;
            let usage = ledger::usage(&deps.store, access.workspace.id, days, deps.clock.unix_seconds()).await?;
            Ok(json(StatusCode::OK, &usage))
        }
        other => Err(Error::internal(format!("{other:?} is not an endpoint of the embed function"))),
    }
}

fn require(role: Role, needed: Role, action: &str) -> Result<()> {
    if role >= needed {
        Ok(())
    } else {
        Err(Error::Forbidden(format!("only a workspace {needed:?} or above may {action}").to_lowercase()))
    }
}

/// Embed answers are bearer credentials: no cache may keep them.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn mint(deps: &Deps, request: &Request, kind: ItemKind, id: &str) -> Result<HttpResponse> {
    let principal = auth::authenticate(deps, request).await?;
    let item = ItemRef::parse(kind, id)?;
    // Every value of repeated keys, in order (`?param.x=a&param.x=b` is one filter with two values).
    let options = match request.query_string_parameters_ref() {
        Some(query) => EmbedOptions::from_query(query.iter())?,
        None => EmbedOptions::default(),
    };
    let signed = embed::mint(deps, principal.user_id, item, options, Via::Mint).await?;
    Ok(no_store(json(StatusCode::OK, &signed)))
}

/// The refresh body: `entityId` is Tenantbase's record id (`<workspace id>.<metabase id>`, the
/// `id` of the discovery listings), never a bare Metabase id, which would not say which workspace
/// (and so which tenant) the token is for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefreshBody {
    entity_type: String,
    entity_id: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct RefreshAnswer {
    jwt: String,
}

async fn refresh(deps: &Deps, request: &Request) -> Result<HttpResponse> {
    let principal = auth::authenticate(deps, request).await?;
    let body: RefreshBody = request::json_body(request)?;
    let kind = match body.entity_type.as_str() {
        "dashboard" => ItemKind::Dashboard,
        "question" => ItemKind::Question,
        other => {
            return Err(Error::bad_request(
                "invalid_entity_type",
                format!("entityType must be dashboard or question (got {other:?})"),
            ));
        }
    };
    let Some(raw_id) = body.entity_id.as_str() else {
        return Err(Error::bad_request(
            "invalid_entity_id",
            "entityId must be the Tenantbase record id (\"<workspace id>.<metabase id>\"), a string",
        ));
    };
    let item = ItemRef::parse(kind, raw_id)?;
    let signed = embed::mint(deps, principal.user_id, item, EmbedOptions::default(), Via::Refresh).await?;
    Ok(no_store(json(StatusCode::OK, &RefreshAnswer { jwt: signed.token })))
}

/// The item to revoke and the caller's right to: owners and editors of its workspace.
async fn revocable_item(deps: &Deps, caller: &Caller, item: ItemRef) -> Result<ItemRecord> {
    let not_found = || Error::NotFound(format!("{} not found", item.kind.label()));
    let (role, record) = match caller {
        Caller::Operator => {
            workspaces::get(&deps.store, item.workspace_id).await?.ok_or_else(not_found)?;
            (Role::Owner, items::get(&deps.store, item).await?)
        }
        Caller::User(principal) => match items::with_access(&deps.store, item, principal.user_id).await? {
            (Some(_), Some(member), record) => (member.role, record),
            _ => return Err(not_found()),
        },
    };
    let record = record.filter(|r| r.status != ItemStatus::Removed).ok_or_else(not_found)?;
    require(role, Role::Editor, &format!("revoke a {}'s embeds", item.kind.label()))?;
    Ok(record)
}

async fn revoke_item(deps: &Deps, request: &Request, kind: ItemKind, id: &str) -> Result<HttpResponse> {
    let caller = auth::caller(deps, request).await?;
    let item = ItemRef::parse(kind, id)?;
    let record = revocable_item(deps, &caller, item).await?;
    Ok(json(StatusCode::OK, &revoke::revoke_item(deps, &record).await?))
}

#[derive(Debug, Serialize)]
struct MemberRevocation {
    workspace_id: crate::ids::WorkspaceId,
    user_id: UserId,
    embeds_revoked: bool,
}

async fn member_revocation(
    deps: &Deps,
    request: &Request,
    id: &str,
    user: Option<&str>,
    revoked: bool,
) -> Result<HttpResponse> {
    let access = authorize(deps, &auth::caller(deps, request).await?, id).await?;
    let not_found = || Error::NotFound("member not found".to_owned());
    let user: UserId = user.and_then(|raw| raw.parse().ok()).ok_or_else(not_found)?;
    require(access.role, Role::Owner, "revoke or restore a member's embeds")?;
    let member = revoke::set_member_revoked(deps, access.workspace.id, user, revoked).await?.ok_or_else(not_found)?;
    Ok(json(
        StatusCode::OK,
        &MemberRevocation {
            workspace_id: member.workspace_id,
            user_id: member.user_id,
            embeds_revoked: member.embeds_revoked,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Function;
    use serde_json::json;

    const DASHBOARD_EMBED: &str = include_str!("../../../events/embed/get-dashboard-embed.json");
    const QUESTION_EMBED: &str = include_str!("../../../events/embed/get-question-embed.json");
    const REFRESH: &str = include_str!("../../../events/embed/post-refresh-token.json");
    const REVOKE_WORKSPACE: &str = include_str!("../../../events/embed/post-revoke-workspace.json");
    const REVOKE_DASHBOARD: &str = include_str!("../../../events/embed/post-revoke-dashboard.json");
    const REVOKE_QUESTION: &str = include_str!("../../../events/embed/post-revoke-question.json");
    const REVOKE_MEMBER: &str = include_str!("../../../events/embed/post-revoke-member.json");
    const RESTORE_MEMBER: &str = include_str!("../../../events/embed/delete-revoke-member.json");
    const USAGE: &str = include_str!("../../../events/embed/get-embed-usage.json");

    fn load(event: &str) -> Request {
        lambda_http::request::from_str(event).expect("a valid API Gateway v2 event")
    }

    fn matched(request: &Request) -> Matched {
        crate::http::route(Function::Embed, request).expect("an embed route")
    }

    #[test]
    fn every_event_routes_to_its_endpoint_with_a_bearer_token() {
        for (event, endpoint) in [
            (DASHBOARD_EMBED, Endpoint::EmbedDashboard),
            (QUESTION_EMBED, Endpoint::EmbedQuestion),
            (REFRESH, Endpoint::RefreshEmbedToken),
            (REVOKE_WORKSPACE, Endpoint::RevokeWorkspaceEmbeds),
            (REVOKE_DASHBOARD, Endpoint::RevokeDashboardEmbeds),
            (REVOKE_QUESTION, Endpoint::RevokeQuestionEmbeds),
            (REVOKE_MEMBER, Endpoint::RevokeMemberEmbeds),
            (RESTORE_MEMBER, Endpoint::RestoreMemberEmbeds),
            (USAGE, Endpoint::EmbedUsage),
        ] {
            let request = load(event);
            assert_eq!(matched(&request).endpoint, endpoint);
            assert!(auth::bearer_token(request.headers()).is_ok(), "{endpoint:?}");
        }
    }

    #[test]
    fn the_mint_event_yields_record_ids_and_options_with_repeated_filters_combined() {
        let request = load(DASHBOARD_EMBED);
        let route = matched(&request);
        let item = ItemRef::parse(ItemKind::Dashboard, route.params.get("id").unwrap()).unwrap();
        assert_eq!(item.metabase_id, 7);
        assert_eq!(item.to_string(), route.params.get("id").unwrap());
        let options = EmbedOptions::from_query(request.query_string_parameters_ref().unwrap().iter()).unwrap();
        assert_eq!(options.minutes, Some(15));
        assert_eq!(options.viewer_params, vec![("channel".to_owned(), json!(["web", "store"]))]);
        assert_eq!(options.appearance.bordered, Some(false));

        let question = load(QUESTION_EMBED);
        let id = matched(&question).params.get("id").unwrap().to_owned();
        assert_eq!(ItemRef::parse(ItemKind::Question, &id).unwrap().metabase_id, 42);
        assert!(question.query_string_parameters_ref().is_none_or(|q| q.is_empty()));
    }

    #[test]
    fn the_refresh_event_names_our_record_id() {
        let request = load(REFRESH);
        let body: RefreshBody = request::json_body(&request).unwrap();
        assert_eq!(body.entity_type, "dashboard");
        let item = ItemRef::parse(ItemKind::Dashboard, body.entity_id.as_str().unwrap()).unwrap();
        assert_eq!(item.metabase_id, 7);

        let mut event: serde_json::Value = serde_json::from_str(REFRESH).unwrap();
        event["body"] = json!(r#"{"entityType":"dashboard","entityId":"x","extra":true}"#);
        let error = request::json_body::<RefreshBody>(&load(&event.to_string())).unwrap_err();
        assert_eq!(error.status().as_u16(), 400, "unknown fields are refused");
    }

    #[test]
    fn the_usage_event_reads_its_window_and_member_events_name_a_user() {
        let request = load(USAGE);
        assert_eq!(ledger::parse_days(request::query_param(&request, "days").as_deref()).unwrap(), 7);
        for event in [REVOKE_MEMBER, RESTORE_MEMBER] {
            let request = load(event);
            let route = matched(&request);
            assert!(route.params.get("user_id").unwrap().parse::<UserId>().is_ok());
            assert!(route.params.get("id").unwrap().parse::<crate::ids::WorkspaceId>().is_ok());
        }
    }

    #[test]
    fn roles_below_the_needed_one_are_403() {
        assert!(require(Role::Owner, Role::Owner, "x").is_ok());
        assert!(require(Role::Editor, Role::Editor, "x").is_ok());
        for (role, needed) in [(Role::Viewer, Role::Editor), (Role::Editor, Role::Owner)] {
            assert_eq!(require(role, needed, "x").unwrap_err().status().as_u16(), 403);
        }
    }
}
