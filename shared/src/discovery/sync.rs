//! The reconciliation of one workspace against a listing, and the two ways it runs: on request
//! for one workspace, and the scheduled sweep over all of them.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::events::{self, Change};
use super::listing::{Listed, Listing, is_standalone_question, version_of};
use super::{Counts, SweepReport, SyncReport};
use crate::deps::Deps;
use crate::error::Result;
use crate::ids::{MetabaseCardId, MetabaseCollectionId, MetabaseDashboardId, WorkspaceId};
use crate::items::{self, ItemKind, ItemRecord, ItemRef, ItemStatus, ItemView};
use crate::lint::{EmbedParamMode, LintOutcome, PublishAction, lint_card, lint_dashboard, needs_publish};
use crate::metabase::MetabaseClient;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::{Condition, Store, WriteOutcome, keys};
use crate::workspaces::{self, Status, Workspace};

/// Workspaces reconciled at once by the sweep.
const SWEEP_CONCURRENCY: usize = 8;

/// The version recorded for an item held back by a revocation: it never equals Metabase's, so the
/// item is looked at again on every pass until it can be published.
const RECHECK: &str = "";

/// One pass's fixed inputs.
struct Pass<'a> {
    deps: &'a Deps,
    metabase: MetabaseClient,
    now_unix: i64,
    now: String,
    /// Which workspace owns each collection (the sweep knows them all; an on-request sync asks
    /// the table when it needs to).
    owners: Option<HashMap<MetabaseCollectionId, WorkspaceId>>,
}

/// What one workspace's reconciliation produced.
struct Outcome {
    counts: Counts,
    changes: Vec<Change>,
}

/// `MBCOLL#<collection>/MBCOLL`, written by provisioning.
#[derive(Deserialize)]
struct CollectionOwner {
    workspace_id: WorkspaceId,
}

impl Pass<'_> {
    async fn new(deps: &Deps, owners: Option<HashMap<MetabaseCollectionId, WorkspaceId>>) -> Result<Pass<'_>> {
        Ok(Pass {
            deps,
            metabase: deps.metabase_admin().await?,
            now_unix: deps.clock.unix_seconds(),
            now: crate::workspaces::provision::now(deps),
            owners,
        })
    }

    fn store(&self) -> &Store {
        &self.deps.store
    }

    async fn owner_of(&self, collection: MetabaseCollectionId) -> Result<Option<WorkspaceId>> {
        if let Some(owners) = &self.owners {
            return Ok(owners.get(&collection).copied());
        }
        let owner: Option<CollectionOwner> = self.store().get(&format!("MBCOLL#{collection}"), "MBCOLL").await?;
        Ok(owner.map(|o| o.workspace_id))
    }

    async fn detail(&self, kind: ItemKind, id: u64, counts: &mut Counts) -> Result<Option<Value>> {
        counts.metabase_calls += 1;
        Ok(match kind {
            ItemKind::Dashboard => self.metabase.dashboard(MetabaseDashboardId(id)).await?,
            ItemKind::Question => self.metabase.card(MetabaseCardId(id)).await?,
        })
    }

    /// Publishes (`Some`) or un-publishes (`None`); returns Metabase's item after the change.
    async fn set_embedding(
        &self,
        kind: ItemKind,
        id: u64,
        params: Option<&BTreeMap<String, EmbedParamMode>>,
        counts: &mut Counts,
    ) -> Result<Value> {
        counts.metabase_calls += 1;
        match params {
            Some(_) => counts.published += 1,
            None => counts.unpublished += 1,
        }
        Ok(match kind {
            ItemKind::Dashboard => self.metabase.set_dashboard_embedding(MetabaseDashboardId(id), params).await?,
            ItemKind::Question => self.metabase.set_card_embedding(MetabaseCardId(id), params).await?,
        })
    }
}

/// Reconciles one workspace on request: lists its collection (bulk routes filtered by collection,
/// or the collection's items), lints new and changed items, publishes or un-publishes them in
/// Metabase, and writes the records that changed. An archived workspace has every item removed
/// and un-published. Nothing is (re-)published while the workspace's or the item's embeds are
/// revoked.
///
/// # Errors
/// Metabase, DynamoDB or the secret failed; records written before the failure stay written, and
/// the next pass resumes (every step is idempotent).
pub async fn sync_workspace(deps: &Deps, workspace: &Workspace) -> Result<SyncReport> {
    let mut report = SyncReport { workspace_id: workspace.id, counts: Counts::default() };
    let Some(collection) = reconciled_collection(workspace) else { return Ok(report) };
    let pass = Pass::new(deps, None).await?;
    let listing = if workspace.status == Status::Active {
        Listing::fetch(&pass.metabase, &[collection]).await?
    } else {
        Listing::default()
    };
    let records = items::list_workspace(pass.store(), workspace.id).await?;
    let mut outcome = reconcile(&pass, workspace, &listing, records).await?;
    outcome.counts.metabase_calls += listing.calls;
    outcome.counts.events = events::announce(deps, &outcome.changes).await;
    report.counts = outcome.counts;
    tracing::info!(workspace = %workspace.id, counts = ?report.counts, "workspace synced");
    Ok(report)
}

/// The scheduled sweep over every workspace: one bulk listing for all of them, then each
/// workspace reconciled (a few at a time) against its share of it. A workspace that fails is
/// logged and counted; the others go on.
///
/// # Errors
/// The workspaces could not be read, or the listing failed.
pub async fn sweep(deps: &Deps) -> Result<SweepReport> {
    let all = workspaces::all(&deps.store).await?;
    let owners: HashMap<MetabaseCollectionId, WorkspaceId> =
        all.iter().filter_map(|w| w.metabase_collection_id.map(|c| (c, w.id))).collect();
    let reconciled: Vec<&Workspace> = all.iter().filter(|w| reconciled_collection(w).is_some()).collect();
    let active: Vec<MetabaseCollectionId> =
        reconciled.iter().filter(|w| w.status == Status::Active).filter_map(|w| w.metabase_collection_id).collect();
    let pass = Pass::new(deps, Some(owners)).await?;
    let listing = if active.is_empty() { Listing::default() } else { Listing::fetch(&pass.metabase, &active).await? };

    let mut report = SweepReport { workspaces: reconciled.len(), fallback: listing.fallback, ..SweepReport::default() };
    report.counts.metabase_calls = listing.calls;
    // Every workspace's item records in one parallel Scan, not one Query per workspace: at a
    // thousand workspaces the round trips, not the bytes, were the sweep's cost.
    let mut records = items::all_by_workspace(&deps.store).await?;
    let work: Vec<(&Workspace, Vec<ItemRecord>)> =
        reconciled.into_iter().map(|w| (w, records.remove(&w.id).unwrap_or_default())).collect();
    let results: Vec<(WorkspaceId, Result<Outcome>)> = stream::iter(work)
        .map(|(workspace, records)| {
            let (pass, listing) = (&pass, &listing);
            async move { (workspace.id, reconcile(pass, workspace, listing, records).await) }
        })
        .buffer_unordered(SWEEP_CONCURRENCY)
        .collect()
        .await;
    let mut changes = Vec::new();
    for (workspace, result) in results {
        match result {
            Ok(outcome) => {
                report.counts.add(&outcome.counts);
                changes.extend(outcome.changes);
            }
            Err(error) => {
                report.failed += 1;
                tracing::error!(%workspace, %error, "discovery failed for a workspace");
            }
        }
    }
    report.counts.events = events::announce(deps, &changes).await;
    tracing::info!(
        workspaces = report.workspaces,
        failed = report.failed,
        fallback = report.fallback,
        seen = report.counts.seen,
        new = report.counts.new,
        changed = report.counts.changed,
        published = report.counts.published,
        unpublished = report.counts.unpublished,
        quarantined = report.counts.quarantined,
        removed = report.counts.removed,
        metabase_calls = report.counts.metabase_calls,
        dynamodb_writes = report.counts.dynamodb_writes,
        events = report.counts.events,
        "discovery sweep done"
    );
    Ok(report)
}

/// The collection of a workspace discovery looks after: active ones are synced, archived ones
/// have their items retired; provisioning or failed ones have nothing published yet.
fn reconciled_collection(workspace: &Workspace) -> Option<MetabaseCollectionId> {
    match workspace.status {
        Status::Active | Status::Archived => workspace.metabase_collection_id,
        Status::Provisioning | Status::Failed => None,
    }
}

/// Reconciles one workspace's item `records` (as read before the pass) with its share of
/// `listing`. Every write is conditional, so a record changed since it was read is not
/// overwritten blindly.
async fn reconcile(
    pass: &Pass<'_>,
    workspace: &Workspace,
    listing: &Listing,
    records: Vec<ItemRecord>,
) -> Result<Outcome> {
    let mut outcome = Outcome { counts: Counts::default(), changes: Vec::new() };
    let Some(collection) = reconciled_collection(workspace) else { return Ok(outcome) };
    let records: HashMap<(ItemKind, u64), ItemRecord> =
        records.into_iter().map(|r| ((r.kind, r.metabase_id), r)).collect();
    let mut writes: Vec<Write> = Vec::new();
    let counts = &mut outcome.counts;

    let listed: &[Listed] = if workspace.status == Status::Active { listing.of(collection) } else { &[] };
    // Questions first: publishing one changes its `updated_at`, which the dashboards showing it
    // must record, or the next pass would see a change that is only our own.
    let mut ordered: Vec<&Listed> = listed.iter().collect();
    ordered.sort_by_key(|l| (l.kind == ItemKind::Dashboard, l.id));
    let mut card_versions: HashMap<u64, String> = HashMap::new();
    let version_of_card = |overrides: &HashMap<u64, String>, id: u64| {
        overrides.get(&id).or_else(|| listing.card_versions.get(&id)).cloned()
    };
    for item in ordered {
        counts.seen += 1;
        let previous = records.get(&(item.kind, item.id));
        if !needs_check(previous, item, collection, |id| version_of_card(&card_versions, id)) {
            continue;
        }
        if previous.is_some() {
            counts.changed += 1;
        } else {
            counts.new += 1;
        }
        let Some(detail) = pass.detail(item.kind, item.id, counts).await? else { continue };
        let still_here = detail.get("archived").and_then(Value::as_bool) != Some(true)
            && detail.get("collection_id").and_then(Value::as_u64) == Some(collection.0)
            && (item.kind == ItemKind::Dashboard || is_standalone_question(&detail));
        if !still_here {
            continue; // changed since the listing; the removal pass below handles it
        }
        let published_before = counts.published;
        let judged = judge(pass, workspace, collection, previous, item, &detail, counts).await?;
        let published = counts.published > published_before;
        if judged.kind == ItemKind::Question && judged.metabase_updated_at != RECHECK {
            card_versions.insert(judged.metabase_id, judged.metabase_updated_at.clone());
        }
        let card_lookup = |id: u64| version_of_card(&card_versions, id);
        let judged = with_card_versions(judged, &detail, card_lookup);
        record_change(pass, previous, judged, published, &mut writes, counts);
    }

    let present: HashSet<(ItemKind, u64)> = listed.iter().map(|l| (l.kind, l.id)).collect();
    for record in records.values() {
        if record.status == ItemStatus::Removed || present.contains(&(record.kind, record.metabase_id)) {
            continue;
        }
        if let Some(retired) = retire(pass, workspace, collection, record, counts).await? {
            record_change(pass, Some(record), retired, false, &mut writes, counts);
        }
    }

    let published: Vec<(ItemKind, u64)> =
        writes.iter().filter(|w| w.published).map(|w| (w.record.kind, w.record.metabase_id)).collect();
    let refused = write_all(pass, writes, &mut outcome.changes, counts).await?;
    // A revocation or a delete that landed while this pass ran wins: whatever the pass published
    // under it is taken down again at once (the next pass records it as held or removed).
    let mut take_down: Vec<(ItemKind, u64)> = Vec::new();
    for write in refused.iter().filter(|w| w.published) {
        // Refused because the item was revoked meanwhile, or because a concurrent pass recorded
        // it first: only the first (or a record that is not embeddable) means un-publishing.
        let current = items::get(pass.store(), write.record.item_ref()).await?;
        let keep = current.is_some_and(|r| r.is_embeddable() && r.revoked_until.is_none_or(|u| u <= pass.now_unix));
        if !keep {
            take_down.push((write.record.kind, write.record.metabase_id));
        }
    }
    if !published.is_empty() {
        let now = workspaces::get(pass.store(), workspace.id).await?;
        let stopped = now.is_none_or(|w| {
            w.status == Status::Archived || w.embeds_revoked_until.is_some_and(|until| until > pass.now_unix)
        });
        if stopped {
            take_down = published;
        }
    }
    for (kind, id) in take_down {
        tracing::info!(workspace = %workspace.id, ?kind, id, "revoked while being published; un-publishing");
        pass.set_embedding(kind, id, None, counts).await?;
    }
    Ok(outcome)
}

/// A record to write, and the item revocation it was judged under.
struct Write {
    record: ItemRecord,
    /// `None`: the record must not exist yet; `Some(r)`: its `revoked_until` must still be `r`.
    expected: Option<Option<i64>>,
    /// Whether this pass published the item in Metabase.
    published: bool,
    /// The event to announce once the record is written.
    change: Option<Change>,
}

impl Write {
    /// The write applies only if nobody revoked the item since it was read (the embed function
    /// sets `revoked_until` with an `UpdateItem` that a blind put would undo).
    fn condition(&self) -> Condition {
        let names = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        match self.expected {
            None => Condition::not_exists(),
            // An absent revocation is stored as a NULL attribute (or not at all in older records).
            Some(None) => Condition {
                expression: "attribute_exists(#pk) AND (attribute_not_exists(#until) OR attribute_type(#until, :null))"
                    .to_owned(),
                names: names(&[("#pk", keys::PK), ("#until", "revoked_until")]),
                values: HashMap::from([(":null".to_owned(), AttributeValue::S("NULL".to_owned()))]),
            },
            Some(Some(until)) => Condition {
                expression: "#until = :until".to_owned(),
                names: names(&[("#until", "revoked_until")]),
                values: HashMap::from([(":until".to_owned(), AttributeValue::N(until.to_string()))]),
            },
        }
    }
}

/// Writes in conditional transactions of 25; a batch refused by a condition (or a conflicting
/// transaction) is retried item by item. Returns the writes whose condition failed; the changes
/// of the applied ones go to `changes`.
async fn write_all(
    pass: &Pass<'_>,
    writes: Vec<Write>,
    changes: &mut Vec<Change>,
    counts: &mut Counts,
) -> Result<Vec<Write>> {
    let mut refused = Vec::new();
    for chunk in writes.chunks(25) {
        let ops = chunk.iter().map(|w| pass.store().put_op(&w.record, Some(w.condition()))).collect::<Result<_>>()?;
        match pass.store().transact(ops).await {
            Ok(WriteOutcome::Applied) => {
                counts.dynamodb_writes += chunk.len();
                changes.extend(chunk.iter().filter_map(|w| w.change.clone()));
                continue;
            }
            Ok(WriteOutcome::ConditionFailed) => {}
            Err(error) => tracing::debug!(%error, "batch of item records not applied; writing one by one"),
        }
        for write in chunk {
            match pass.store().put_if(&write.record, write.condition()).await? {
                WriteOutcome::Applied => {
                    counts.dynamodb_writes += 1;
                    changes.extend(write.change.clone());
                }
                WriteOutcome::ConditionFailed => refused.push(Write {
                    record: write.record.clone(),
                    expected: write.expected,
                    published: write.published,
                    change: None,
                }),
            }
        }
    }
    Ok(refused)
}

/// Whether a listed item must be fetched and linted again.
fn needs_check(
    previous: Option<&ItemRecord>,
    item: &Listed,
    collection: MetabaseCollectionId,
    card_version: impl Fn(u64) -> Option<String>,
) -> bool {
    let Some(previous) = previous else { return true };
    if previous.status == ItemStatus::Removed
        || previous.metabase_updated_at != item.version
        || previous.collection_id != Some(collection)
        // Someone switched embedding on or off by hand without our record knowing.
        || item.enable_embedding.is_some_and(|enabled| enabled != previous.is_embeddable())
    {
        return true;
    }
    previous
        .card_versions
        .iter()
        .any(|(id, seen)| id.parse::<u64>().ok().and_then(&card_version).is_some_and(|now| now != *seen))
}

/// Lints one item, makes Metabase match the verdict, and returns the record to keep.
async fn judge(
    pass: &Pass<'_>,
    workspace: &Workspace,
    collection: MetabaseCollectionId,
    previous: Option<&ItemRecord>,
    item: &Listed,
    detail: &Value,
    counts: &mut Counts,
) -> Result<ItemRecord> {
    let slug = &pass.deps.config.tenant_slug;
    let outcome = match item.kind {
        ItemKind::Dashboard => lint_dashboard(detail, slug),
        ItemKind::Question => lint_card(detail, slug),
    };
    let enabled = detail.get("enable_embedding").and_then(Value::as_bool) == Some(true);
    let action = needs_publish(detail, &outcome);
    let revoked_until = [workspace.embeds_revoked_until, previous.and_then(|p| p.revoked_until)]
        .into_iter()
        .flatten()
        .filter(|until| *until > pass.now_unix)
        .max();
    let was_embeddable = previous.is_some_and(ItemRecord::is_embeddable);
    // During a revocation nothing becomes embeddable: an item already embeddable and published as
    // required stays so; anything else waits (and is un-published if it is published).
    let held =
        revoked_until.filter(|_| outcome.is_embeddable() && !(was_embeddable && action == PublishAction::Nothing));

    // The listing's version, so the next listing compares equal; after a PUT, Metabase's new one.
    let mut version = item.version.clone();
    let (status, reason, parameters, embedding_params) = if let Some(until) = held {
        if enabled {
            pass.set_embedding(item.kind, item.id, None, counts).await?;
        }
        version = RECHECK.to_owned();
        let reason = format!("embeds are revoked until {}; discovery publishes it again after that", rfc3339(until));
        (ItemStatus::Quarantined, Some(reason), Vec::new(), BTreeMap::new())
    } else {
        match &action {
            PublishAction::Publish { embedding_params } => {
                let after = pass.set_embedding(item.kind, item.id, Some(embedding_params), counts).await?;
                version = version_of(&after);
            }
            PublishAction::Unpublish => {
                let after = pass.set_embedding(item.kind, item.id, None, counts).await?;
                version = version_of(&after);
            }
            PublishAction::Nothing => {}
        }
        match outcome {
            LintOutcome::Embeddable { embedding_params, parameters } => {
                (ItemStatus::Embeddable, None, parameters, embedding_params)
            }
            LintOutcome::Quarantined { reasons } => {
                (ItemStatus::Quarantined, Some(reasons.join("; ")), Vec::new(), BTreeMap::new())
            }
        }
    };
    let name = detail.get("name").and_then(Value::as_str).unwrap_or(&item.name).to_owned();
    let item_ref = ItemRef::new(workspace.id, item.kind, item.id);
    Ok(ItemRecord::new(
        item_ref,
        name,
        Some(collection),
        status,
        reason,
        parameters,
        embedding_params,
        version,
        pass.now.clone(),
    ))
}

/// Records, for a dashboard, the version of every card (and series card) it shows.
fn with_card_versions(
    mut record: ItemRecord,
    detail: &Value,
    card_version: impl Fn(u64) -> Option<String>,
) -> ItemRecord {
    if record.kind != ItemKind::Dashboard {
        return record;
    }
    let dashcards = detail.get("dashcards").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for dashcard in dashcards {
        let series = dashcard.get("series").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let cards = dashcard.get("card_id").and_then(Value::as_u64).map(|id| (id, dashcard.get("card"))).into_iter();
        for (id, card) in
            cards.chain(series.iter().filter_map(|s| s.get("id").and_then(Value::as_u64).map(|id| (id, Some(s)))))
        {
            let version = card_version(id).or_else(|| card.map(version_of)).unwrap_or_default();
            record.card_versions.insert(id.to_string(), version);
        }
    }
    record
}

/// Decides what became of a recorded item its collection no longer lists, un-publishing it
/// where that is ours to do. `None`: it is still there after all (the listing raced an edit).
async fn retire(
    pass: &Pass<'_>,
    workspace: &Workspace,
    collection: MetabaseCollectionId,
    record: &ItemRecord,
    counts: &mut Counts,
) -> Result<Option<ItemRecord>> {
    let detail = pass.detail(record.kind, record.metabase_id, counts).await?;
    let Some(detail) = detail else {
        return Ok(Some(removed(pass, record, "deleted in Metabase")));
    };
    let enabled = detail.get("enable_embedding").and_then(Value::as_bool) == Some(true);
    let archived = detail.get("archived").and_then(Value::as_bool) == Some(true);
    let now_in = detail.get("collection_id").and_then(Value::as_u64).map(MetabaseCollectionId);
    let (reason, unpublish) = if workspace.status == Status::Archived {
        ("the workspace is archived", enabled)
    } else if archived {
        ("archived in Metabase", enabled)
    } else if now_in != Some(collection) {
        // Another workspace's sync owns an item moved into its collection (and will lint and
        // publish it for its own tenant); anywhere else it must stop being embeddable.
        let owned = match now_in {
            Some(other) => pass.owner_of(other).await?.is_some(),
            None => false,
        };
        ("moved out of the workspace's collection", enabled && !owned)
    } else if record.kind == ItemKind::Question && !is_standalone_question(&detail) {
        ("no longer a standalone question", enabled)
    } else {
        return Ok(None);
    };
    if unpublish {
        // Archived items cannot be embedded anyway (§15), so a refusal here is only logged.
        if let Err(error) = pass.set_embedding(record.kind, record.metabase_id, None, counts).await {
            tracing::warn!(item = %record.item_ref(), %error, "could not un-publish a removed item");
        }
    }
    Ok(Some(removed(pass, record, reason)))
}

fn removed(pass: &Pass<'_>, record: &ItemRecord, reason: &str) -> ItemRecord {
    let mut next = ItemRecord::new(
        record.item_ref(),
        record.name.clone(),
        record.collection_id,
        ItemStatus::Removed,
        Some(reason.to_owned()),
        Vec::new(),
        BTreeMap::new(),
        record.metabase_updated_at.clone(),
        pass.now.clone(),
    );
    next.card_versions = BTreeMap::new();
    next
}

/// Queues `next` for writing when it differs from `previous` (keeping the record's creation time
/// and any item revocation), and announces status changes.
fn record_change(
    pass: &Pass<'_>,
    previous: Option<&ItemRecord>,
    mut next: ItemRecord,
    published: bool,
    writes: &mut Vec<Write>,
    counts: &mut Counts,
) {
    if let Some(previous) = previous {
        next.created_at.clone_from(&previous.created_at);
        next.revoked_until = previous.revoked_until;
        if same_content(previous, &next) {
            return;
        }
    }
    next.updated_at.clone_from(&pass.now);
    let mut change = None;
    if previous.is_none_or(|p| p.status != next.status) {
        match next.status {
            ItemStatus::Quarantined => counts.quarantined += 1,
            ItemStatus::Removed => counts.removed += 1,
            ItemStatus::Embeddable => {}
        }
        change = Some(Change { kind: next.kind, item: ItemView::from(&next) });
    }
    writes.push(Write { record: next, expected: previous.map(|p| p.revoked_until), published, change });
}

fn same_content(a: &ItemRecord, b: &ItemRecord) -> bool {
    a.name == b.name
        && a.collection_id == b.collection_id
        && a.status == b.status
        && a.reason == b.reason
        && a.parameters == b.parameters
        && a.embedding_params == b.embedding_params
        && a.metabase_updated_at == b.metabase_updated_at
        && a.card_versions == b.card_versions
        && a.revoked_until == b.revoked_until
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, status: ItemStatus) -> ItemRecord {
        ItemRecord::new(
            ItemRef::new(WorkspaceId::generate(), ItemKind::Dashboard, 5),
            "Sales".into(),
            Some(MetabaseCollectionId(7)),
            status,
            None,
            Vec::new(),
            BTreeMap::new(),
            version.into(),
            "2026-11-22T03:00:00Z".into(),
        )
    }

    fn listed(version: &str, enabled: Option<bool>) -> Listed {
        Listed {
            kind: ItemKind::Dashboard,
            id: 5,
            name: "Sales".into(),
            version: version.into(),
            enable_embedding: enabled,
        }
    }

    #[test]
    fn only_new_changed_or_drifted_items_are_fetched() {
        let c = MetabaseCollectionId(7);
        let none = |_: u64| None;
        let stable = record("v1", ItemStatus::Embeddable);
        assert!(needs_check(None, &listed("v1", None), c, none), "new");
        assert!(!needs_check(Some(&stable), &listed("v1", Some(true)), c, none), "unchanged");
        assert!(needs_check(Some(&stable), &listed("v2", Some(true)), c, none), "edited");
        assert!(needs_check(Some(&stable), &listed("v1", Some(false)), c, none), "un-published by hand");
        assert!(needs_check(Some(&record("v1", ItemStatus::Removed)), &listed("v1", None), c, none), "back");
        assert!(needs_check(Some(&record(RECHECK, ItemStatus::Quarantined)), &listed("v1", None), c, none), "held");

        let mut with_card = stable.clone();
        with_card.card_versions.insert("9".into(), "c1".into());
        assert!(!needs_check(Some(&with_card), &listed("v1", None), c, |_| Some("c1".into())));
        assert!(needs_check(Some(&with_card), &listed("v1", None), c, |_| Some("c2".into())), "card edited");
        assert!(!needs_check(Some(&with_card), &listed("v1", None), c, none), "card not listed: no signal");
    }

    #[test]
    fn dashboards_record_their_cards_and_series() {
        let detail = serde_json::json!({"dashcards": [
            {"card_id": 1, "card": {"updated_at": "a"}, "series": [{"id": 2, "updated_at": "b"}]},
            {"card_id": null, "series": []}
        ]});
        let recorded = with_card_versions(record("v1", ItemStatus::Embeddable), &detail, |id| {
            (id == 2).then(|| "listed".to_owned())
        });
        assert_eq!(
            recorded.card_versions,
            BTreeMap::from([("1".to_owned(), "a".to_owned()), ("2".to_owned(), "listed".to_owned())])
        );
    }
}
