//! Unit tests of the isolation lint over dashboard and card JSON shaped like Metabase's responses.

use serde_json::json;

use super::*;
use crate::fixtures::lint::*;

fn reasons(outcome: LintOutcome) -> Vec<String> {
    match outcome {
        LintOutcome::Quarantined { reasons } => reasons,
        LintOutcome::Embeddable { .. } => panic!("expected a quarantine, got {outcome:?}"),
    }
}

/// The single reason of a quarantine, asserted to contain each fragment.
fn assert_one_reason(outcome: LintOutcome, fragments: &[&str]) {
    let reasons = reasons(outcome);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    for fragment in fragments {
        assert!(reasons[0].contains(fragment), "{:?} lacks {fragment:?}", reasons[0]);
    }
}

fn assert_embeddable(outcome: LintOutcome) -> (BTreeMap<String, EmbedParamMode>, Vec<ParameterSummary>) {
    match outcome {
        LintOutcome::Embeddable { embedding_params, parameters } => (embedding_params, parameters),
        LintOutcome::Quarantined { reasons } => panic!("expected embeddable, got {reasons:?}"),
    }
}

#[test]
fn a_wired_native_dashboard_is_embeddable_with_the_tenant_locked() {
    let text = text_card(12, "Revenue");
    let field = legacy_native(
        13,
        "Orders",
        "SELECT * FROM orders WHERE {{tenant_id}} [[AND channel = {{channel}}]]",
        json!({"tenant_id": field_tag(SLUG),
               "channel": {"id": "c", "name": "channel", "display-name": "Channel", "type": "text"}}),
    );
    let channel = json!({"id": "c0ffee00", "name": "Channel", "slug": "channel", "type": "string/="});
    let d = dashboard(
        vec![tenant_param(), channel],
        vec![
            dashcard(1, &text, vec![mapping(12, variable_target(SLUG))]),
            dashcard(2, &field, vec![mapping(13, json!(["dimension", ["template-tag", SLUG]]))]),
            text_dashcard(3),
        ],
    );
    let (params, summaries) = assert_embeddable(lint_dashboard(&d, SLUG));
    assert_eq!(
        params,
        BTreeMap::from([("channel".to_owned(), EmbedParamMode::Enabled), (SLUG.to_owned(), EmbedParamMode::Locked)])
    );
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0], ParameterSummary { slug: SLUG.into(), name: "Tenant".into(), kind: "string/=".into() });
}

#[test]
fn tag_addressing_by_id_and_stage_options_are_accepted() {
    let card =
        legacy_native(12, "Orders", "SELECT * FROM orders WHERE {{tenant_id}}", json!({"tenant_id": field_tag(SLUG)}));
    let target = json!(["dimension", ["template-tag", {"id": "id-tenant_id"}], {"stage-number": 0}]);
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, target)])]);
    assert!(lint_dashboard(&d, SLUG).is_embeddable());
}

#[test]
fn mbql_cards_pass_with_a_field_target() {
    let legacy = legacy_table(20, "All orders");
    let modern = mbql5_table(21, "All orders (new)");
    let d = dashboard(
        vec![tenant_param()],
        vec![
            dashcard(1, &legacy, vec![mapping(20, json!(["dimension", ["field", 101, null]]))]),
            dashcard(
                2,
                &modern,
                vec![mapping(
                    21,
                    json!(["dimension", ["field", 101, {"base-type": "type/Text"}], {"stage-number": 0}]),
                )],
            ),
        ],
    );
    assert!(lint_dashboard(&d, SLUG).is_embeddable());
}

#[test]
fn mbql5_native_cards_are_read() {
    let card = mbql5_native(
        12,
        "Revenue",
        "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}",
        json!({"tenant_id": text_tag(SLUG)}),
    );
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, variable_target(SLUG))])]);
    assert!(lint_dashboard(&d, SLUG).is_embeddable());
    // …and their footguns are caught the same way.
    let optional = mbql5_native(
        12,
        "Revenue",
        "SELECT * FROM orders [[WHERE tenant_id = {{tenant_id}}]]",
        json!({"tenant_id": text_tag(SLUG)}),
    );
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &optional, vec![mapping(12, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12)", "optional [[ … ]]"]);
}

#[test]
fn virtual_cards_are_ignored_and_a_dashboard_without_data_cards_passes() {
    let d = dashboard(vec![tenant_param()], vec![text_dashcard(1), text_dashcard(2)]);
    assert!(lint_dashboard(&d, SLUG).is_embeddable());
}

#[test]
fn series_cards_need_their_own_mapping() {
    let main = text_card(12, "Revenue");
    let extra = text_card(14, "Refunds");
    let mut dc = dashcard(1, &main, vec![mapping(12, variable_target(SLUG))]);
    dc["series"] = json!([extra]);
    let d = dashboard(vec![tenant_param()], vec![dc.clone()]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Refunds\" (#14)", "does not map the tenant_id parameter"]);

    dc["parameter_mappings"].as_array_mut().unwrap().push(mapping(14, variable_target(SLUG)));
    let d = dashboard(vec![tenant_param()], vec![dc]);
    assert!(lint_dashboard(&d, SLUG).is_embeddable());
}

#[test]
fn cards_on_every_tab_are_checked() {
    let a = text_card(12, "Revenue");
    let b = text_card(13, "Orders");
    let mut first = dashcard(1, &a, vec![mapping(12, variable_target(SLUG))]);
    first["dashboard_tab_id"] = json!(1);
    let mut second = dashcard(2, &b, vec![]);
    second["dashboard_tab_id"] = json!(2);
    let mut d = dashboard(vec![tenant_param()], vec![first, second]);
    d["tabs"] = json!([{"id": 1, "name": "One", "position": 0}, {"id": 2, "name": "Two", "position": 1}]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Orders\" (#13) does not map the tenant_id parameter"]);
}

#[test]
fn a_missing_tenant_parameter_quarantines() {
    let card = text_card(12, "Revenue");
    let d = dashboard(vec![], vec![dashcard(1, &card, vec![mapping(12, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["dashboard \"Sales\" (#5)", "no parameter with slug \"tenant_id\""]);
}

#[test]
fn a_dashboard_body_without_dashcards_is_not_trusted() {
    let mut listing_item = dashboard(vec![tenant_param()], vec![]);
    listing_item.as_object_mut().unwrap().remove("dashcards");
    assert_one_reason(lint_dashboard(&listing_item, SLUG), &["dashboard \"Sales\" (#5) came without its dashcards"]);
    // Bodies of Metabase before 0.48 carry `ordered_cards` instead.
    let mut old = dashboard(vec![tenant_param()], vec![dashcard(1, &legacy_table(12, "T"), vec![])]);
    let cards = old.as_object_mut().unwrap().remove("dashcards").unwrap();
    old["ordered_cards"] = cards;
    assert_one_reason(lint_dashboard(&old, SLUG), &["card \"T\" (#12) does not map"]);
}

#[test]
fn two_tenant_parameters_quarantine() {
    let mut second = tenant_param();
    second["id"] = json!("deadbeef");
    let d = dashboard(vec![tenant_param(), second], vec![]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["dashboard \"Sales\" (#5) has 2 parameters with slug \"tenant_id\""]);
}

#[test]
fn one_unwired_card_quarantines_and_is_named() {
    let wired = text_card(12, "Revenue");
    let unwired = legacy_table(13, "Everything");
    let d = dashboard(
        vec![tenant_param()],
        vec![dashcard(1, &wired, vec![mapping(12, variable_target(SLUG))]), dashcard(2, &unwired, vec![])],
    );
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Everything\" (#13) does not map the tenant_id parameter"]);
}

#[test]
fn a_mapping_of_another_parameter_does_not_count() {
    let card = text_card(12, "Revenue");
    let other = json!({"parameter_id": "other", "card_id": 12, "target": variable_target(SLUG)});
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![other])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12) does not map the tenant_id parameter"]);
}

#[test]
fn a_mapping_to_a_missing_tag_quarantines() {
    let card = text_card(12, "Revenue");
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, variable_target("tenant"))])]);
    assert_one_reason(
        lint_dashboard(&d, SLUG),
        &["card \"Revenue\" (#12)", "template tag \"tenant\", which its query does not have"],
    );
    let by_id = json!(["variable", ["template-tag", {"id": "nope"}]]);
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, by_id)])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["template tag with id \"nope\""]);
}

#[test]
fn the_wrong_wrapper_quarantines() {
    let card = text_card(12, "Revenue");
    let d = dashboard(
        vec![tenant_param()],
        vec![dashcard(1, &card, vec![mapping(12, json!(["dimension", ["template-tag", SLUG]]))])],
    );
    assert_one_reason(
        lint_dashboard(&d, SLUG),
        &["card \"Revenue\" (#12)", "as a \"dimension\" target", "\"variable\""],
    );

    let field =
        legacy_native(13, "Orders", "SELECT * FROM orders WHERE {{tenant_id}}", json!({"tenant_id": field_tag(SLUG)}));
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &field, vec![mapping(13, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Orders\" (#13)", "as a \"variable\" target"]);
}

#[test]
fn non_tag_targets_on_native_cards_and_non_field_targets_on_mbql_cards_quarantine() {
    let native = text_card(12, "Revenue");
    let d = dashboard(
        vec![tenant_param()],
        vec![dashcard(1, &native, vec![mapping(12, json!(["dimension", ["field", 101, null]]))])],
    );
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12)", "to a column"]);

    let mbql = mbql5_table(20, "All orders");
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &mbql, vec![mapping(20, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"All orders\" (#20)", "not a column of its query"]);
}

#[test]
fn an_optional_tenant_clause_quarantines() {
    let card = legacy_native(
        12,
        "Revenue",
        "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]]",
        json!({"tenant_id": text_tag(SLUG)}),
    );
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12) uses {{tenant_id}} only inside an optional"]);
}

#[test]
fn a_tag_that_is_not_required_quarantines() {
    let mut tag = text_tag(SLUG);
    tag["required"] = json!(false);
    let card =
        legacy_native(12, "Revenue", "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}", json!({"tenant_id": tag}));
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &card, vec![mapping(12, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12)", "not required"]);
}

#[test]
fn a_tag_with_a_default_quarantines() {
    let mut tag = field_tag(SLUG);
    tag["default"] = json!(["globex"]);
    let card = legacy_native(12, "Revenue", "SELECT * FROM orders WHERE {{tenant_id}}", json!({"tenant_id": tag}));
    let d = dashboard(
        vec![tenant_param()],
        vec![dashcard(1, &card, vec![mapping(12, json!(["dimension", ["template-tag", SLUG]]))])],
    );
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12)", "default value"]);
}

#[test]
fn a_mapping_that_names_another_card_quarantines() {
    let a = text_card(12, "Revenue");
    let b = text_card(13, "Orders");
    let d = dashboard(
        vec![tenant_param()],
        vec![
            dashcard(1, &a, vec![mapping(12, variable_target(SLUG))]),
            dashcard(2, &b, vec![mapping(12, variable_target(SLUG))]),
        ],
    );
    assert_one_reason(
        lint_dashboard(&d, SLUG),
        &["card \"Orders\" (#13) does not map the tenant_id parameter", "only for card #12"],
    );
}

#[test]
fn a_card_without_a_query_quarantines() {
    let unreadable = json!({"id": 12});
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &unreadable, vec![mapping(12, variable_target(SLUG))])]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card #12 has no query"]);
    let mut dc = dashcard(1, &unreadable, vec![mapping(12, variable_target(SLUG))]);
    dc.as_object_mut().unwrap().remove("card");
    let d = dashboard(vec![tenant_param()], vec![dc]);
    assert_one_reason(lint_dashboard(&d, SLUG), &["card #12 has no query"]);
}

#[test]
fn another_parameter_feeding_the_tenant_tag_quarantines() {
    let card = text_card(12, "Revenue");
    let sneaky = json!({"parameter_id": "viewer", "card_id": 12, "target": variable_target(SLUG)});
    let d = dashboard(
        vec![tenant_param(), json!({"id": "viewer", "name": "Pick", "slug": "pick", "type": "string/="})],
        vec![dashcard(1, &card, vec![mapping(12, variable_target(SLUG)), sneaky])],
    );
    assert_one_reason(lint_dashboard(&d, SLUG), &["card \"Revenue\" (#12) also maps parameter \"viewer\""]);
}

#[test]
fn every_failing_card_gets_its_own_reason() {
    let a = legacy_table(12, "A");
    let b = legacy_table(13, "B");
    let d = dashboard(vec![tenant_param()], vec![dashcard(1, &a, vec![]), dashcard(2, &b, vec![])]);
    let all = reasons(lint_dashboard(&d, SLUG));
    assert_eq!(all.len(), 2);
    assert!(all[0].contains("card \"A\" (#12)") && all[1].contains("card \"B\" (#13)"), "{all:?}");
}

#[test]
fn a_sound_question_is_embeddable_keyed_on_tag_names() {
    let card = legacy_native(
        7,
        "Orders by channel",
        "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]]",
        json!({"tenant_id": text_tag(SLUG),
               "channel": {"id": "c", "name": "channel", "display-name": "Channel", "type": "text"}}),
    );
    let (params, summaries) = assert_embeddable(lint_card(&card, SLUG));
    assert_eq!(
        params,
        BTreeMap::from([("channel".to_owned(), EmbedParamMode::Enabled), (SLUG.to_owned(), EmbedParamMode::Locked)])
    );
    assert!(summaries.contains(&ParameterSummary {
        slug: "channel".into(),
        name: "Channel".into(),
        kind: "category".into()
    }));

    let modern =
        mbql5_native(8, "Orders", "SELECT * FROM orders WHERE {{tenant_id}}", json!({"tenant_id": field_tag(SLUG)}));
    let (_, summaries) = assert_embeddable(lint_card(&modern, SLUG));
    assert_eq!(summaries, vec![ParameterSummary { slug: SLUG.into(), name: "Tenant".into(), kind: "string/=".into() }]);
}

#[test]
fn questions_without_a_strict_tenant_tag_are_quarantined() {
    let sql = "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}";
    let missing = legacy_native(7, "Orders", sql, json!({"tenant": text_tag("tenant")}));
    assert_one_reason(lint_card(&missing, SLUG), &["question \"Orders\" (#7) has no template tag named \"tenant_id\""]);

    let optional = legacy_native(
        7,
        "Orders",
        "SELECT * FROM orders [[WHERE tenant_id = {{tenant_id}}]]",
        json!({"tenant_id": text_tag(SLUG)}),
    );
    assert_one_reason(lint_card(&optional, SLUG), &["question \"Orders\" (#7)", "optional [[ … ]]"]);

    let mut with_default = text_tag(SLUG);
    with_default["default"] = json!("acme");
    let defaulted = legacy_native(7, "Orders", sql, json!({"tenant_id": with_default}));
    assert_one_reason(lint_card(&defaulted, SLUG), &["question \"Orders\" (#7)", "default value"]);

    let mut loose = text_tag(SLUG);
    loose.as_object_mut().unwrap().remove("required");
    let not_required = legacy_native(7, "Orders", sql, json!({"tenant_id": loose}));
    assert_one_reason(lint_card(&not_required, SLUG), &["question \"Orders\" (#7)", "not required"]);

    let commented =
        legacy_native(7, "Orders", "SELECT * FROM orders -- {{tenant_id}}", json!({"tenant_id": text_tag(SLUG)}));
    assert_one_reason(lint_card(&commented, SLUG), &["never uses {{tenant_id}}"]);

    assert_one_reason(
        lint_card(&mbql5_table(9, "Table"), SLUG),
        &["question \"Table\" (#9) is a query-builder question"],
    );
    assert_one_reason(lint_card(&json!({"id": 9, "name": "Empty"}), SLUG), &["question \"Empty\" (#9) has no query"]);
}

#[test]
fn publish_actions_follow_the_verdict_and_the_current_state() {
    let embeddable = LintOutcome::Embeddable { embedding_params: embedding_params_for(&[], SLUG), parameters: vec![] };
    let quarantined = LintOutcome::Quarantined { reasons: vec!["x".into()] };
    let locked = BTreeMap::from([(SLUG.to_owned(), EmbedParamMode::Locked)]);

    let fresh = json!({"enable_embedding": false, "embedding_params": null});
    assert_eq!(needs_publish(&fresh, &embeddable), PublishAction::Publish { embedding_params: locked.clone() });
    assert_eq!(needs_publish(&fresh, &quarantined), PublishAction::Nothing);

    let published = json!({"enable_embedding": true, "embedding_params": {"tenant_id": "locked"}});
    assert_eq!(needs_publish(&published, &embeddable), PublishAction::Nothing);
    assert_eq!(needs_publish(&published, &quarantined), PublishAction::Unpublish);

    for drifted in [
        json!({"enable_embedding": true, "embedding_params": {"tenant_id": "enabled"}}),
        json!({"enable_embedding": true, "embedding_params": {"tenant_id": "locked", "extra": "enabled"}}),
        json!({"enable_embedding": true, "embedding_params": null}),
        json!({"enable_embedding": false, "embedding_params": {"tenant_id": "locked"}}),
    ] {
        assert_eq!(needs_publish(&drifted, &embeddable), PublishAction::Publish { embedding_params: locked.clone() });
    }
}

#[test]
fn embedding_params_lock_the_tenant_and_enable_the_rest() {
    let parameters = vec![
        ParameterSummary { slug: SLUG.into(), name: "Tenant".into(), kind: "string/=".into() },
        ParameterSummary { slug: "from".into(), name: "From".into(), kind: "date/single".into() },
    ];
    let params = embedding_params_for(&parameters, SLUG);
    assert_eq!(serde_json::to_value(&params).unwrap(), json!({"from": "enabled", "tenant_id": "locked"}));
    assert_eq!(
        serde_json::to_value(&parameters[1]).unwrap(),
        json!({"slug": "from", "name": "From", "type": "date/single"})
    );
}

#[test]
fn a_fifty_card_dashboard_lints_quickly() {
    let dashcards: Vec<Value> = (1..=50u64)
        .map(|i| {
            let sql = format!(
                "SELECT * FROM orders /* card {i} */ WHERE tenant_id = {{{{tenant_id}}}} \
                 [[AND channel = {{{{channel}}}}]]"
            );
            let card = legacy_native(i, &format!("Card {i}"), &sql, json!({"tenant_id": text_tag(SLUG)}));
            dashcard(i as i64, &card, vec![mapping(i, variable_target(SLUG))])
        })
        .collect();
    let d = dashboard(vec![tenant_param()], dashcards);
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert!(lint_dashboard(&d, SLUG).is_embeddable());
    }
    // Generous even for an unoptimised build on a busy machine: 100 runs well under a second.
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
}
