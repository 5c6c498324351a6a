//! Read-modify-write of Metabase's permission graphs (§11, §12): read the graph and its
//! revision, compute a sparse patch, write it with that revision, and on `409` (someone else
//! changed a graph, or a collection was created, since the read) read again and re-plan.
//! Patches are idempotent, so repeating one after an ambiguous failure is safe.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::client::{MetabaseClient, RetryPolicy};
use super::types::{CollectionGraph, DataPermissionGraph, GraphPatch};
use crate::error::{Error, Result};

/// Collection-graph cells to set: group id → collection id (or `root`) → `read|write|none`.
pub type CollectionCells = BTreeMap<String, BTreeMap<String, String>>;
/// Data-graph cells to set: group id → database id → permission type → value.
pub type DataCells = BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>;

/// How many stale-revision conflicts a single patch tolerates before giving up.
const CONFLICT_ATTEMPTS: u32 = 8;
const CONFLICT_BACKOFF: RetryPolicy = RetryPolicy {
    attempts: CONFLICT_ATTEMPTS,
    base_delay: Duration::from_millis(50),
    max_delay: Duration::from_secs(2),
};

/// Whether a patch changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patched {
    Changed,
    AlreadyInPlace,
}

impl MetabaseClient {
    /// Applies `plan` to the collection graph until it reports nothing left to change.
    ///
    /// # Errors
    /// Metabase failed, or the revision kept moving for every attempt.
    pub async fn patch_collection_graph<F>(&self, mut plan: F) -> Result<Patched>
    where
        F: FnMut(&CollectionGraph) -> Option<CollectionCells>,
    {
        let mut changed = false;
        for attempt in 0..CONFLICT_ATTEMPTS {
            let graph = self.collection_graph().await?;
            let Some(groups) = plan(&graph) else {
                return Ok(if changed { Patched::Changed } else { Patched::AlreadyInPlace });
            };
            match self.put_collection_graph(&GraphPatch { revision: graph.revision, groups }).await {
                // Re-read once more: the plan decides whether the write took (and nothing else
                // needs changing), which also covers a lost response after a successful write.
                Ok(()) => changed = true,
                Err(e) if e.is_status(409) => tokio::time::sleep(CONFLICT_BACKOFF.delay(attempt)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::unavailable("metabase", "the collection graph kept changing; giving up after repeated 409s"))
    }

    /// Applies `plan` to the data-permission graph until it reports nothing left to change.
    ///
    /// # Errors
    /// Metabase failed, or the revision kept moving for every attempt.
    pub async fn patch_data_graph<F>(&self, mut plan: F) -> Result<Patched>
    where
        F: FnMut(&DataPermissionGraph) -> Option<DataCells>,
    {
        let mut changed = false;
        for attempt in 0..CONFLICT_ATTEMPTS {
            let graph = self.data_graph().await?;
            let Some(groups) = plan(&graph) else {
                return Ok(if changed { Patched::Changed } else { Patched::AlreadyInPlace });
            };
            match self.put_data_graph(&GraphPatch { revision: graph.revision, groups }).await {
                Ok(()) => changed = true,
                Err(e) if e.is_status(409) => tokio::time::sleep(CONFLICT_BACKOFF.delay(attempt)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::unavailable("metabase", "the data permission graph kept changing; giving up after repeated 409s"))
    }
}
