//! Change events on EventBridge: each publish, quarantine and removal, when a bus is configured.
//! They announce what already happened, so a failed put is logged rather than failing the sync.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;

use crate::deps::Deps;
use crate::items::{ItemKind, ItemStatus, ItemView};

/// The `source` of every discovery event.
pub const EVENT_SOURCE: &str = "tenantbase.discovery";

/// PutEvents takes at most 10 entries per call.
const BATCH: usize = 10;

/// The `detail-type` for an item of `kind` that became `status`: `DashboardPublished`,
/// `QuestionQuarantined`, `DashboardRemoved`, …
pub fn detail_type(kind: ItemKind, status: ItemStatus) -> &'static str {
    match (kind, status) {
        (ItemKind::Dashboard, ItemStatus::Embeddable) => "DashboardPublished",
        (ItemKind::Dashboard, ItemStatus::Quarantined) => "DashboardQuarantined",
        (ItemKind::Dashboard, ItemStatus::Removed) => "DashboardRemoved",
        (ItemKind::Question, ItemStatus::Embeddable) => "QuestionPublished",
        (ItemKind::Question, ItemStatus::Quarantined) => "QuestionQuarantined",
        (ItemKind::Question, ItemStatus::Removed) => "QuestionRemoved",
    }
}

/// One change to announce: the item as clients see it after the change.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Change {
    #[serde(skip)]
    pub kind: ItemKind,
    #[serde(flatten)]
    pub item: ItemView,
}

/// Puts `changes` on the configured bus, 10 per call; returns how many EventBridge accepted.
pub(super) async fn announce(deps: &Deps, changes: &[Change]) -> usize {
    let Some(bus) = deps.config.event_bus_name.as_deref() else { return 0 };
    let mut accepted = 0;
    for chunk in changes.chunks(BATCH) {
        let entries: Vec<PutEventsRequestEntry> = chunk
            .iter()
            .map(|change| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(EVENT_SOURCE)
                    .detail_type(detail_type(change.kind, change.item.status))
                    .detail(serde_json::to_string(change).unwrap_or_default())
                    .build()
            })
            .collect();
        match deps.events.put_events().set_entries(Some(entries)).send().await {
            Ok(output) => {
                let failed = usize::try_from(output.failed_entry_count).unwrap_or_default();
                if failed > 0 {
                    tracing::warn!(failed, bus, "EventBridge refused some discovery events");
                }
                accepted += chunk.len().saturating_sub(failed);
            }
            Err(error) => {
                let error = aws_sdk_eventbridge::error::DisplayErrorContext(error);
                tracing::warn!(%error, bus, count = chunk.len(), "could not put discovery events");
            }
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_types_name_the_kind_and_the_change() {
        assert_eq!(detail_type(ItemKind::Dashboard, ItemStatus::Embeddable), "DashboardPublished");
        assert_eq!(detail_type(ItemKind::Question, ItemStatus::Quarantined), "QuestionQuarantined");
        assert_eq!(detail_type(ItemKind::Question, ItemStatus::Removed), "QuestionRemoved");
    }
}
