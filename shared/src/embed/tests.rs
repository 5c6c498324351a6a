//! Unit tests of the in-memory part of minting: options, the grant decision and signing.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use super::*;
use crate::fixtures::embed::*;
use crate::signer::Theme;
use crate::workspaces::Status;

fn claims(token: &str) -> serde_json::Value {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation)
        .unwrap()
        .claims
}

fn status_and_code(error: &Error) -> (u16, &'static str) {
    (error.status().as_u16(), error.code())
}

#[test]
fn options_combine_repeated_filters_and_read_appearance() {
    let options = EmbedOptions::from_query([
        ("minutes", "15"),
        ("param.channel", "web"),
        ("theme", "night"),
        ("param.channel", "store"),
        ("param.region", "eu"),
    ])
    .unwrap();
    assert_eq!(options.minutes, Some(15));
    assert_eq!(
        options.viewer_params,
        vec![("channel".to_owned(), json!(["web", "store"])), ("region".to_owned(), json!("eu"))]
    );
    assert_eq!(options.appearance.theme, Some(Theme::Night));
    assert_eq!(EmbedOptions::from_query(Vec::<(&str, &str)>::new()).unwrap(), EmbedOptions::default());
}

#[test]
fn bad_options_are_400s_naming_the_problem() {
    for (pairs, code) in [
        (vec![("minutes", "ten")], "invalid_minutes"),
        (vec![("minutes", "-1")], "invalid_minutes"),
        (vec![("minutes", "5"), ("minutes", "6")], "invalid_minutes"),
        (vec![("param.", "x")], "invalid_param"),
        (vec![("theme", "dark")], "invalid_appearance"),
        (vec![("tenant_id", "globex")], "unknown_query_parameter"),
    ] {
        let error = EmbedOptions::from_query(pairs.clone()).unwrap_err();
        assert_eq!(status_and_code(&error), (400, code), "{pairs:?}");
    }
}

#[test]
fn a_member_gets_a_token_locked_to_the_workspace_tenant() {
    let (item, _, found) = records(ItemKind::Dashboard);
    let granted = grant(item, found, NOW).unwrap();
    let options = EmbedOptions::from_query([("param.channel", "web"), ("minutes", "30")]).unwrap();
    let signed = sign(&embed_signer(), &granted, options, NOW).unwrap();
    let token = claims(&signed.token);
    assert_eq!(token["resource"], json!({"dashboard": 7}));
    assert_eq!(token["params"], json!({"tenant_id": "acme", "channel": "web"}));
    assert_eq!(token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(), 1800);
    assert!(signed.url.starts_with("https://analytics.example.com/embed/dashboard/"), "{}", signed.url);

    let (item, _, found) = records(ItemKind::Question);
    let signed = sign(&embed_signer(), &grant(item, found, NOW).unwrap(), EmbedOptions::default(), NOW).unwrap();
    assert_eq!(claims(&signed.token)["resource"], json!({"question": 7}));
    assert!(signed.url.contains("/embed/question/"), "{}", signed.url);
}

#[test]
fn viewers_cannot_set_the_tenant_or_unpublished_filters() {
    let (item, _, found) = records(ItemKind::Dashboard);
    let granted = grant(item, found, NOW).unwrap();
    for slug in ["tenant_id", "region"] {
        let options = EmbedOptions::from_query([(format!("param.{slug}"), "globex")]).unwrap();
        let error = sign(&embed_signer(), &granted, options, NOW).unwrap_err();
        assert_eq!(status_and_code(&error), (400, "param_not_allowed"), "{slug}");
    }
}

#[test]
fn workspace_appearance_defaults_apply_and_requests_override_them() {
    let (item, _, (ws, member, record)) = records(ItemKind::Dashboard);
    let mut ws = ws.unwrap();
    ws.embed_appearance = Some(Appearance {
        titled: Some(false),
        theme: Some(Theme::Night),
        // `region` is not a parameter of this item: dropped from the default, not an error.
        hide_parameters: Some(vec!["channel".into(), "region".into()]),
        ..Appearance::default()
    });
    let granted = grant(item, (Some(ws), member, record), NOW).unwrap();
    let signed = sign(&embed_signer(), &granted, EmbedOptions::default(), NOW).unwrap();
    assert!(signed.url.ends_with("#titled=false&theme=night&hide_parameters=channel"), "{}", signed.url);

    let options = EmbedOptions::from_query([("theme", "light"), ("hide_parameters", "")]).unwrap();
    let signed = sign(&embed_signer(), &granted, options, NOW).unwrap();
    assert!(signed.url.ends_with("#titled=false&theme=light&hide_parameters="), "{}", signed.url);

    let options = EmbedOptions::from_query([("hide_parameters", "region")]).unwrap();
    let error = sign(&embed_signer(), &granted, options, NOW).unwrap_err();
    assert_eq!(status_and_code(&error), (400, "invalid_appearance"));
}

#[test]
fn non_members_and_missing_or_removed_items_are_404() {
    let (item, _, (ws, member, record)) = records(ItemKind::Dashboard);
    let mut removed = record.clone().unwrap();
    removed.status = ItemStatus::Removed;
    for case in [
        (None, member.clone(), record.clone()),
        (ws.clone(), None, record.clone()),
        (ws.clone(), member.clone(), None),
        (ws.clone(), member.clone(), Some(removed)),
    ] {
        let error = grant(item, case, NOW).unwrap_err();
        assert_eq!(status_and_code(&error), (404, "not_found"));
        assert_eq!(error.to_string(), "dashboard not found");
    }
}

#[test]
fn quarantined_items_are_409_with_the_reason() {
    let (item, _, (ws, member, _)) = records(ItemKind::Dashboard);
    let error = grant(item, (ws, member, Some(record(item, ItemStatus::Quarantined))), NOW).unwrap_err();
    assert_eq!(status_and_code(&error), (409, "quarantined"));
    assert!(error.to_string().contains("card 9 is not filtered by tenant_id"), "{error}");
}

#[test]
fn inactive_workspaces_are_409() {
    let (item, _, (ws, member, record)) = records(ItemKind::Question);
    let mut ws = ws.unwrap();
    ws.status = Status::Archived;
    let error = grant(item, (Some(ws), member, record), NOW).unwrap_err();
    assert_eq!(status_and_code(&error), (409, "workspace_not_active"));
}

#[test]
fn revocations_are_403_while_they_hold() {
    let (item, _, (ws, member, record)) = records(ItemKind::Dashboard);

    let mut revoked_ws = ws.clone().unwrap();
    revoked_ws.embeds_revoked_until = Some(NOW + 10);
    let error = grant(item, (Some(revoked_ws.clone()), member.clone(), record.clone()), NOW).unwrap_err();
    assert_eq!(error.status().as_u16(), 403);
    assert!(error.to_string().starts_with("revoked: the embeds of this workspace"), "{error}");
    assert!(grant(item, (Some(revoked_ws), member.clone(), record.clone()), NOW + 10).is_ok(), "window passed");

    let mut revoked_item = record.clone().unwrap();
    revoked_item.revoked_until = Some(NOW + 10);
    let error = grant(item, (ws.clone(), member.clone(), Some(revoked_item.clone())), NOW).unwrap_err();
    assert!(error.to_string().starts_with("revoked: the embeds of this dashboard"), "{error}");
    assert!(grant(item, (ws.clone(), member.clone(), Some(revoked_item)), NOW + 11).is_ok());

    let mut revoked_member = member.unwrap();
    revoked_member.embeds_revoked = true;
    let error = grant(item, (ws, Some(revoked_member), record), NOW + 1_000_000).unwrap_err();
    assert_eq!(error.status().as_u16(), 403);
    assert!(error.to_string().contains("your embeds"), "{error}");
}
