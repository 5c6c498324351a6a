//! The cheap first pass: which dashboards and standalone questions exist in which collection, and
//! each one's version (`updated_at`), from the bulk routes or, where those are gone, from
//! per-collection listing (§19.2).

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::error::Result;
use crate::ids::MetabaseCollectionId;
use crate::items::ItemKind;
use crate::metabase::MetabaseClient;

/// How many collection listings run at once in the fallback.
const FALLBACK_CONCURRENCY: usize = 8;

/// One dashboard or standalone question as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    pub kind: ItemKind,
    pub id: u64,
    pub name: String,
    /// Metabase's `updated_at`: unchanged means no detail fetch.
    pub version: String,
    /// Known from the bulk routes only (collection items do not carry it).
    pub enable_embedding: Option<bool>,
}

/// Everything one pass listed.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub by_collection: HashMap<MetabaseCollectionId, Vec<Listed>>,
    /// Every card's version (dashboard questions included), so a dashboard whose card changed is
    /// re-linted even though the dashboard itself did not change.
    pub card_versions: HashMap<u64, String>,
    /// Whether per-collection listing stood in for the missing bulk routes.
    pub fallback: bool,
    /// Metabase requests made.
    pub calls: usize,
}

/// The version Metabase gives an item: `updated_at`, or (collection items) the last edit's time.
pub(super) fn version_of(item: &Value) -> String {
    item.get("updated_at")
        .and_then(Value::as_str)
        .or_else(|| item.get("last-edit-info").and_then(|i| i.get("timestamp")).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// A card discovery treats as a question: not archived, not a model or metric, and not a dashboard
/// question (those live on their dashboard and are linted as part of it).
pub(super) fn is_standalone_question(card: &Value) -> bool {
    let kind = card.get("type").and_then(Value::as_str).unwrap_or("question");
    kind == "question"
        && card.get("dashboard_id").is_none_or(Value::is_null)
        && card.get("archived").and_then(Value::as_bool) != Some(true)
}

fn collection_of(item: &Value) -> Option<MetabaseCollectionId> {
    item.get("collection_id").and_then(Value::as_u64).filter(|id| *id > 0).map(MetabaseCollectionId)
}

fn listed(kind: ItemKind, item: &Value) -> Option<Listed> {
    Some(Listed {
        kind,
        id: item.get("id").and_then(Value::as_u64)?,
        name: item.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        version: version_of(item),
        enable_embedding: item.get("enable_embedding").and_then(Value::as_bool),
    })
}

impl Listing {
    /// Lists `collections`: two bulk calls whatever their number, or, when this Metabase lacks the
    /// bulk routes, each collection's items (paged, a few at a time).
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn fetch(metabase: &MetabaseClient, collections: &[MetabaseCollectionId]) -> Result<Self> {
        let dashboards = metabase.all_dashboards().await?;
        let mut calls = 1;
        let cards = if dashboards.is_some() {
            calls += 1;
            metabase.all_cards().await?
        } else {
            None
        };
        if let (Some(dashboards), Some(cards)) = (dashboards, cards) {
            let mut listing = Self::from_bulk(&dashboards, &cards);
            listing.calls = calls;
            return Ok(listing);
        }
        tracing::warn!("bulk listing routes are missing; listing each workspace collection instead");
        let pages: Vec<(MetabaseCollectionId, Vec<Value>, usize)> = stream::iter(collections.iter().copied())
            .map(|collection| async move {
                let (items, calls) = Self::collection_items(metabase, collection).await?;
                Ok::<_, crate::Error>((collection, items, calls))
            })
            .buffer_unordered(FALLBACK_CONCURRENCY)
            .try_collect()
            .await?;
        let mut listing = Self { fallback: true, calls, ..Self::default() };
        for (collection, items, calls) in pages {
            listing.calls += calls;
            listing.add_collection_items(collection, &items);
        }
        Ok(listing)
    }

    async fn collection_items(
        metabase: &MetabaseClient,
        collection: MetabaseCollectionId,
    ) -> Result<(Vec<Value>, usize)> {
        let mut items = Vec::new();
        let mut calls = 0;
        loop {
            let (page, total) = metabase.collection_content_page(collection, items.len()).await?;
            calls += 1;
            let short = page.len() < MetabaseClient::collection_page_size();
            items.extend(page);
            if short || items.len() >= total {
                return Ok((items, calls));
            }
        }
    }

    fn from_bulk(dashboards: &[Value], cards: &[Value]) -> Self {
        let mut listing = Self::default();
        for dashboard in dashboards.iter().filter(|d| d.get("archived").and_then(Value::as_bool) != Some(true)) {
            if let (Some(collection), Some(item)) = (collection_of(dashboard), listed(ItemKind::Dashboard, dashboard)) {
                listing.by_collection.entry(collection).or_default().push(item);
            }
        }
        for card in cards {
            if let Some(id) = card.get("id").and_then(Value::as_u64) {
                listing.card_versions.insert(id, version_of(card));
            }
            if !is_standalone_question(card) {
                continue;
            }
            if let (Some(collection), Some(item)) = (collection_of(card), listed(ItemKind::Question, card)) {
                listing.by_collection.entry(collection).or_default().push(item);
            }
        }
        listing
    }

    fn add_collection_items(&mut self, collection: MetabaseCollectionId, items: &[Value]) {
        for item in items.iter().filter(|i| i.get("archived").and_then(Value::as_bool) != Some(true)) {
            let kind = match item.get("model").and_then(Value::as_str) {
                Some("dashboard") => ItemKind::Dashboard,
                Some("card") => {
                    if let Some(id) = item.get("id").and_then(Value::as_u64) {
                        self.card_versions.insert(id, version_of(item));
                    }
                    if !is_standalone_question(item) {
                        continue;
                    }
                    ItemKind::Question
                }
                _ => continue,
            };
            if let Some(found) = listed(kind, item) {
                self.by_collection.entry(collection).or_default().push(found);
            }
        }
    }

    /// The listed items of one collection.
    pub fn of(&self, collection: MetabaseCollectionId) -> &[Listed] {
        self.by_collection.get(&collection).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bulk_listing_groups_by_collection_and_keeps_dashboard_questions_out() {
        let dashboards = [
            json!({"id": 1, "name": "Sales", "collection_id": 7, "updated_at": "t1", "enable_embedding": true}),
            json!({"id": 2, "name": "Root", "collection_id": null, "updated_at": "t2"}),
        ];
        let cards = [
            json!({"id": 10, "name": "Q", "collection_id": 7, "updated_at": "c1", "type": "question",
                   "dashboard_id": null, "enable_embedding": false}),
            json!({"id": 11, "name": "On dash", "collection_id": 7, "updated_at": "c2", "dashboard_id": 1}),
            json!({"id": 12, "name": "Model", "collection_id": 7, "updated_at": "c3", "type": "model"}),
        ];
        let listing = Listing::from_bulk(&dashboards, &cards);
        let ours = listing.of(MetabaseCollectionId(7));
        assert_eq!(
            ours,
            [
                Listed {
                    kind: ItemKind::Dashboard,
                    id: 1,
                    name: "Sales".into(),
                    version: "t1".into(),
                    enable_embedding: Some(true)
                },
                Listed {
                    kind: ItemKind::Question,
                    id: 10,
                    name: "Q".into(),
                    version: "c1".into(),
                    enable_embedding: Some(false)
                },
            ]
        );
        assert_eq!(listing.card_versions.len(), 3, "every card's version, for dashboard re-lints");
        assert!(listing.of(MetabaseCollectionId(8)).is_empty());
    }

    #[test]
    fn collection_items_use_the_last_edit_time() {
        let mut listing = Listing::default();
        listing.add_collection_items(
            MetabaseCollectionId(3),
            &[
                json!({"id": 4, "model": "dashboard", "name": "D", "last-edit-info": {"timestamp": "e1"}}),
                json!({"id": 5, "model": "card", "name": "Q", "dashboard_id": null, "last-edit-info": {"timestamp": "e2"}}),
                json!({"id": 6, "model": "card", "name": "DQ", "dashboard_id": 4, "last-edit-info": {"timestamp": "e3"}}),
                json!({"id": 7, "model": "collection", "name": "Sub"}),
            ],
        );
        let versions: Vec<(u64, &str)> =
            listing.of(MetabaseCollectionId(3)).iter().map(|l| (l.id, l.version.as_str())).collect();
        assert_eq!(versions, [(4, "e1"), (5, "e2")]);
        assert_eq!(listing.card_versions.get(&6).map(String::as_str), Some("e3"));
    }
}
