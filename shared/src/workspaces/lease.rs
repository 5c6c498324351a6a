//! A DynamoDB lease: mutual exclusion across concurrent Lambdas for work that must not
//! interleave (permission-graph writes, one workspace's saga). A lease expires on its own, so a
//! crashed holder blocks others for at most its TTL.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::{Condition, Store, WriteOutcome, keys, sdk_error};

/// The lease every collection-graph write holds: Metabase has one graph revision, so parallel
/// writers would only make each other retry on 409.
pub const COLLECTION_GRAPH: &str = "collection-graph";

#[derive(Serialize)]
struct LeaseItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: &'static str,
    holder: &'a str,
    expires_at: i64,
}

/// A held lease. Release it with [`Lease::release`]; if the holder dies, it expires.
#[derive(Debug)]
#[must_use = "a lease must be released"]
pub struct Lease {
    pk: String,
    holder: String,
}

impl Lease {
    /// Takes the lease `name` for `ttl`, waiting up to `wait` (with jitter) while someone else
    /// holds it.
    ///
    /// # Errors
    /// The lease stayed busy for `wait` (503), or DynamoDB failed.
    pub async fn acquire(store: &Store, clock: &dyn Clock, name: &str, ttl: Duration, wait: Duration) -> Result<Self> {
        let pk = format!("LEASE#{name}");
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = clock.unix_seconds();
            let item =
                LeaseItem { pk: pk.clone(), sk: "LEASE", holder: &holder, expires_at: now + ttl.as_secs() as i64 };
            let condition = Condition {
                expression: "attribute_not_exists(#pk) OR #exp < :now".to_owned(),
                names: HashMap::from([
                    ("#pk".to_owned(), keys::PK.to_owned()),
                    ("#exp".to_owned(), keys::EXPIRES_AT.to_owned()),
                ]),
                values: HashMap::from([(":now".to_owned(), AttributeValue::N(now.to_string()))]),
            };
            if store.put_if(&item, condition).await? == WriteOutcome::Applied {
                return Ok(Self { pk, holder });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::unavailable("lease", format!("{name} is held by another worker")));
            }
            tokio::time::sleep(Duration::from_millis(rand::random_range(50..250))).await;
        }
    }

    /// Releases the lease if this holder still has it (an expired lease taken over by someone
    /// else is left alone).
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn release(self, store: &Store) -> Result<()> {
        let result = store
            .client()
            .delete_item()
            .table_name(store.table())
            .key(keys::PK, AttributeValue::S(self.pk.clone()))
            .key(keys::SK, AttributeValue::S("LEASE".to_owned()))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", AttributeValue::S(self.holder.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(sdk_error(e)),
        }
    }
}

/// Runs `work` while holding the lease `name`, releasing it afterwards whatever the outcome.
/// `work` is boxed so deep sagas do not grow the caller's stack.
///
/// # Errors
/// The lease stayed busy, `work` failed, or the release failed.
pub async fn hold<T>(
    store: &Store,
    clock: &dyn Clock,
    name: &str,
    ttl: Duration,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let work = Box::pin(work);
    let lease = Lease::acquire(store, clock, name, ttl, LEASE_WAIT).await?;
    let result = work.await;
    let released = lease.release(store).await;
    let value = result?;
    released?;
    Ok(value)
}

/// How long a worker waits for a busy lease before answering 503.
pub const LEASE_WAIT: Duration = Duration::from_secs(20);

/// The lease serialising one workspace's saga and membership changes.
pub fn workspace(id: crate::ids::WorkspaceId) -> String {
    format!("workspace-{id}")
}
