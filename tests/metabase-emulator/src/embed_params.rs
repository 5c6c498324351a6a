//! The embedding parameter whitelist of contract §15 (disabled / enabled / locked / unknown), the
//! `parameters` filtering done by the embed "shell" endpoints, and the §19.3 run-time rule that decides
//! which values reach a dashcard.
//!
//! Slugs appear in messages in Clojure keyword form (`:tenant`), as in the 0.4x–0.6x test suites.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::analytics::FieldRef;

/// A whitelist entry of `embedding_params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Disabled,
    Enabled,
    Locked,
}

fn rule_of(embedding_params: Option<&Value>, slug: &str) -> Option<Rule> {
    match embedding_params?.get(slug)?.as_str()? {
        "disabled" => Some(Rule::Disabled),
        "enabled" => Some(Rule::Enabled),
        "locked" => Some(Rule::Locked),
        // Metabase rejects other values on save; anything odd that slipped in behaves as not listed.
        _ => None,
    }
}

/// Metabase treats `null` and blank strings as "no value supplied"; `[]` is deliberately *not* blank
/// here (the §19.5 footgun: it passes the locked check and only later turns into "no value").
pub fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn supplied(params: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    params.iter().filter(|(_, v)| !is_blank(v))
}

/// Checks token and URL params against the object's whitelist and returns the effective values
/// (token values and URL values merged; the rules guarantee they never overlap), or the exact 400 text.
///
/// Order: locked slugs missing from the JWT first (so "must specify" wins over "only in the JWT"), then
/// every supplied slug, token ones before URL ones, each in key order.
pub fn check_and_merge(
    embedding_params: Option<&Value>,
    token_params: &Map<String, Value>,
    url_params: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    if let Some(Value::Object(whitelist)) = embedding_params {
        for (slug, rule) in whitelist {
            if rule.as_str() == Some("locked") && token_params.get(slug).is_none_or(is_blank) {
                return Err(format!("You must specify a value for :{slug} in the JWT."));
            }
        }
    }
    let in_token = |slug: &str| token_params.get(slug).is_some_and(|v| !is_blank(v));
    for (slug, _) in supplied(token_params) {
        match rule_of(embedding_params, slug) {
            None => return Err(format!("Unknown parameter :{slug}.")),
            Some(Rule::Disabled) => {
                return Err(format!("You're not allowed to specify a value for :{slug}."));
            }
            Some(Rule::Enabled | Rule::Locked) => {}
        }
    }
    for (slug, _) in supplied(url_params) {
        match rule_of(embedding_params, slug) {
            None => return Err(format!("Unknown parameter :{slug}.")),
            Some(Rule::Disabled) => {
                return Err(format!("You're not allowed to specify a value for :{slug}."));
            }
            Some(Rule::Enabled) if in_token(slug) => {
                return Err(format!("You can't specify a value for :{slug} if it's already set in the JWT."));
            }
            Some(Rule::Locked) => {
                return Err(format!("You can only specify a value for :{slug} in the JWT."));
            }
            Some(Rule::Enabled) => {}
        }
    }
    let mut merged = Map::new();
    for (slug, v) in supplied(token_params).chain(supplied(url_params)) {
        merged.insert(slug.clone(), v.clone());
    }
    Ok(merged)
}

/// For dashboards: every merged slug must name a dashboard parameter, else
/// `No matching parameter with slug "x". Found: ("a" "b")`. Returns values keyed by parameter id.
pub fn values_by_parameter_id(
    dashboard_parameters: &[Value],
    merged: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut by_id = Map::new();
    for (slug, value) in merged {
        let found = dashboard_parameters.iter().find(|p| p.get("slug").and_then(Value::as_str) == Some(slug.as_str()));
        match found.and_then(|p| p.get("id")).and_then(Value::as_str) {
            Some(id) => {
                by_id.insert(id.to_string(), value.clone());
            }
            None => {
                let slugs: Vec<String> = dashboard_parameters
                    .iter()
                    .filter_map(|p| p.get("slug").and_then(Value::as_str))
                    .map(|s| format!("\"{s}\""))
                    .collect();
                return Err(format!("No matching parameter with slug \"{slug}\". Found: ({})", slugs.join(" ")));
            }
        }
    }
    Ok(by_id)
}

/// The values one dashcard's query receives, split by target kind.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CardValues {
    /// Template-tag name → value, for `["variable"|"dimension", ["template-tag", name]]` targets.
    pub tags: Map<String, Value>,
    /// Column filters for MBQL cards, from `["dimension", ["field", …]]` targets.
    pub fields: Vec<(FieldRef, Value)>,
}

/// The template-tag name addressed by a mapping target, in either the name or the `{"id": …}` form.
fn template_tag_name(target: &Value, template_tags: &Map<String, Value>) -> Option<String> {
    let inner = target.get(1)?;
    if inner.get(0)?.as_str()? != "template-tag" {
        return None;
    }
    match inner.get(1)? {
        Value::String(name) => Some(name.clone()),
        Value::Object(o) => {
            let id = o.get("id")?.as_str()?;
            template_tags
                .iter()
                .find(|(_, t)| t.get("id").and_then(Value::as_str) == Some(id))
                .map(|(name, _)| name.clone())
        }
        _ => None,
    }
}

/// §19.3 run-time rule: a value reaches the card only through a mapping of this dashcard whose
/// `card_id` is this card; unmapped parameters are skipped (the card runs unfiltered), and a mapping to a
/// template tag the query lacks is ignored.
pub fn resolve_card_values(
    parameter_mappings: &[Value],
    card_id: i64,
    values_by_param_id: &Map<String, Value>,
    template_tags: &Map<String, Value>,
) -> CardValues {
    let mut out = CardValues::default();
    for mapping in parameter_mappings {
        if mapping.get("card_id").and_then(Value::as_i64) != Some(card_id) {
            continue;
        }
        let Some(value) = mapping.get("parameter_id").and_then(Value::as_str).and_then(|id| values_by_param_id.get(id))
        else {
            continue;
        };
        let Some(target) = mapping.get("target") else {
            continue;
        };
        if let Some(name) = template_tag_name(target, template_tags) {
            if template_tags.contains_key(&name) {
                out.tags.insert(name, value.clone());
            }
        } else if let Some(field) = FieldRef::from_target(target) {
            out.fields.push((field, value.clone()));
        }
    }
    out
}

/// The `parameters` list of `GET /api/embed/{dashboard,card}/:token`: only `enabled` slugs not supplied
/// by the JWT survive.
pub fn visible_parameters(
    parameters: &[Value],
    embedding_params: Option<&Value>,
    token_params: &Map<String, Value>,
) -> Vec<Value> {
    parameters
        .iter()
        .filter(|p| {
            let Some(slug) = p.get("slug").and_then(Value::as_str) else {
                return false;
            };
            rule_of(embedding_params, slug) == Some(Rule::Enabled) && token_params.get(slug).is_none_or(is_blank)
        })
        .cloned()
        .collect()
}

/// Drops mappings whose parameter is not among the visible ones, so hidden (e.g. locked) parameters
/// leave no trace in the embed response.
pub fn strip_hidden_mappings(mappings: &[Value], visible: &[Value]) -> Vec<Value> {
    let ids: BTreeSet<&str> = visible.iter().filter_map(|p| p.get("id").and_then(Value::as_str)).collect();
    mappings
        .iter()
        .filter(|m| m.get("parameter_id").and_then(Value::as_str).is_some_and(|id| ids.contains(id)))
        .cloned()
        .collect()
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(display_value).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Replaces `{{name}}` in a text card with the JWT value of the parameter mapped to `["text-tag", name]`;
/// this is how a locked tenant name can appear in a heading.
pub fn substitute_text(
    text: &str,
    mappings: &[Value],
    dashboard_parameters: &[Value],
    token_params: &Map<String, Value>,
) -> String {
    let mut out = text.to_string();
    for m in mappings {
        let Some(target) = m.get("target") else {
            continue;
        };
        if target.get(0).and_then(Value::as_str) != Some("text-tag") {
            continue;
        }
        let Some(tag) = target.get(1).and_then(Value::as_str) else {
            continue;
        };
        let param_id = m.get("parameter_id").and_then(Value::as_str);
        let slug = dashboard_parameters
            .iter()
            .find(|p| p.get("id").and_then(Value::as_str) == param_id)
            .and_then(|p| p.get("slug"))
            .and_then(Value::as_str);
        if let Some(value) = slug.and_then(|s| token_params.get(s)).filter(|v| !is_blank(v)) {
            let rendered = display_value(value);
            out = out.replace(&format!("{{{{{tag}}}}}", tag = tag), &rendered);
            out = out.replace(&format!("{{{{ {tag} }}}}", tag = tag), &rendered);
        }
    }
    out
}

/// Parses the query string of an embed query endpoint into URL params: `?slug=value` pairs (repeated
/// keys become arrays) or, in newer clients, a JSON object in `parameters=`.
pub fn url_params_from_query(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        if k == "parameters"
            && let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(v)
        {
            for (slug, value) in obj {
                out.insert(slug, value);
            }
            continue;
        }
        match out.get_mut(k) {
            Some(Value::Array(items)) => items.push(Value::String(v.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v.clone())]);
            }
            None => {
                out.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn wl() -> Value {
        json!({"tenant": "locked", "region": "enabled", "secret": "disabled"})
    }

    fn check(token: Value, url: Value) -> Result<Map<String, Value>, String> {
        check_and_merge(Some(&wl()), &obj(token), &obj(url))
    }

    // §18 case 9.
    #[test]
    fn locked_rules() {
        assert_eq!(check(json!({}), json!({})).unwrap_err(), "You must specify a value for :tenant in the JWT.");
        assert_eq!(
            check(json!({"tenant": "  "}), json!({})).unwrap_err(),
            "You must specify a value for :tenant in the JWT."
        );
        assert_eq!(
            check(json!({"tenant": null}), json!({})).unwrap_err(),
            "You must specify a value for :tenant in the JWT."
        );
        // Missing from the JWT and present in the URL: the first message wins.
        assert_eq!(
            check(json!({}), json!({"tenant": "b"})).unwrap_err(),
            "You must specify a value for :tenant in the JWT."
        );
        assert_eq!(
            check(json!({"tenant": "a"}), json!({"tenant": "b"})).unwrap_err(),
            "You can only specify a value for :tenant in the JWT."
        );
        assert_eq!(check(json!({"tenant": "a"}), json!({})).unwrap(), obj(json!({"tenant": "a"})));
        // The footgun: an empty array passes the locked check.
        assert!(check(json!({"tenant": []}), json!({})).is_ok());
    }

    // §18 case 10.
    #[test]
    fn enabled_rules() {
        assert_eq!(
            check(json!({"tenant": "a", "region": "x"}), json!({"region": "y"})).unwrap_err(),
            "You can't specify a value for :region if it's already set in the JWT."
        );
        assert_eq!(
            check(json!({"tenant": "a"}), json!({"region": "y"})).unwrap(),
            obj(json!({"tenant": "a", "region": "y"}))
        );
        assert_eq!(
            check(json!({"tenant": "a", "region": "x"}), json!({"region": ""})).unwrap(),
            obj(json!({"tenant": "a", "region": "x"}))
        );
    }

    // §18 case 11.
    #[test]
    fn disabled_and_unknown() {
        assert_eq!(
            check(json!({"tenant": "a", "secret": 1}), json!({})).unwrap_err(),
            "You're not allowed to specify a value for :secret."
        );
        assert_eq!(
            check(json!({"tenant": "a"}), json!({"secret": "1"})).unwrap_err(),
            "You're not allowed to specify a value for :secret."
        );
        assert_eq!(check(json!({"tenant": "a", "bogus": 1}), json!({})).unwrap_err(), "Unknown parameter :bogus.");
        assert_eq!(check(json!({"tenant": "a"}), json!({"bogus": "1"})).unwrap_err(), "Unknown parameter :bogus.");
        // Blank values are absent, so a blank disabled/unknown value is no error.
        assert!(check(json!({"tenant": "a", "secret": ""}), json!({"bogus": ""})).is_ok());
        // No whitelist at all: every supplied param is unknown.
        assert_eq!(check_and_merge(None, &obj(json!({"x": 1})), &Map::new()).unwrap_err(), "Unknown parameter :x.");
    }

    #[test]
    fn slugs_must_match_dashboard_parameters() {
        let params = vec![json!({"id": "p1", "slug": "tenant"}), json!({"id": "p2", "slug": "region"})];
        let by_id = values_by_parameter_id(&params, &obj(json!({"tenant": "a"}))).unwrap();
        assert_eq!(by_id, obj(json!({"p1": "a"})));
        assert_eq!(
            values_by_parameter_id(&params, &obj(json!({"secret": "a"}))).unwrap_err(),
            "No matching parameter with slug \"secret\". Found: (\"tenant\" \"region\")"
        );
    }

    // §19.3 run-time rule, the basis of §19.7 case 29.
    #[test]
    fn values_reach_a_card_only_through_its_mappings() {
        let tags = obj(json!({"tenant": {"id": "t-1", "name": "tenant", "type": "text"}}));
        let mappings = vec![
            json!({"parameter_id": "p1", "card_id": 3, "target": ["variable", ["template-tag", "tenant"]]}),
            json!({"parameter_id": "p2", "card_id": 3, "target": ["variable", ["template-tag", "missing"]]}),
            json!({"parameter_id": "p3", "card_id": 3, "target": ["dimension", ["field", 1001, null]]}),
            json!({"parameter_id": "p1", "card_id": 4, "target": ["variable", ["template-tag", "tenant"]]}),
        ];
        let values = obj(json!({"p1": "acme", "p2": "x", "p3": "web"}));
        let got = resolve_card_values(&mappings, 3, &values, &tags);
        assert_eq!(got.tags, obj(json!({"tenant": "acme"})));
        assert_eq!(got.fields, vec![(FieldRef::Id(1001), json!("web"))]);
        // Same mappings, other card: only card 4's mapping applies.
        let got = resolve_card_values(&mappings, 4, &values, &tags);
        assert_eq!(got.tags, obj(json!({"tenant": "acme"})));
        assert!(got.fields.is_empty());
        // A card with no mapping gets nothing.
        assert_eq!(resolve_card_values(&mappings, 5, &values, &tags), CardValues::default());
        // Tag addressed by id.
        let by_id = vec![json!({"parameter_id": "p1", "card_id": 3,
            "target": ["dimension", ["template-tag", {"id": "t-1"}], {"stage-number": 0}]})];
        assert_eq!(resolve_card_values(&by_id, 3, &values, &tags).tags, obj(json!({"tenant": "acme"})));
    }

    // §18 cases 1 and 11 (shell endpoint side).
    #[test]
    fn shell_parameters_and_mappings() {
        let params = vec![
            json!({"id": "p1", "slug": "tenant"}),
            json!({"id": "p2", "slug": "region"}),
            json!({"id": "p3", "slug": "secret"}),
            json!({"id": "p4", "slug": "unlisted"}),
        ];
        let visible = visible_parameters(&params, Some(&wl()), &obj(json!({"tenant": "a"})));
        assert_eq!(visible, vec![json!({"id": "p2", "slug": "region"})]);
        let hidden_by_token = visible_parameters(&params, Some(&wl()), &obj(json!({"tenant": "a", "region": "x"})));
        assert!(hidden_by_token.is_empty());
        let mappings = vec![json!({"parameter_id": "p1", "card_id": 3}), json!({"parameter_id": "p2", "card_id": 3})];
        assert_eq!(strip_hidden_mappings(&mappings, &visible), vec![json!({"parameter_id": "p2", "card_id": 3})]);
    }

    #[test]
    fn locked_value_in_text_card() {
        let params = vec![json!({"id": "p1", "slug": "tenant"})];
        let mappings = vec![json!({"parameter_id": "p1", "target": ["text-tag", "tenant"]})];
        assert_eq!(
            substitute_text("Sales of {{tenant}}", &mappings, &params, &obj(json!({"tenant": "acme"}))),
            "Sales of acme"
        );
        assert_eq!(substitute_text("Sales of {{tenant}}", &mappings, &params, &Map::new()), "Sales of {{tenant}}");
    }

    #[test]
    fn query_string_forms() {
        let pairs = vec![
            ("region".to_string(), "a".to_string()),
            ("region".to_string(), "b".to_string()),
            ("x".to_string(), "1".to_string()),
        ];
        assert_eq!(url_params_from_query(&pairs), obj(json!({"region": ["a", "b"], "x": "1"})));
        let pairs = vec![("parameters".to_string(), r#"{"region":"y"}"#.to_string())];
        assert_eq!(url_params_from_query(&pairs), obj(json!({"region": "y"})));
    }
}
