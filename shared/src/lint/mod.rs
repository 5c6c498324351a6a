//! The tenant-isolation lint (design §2 item 2): decides from Metabase's own JSON whether a dashboard
//! or question can be embedded with the tenant slug locked without leaking other tenants' rows.
//!
//! Pure and I/O-free: callers fetch `GET /api/dashboard/:id` or `GET /api/card/:id` and hand over the
//! body. The rules follow contract §19.3 (the wiring checklist) and §19.5 (card embedding and the
//! ways a tenant filter silently vanishes). Anything the lint cannot read is quarantined, never
//! trusted: a false quarantine costs a fix in Metabase, a false pass leaks data.

mod query;
mod sql;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use query::{Query, TagRef, Target, Wrapper, find_tag};
use sql::TagUsage;

/// How a signed embed treats one parameter slug (`embedding_params` values, §14/§15); the signer's
/// type, so a verdict's params feed the signer unchanged.
pub use crate::signer::EmbeddingParamMode as EmbedParamMode;

fn mode_str(mode: EmbedParamMode) -> &'static str {
    match mode {
        EmbedParamMode::Disabled => "disabled",
        EmbedParamMode::Enabled => "enabled",
        EmbedParamMode::Locked => "locked",
    }
}

/// One filter of an embeddable item as the API shows it: for dashboards a dashboard parameter, for
/// questions a template tag (the slugs card embeds key on, §19.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterSummary {
    pub slug: String,
    pub name: String,
    /// Metabase's parameter type (`string/=`, `category`, `date/single`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The lint's verdict on one dashboard or question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LintOutcome {
    /// Safe to publish with these `embedding_params` (tenant slug locked, every other slug enabled).
    Embeddable { embedding_params: BTreeMap<String, EmbedParamMode>, parameters: Vec<ParameterSummary> },
    /// Not safe; each reason is a sentence naming the dashboard, card or question at fault.
    Quarantined { reasons: Vec<String> },
}

impl LintOutcome {
    pub fn is_embeddable(&self) -> bool {
        matches!(self, LintOutcome::Embeddable { .. })
    }

    fn from_reasons(reasons: Vec<String>, parameters: Vec<ParameterSummary>, tenant_slug: &str) -> Self {
        if reasons.is_empty() {
            LintOutcome::Embeddable { embedding_params: embedding_params_for(&parameters, tenant_slug), parameters }
        } else {
            LintOutcome::Quarantined { reasons }
        }
    }
}

/// What the publisher must change in Metabase so that it matches the lint's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAction {
    /// `PUT {"enable_embedding": true, "embedding_params": …}`.
    Publish { embedding_params: BTreeMap<String, EmbedParamMode> },
    /// `PUT {"enable_embedding": false}`: a quarantined item someone published by hand.
    Unpublish,
    /// Metabase already matches.
    Nothing,
}

/// The `embedding_params` an embeddable item must carry: the tenant slug `locked` (always present,
/// even if `parameters` lacks it), every other slug `enabled`.
pub fn embedding_params_for(parameters: &[ParameterSummary], tenant_slug: &str) -> BTreeMap<String, EmbedParamMode> {
    let mut params: BTreeMap<String, EmbedParamMode> =
        parameters.iter().map(|p| (p.slug.clone(), EmbedParamMode::Enabled)).collect();
    params.insert(tenant_slug.to_owned(), EmbedParamMode::Locked);
    params
}

/// Compares what Metabase has now (`current`: the dashboard or card JSON, with `enable_embedding`
/// and `embedding_params`) with what the verdict requires.
pub fn needs_publish(current: &Value, outcome: &LintOutcome) -> PublishAction {
    let enabled = current.get("enable_embedding").and_then(Value::as_bool) == Some(true);
    match outcome {
        LintOutcome::Quarantined { .. } if enabled => PublishAction::Unpublish,
        LintOutcome::Quarantined { .. } => PublishAction::Nothing,
        LintOutcome::Embeddable { embedding_params, .. } => {
            if enabled && same_params(current.get("embedding_params"), embedding_params) {
                PublishAction::Nothing
            } else {
                PublishAction::Publish { embedding_params: embedding_params.clone() }
            }
        }
    }
}

fn same_params(current: Option<&Value>, wanted: &BTreeMap<String, EmbedParamMode>) -> bool {
    let Some(current) = current.and_then(Value::as_object) else { return false };
    current.len() == wanted.len()
        && wanted.iter().all(|(slug, mode)| current.get(slug).and_then(Value::as_str) == Some(mode_str(*mode)))
}

/// Lints the body of `GET /api/dashboard/:id`.
///
/// Passes only if exactly one parameter has `tenant_slug`, and every data dashcard and every
/// `series` card maps that parameter (with its own `card_id`) to a target that exists in its
/// query and cannot silently vanish.
pub fn lint_dashboard(dashboard: &Value, tenant_slug: &str) -> LintOutcome {
    let this = Named::new("dashboard", dashboard, dashboard.get("id"));
    let parameters = array(dashboard.get("parameters"));
    let mut tenant_params = parameters.iter().filter(|p| p.get("slug").and_then(Value::as_str) == Some(tenant_slug));
    let tenant_param = match (tenant_params.next(), tenant_params.count()) {
        (None, _) => {
            return LintOutcome::Quarantined {
                reasons: vec![format!("{this} has no parameter with slug \"{tenant_slug}\" to lock the tenant")],
            };
        }
        (Some(first), 0) => first,
        (Some(_), more) => {
            return LintOutcome::Quarantined {
                reasons: vec![format!(
                    "{this} has {} parameters with slug \"{tenant_slug}\"; exactly one must carry the tenant",
                    more + 1
                )],
            };
        }
    };
    let Some(tenant_param_id) = tenant_param.get("id").and_then(Value::as_str) else {
        return LintOutcome::Quarantined {
            reasons: vec![format!("{this} has a \"{tenant_slug}\" parameter without an id, so no card can map it")],
        };
    };

    let wiring = Wiring { parameter_id: tenant_param_id, slug: tenant_slug };
    let mut reasons = Vec::new();
    // `dashcards` replaced `ordered_cards` in 0.48 (§14); all tabs share the one array.
    let Some(dashcards) =
        dashboard.get("dashcards").or_else(|| dashboard.get("ordered_cards")).and_then(Value::as_array)
    else {
        // A listing item (`GET /api/dashboard/`) has no dashcards: judging it would pass it unseen.
        return LintOutcome::Quarantined {
            reasons: vec![format!("{this} came without its dashcards, so its cards cannot be checked")],
        };
    };
    for dashcard in dashcards {
        let card_id = dashcard.get("card_id").unwrap_or(&Value::Null);
        if card_id.is_null() {
            continue; // virtual text/heading/link/iframe/action cards run no query
        }
        let mappings = array(dashcard.get("parameter_mappings"));
        wiring.check(card_id, dashcard.get("card").unwrap_or(&Value::Null), mappings, &mut reasons);
        for series in array(dashcard.get("series")) {
            wiring.check(series.get("id").unwrap_or(&Value::Null), series, mappings, &mut reasons);
        }
    }

    if !reasons.is_empty() {
        return LintOutcome::Quarantined { reasons };
    }
    let summaries = parameters
        .iter()
        .filter_map(|p| {
            let slug = p.get("slug").and_then(Value::as_str)?;
            Some(ParameterSummary {
                slug: slug.to_owned(),
                name: p.get("name").and_then(Value::as_str).unwrap_or(slug).to_owned(),
                kind: p.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
            })
        })
        .collect();
    LintOutcome::from_reasons(reasons, summaries, tenant_slug)
}

/// Lints the body of `GET /api/card/:id` for embedding as a question.
///
/// Card embeds key `embedding_params` on template-tag names (§19.5), so the question must be native
/// SQL with a tag named exactly `tenant_slug` that is required, has no default and is used outside
/// every optional `[[ ]]` clause.
pub fn lint_card(card: &Value, tenant_slug: &str) -> LintOutcome {
    let this = Named::new("question", card, card.get("id"));
    let mut reasons = Vec::new();
    let tags = match Query::of_card(card) {
        Query::Native { sql, tags } => {
            match find_tag(tags, TagRef::Name(tenant_slug)) {
                None => reasons.push(format!(
                    "{this} has no template tag named \"{tenant_slug}\", so a signed token cannot restrict it"
                )),
                Some((name, tag)) => match tag_wrapper(tag) {
                    Ok(_) => check_tag(&this, sql, name, tag, &mut reasons),
                    Err(kind) => reasons.push(format!(
                        "{this} has a \"{name}\" template tag of type \"{kind}\", which cannot filter by tenant"
                    )),
                },
            }
            tags
        }
        Query::Mbql => {
            reasons.push(format!(
                "{this} is a query-builder question; only SQL questions with a required {{{{{tenant_slug}}}}} \
                 template tag can be locked to a tenant"
            ));
            None
        }
        Query::Missing => {
            reasons.push(format!("{this} has no query"));
            None
        }
        Query::Unreadable => {
            reasons.push(format!(
                "{this} has a query in a shape Tenantbase cannot read, so its tenant filter cannot be verified"
            ));
            None
        }
    };
    let parameters = if reasons.is_empty() { card_parameters(card, tags) } else { Vec::new() };
    LintOutcome::from_reasons(reasons, parameters, tenant_slug)
}

/// The parameters a card embed exposes: synthesised from its template tags the way Metabase's read
/// paths do (§19.4), then any stored `parameters` with other slugs.
fn card_parameters(card: &Value, tags: Option<&Map<String, Value>>) -> Vec<ParameterSummary> {
    let mut summaries: Vec<ParameterSummary> = Vec::new();
    for (name, tag) in tags.into_iter().flatten() {
        let kind = tag.get("type").and_then(Value::as_str).unwrap_or_default();
        let widget = tag.get("widget-type").and_then(Value::as_str);
        if matches!(kind, "snippet" | "card") || (kind == "dimension" && widget == Some("none")) {
            continue;
        }
        let kind = match (widget, kind) {
            (Some(widget), _) => widget,
            (None, "date") => "date/single",
            (None, "number") => "number/=",
            (None, _) => "category",
        };
        summaries.push(ParameterSummary {
            slug: name.clone(),
            name: tag.get("display-name").and_then(Value::as_str).unwrap_or(name).to_owned(),
            kind: kind.to_owned(),
        });
    }
    for parameter in array(card.get("parameters")) {
        let Some(slug) = parameter.get("slug").and_then(Value::as_str) else { continue };
        if summaries.iter().any(|s| s.slug == slug) {
            continue;
        }
        summaries.push(ParameterSummary {
            slug: slug.to_owned(),
            name: parameter.get("name").and_then(Value::as_str).unwrap_or(slug).to_owned(),
            kind: parameter.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
        });
    }
    summaries
}

/// The tenant parameter of one dashboard, checked against each card that shows data.
struct Wiring<'a> {
    parameter_id: &'a str,
    slug: &'a str,
}

impl Wiring<'_> {
    /// Checks one card of a dashcard (its main card or a `series` card) against the dashcard's
    /// mappings; Metabase applies only mappings whose `card_id` is that card (§19.3 run-time rule).
    fn check(&self, card_id: &Value, card: &Value, mappings: &[Value], reasons: &mut Vec<String>) {
        let this = Named::new("card", card, Some(card_id));
        let query = Query::of_card(card);
        match query {
            Query::Missing => {
                reasons.push(format!("{this} has no query Tenantbase can check for the {} filter", self.slug));
                return;
            }
            Query::Unreadable => {
                reasons.push(format!(
                    "{this} has a query in a shape Tenantbase cannot read, so its {} filter cannot be verified",
                    self.slug
                ));
                return;
            }
            Query::Native { .. } | Query::Mbql => {}
        }
        let tenant_mappings =
            mappings.iter().filter(|m| m.get("parameter_id").and_then(Value::as_str) == Some(self.parameter_id));
        let mut mapped = false;
        let mut elsewhere: Option<&Value> = None;
        for mapping in tenant_mappings {
            if mapping.get("card_id") != Some(card_id) {
                elsewhere = elsewhere.or(Some(mapping.get("card_id").unwrap_or(&Value::Null)));
                continue;
            }
            mapped = true;
            self.check_target(&this, query, mapping.get("target").unwrap_or(&Value::Null), reasons);
        }
        if !mapped {
            match elsewhere {
                Some(other) => reasons.push(format!(
                    "{this} does not map the {} parameter: its dashcard maps it only for card {}, which Metabase \
                     ignores when it runs this card",
                    self.slug,
                    IdText(other)
                )),
                None => reasons.push(format!("{this} does not map the {} parameter", self.slug)),
            }
            return;
        }
        if let Query::Native { tags, .. } = query {
            self.check_override(&this, card_id, tags, mappings, reasons);
        }
    }

    fn check_target(&self, this: &Named<'_>, query: Query<'_>, target: &Value, reasons: &mut Vec<String>) {
        let slug = self.slug;
        match (query, Target::parse(target)) {
            (Query::Mbql, Target::Field) => {}
            (Query::Mbql, _) => reasons
                .push(format!("{this} maps the {slug} parameter to {target}, which is not a column of its query")),
            (Query::Native { .. }, Target::Field) => reasons.push(format!(
                "{this} maps the {slug} parameter to a column, but its query is SQL and only template tags filter it"
            )),
            (Query::Native { sql, tags }, Target::TemplateTag { wrapper, tag: tag_ref }) => {
                let Some((name, tag)) = find_tag(tags, tag_ref) else {
                    let wanted = match tag_ref {
                        TagRef::Name(name) => format!("\"{name}\""),
                        TagRef::Id(id) => format!("with id \"{id}\""),
                    };
                    reasons.push(format!(
                        "{this} maps the {slug} parameter to template tag {wanted}, which its query does not have"
                    ));
                    return;
                };
                match tag_wrapper(tag) {
                    Err(kind) => reasons.push(format!(
                        "{this} maps the {slug} parameter to template tag \"{name}\" of type \"{kind}\", which cannot \
                         filter by tenant"
                    )),
                    Ok(expected) if expected != wrapper => reasons.push(format!(
                        "{this} maps the {slug} parameter to template tag \"{name}\" as a \"{}\" target, but that tag \
                         needs a \"{}\" target, so Metabase would ignore the mapping",
                        wrapper.as_str(),
                        expected.as_str()
                    )),
                    Ok(_) => check_tag(this, sql, name, tag, reasons),
                }
            }
            (Query::Native { .. }, Target::Other) => reasons
                .push(format!("{this} maps the {slug} parameter to {target}, which is not one of its template tags")),
            (Query::Missing | Query::Unreadable, _) => {}
        }
    }

    /// A raw variable takes one value: if another (enabled) parameter also feeds the tag carrying the
    /// tenant, a viewer's value could stand in for the locked one.
    fn check_override(
        &self,
        this: &Named<'_>,
        card_id: &Value,
        tags: Option<&Map<String, Value>>,
        mappings: &[Value],
        reasons: &mut Vec<String>,
    ) {
        let resolved = |mapping: &Value| match Target::parse(mapping.get("target").unwrap_or(&Value::Null)) {
            Target::TemplateTag { tag, .. } => find_tag(tags, tag).map(|(name, _)| name),
            Target::Field | Target::Other => None,
        };
        let for_card = mappings.iter().filter(|m| m.get("card_id") == Some(card_id));
        for other in for_card.clone() {
            let Some(other_param) = other.get("parameter_id").and_then(Value::as_str) else { continue };
            if other_param == self.parameter_id {
                continue;
            }
            let Some(other_tag) = resolved(other) else { continue };
            let shared = for_card.clone().any(|m| {
                m.get("parameter_id").and_then(Value::as_str) == Some(self.parameter_id)
                    && resolved(m) == Some(other_tag)
            });
            if shared {
                reasons.push(format!(
                    "{this} also maps parameter \"{other_param}\" to template tag \"{other_tag}\", which carries \
                     the {} filter, so a viewer's value could replace the tenant",
                    self.slug
                ));
            }
        }
    }
}

/// The mapping wrapper a tag type needs (§19.3), or the type when it cannot carry a tenant value.
fn tag_wrapper(tag: &Value) -> Result<Wrapper, &str> {
    match tag.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" | "number" | "date" => Ok(Wrapper::Variable),
        "dimension" => Ok(Wrapper::Dimension),
        other => Err(other),
    }
}

/// The §19.5 footguns: a tenant tag that is optional, has a default, or sits only inside `[[ ]]`
/// can lose its value and then return every tenant's rows.
fn check_tag(this: &Named<'_>, sql: &str, name: &str, tag: &Value, reasons: &mut Vec<String>) {
    if tag.get("required").and_then(Value::as_bool) != Some(true) {
        reasons.push(format!(
            "{this} has template tag \"{name}\" that is not required, so the tenant filter can be dropped"
        ));
    }
    if tag.get("default").is_some_and(|d| !d.is_null()) {
        reasons.push(format!(
            "{this} has template tag \"{name}\" with a default value, which would apply whenever the tenant \
             value is missing"
        ));
    }
    match sql::tag_usage(sql, name) {
        TagUsage::Mandatory => {}
        TagUsage::OnlyOptional => reasons.push(format!(
            "{this} uses {{{{{name}}}}} only inside an optional [[ … ]] clause, which vanishes without a value"
        )),
        TagUsage::Unused => reasons.push(format!(
            "{this} never uses {{{{{name}}}}} in its SQL (outside comments), so the tenant value filters nothing"
        )),
    }
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `card "Revenue" (#12)` — how reasons name the item at fault.
struct Named<'a> {
    kind: &'static str,
    name: Option<&'a str>,
    id: Option<&'a Value>,
}

impl<'a> Named<'a> {
    fn new(kind: &'static str, item: &'a Value, id: Option<&'a Value>) -> Self {
        Self { kind, name: item.get("name").and_then(Value::as_str), id }
    }
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = IdText(self.id.unwrap_or(&Value::Null));
        match self.name {
            Some(name) => write!(f, "{} {name:?} ({id})", self.kind),
            None => write!(f, "{} {id}", self.kind),
        }
    }
}

/// An id as `#12` (or the raw JSON when it is not a number).
struct IdText<'a>(&'a Value);

impl fmt::Display for IdText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Number(n) => write!(f, "#{n}"),
            Value::String(s) => write!(f, "#{s}"),
            Value::Null => f.write_str("(no id)"),
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests;
