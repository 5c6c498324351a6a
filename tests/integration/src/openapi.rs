//! `openapi.yaml` as a test oracle: which operations it describes, and whether a real response
//! (status, content type, JSON body) is one the description allows. [`crate::api::call`] checks
//! every response the integration tests receive, so the description cannot drift from the code.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tenantbase::routes::{self, ROUTES, RouteMatch};

/// The parsed description with compiled response schemas, cached per operation and status.
pub struct ApiDescription {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The repository's `openapi.yaml`, read once per test binary.
pub fn description() -> &'static ApiDescription {
    static DESCRIPTION: OnceLock<ApiDescription> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        ApiDescription::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl ApiDescription {
    /// # Errors
    /// The text is not YAML or has no `paths` object.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
        if !doc["paths"].is_object() {
            return Err("no paths object".to_owned());
        }
        Ok(Self { doc, validators: Mutex::new(HashMap::new()) })
    }

    /// Every `(METHOD, path template)` the description has an operation for.
    pub fn operations(&self) -> BTreeSet<(String, String)> {
        let mut found = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
                found.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
        found
    }

    /// Checks one response against the operation that `method` and `path` (query string allowed)
    /// resolve to through the route table. A request no route serves must get an error body.
    ///
    /// # Errors
    /// A sentence saying what does not match.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let path = path.split('?').next().unwrap_or(path);
        let template = route_template(method, path);
        // A CORS preflight answer is no operation: no body, headers only.
        if template.is_none() && method == "OPTIONS" && status == 204 {
            return if body.is_empty() { Ok(()) } else { Err("a preflight answer has a body".to_owned()) };
        }
        let operation_name = template.map_or_else(|| "an unrouted request".to_owned(), |t| format!("{method} {t}"));
        let response = match template {
            Some(template) => {
                let operation = &self.doc["paths"][template][method.to_ascii_lowercase()];
                if !operation.is_object() {
                    return Err(format!("openapi.yaml has no operation {method} {template}"));
                }
                let responses = &operation["responses"];
                let response = responses
                    .get(status.to_string())
                    .or_else(|| responses.get("default"))
                    .ok_or_else(|| format!("{operation_name}: status {status} is not described"))?;
                self.resolve(response)?
            }
            None => self.doc["components"]["responses"]["Error"].clone(),
        };
        let Some(schema) = response.get("content").map(|c| &c["application/json"]["schema"]) else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{operation_name} → {status}: described without a body, but one came"))
            };
        };
        let media = content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        if media.as_deref() != Some("application/json") {
            return Err(format!("{operation_name} → {status}: content type {content_type:?}, not application/json"));
        }
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{operation_name} → {status}: the body is not JSON ({e})"))?;
        let validator = self.validator(&format!("{operation_name} {status}"), schema)?;
        let problems: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("at {}: {e}", e.instance_path())).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{operation_name} → {status} does not match openapi.yaml:\n  {}\nbody: {instance}",
                problems.join("\n  ")
            ))
        }
    }

    /// Follows a `#/components/...` reference (once is all the description uses for responses).
    fn resolve(&self, value: &Value) -> Result<Value, String> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.strip_prefix('#').ok_or_else(|| format!("external reference {reference}"))?;
                self.doc.pointer(pointer).cloned().ok_or_else(|| format!("dangling reference {reference}"))
            }
            None => Ok(value.clone()),
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(validator) = cache.get(key) {
            return Ok(validator.clone());
        }
        // The schema's `#/components/...` references resolve inside this wrapper document.
        let wrapper = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = Arc::new(
            jsonschema::draft202012::new(&wrapper).map_err(|e| format!("{key}: the schema does not compile: {e}"))?,
        );
        cache.insert(key.to_owned(), validator.clone());
        Ok(validator)
    }
}

/// The route-table path template that serves `method path`, if any function serves it.
pub fn route_template(method: &str, path: &str) -> Option<&'static str> {
    let method: http::Method = method.parse().ok()?;
    let mut functions: Vec<_> = ROUTES.iter().map(|r| r.function).collect();
    functions.dedup();
    functions.into_iter().find_map(|function| match routes::resolve(function, &method, path) {
        RouteMatch::Found(route, _) => Some(route.path),
        _ => None,
    })
}
