//! Discovery (design §7): finds the dashboards and questions in each workspace's Metabase
//! collection, runs the isolation lint on them, publishes or quarantines them in Metabase, and
//! records the verdicts the embed signer relies on.
//!
//! Two entry points share one reconciliation: [`sync_workspace`] (one workspace, on request) and
//! [`sweep`] (every workspace, on the EventBridge schedule). Both list cheaply first (one bulk
//! call per kind, §19.2), fetch details only for new or changed items, and write only records
//! that changed.

mod events;
mod lambda;
mod listing;
mod sync;

use serde::Serialize;

pub use events::{EVENT_SOURCE, detail_type};
pub use lambda::{Invocation, handle_event, main};
pub use sync::{sweep, sync_workspace};

use crate::ids::WorkspaceId;

/// What one reconciliation did; the sweep adds up its workspaces' counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items listed in the workspace collections.
    pub seen: usize,
    /// Listed items without a record yet (detail fetched).
    pub new: usize,
    /// Listed items whose Metabase version differs from the record (detail fetched).
    pub changed: usize,
    /// `PUT … {enable_embedding: true}` made.
    pub published: usize,
    /// `PUT … {enable_embedding: false}` made.
    pub unpublished: usize,
    /// Records that became quarantined.
    pub quarantined: usize,
    /// Records that became removed.
    pub removed: usize,
    /// Every Metabase request made (listings, details, PUTs).
    pub metabase_calls: usize,
    /// Item records written to DynamoDB.
    pub dynamodb_writes: usize,
    /// Change events accepted by EventBridge.
    pub events: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.seen += other.seen;
        self.new += other.new;
        self.changed += other.changed;
        self.published += other.published;
        self.unpublished += other.unpublished;
        self.quarantined += other.quarantined;
        self.removed += other.removed;
        self.metabase_calls += other.metabase_calls;
        self.dynamodb_writes += other.dynamodb_writes;
        self.events += other.events;
    }
}

/// The outcome of [`sync_workspace`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub workspace_id: WorkspaceId,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The outcome of [`sweep`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Workspaces reconciled (active and archived ones with a collection).
    pub workspaces: usize,
    /// Workspaces whose reconciliation failed (logged; the others went on).
    pub failed: usize,
    /// Whether the bulk listing routes were missing and per-collection listing was used.
    pub fallback: bool,
    #[serde(flatten)]
    pub counts: Counts,
}
