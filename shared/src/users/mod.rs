//! The user store: profiles, the email uniqueness guard, failed-login counters and the
//! workspace memberships a user holds.
//!
//! Items (design §5): `USER#<id>/PROFILE` (the account), `EMAIL#<lower email>/EMAIL` (written in
//! the same transaction as the profile, so an email can belong to one account only),
//! `LOGIN#<lower email>/ATTEMPTS` (failed logins, with a TTL), and memberships
//! `WS#<id>/MEMBER#<user>` found through `GSI1PK = USER#<user>`.

pub mod accounts;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::auth::lockout::Attempts;
use crate::error::{Error, Result};
use crate::ids::{MetabaseUserId, UserId};
use crate::secrets::SecretString;
use crate::store::{Condition, Index, Item, Store, WriteOutcome, keys, sdk_error};

const PROFILE: &str = "PROFILE";
const EMAIL: &str = "EMAIL";
const ATTEMPTS: &str = "ATTEMPTS";

fn user_pk(id: UserId) -> String {
    format!("USER#{id}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

fn attempts_pk(email: &str) -> String {
    format!("LOGIN#{email}")
}

/// A Tenantbase account. `password_hash` is an argon2id PHC string; it never leaves the store
/// module except to be verified, and prints as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Trimmed and lower-cased.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: SecretString,
    pub is_active: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The mirrored Metabase user, once linked (signup, or the next login if Metabase was down).
    pub metabase_user_id: Option<MetabaseUserId>,
}

#[derive(Serialize, Deserialize)]
struct ProfileItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    id: UserId,
    email: String,
    first_name: String,
    last_name: String,
    password_hash: SecretString,
    is_active: bool,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metabase_user_id: Option<MetabaseUserId>,
}

impl From<&User> for ProfileItem {
    fn from(user: &User) -> Self {
        Self {
            pk: user_pk(user.id),
            sk: PROFILE.to_owned(),
            id: user.id,
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            password_hash: user.password_hash.clone(),
            is_active: user.is_active,
            created_at: user.created_at.clone(),
            metabase_user_id: user.metabase_user_id,
        }
    }
}

impl From<ProfileItem> for User {
    fn from(item: ProfileItem) -> Self {
        Self {
            id: item.id,
            email: item.email,
            first_name: item.first_name,
            last_name: item.last_name,
            password_hash: item.password_hash,
            is_active: item.is_active,
            created_at: item.created_at,
            metabase_user_id: item.metabase_user_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct EmailGuard {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct AttemptsItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    failures: u32,
    window_start: i64,
    locks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locked_until: Option<i64>,
    /// Optimistic-concurrency counter: concurrent failures must not overwrite each other.
    version: u64,
    expires_at: i64,
}

impl AttemptsItem {
    fn attempts(&self) -> Attempts {
        Attempts {
            failures: self.failures,
            window_start: self.window_start,
            locks: self.locks,
            locked_until: self.locked_until,
        }
    }
}

/// The result of creating an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Created(User),
    EmailTaken,
}

/// A failed-login counter as stored, with the version a conditional update must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredAttempts {
    pub attempts: Attempts,
    /// `None` when no counter is stored.
    pub version: Option<u64>,
}

/// One workspace membership of a user, as far as the membership item tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub workspace_id: String,
    pub role: Option<String>,
}

/// Writes the profile and the email guard in one transaction.
///
/// # Errors
/// DynamoDB failed for a reason other than the email being taken.
pub async fn create(store: &Store, user: &User) -> Result<Created> {
    // Concurrent signups of one email race on the guard item: DynamoDB cancels the losers with a
    // condition failure, or (when the transactions overlap) with a conflict; a conflict is
    // resolved by reading the guard and retrying only if nobody holds it yet.
    for attempt in 0..4u32 {
        let writes = vec![
            store.put_op(&ProfileItem::from(user), Some(Condition::not_exists()))?,
            store.put_op(
                &EmailGuard { pk: email_pk(&user.email), sk: EMAIL.to_owned(), user_id: user.id },
                Some(Condition::not_exists()),
            )?,
        ];
        match store.transact(writes).await {
            Ok(WriteOutcome::Applied) => return Ok(Created::Created(user.clone())),
            Ok(WriteOutcome::ConditionFailed) => return Ok(Created::EmailTaken),
            Err(error) => {
                // The guard tells who won, including this very transaction if it committed and
                // only its answer was lost.
                if let Some(guard) = store.get::<EmailGuard>(&email_pk(&user.email), EMAIL).await? {
                    return Ok(if guard.user_id == user.id {
                        Created::Created(user.clone())
                    } else {
                        Created::EmailTaken
                    });
                }
                if attempt == 3 {
                    return Err(error);
                }
                tracing::debug!(%error, attempt, "signup transaction cancelled; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(20..120))).await;
            }
        }
    }
    Err(Error::internal("signup transaction retries exhausted"))
}

/// # Errors
/// DynamoDB failed.
pub async fn get(store: &Store, id: UserId) -> Result<Option<User>> {
    Ok(store.get::<ProfileItem>(&user_pk(id), PROFILE).await?.map(User::from))
}

/// The account holding `email` (already normalised), through the guard.
///
/// # Errors
/// DynamoDB failed.
pub async fn find_by_email(store: &Store, email: &str) -> Result<Option<User>> {
    match store.get::<EmailGuard>(&email_pk(email), EMAIL).await? {
        Some(guard) => get(store, guard.user_id).await,
        None => Ok(None),
    }
}

/// Records the Metabase user mirrored for `id`.
///
/// # Errors
/// DynamoDB failed; 404 if the account no longer exists.
pub async fn set_metabase_user_id(store: &Store, id: UserId, metabase_id: MetabaseUserId) -> Result<()> {
    let result = store
        .client()
        .update_item()
        .table_name(store.table())
        .key(keys::PK, AttributeValue::S(user_pk(id)))
        .key(keys::SK, AttributeValue::S(PROFILE.to_owned()))
        .update_expression("SET #mb = :mb")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#mb", "metabase_user_id")
        .expression_attribute_names("#pk", keys::PK)
        .expression_attribute_values(":mb", AttributeValue::N(metabase_id.0.to_string()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
            Err(Error::NotFound("user not found".to_owned()))
        }
        Err(e) => Err(sdk_error(e)),
    }
}

/// The failed-login counter for `email`; an expired one (TTL deletion lags) reads as none.
///
/// # Errors
/// DynamoDB failed.
pub async fn attempts(store: &Store, email: &str, now: i64) -> Result<StoredAttempts> {
    let item = store.get::<AttemptsItem>(&attempts_pk(email), ATTEMPTS).await?;
    Ok(match item {
        Some(item) if item.expires_at > now => {
            StoredAttempts { attempts: item.attempts(), version: Some(item.version) }
        }
        Some(item) => StoredAttempts { attempts: Attempts::default(), version: Some(item.version) },
        None => StoredAttempts::default(),
    })
}

/// Stores `next` if the counter is still at `previous.version`.
///
/// # Errors
/// DynamoDB failed for another reason than a concurrent update.
pub async fn save_attempts(
    store: &Store,
    email: &str,
    previous: StoredAttempts,
    next: Attempts,
    now: i64,
) -> Result<WriteOutcome> {
    let version = previous.version.map_or(1, |v| v + 1);
    let item = AttemptsItem {
        pk: attempts_pk(email),
        sk: ATTEMPTS.to_owned(),
        failures: next.failures,
        window_start: next.window_start,
        locks: next.locks,
        locked_until: next.locked_until,
        version,
        expires_at: next.expires_at(now),
    };
    let condition = match previous.version {
        None => Condition::not_exists(),
        Some(expected) => Condition {
            expression: "#v = :v".to_owned(),
            names: HashMap::from([("#v".to_owned(), "version".to_owned())]),
            values: Item::from([(":v".to_owned(), AttributeValue::N(expected.to_string()))]),
        },
    };
    store.put_if(&item, condition).await
}

/// Forgets the failed-login counter for `email`.
///
/// # Errors
/// DynamoDB failed.
pub async fn clear_attempts(store: &Store, email: &str) -> Result<()> {
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(keys::PK, AttributeValue::S(attempts_pk(email)))
        .key(keys::SK, AttributeValue::S(ATTEMPTS.to_owned()))
        .send()
        .await
        .map(|_| ())
        .map_err(sdk_error)
}

/// The workspaces `id` belongs to, from the inverted index (empty when none).
///
/// # Errors
/// DynamoDB failed.
pub async fn memberships(store: &Store, id: UserId) -> Result<Vec<Membership>> {
    let items = store.query_partition(Some(Index::Gsi1), &user_pk(id), Some("WS#")).await?;
    let mut found = Vec::new();
    for item in items {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let Some(workspace_id) = text(keys::PK).and_then(|pk| pk.strip_prefix("WS#").map(ToOwned::to_owned)) else {
            continue;
        };
        if !text(keys::SK).is_some_and(|sk| sk.starts_with("MEMBER#")) {
            continue;
        }
        found.push(Membership { workspace_id, role: text("role") });
    }
    Ok(found)
}
