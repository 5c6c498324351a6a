//! The token ledger: one record per issued embed token (mint or refresh), kept for
//! [`RETENTION_DAYS`] through the table's TTL attribute, and the usage counts read from it.
//!
//! Records live in their own partition per workspace, `USAGE#<workspace>` / `<yyyy-mm-dd>#<jti>`,
//! not in `WS#<workspace>`: the members routes read the whole workspace partition, and a busy
//! workspace's ledger must not make them slow. Usage over N days is one `Query` with `BETWEEN`
//! on the sort key (paged only when large).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use super::{Grant, Via};
use crate::error::{Error, Result};
use crate::ids::{UserId, WorkspaceId};
use crate::items::ItemKind;
use crate::signer::SignedEmbed;
use crate::store::{Item, Store, from_item, keys, sdk_error, to_item};

/// How long ledger records are kept (DynamoDB deletes them after `expires_at`).
pub const RETENTION_DAYS: u32 = 90;
/// The widest usage window: what retention keeps.
pub const MAX_USAGE_DAYS: u32 = RETENTION_DAYS;
/// The usage window when the request names none.
pub const DEFAULT_USAGE_DAYS: u32 = 30;

fn ledger_pk(workspace: WorkspaceId) -> String {
    format!("USAGE#{workspace}")
}

/// One issued token as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub workspace_id: WorkspaceId,
    /// Our record id of the item (`<workspace id>.<metabase id>`).
    pub item_id: String,
    pub kind: ItemKind,
    pub metabase_id: u64,
    pub user_id: UserId,
    pub jti: String,
    pub via: Via,
    /// `iat` of the token (Unix seconds).
    pub issued_at: i64,
    /// `exp` of the token (Unix seconds).
    pub exp: i64,
    /// The UTC day of `issued_at`, `yyyy-mm-dd`.
    pub date: String,
    /// DynamoDB TTL: [`RETENTION_DAYS`] after issue.
    pub expires_at: i64,
}

impl Entry {
    pub fn new(grant: &Grant, user: UserId, signed: &SignedEmbed, via: Via, now: i64) -> Self {
        let date = day_of(now);
        let jti = signed.jti.to_string();
        Self {
            pk: ledger_pk(grant.workspace.id),
            sk: format!("{date}#{jti}"),
            workspace_id: grant.workspace.id,
            item_id: grant.item.item_ref().to_string(),
            kind: grant.item.kind,
            metabase_id: grant.item.metabase_id,
            user_id: user,
            jti,
            via,
            issued_at: now,
            exp: signed.expires_at.unix_timestamp(),
            date,
            expires_at: now + i64::from(RETENTION_DAYS) * 86_400,
        }
    }
}

/// The UTC day of a Unix time, `yyyy-mm-dd` (sorts as text).
fn day_of(unix: i64) -> String {
    date_of(unix).to_string()
}

fn date_of(unix: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(unix).map_or(OffsetDateTime::UNIX_EPOCH.date(), OffsetDateTime::date)
}

/// Writes one ledger record.
///
/// # Errors
/// DynamoDB failed.
pub async fn record(store: &Store, entry: &Entry) -> Result<()> {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(to_item(entry)?))
        .send()
        .await
        .map(|_| ())
        .map_err(sdk_error)
}

/// Parses the `days` query value (default [`DEFAULT_USAGE_DAYS`]).
///
/// # Errors
/// 400 `invalid_days` unless a whole number from 1 to [`MAX_USAGE_DAYS`].
pub fn parse_days(raw: Option<&str>) -> Result<u32> {
    let Some(raw) = raw else { return Ok(DEFAULT_USAGE_DAYS) };
    raw.parse::<u32>().ok().filter(|days| (1..=MAX_USAGE_DAYS).contains(days)).ok_or_else(|| {
        Error::bad_request(
            "invalid_days",
            format!("days must be a whole number from 1 to {MAX_USAGE_DAYS} (got {raw:?})"),
        )
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub date: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemCount {
    pub item_id: String,
    pub kind: ItemKind,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserCount {
    pub user_id: UserId,
    pub count: u64,
}

/// Tokens issued in a workspace over the last `days` UTC days (today included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub workspace_id: WorkspaceId,
    pub days: u32,
    /// First and last day of the window, `yyyy-mm-dd`.
    pub from: String,
    pub to: String,
    pub total: u64,
    pub mints: u64,
    pub refreshes: u64,
    /// Every day of the window, oldest first, zeros included.
    pub per_day: Vec<DayCount>,
    /// Most used first.
    pub per_item: Vec<ItemCount>,
    /// Most active first.
    pub per_user: Vec<UserCount>,
}

/// Counts the ledger of `workspace` over the `days` days ending today (as of `now`).
///
/// # Errors
/// DynamoDB failed or a record has an unexpected shape.
pub async fn usage(store: &Store, workspace: WorkspaceId, days: u32, now: i64) -> Result<Usage> {
    let to = date_of(now);
    let from = to - Duration::days(i64::from(days.max(1)) - 1);
    let mut entries = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let output = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(ledger_pk(workspace)))
            .expression_attribute_values(":from", AttributeValue::S(from.to_string()))
            // `~` sorts after every character of a jti, so the whole last day is included.
            .expression_attribute_values(":to", AttributeValue::S(format!("{to}#~")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)?;
        for item in output.items.unwrap_or_default() {
            entries.push(from_item::<Entry>(item)?);
        }
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok(count(workspace, days, from, to, &entries))
}

fn count(workspace: WorkspaceId, days: u32, from: Date, to: Date, entries: &[Entry]) -> Usage {
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    let mut day = from;
    while day <= to {
        per_day.insert(day.to_string(), 0);
        day = day.next_day().unwrap_or(Date::MAX);
        if day == Date::MAX {
            break;
        }
    }
    let mut per_item: BTreeMap<(&str, ItemKind), u64> = BTreeMap::new();
    let mut per_user: BTreeMap<UserId, u64> = BTreeMap::new();
    let (mut mints, mut refreshes) = (0, 0);
    for entry in entries {
        *per_day.entry(entry.date.clone()).or_default() += 1;
        *per_item.entry((entry.item_id.as_str(), entry.kind)).or_default() += 1;
        *per_user.entry(entry.user_id).or_default() += 1;
        match entry.via {
            Via::Mint => mints += 1,
            Via::Refresh => refreshes += 1,
        }
    }
    let mut per_item: Vec<ItemCount> = per_item
        .into_iter()
        .map(|((item_id, kind), count)| ItemCount { item_id: item_id.to_owned(), kind, count })
        .collect();
    per_item.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.item_id.cmp(&b.item_id)));
    let mut per_user: Vec<UserCount> =
        per_user.into_iter().map(|(user_id, count)| UserCount { user_id, count }).collect();
    per_user.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.user_id.cmp(&b.user_id)));
    Usage {
        workspace_id: workspace,
        days,
        from: from.to_string(),
        to: to.to_string(),
        total: mints + refreshes,
        mints,
        refreshes,
        per_day: per_day.into_iter().map(|(date, count)| DayCount { date, count }).collect(),
        per_item,
        per_user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(workspace: WorkspaceId, item: &str, user: UserId, date: &str, via: Via) -> Entry {
        Entry {
            pk: ledger_pk(workspace),
            sk: format!("{date}#x"),
            workspace_id: workspace,
            item_id: item.to_owned(),
            kind: ItemKind::Dashboard,
            metabase_id: 1,
            user_id: user,
            jti: "x".to_owned(),
            via,
            issued_at: 0,
            exp: 600,
            date: date.to_owned(),
            expires_at: 0,
        }
    }

    #[test]
    fn days_default_and_bounds() {
        assert_eq!(parse_days(None).unwrap(), DEFAULT_USAGE_DAYS);
        assert_eq!(parse_days(Some("1")).unwrap(), 1);
        assert_eq!(parse_days(Some("90")).unwrap(), 90);
        for bad in ["0", "91", "-1", "7.5", "", "week"] {
            let error = parse_days(Some(bad)).unwrap_err();
            assert_eq!((error.status().as_u16(), error.code()), (400, "invalid_days"), "{bad}");
        }
    }

    #[test]
    fn days_are_utc_calendar_days() {
        // 2026-11-22T03:45:00Z and one second before midnight UTC.
        assert_eq!(day_of(1_795_319_100), "2026-11-22");
        assert_eq!(day_of(1_795_305_599), "2026-11-21");
    }

    #[test]
    fn counts_per_day_item_and_user_with_every_day_listed() {
        let ws = WorkspaceId::generate();
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let entries = [
            entry(ws, "a.1", alice, "2026-11-22", Via::Mint),
            entry(ws, "a.1", alice, "2026-11-22", Via::Refresh),
            entry(ws, "a.2", bob, "2026-11-20", Via::Mint),
        ];
        let to = date_of(1_795_319_100);
        let from = to - Duration::days(2);
        let usage = count(ws, 3, from, to, &entries);
        assert_eq!((usage.total, usage.mints, usage.refreshes), (3, 2, 1));
        assert_eq!((usage.from.as_str(), usage.to.as_str()), ("2026-11-20", "2026-11-22"));
        let days: Vec<(&str, u64)> = usage.per_day.iter().map(|d| (d.date.as_str(), d.count)).collect();
        assert_eq!(days, [("2026-11-20", 1), ("2026-11-21", 0), ("2026-11-22", 2)]);
        assert_eq!(usage.per_item[0], ItemCount { item_id: "a.1".into(), kind: ItemKind::Dashboard, count: 2 });
        assert_eq!(usage.per_item[1].count, 1);
        assert_eq!(usage.per_user[0], UserCount { user_id: alice, count: 2 });
        assert_eq!(usage.per_user[1], UserCount { user_id: bob, count: 1 });
    }
}
