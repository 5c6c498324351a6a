//! Reading a card's `dataset_query` in both shapes Metabase returns (legacy, and MBQL 5 since 0.57,
//! §19.4) and resolving `parameter_mappings` targets against it (§19.3).

use serde_json::{Map, Value};

/// The part of a card's query the lint needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Query<'a> {
    /// SQL with its template tags (legacy `native`, or the first MBQL 5 stage).
    Native { sql: &'a str, tags: Option<&'a Map<String, Value>> },
    /// A structured (MBQL) query: filterable through `["field", …]` targets.
    Mbql,
    /// No query at all (missing, `{}`, or a card reduced to `{id}` because it is unreadable).
    Missing,
    /// A query in a shape the lint does not understand: never trusted.
    Unreadable,
}

impl<'a> Query<'a> {
    /// Classifies `card["dataset_query"]`.
    pub(crate) fn of_card(card: &'a Value) -> Self {
        let Some(query) = card.get("dataset_query").and_then(Value::as_object) else { return Query::Missing };
        if query.is_empty() {
            return Query::Missing;
        }
        if let Some(stages) = query.get("stages") {
            let Some(stage) = stages.as_array().and_then(|s| s.first()).and_then(Value::as_object) else {
                return Query::Unreadable;
            };
            return match stage.get("lib/type").and_then(Value::as_str) {
                Some("mbql.stage/native") => native(stage.get("native"), stage.get("template-tags")),
                Some("mbql.stage/mbql") => Query::Mbql,
                _ => Query::Unreadable,
            };
        }
        match query.get("type").and_then(Value::as_str) {
            Some("native") => {
                let Some(inner) = query.get("native") else { return Query::Unreadable };
                native(inner.get("query"), inner.get("template-tags"))
            }
            Some("query") if query.get("query").is_some_and(Value::is_object) => Query::Mbql,
            _ => Query::Unreadable,
        }
    }
}

fn native<'a>(sql: Option<&'a Value>, tags: Option<&'a Value>) -> Query<'a> {
    match sql.and_then(Value::as_str) {
        Some(sql) => Query::Native { sql, tags: tags.and_then(Value::as_object) },
        None => Query::Unreadable,
    }
}

/// What a `parameter_mappings[].target` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// `["variable"|"dimension", ["template-tag", <name> | {"id": <tag id>}], {"stage-number": 0}?]`.
    TemplateTag { wrapper: Wrapper, tag: TagRef<'a> },
    /// `["dimension", ["field", <id|name>, opts], opts?]`.
    Field,
    /// Anything else (`text-tag`, expressions, malformed targets).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrapper {
    Variable,
    Dimension,
}

impl Wrapper {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Wrapper::Variable => "variable",
            Wrapper::Dimension => "dimension",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagRef<'a> {
    Name(&'a str),
    Id(&'a str),
}

impl<'a> Target<'a> {
    pub(crate) fn parse(target: &'a Value) -> Self {
        let Some(parts) = target.as_array() else { return Target::Other };
        let (Some(wrapper), Some(inner)) = (parts.first().and_then(Value::as_str), parts.get(1)) else {
            return Target::Other;
        };
        let wrapper = match wrapper {
            "variable" => Wrapper::Variable,
            "dimension" => Wrapper::Dimension,
            _ => return Target::Other,
        };
        // Only stage 0 exists in a native query; a target aimed at a later stage filters nothing
        // there, and for MBQL a stage option never changes whether a field is filtered.
        let stage_zero = match parts.get(2) {
            None | Some(Value::Null) => true,
            Some(Value::Object(options)) => {
                options.get("stage-number").is_none_or(|n| n.as_i64() == Some(0) || n.is_null())
            }
            Some(_) => return Target::Other,
        };
        if parts.len() > 3 {
            return Target::Other;
        }
        let Some(reference) = inner.as_array() else { return Target::Other };
        match (reference.first().and_then(Value::as_str), reference.get(1)) {
            (Some("template-tag"), Some(tag)) if stage_zero && reference.len() == 2 => {
                let tag = match tag {
                    Value::String(name) => TagRef::Name(name),
                    Value::Object(by_id) => match by_id.get("id").and_then(Value::as_str) {
                        Some(id) => TagRef::Id(id),
                        None => return Target::Other,
                    },
                    _ => return Target::Other,
                };
                Target::TemplateTag { wrapper, tag }
            }
            (Some("field"), Some(Value::Number(_) | Value::String(_))) if wrapper == Wrapper::Dimension => {
                Target::Field
            }
            _ => Target::Other,
        }
    }
}

/// Finds a template tag by name (the map key, which Metabase requires to equal `name`) or by id.
pub(crate) fn find_tag<'a>(tags: Option<&'a Map<String, Value>>, tag: TagRef<'_>) -> Option<(&'a str, &'a Value)> {
    let tags = tags?;
    match tag {
        TagRef::Name(name) => tags.get_key_value(name).map(|(k, v)| (k.as_str(), v)),
        TagRef::Id(id) => {
            tags.iter().find(|(_, v)| v.get("id").and_then(Value::as_str) == Some(id)).map(|(k, v)| (k.as_str(), v))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_query_shapes_are_read() {
        let legacy = json!({"dataset_query": {"type": "native", "database": 2,
            "native": {"query": "SELECT 1", "template-tags": {"t": {"name": "t"}}}}});
        assert!(matches!(Query::of_card(&legacy), Query::Native { sql: "SELECT 1", tags: Some(_) }));
        let mbql5 = json!({"dataset_query": {"lib/type": "mbql/query", "database": 2,
            "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT 2"}]}});
        assert!(matches!(Query::of_card(&mbql5), Query::Native { sql: "SELECT 2", tags: None }));
        let legacy_mbql = json!({"dataset_query": {"type": "query", "database": 2, "query": {"source-table": 10}}});
        assert!(matches!(Query::of_card(&legacy_mbql), Query::Mbql));
        let mbql5_mbql = json!({"dataset_query": {"stages": [{"lib/type": "mbql.stage/mbql", "source-table": 10}]}});
        assert!(matches!(Query::of_card(&mbql5_mbql), Query::Mbql));
    }

    #[test]
    fn missing_and_strange_queries_are_told_apart() {
        assert!(matches!(Query::of_card(&json!({"id": 3})), Query::Missing));
        assert!(matches!(Query::of_card(&json!({"dataset_query": {}})), Query::Missing));
        assert!(matches!(Query::of_card(&json!({"dataset_query": null})), Query::Missing));
        assert!(matches!(Query::of_card(&json!({"dataset_query": {"type": "native"}})), Query::Unreadable));
        assert!(matches!(Query::of_card(&json!({"dataset_query": {"stages": []}})), Query::Unreadable));
        assert!(matches!(Query::of_card(&json!({"dataset_query": {"type": "bogus"}})), Query::Unreadable));
    }

    #[test]
    fn targets_are_parsed_in_every_documented_form() {
        let by_name = json!(["variable", ["template-tag", "tenant_id"]]);
        assert_eq!(
            Target::parse(&by_name),
            Target::TemplateTag { wrapper: Wrapper::Variable, tag: TagRef::Name("tenant_id") }
        );
        let by_id = json!(["dimension", ["template-tag", {"id": "abc"}], {"stage-number": 0}]);
        assert_eq!(Target::parse(&by_id), Target::TemplateTag { wrapper: Wrapper::Dimension, tag: TagRef::Id("abc") });
        assert_eq!(Target::parse(&json!(["dimension", ["field", 101, null]])), Target::Field);
        assert_eq!(
            Target::parse(&json!(["dimension", ["field", "tenant_id", {"base-type": "type/Text"}]])),
            Target::Field
        );
        assert_eq!(Target::parse(&json!(["dimension", ["field", 101, null], {"stage-number": 0}])), Target::Field);
    }

    #[test]
    fn other_targets_are_rejected() {
        for target in [
            json!(["text-tag", "tenant_id"]),
            json!(["variable", ["field", 101, null]]),
            json!(["dimension", ["expression", "x"]]),
            json!(["dimension", ["template-tag", "t"], {"stage-number": 1}]),
            json!(["dimension", ["template-tag", 7]]),
            json!("tenant_id"),
            json!(null),
        ] {
            assert_eq!(Target::parse(&target), Target::Other, "{target}");
        }
    }
}
