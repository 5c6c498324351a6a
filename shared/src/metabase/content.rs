//! Dashboards and questions (§14, §19.2): the listings discovery enumerates, the details the
//! isolation lint reads, and the embedding switch it flips (PUT: Metabase has no PATCH route).

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};

use super::client::{MetabaseClient, MetabaseError};
use crate::ids::{MetabaseCardId, MetabaseCollectionId, MetabaseDashboardId};
use crate::signer::EmbeddingParamMode;

/// One page of `GET /api/collection/:id/items`.
const ITEMS_PAGE: usize = 500;

/// Whether an error is Metabase's answer for a route it does not have (§1), as opposed to a
/// missing object (`404 Not found.`).
fn is_missing_route(error: &MetabaseError) -> bool {
    error.is_status(404) && error.body.contains("API endpoint does not exist")
}

/// `None` for a 404 (deleted object, or a route this version lacks), the body otherwise.
fn found<T>(result: Result<T, MetabaseError>) -> Result<Option<T>, MetabaseError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_status(404) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The `PUT` body that publishes (`Some(params)`) or un-publishes (`None`) an item.
fn embedding_body(params: Option<&BTreeMap<String, EmbeddingParamMode>>) -> Value {
    match params {
        Some(params) => json!({"enable_embedding": true, "embedding_params": params}),
        None => json!({"enable_embedding": false}),
    }
}

impl MetabaseClient {
    /// `GET /api/dashboard/` (§19.2): every readable, non-archived dashboard in one call, with
    /// `collection_id`, `updated_at` and `enable_embedding`. `None` when this Metabase no longer has
    /// the (deprecated) route, so the caller falls back to per-collection listing.
    ///
    /// # Errors
    /// Metabase failed otherwise.
    pub async fn all_dashboards(&self) -> Result<Option<Vec<Value>>, MetabaseError> {
        match self.call(Method::GET, "api/dashboard/", &[("f", "all".to_owned())], None, true).await {
            Ok(list) => Ok(Some(list)),
            Err(error) if is_missing_route(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `GET /api/card/` (§19.2): every readable, non-archived card (dashboard questions included).
    /// `None` when the route is missing.
    ///
    /// # Errors
    /// Metabase failed otherwise.
    pub async fn all_cards(&self) -> Result<Option<Vec<Value>>, MetabaseError> {
        match self.call(Method::GET, "api/card/", &[("f", "all".to_owned())], None, true).await {
            Ok(list) => Ok(Some(list)),
            Err(error) if is_missing_route(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One page of a collection's dashboards and cards, dashboard questions included (§9, §19.2):
    /// `(items, total)`.
    ///
    /// # Errors
    /// Metabase failed or answered an unexpected shape.
    pub async fn collection_content_page(
        &self,
        collection: MetabaseCollectionId,
        offset: usize,
    ) -> Result<(Vec<Value>, usize), MetabaseError> {
        let path = format!("api/collection/{collection}/items");
        let query = [
            ("models", "dashboard".to_owned()),
            ("models", "card".to_owned()),
            ("show_dashboard_questions", "true".to_owned()),
            ("limit", ITEMS_PAGE.to_string()),
            ("offset", offset.to_string()),
        ];
        let page: Value = self.call(Method::GET, &path, &query, None, true).await?;
        let total = page.get("total").and_then(Value::as_u64).unwrap_or_default() as usize;
        match page.get("data").and_then(Value::as_array) {
            Some(items) => Ok((items.clone(), total)),
            None => Err(MetabaseError {
                method: Method::GET,
                path,
                status: Some(http::StatusCode::OK),
                body: "unexpected response shape: no data array".to_owned(),
            }),
        }
    }

    /// The page size of [`MetabaseClient::collection_content_page`].
    pub fn collection_page_size() -> usize {
        ITEMS_PAGE
    }

    /// `GET /api/dashboard/:id` with dashcards and mappings (§19.3); `None` when deleted.
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn dashboard(&self, id: MetabaseDashboardId) -> Result<Option<Value>, MetabaseError> {
        found(self.get(&format!("api/dashboard/{id}")).await)
    }

    /// `GET /api/card/:id` (§14); `None` when deleted.
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn card(&self, id: MetabaseCardId) -> Result<Option<Value>, MetabaseError> {
        found(self.get(&format!("api/card/{id}")).await)
    }

    /// `PUT /api/dashboard/:id` with `enable_embedding` (and `embedding_params` when publishing);
    /// returns the updated dashboard.
    ///
    /// # Errors
    /// Metabase refused (e.g. `400 Embedding is not enabled.`, §14).
    pub async fn set_dashboard_embedding(
        &self,
        id: MetabaseDashboardId,
        params: Option<&BTreeMap<String, EmbeddingParamMode>>,
    ) -> Result<Value, MetabaseError> {
        self.put(&format!("api/dashboard/{id}"), &embedding_body(params)).await
    }

    /// `POST /api/card` (§19.4): a new card; returns it. Not retried after an ambiguous failure
    /// (a repeat would create a second card).
    ///
    /// # Errors
    /// Metabase refused (e.g. `400` for an invalid query, `403` without write on the collection).
    pub async fn create_card(&self, body: &Value) -> Result<Value, MetabaseError> {
        self.post("api/card", body).await
    }

    /// `PUT /api/card/:id` with any card fields (partial update); returns the card.
    ///
    /// # Errors
    /// Metabase refused.
    pub async fn update_card(&self, id: MetabaseCardId, body: &Value) -> Result<Value, MetabaseError> {
        self.put(&format!("api/card/{id}"), body).await
    }

    /// `POST /api/dashboard` (§14): a new, empty dashboard; returns it.
    ///
    /// # Errors
    /// Metabase refused.
    pub async fn create_dashboard(&self, body: &Value) -> Result<Value, MetabaseError> {
        self.post("api/dashboard", body).await
    }

    /// `PUT /api/dashboard/:id` with any dashboard fields; with `dashcards` and `tabs` it replaces
    /// the layout in one transaction (§19.4). Returns the full dashboard.
    ///
    /// # Errors
    /// Metabase refused.
    pub async fn update_dashboard(&self, id: MetabaseDashboardId, body: &Value) -> Result<Value, MetabaseError> {
        self.put(&format!("api/dashboard/{id}"), body).await
    }

    /// `PUT /api/card/:id`, as [`MetabaseClient::set_dashboard_embedding`].
    ///
    /// # Errors
    /// Metabase refused.
    pub async fn set_card_embedding(
        &self,
        id: MetabaseCardId,
        params: Option<&BTreeMap<String, EmbeddingParamMode>>,
    ) -> Result<Value, MetabaseError> {
        self.put(&format!("api/card/{id}"), &embedding_body(params)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_locks_and_unpublish_only_switches_off() {
        let params = BTreeMap::from([
            ("tenant_id".to_owned(), EmbeddingParamMode::Locked),
            ("channel".to_owned(), EmbeddingParamMode::Enabled),
        ]);
        assert_eq!(
            embedding_body(Some(&params)),
            json!({"enable_embedding": true, "embedding_params": {"channel": "enabled", "tenant_id": "locked"}})
        );
        assert_eq!(embedding_body(None), json!({"enable_embedding": false}));
    }

    #[test]
    fn a_missing_route_is_told_apart_from_a_missing_object() {
        let error = |body: &str| MetabaseError {
            method: Method::GET,
            path: "api/dashboard/".into(),
            status: Some(http::StatusCode::NOT_FOUND),
            body: body.into(),
        };
        assert!(is_missing_route(&error("API endpoint does not exist.")));
        assert!(!is_missing_route(&error("Not found.")));
    }
}
