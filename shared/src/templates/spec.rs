//! Dashboard template specs (`templates/*.json`, schema `templates/schema.json`): parsing, the
//! load-time validation, and the Metabase bodies a spec becomes.
//!
//! The specs are compiled into the binary, so a deployment never reads them from disk; they are
//! validated when a catalogue is built, and a spec whose card lacks the required tenant filter is
//! refused with a message naming the card. The tenant check is the isolation lint itself
//! ([`lint_card`]) run on the card as it will be created, so a spec passes exactly when the
//! question it creates would.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::lint::{LintOutcome, lint_card};

/// The specs shipped with the product, by file name.
const BUILTIN: [(&str, &str); 3] = [
    ("executive.json", include_str!("../../../templates/executive.json")),
    ("operational.json", include_str!("../../../templates/operational.json")),
    ("analytical.json", include_str!("../../../templates/analytical.json")),
];

/// The chart types a card may use (the schema's `display` enum).
pub const CHART_TYPES: [&str; 7] = ["line", "bar", "pie", "scatter", "table", "scalar", "funnel"];

/// The id of the tenant parameter on every template dashboard (Metabase accepts any string).
pub const TENANT_PARAMETER_ID: &str = "tb_tenant";

/// The name a spec gives its tenant filter tag. Specs are written once for every deployment, so
/// when the configured tenant slug differs, the tag is renamed to it at load (in the tag list and
/// in `{{...}}` references of the SQL) before validation; the data column stays as written.
pub const SPEC_TENANT_TAG: &str = "tenant_id";

/// One dashboard template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(rename = "$schema", default, skip_serializing)]
    pub schema: Option<String>,
    pub name: String,
    pub title: String,
    pub version: u32,
    pub description: String,
    #[serde(default)]
    pub tabs: Vec<String>,
    pub cards: Vec<CardSpec>,
}

/// One card of a template: a native SQL question and where it sits on the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSpec {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub display: String,
    #[serde(default)]
    pub tab: Option<String>,
    pub sql: String,
    pub tags: BTreeMap<String, TagSpec>,
    #[serde(default)]
    pub visualization_settings: Map<String, Value>,
    pub layout: Layout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub display_name: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    pub row: u32,
    pub col: u32,
    pub size_x: u32,
    pub size_y: u32,
}

/// What `GET /api/templates` shows of a spec.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub name: String,
    pub title: String,
    pub version: u32,
    pub description: String,
    pub charts: Vec<ChartSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChartSummary {
    pub key: String,
    pub name: String,
    pub display: String,
}

/// A validated set of specs.
#[derive(Debug, Clone)]
pub struct Catalog {
    specs: Vec<Spec>,
}

fn invalid(file: &str, message: impl std::fmt::Display) -> Error {
    Error::internal(format!("template {file}: {message}"))
}

fn is_identifier(raw: &str) -> bool {
    let mut chars = raw.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && raw.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Catalog {
    /// The specs compiled into the binary, validated for `tenant_slug`.
    ///
    /// # Errors
    /// A spec is invalid (a build defect, reported as a 500 naming the spec and card).
    pub fn builtin(tenant_slug: &str) -> Result<Self> {
        Self::from_sources(&BUILTIN, tenant_slug)
    }

    /// Parses and validates `(file name, JSON)` sources.
    ///
    /// # Errors
    /// A source does not parse, breaks a rule of the schema, repeats a name, or has a card
    /// without the required tenant filter; the message names the file and the card.
    pub fn from_sources(sources: &[(&str, &str)], tenant_slug: &str) -> Result<Self> {
        let mut specs: Vec<Spec> = Vec::new();
        for (file, text) in sources {
            let mut spec: Spec = serde_json::from_str(text).map_err(|e| invalid(file, e))?;
            spec.retarget_tenant_tag(file, tenant_slug)?;
            spec.validate(file, tenant_slug)?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(invalid(file, format!("another template is already named {:?}", spec.name)));
            }
            specs.push(spec);
        }
        Ok(Self { specs })
    }

    pub fn get(&self, name: &str) -> Option<&Spec> {
        self.specs.iter().find(|s| s.name == name)
    }

    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    pub fn summaries(&self) -> Vec<Summary> {
        self.specs.iter().map(Spec::summary).collect()
    }
}

impl Spec {
    fn summary(&self) -> Summary {
        Summary {
            name: self.name.clone(),
            title: self.title.clone(),
            version: self.version,
            description: self.description.clone(),
            charts: self
                .cards
                .iter()
                .map(|c| ChartSummary { key: c.key.clone(), name: c.name.clone(), display: c.display.clone() })
                .collect(),
        }
    }

    /// Renames the spec's tenant tag ([`SPEC_TENANT_TAG`]) to the configured slug.
    fn retarget_tenant_tag(&mut self, file: &str, tenant_slug: &str) -> Result<()> {
        if tenant_slug == SPEC_TENANT_TAG {
            return Ok(());
        }
        for card in &mut self.cards {
            let Some(tag) = card.tags.remove(SPEC_TENANT_TAG) else { continue };
            if card.tags.contains_key(tenant_slug) {
                return Err(invalid(
                    &format!("{file} ({})", self.name),
                    format!("card {:?}: tag {tenant_slug:?} clashes with the configured tenant slug", card.key),
                ));
            }
            card.tags.insert(tenant_slug.to_owned(), tag);
            let renamed = format!("{{{{{tenant_slug}}}}}");
            for written in [format!("{{{{{SPEC_TENANT_TAG}}}}}"), format!("{{{{ {SPEC_TENANT_TAG} }}}}")] {
                card.sql = card.sql.replace(&written, &renamed);
            }
        }
        Ok(())
    }

    fn validate(&self, file: &str, tenant_slug: &str) -> Result<()> {
        if !is_identifier(&self.name) {
            return Err(invalid(file, format!("name {:?} must match ^[a-z][a-z0-9_]{{0,39}}$", self.name)));
        }
        let this = format!("{file} ({})", self.name);
        if self.version == 0 {
            return Err(invalid(&this, "version must be 1 or more"));
        }
        if self.title.trim().is_empty() || self.title.chars().count() > 100 {
            return Err(invalid(&this, "title must be 1 to 100 characters"));
        }
        if self.description.trim().is_empty() {
            return Err(invalid(&this, "description is required"));
        }
        if self.cards.is_empty() {
            return Err(invalid(&this, "a template needs at least one card"));
        }
        let tabs: BTreeSet<&str> = self.tabs.iter().map(String::as_str).collect();
        if tabs.len() != self.tabs.len() || tabs.iter().any(|t| t.trim().is_empty()) {
            return Err(invalid(&this, "tab names must be unique and not blank"));
        }
        let mut keys = BTreeSet::new();
        for card in &self.cards {
            let named = format!("card {:?}", card.key);
            if !is_identifier(&card.key) || !keys.insert(card.key.as_str()) {
                return Err(invalid(&this, format!("{named}: keys must be unique and match ^[a-z][a-z0-9_]{{0,39}}$")));
            }
            if card.name.trim().is_empty() {
                return Err(invalid(&this, format!("{named}: name is required")));
            }
            if !CHART_TYPES.contains(&card.display.as_str()) {
                return Err(invalid(
                    &this,
                    format!("{named}: display {:?} is not one of {}", card.display, CHART_TYPES.join(", ")),
                ));
            }
            match (&card.tab, self.tabs.is_empty()) {
                (None, true) => {}
                (Some(tab), false) if tabs.contains(tab.as_str()) => {}
                (None, false) => return Err(invalid(&this, format!("{named}: the template has tabs; name one"))),
                (Some(tab), _) => return Err(invalid(&this, format!("{named}: tab {tab:?} is not one of the tabs"))),
            }
            let Layout { col, size_x, size_y, .. } = card.layout;
            if size_x == 0 || size_y == 0 || col + size_x > 24 {
                return Err(invalid(&this, format!("{named}: layout must fit the 24-column grid")));
            }
            if let Some((name, tag)) =
                card.tags.iter().find(|(_, t)| !matches!(t.kind.as_str(), "text" | "number" | "date"))
            {
                return Err(invalid(&this, format!("{named}: tag {name:?} has unsupported type {:?}", tag.kind)));
            }
            // The isolation lint on the question exactly as it will be created.
            let mut question = card.question(0, None);
            question["id"] = json!(card.key);
            if let LintOutcome::Quarantined { reasons } = lint_card(&question, tenant_slug) {
                return Err(invalid(&this, format!("{named} lacks a required tenant filter: {}", reasons.join("; "))));
            }
        }
        Ok(())
    }

    /// The dashboard's parameters: the tenant filter only (its slug is the one embeds lock).
    pub fn parameters(tenant_slug: &str) -> Value {
        json!([{"id": TENANT_PARAMETER_ID, "name": "Tenant", "slug": tenant_slug, "type": "string/=",
                "sectionId": "string"}])
    }
}

impl CardSpec {
    fn tag_id(&self, name: &str) -> String {
        format!("{}-{name}", self.key)
    }

    /// The `POST`/`PUT /api/card` body (§19.4): native query on `database`, template tags, and
    /// the parameters Metabase would synthesise from them (sent, as the UI does).
    pub fn question(&self, database: u64, collection: Option<u64>) -> Value {
        let tags: Map<String, Value> = self
            .tags
            .iter()
            .map(|(name, tag)| {
                let mut body = json!({"id": self.tag_id(name), "name": name, "display-name": tag.display_name,
                                      "type": tag.kind, "required": tag.required});
                if let Some(default) = &tag.default {
                    body["default"] = default.clone();
                }
                (name.clone(), body)
            })
            .collect();
        let parameters: Vec<Value> = self
            .tags
            .iter()
            .map(|(name, tag)| {
                let kind = match tag.kind.as_str() {
                    "date" => "date/single",
                    "number" => "number/=",
                    _ => "category",
                };
                json!({"id": self.tag_id(name), "slug": name, "name": tag.display_name, "type": kind,
                       "target": ["variable", ["template-tag", name]], "required": tag.required})
            })
            .collect();
        let mut body = json!({
            "name": self.name,
            "description": self.description,
            "display": self.display,
            "visualization_settings": self.visualization_settings,
            "type": "question",
            "dataset_query": {"database": database, "type": "native",
                              "native": {"query": self.sql, "template-tags": tags}},
            "parameters": parameters,
        });
        if let Some(collection) = collection {
            body["collection_id"] = json!(collection);
        }
        body
    }

    /// This card's dashcard: layout, tab, and the tenant parameter mapped to its tenant tag.
    pub fn dashcard(&self, id: i64, card_id: u64, tab_id: Option<i64>, tenant_slug: &str) -> Value {
        json!({
            "id": id,
            "card_id": card_id,
            "row": self.layout.row,
            "col": self.layout.col,
            "size_x": self.layout.size_x,
            "size_y": self.layout.size_y,
            "dashboard_tab_id": tab_id,
            "visualization_settings": {},
            "parameter_mappings": [{"parameter_id": TENANT_PARAMETER_ID, "card_id": card_id,
                                    "target": ["variable", ["template-tag", tenant_slug]]}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLUG: &str = "tenant_id";

    fn executive() -> Value {
        serde_json::from_str(BUILTIN[0].1).unwrap()
    }

    fn load(spec: &Value) -> Result<Catalog> {
        let text = spec.to_string();
        Catalog::from_sources(&[("broken.json", &text)], SLUG)
    }

    fn message(spec: &Value) -> String {
        load(spec).expect_err("the spec must be refused").to_string()
    }

    #[test]
    fn the_builtin_templates_load_and_use_every_chart_type() {
        let catalog = Catalog::builtin(SLUG).expect("builtin specs are valid");
        let names: Vec<&str> = catalog.specs().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["executive", "operational", "analytical"]);
        let used: BTreeSet<&str> =
            catalog.specs().iter().flat_map(|s| s.cards.iter().map(|c| c.display.as_str())).collect();
        assert_eq!(used, CHART_TYPES.into_iter().collect());
        for spec in catalog.specs() {
            assert_eq!(spec.cards.len(), 3, "{}", spec.name);
            assert!(spec.version >= 1);
        }
    }

    #[test]
    fn a_card_without_the_tenant_tag_is_refused_by_name() {
        let mut spec = executive();
        spec["cards"][1]["tags"] = json!({"region": {"type": "text", "display_name": "Region", "required": true}});
        spec["cards"][1]["sql"] = json!("SELECT * FROM campaigns WHERE region = {{region}}");
        let text = message(&spec);
        assert!(text.contains("card \"campaign_performance\""), "{text}");
        assert!(text.contains("Campaign performance"), "{text}");
        assert!(text.contains("tenant filter"), "{text}");
    }

    #[test]
    fn an_optional_defaulted_or_unused_tenant_tag_is_refused() {
        let mut optional = executive();
        optional["cards"][0]["tags"]["tenant_id"]["required"] = json!(false);
        assert!(message(&optional).contains("not required"));

        let mut defaulted = executive();
        defaulted["cards"][2]["tags"]["tenant_id"]["default"] = json!("acme");
        let text = message(&defaulted);
        assert!(text.contains("acquisition_trend") && text.contains("default"), "{text}");

        let mut in_optional_clause = executive();
        in_optional_clause["cards"][0]["sql"] =
            json!("SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]]");
        assert!(message(&in_optional_clause).contains("optional"));

        let mut commented_out = executive();
        commented_out["cards"][0]["sql"] = json!("SELECT * FROM orders -- WHERE tenant_id = {{tenant_id}}");
        assert!(message(&commented_out).contains("never uses"));
    }

    #[test]
    fn the_tenant_tag_follows_the_configured_slug() {
        let catalog = Catalog::builtin("customer").expect("specs load under another tenant slug");
        for card in catalog.specs().iter().flat_map(|s| &s.cards) {
            assert!(card.tags.contains_key("customer") && !card.tags.contains_key("tenant_id"), "{}", card.key);
            assert!(card.sql.contains("{{customer}}") && !card.sql.contains("{{tenant_id}}"), "{}", card.sql);
        }
        // The column keeps its name; only the tag is renamed.
        assert!(catalog.get("executive").unwrap().cards[0].sql.contains("WHERE tenant_id = {{customer}}"));

        // A card filtering through some other tag is still refused under any slug.
        let mut spec = executive();
        spec["cards"][0]["tags"] = json!({"org": {"type": "text", "display_name": "Org", "required": true}});
        spec["cards"][0]["sql"] = json!("SELECT * FROM orders WHERE tenant_id = {{org}}");
        let err = Catalog::from_sources(&[("broken.json", &spec.to_string())], "customer").unwrap_err().to_string();
        assert!(err.contains("card \"revenue\""), "{err}");

        let mut clash = executive();
        clash["cards"][0]["tags"]["customer"] = json!({"type": "text", "display_name": "C", "required": false});
        let err = Catalog::from_sources(&[("clash.json", &clash.to_string())], "customer").unwrap_err().to_string();
        assert!(err.contains("clashes"), "{err}");
    }

    #[test]
    fn schema_rules_are_enforced() {
        let mut chart = executive();
        chart["cards"][0]["display"] = json!("gauge");
        assert!(message(&chart).contains("display \"gauge\""));

        let mut unknown = executive();
        unknown["cards"][0]["colour"] = json!("red");
        assert!(message(&unknown).contains("unknown field"));

        let mut tab = executive();
        tab["cards"][0]["tab"] = json!("Elsewhere");
        assert!(message(&tab).contains("tab \"Elsewhere\""));

        let mut version = executive();
        version["version"] = json!(0);
        assert!(message(&version).contains("version"));

        let mut keys = executive();
        keys["cards"][1]["key"] = json!("revenue");
        assert!(message(&keys).contains("unique"));

        let text = executive().to_string();
        let twice = Catalog::from_sources(&[("a.json", &text), ("b.json", &text)], SLUG).unwrap_err().to_string();
        assert!(twice.contains("already named"), "{twice}");
    }

    #[test]
    fn bodies_wire_the_tenant_tag() {
        let catalog = Catalog::builtin(SLUG).unwrap();
        let card = &catalog.get("executive").unwrap().cards[0];
        let question = card.question(7, Some(3));
        assert_eq!(question["dataset_query"]["database"], 7);
        assert_eq!(question["collection_id"], 3);
        assert_eq!(question["dataset_query"]["native"]["template-tags"]["tenant_id"]["required"], true);
        let dashcard = card.dashcard(-1, 42, Some(-2), SLUG);
        assert_eq!(dashcard["parameter_mappings"][0]["card_id"], 42);
        assert_eq!(dashcard["parameter_mappings"][0]["target"], json!(["variable", ["template-tag", "tenant_id"]]));
        assert_eq!(dashcard["dashboard_tab_id"], -2);
    }
}
