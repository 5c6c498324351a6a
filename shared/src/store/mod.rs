//! The DynamoDB store foundation: item (de)serialisation through serde_dynamo, and conditional
//! writes and transactions whose conditional failures are domain outcomes, never errors.

pub mod table;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
pub use table::{TABLE, keys};

pub type Item = HashMap<String, AttributeValue>;

/// The result of a conditional write: either it happened, or its condition did not hold (an
/// email already taken, a state transition already made). Callers turn the second into a 409
/// or into "already done".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum WriteOutcome {
    Applied,
    ConditionFailed,
}

/// A condition expression with exactly the names and values it uses (DynamoDB rejects unused
/// ones even where moto does not).
#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

impl Condition {
    /// The item must not exist yet (`PK` absent).
    pub fn not_exists() -> Self {
        Self {
            expression: "attribute_not_exists(#pk)".to_owned(),
            names: HashMap::from([("#pk".to_owned(), keys::PK.to_owned())]),
            values: Item::new(),
        }
    }

    /// The item must exist.
    pub fn exists() -> Self {
        Self {
            expression: "attribute_exists(#pk)".to_owned(),
            names: HashMap::from([("#pk".to_owned(), keys::PK.to_owned())]),
            values: Item::new(),
        }
    }
}

/// Serialises a value into a DynamoDB item.
///
/// # Errors
/// The value does not serialise to a map.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item> {
    serde_dynamo::to_item(value).map_err(|e| Error::internal(format!("item serialisation: {e}")))
}

/// # Errors
/// The item does not have the shape of `T` (a stored record from another version, or a bug).
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(|e| Error::internal(format!("item deserialisation: {e}")))
}

/// Maps an SDK failure: throttling, timeouts and unreachable endpoints are 503 (retryable),
/// anything else 502. The SDK's detail is kept for the log only.
pub(crate) fn sdk_error<E, R>(error: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let retryable = matches!(error, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || error.raw_response().is_some_and(|_| format!("{error:?}").contains("Throttl"));
    let detail = DisplayErrorContext(error).to_string();
    if retryable { Error::unavailable("dynamodb", detail) } else { Error::upstream("dynamodb", detail) }
}

/// The table's secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
}

/// The table handle every store module builds on.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: &str, sk: &str) -> Item {
        HashMap::from([
            (keys::PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    /// Reads one item (strongly consistent: state transitions read their own writes).
    ///
    /// # Errors
    /// DynamoDB failed or the item has an unexpected shape.
    pub async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        output.item.map(from_item).transpose()
    }

    /// Writes `item` only if `condition` holds.
    ///
    /// # Errors
    /// DynamoDB failed for another reason than the condition.
    pub async fn put_if<T: Serialize>(&self, item: &T, condition: Condition) -> Result<WriteOutcome> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression(condition.expression)
            .set_expression_attribute_names(Some(condition.names).filter(|m| !m.is_empty()))
            .set_expression_attribute_values(Some(condition.values).filter(|m| !m.is_empty()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Applied),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(WriteOutcome::ConditionFailed)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// A `Put` of `item` guarded by `condition`, for use in [`Store::transact`].
    ///
    /// # Errors
    /// The item does not serialise.
    pub fn put_op<T: Serialize>(&self, item: &T, condition: Option<Condition>) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(to_item(item)?));
        if let Some(condition) = condition {
            put = put
                .condition_expression(condition.expression)
                .set_expression_attribute_names(Some(condition.names).filter(|m| !m.is_empty()))
                .set_expression_attribute_values(Some(condition.values).filter(|m| !m.is_empty()));
        }
        Ok(TransactWriteItem::builder().put(put.build().map_err(Error::internal)?).build())
    }

    /// Applies all writes or none. A cancellation caused by a condition check is
    /// `ConditionFailed`; other cancellations (conflicting transactions) and failures are errors.
    ///
    /// # Errors
    /// DynamoDB failed, or the transaction was cancelled for a reason other than a condition.
    pub async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<WriteOutcome> {
        if writes.is_empty() {
            return Ok(WriteOutcome::Applied);
        }
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(WriteOutcome::Applied),
            Err(e) => {
                let condition_failed = e
                    .as_service_error()
                    .and_then(|s| match s {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed")))
                        }
                        _ => None,
                    })
                    .unwrap_or(false);
                if condition_failed { Ok(WriteOutcome::ConditionFailed) } else { Err(sdk_error(e)) }
            }
        }
    }

    /// Reads the given `(PK, SK)` keys with `BatchGetItem` (100 keys per call), retrying
    /// unprocessed keys. Missing items are simply absent from the result.
    ///
    /// # Errors
    /// DynamoDB failed or kept keys unprocessed.
    pub async fn batch_get(&self, keys: &[(String, String)], consistent: bool) -> Result<Vec<Item>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut request = KeysAndAttributes::builder().consistent_read(consistent);
            for (pk, sk) in chunk {
                request = request.keys(Self::key(pk, sk));
            }
            let mut pending = HashMap::from([(self.table.clone(), request.build().map_err(Error::internal)?)]);
            for attempt in 0..6u32 {
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(sdk_error)?;
                found.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
                match output.unprocessed_keys.filter(|u| !u.is_empty()) {
                    Some(unprocessed) if attempt < 5 => {
                        pending = unprocessed;
                        tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                    }
                    Some(_) => return Err(Error::unavailable("dynamodb", "keys stayed unprocessed")),
                    None => break,
                }
            }
        }
        Ok(found)
    }

    /// Every item of one partition, all pages: of the table (`index: None`, key `PK`) or of an
    /// index (its partition key attribute), optionally only sort keys starting with a prefix.
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn query_partition(
        &self,
        index: Option<Index>,
        partition: &str,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<Item>> {
        let (pk_name, sk_name) = match index {
            None => (keys::PK, keys::SK),
            Some(Index::Gsi1) => (keys::GSI1PK, keys::GSI1SK),
        };
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
                .set_exclusive_start_key(start);
            query = match sk_prefix {
                Some(prefix) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", sk_name)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
                None => query.key_condition_expression("#pk = :pk"),
            };
            query = match index {
                // Index reads are eventually consistent by nature; table reads are strong.
                Some(Index::Gsi1) => query.index_name(keys::GSI1),
                None => query.consistent_read(true),
            };
            let output = query.send().await.map_err(sdk_error)?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    /// Every item whose partition key starts with `pk_prefix` and whose sort key starts with one
    /// of `sk_prefixes`: a strongly consistent Scan in `segments` parallel segments, all pages.
    /// For reads that want most of one kind of record at once (the discovery sweep): a few large
    /// pages instead of one round trip per partition.
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn scan_prefixed(&self, pk_prefix: &str, sk_prefixes: &[&str], segments: i32) -> Result<Vec<Item>> {
        let sk_filter: Vec<String> = (0..sk_prefixes.len()).map(|i| format!("begins_with(#sk, :sk{i})")).collect();
        let filter = format!("begins_with(#pk, :pk) AND ({})", sk_filter.join(" OR "));
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(pk_prefix.to_owned()))]);
        for (i, prefix) in sk_prefixes.iter().enumerate() {
            values.insert(format!(":sk{i}"), AttributeValue::S((*prefix).to_owned()));
        }
        let segment = |segment: i32| {
            let (filter, values) = (filter.clone(), values.clone());
            async move {
                let mut found = Vec::new();
                let mut start: Option<Item> = None;
                loop {
                    let output = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .consistent_read(true)
                        .segment(segment)
                        .total_segments(segments)
                        .filter_expression(&filter)
                        .expression_attribute_names("#pk", keys::PK)
                        .expression_attribute_names("#sk", keys::SK)
                        .set_expression_attribute_values(Some(values.clone()))
                        .set_exclusive_start_key(start)
                        .send()
                        .await
                        .map_err(sdk_error)?;
                    found.extend(output.items.unwrap_or_default());
                    match output.last_evaluated_key {
                        Some(key) if !key.is_empty() => start = Some(key),
                        _ => return Ok::<_, Error>(found),
                    }
                }
            }
        };
        let pages = futures::future::try_join_all((0..segments.max(1)).map(segment)).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Cheap reachability check for `/health`.
    ///
    /// # Errors
    /// The table does not exist or DynamoDB is unreachable.
    pub async fn ping(&self) -> Result<()> {
        self.client.describe_table().table_name(&self.table).send().await.map(|_| ()).map_err(sdk_error)
    }
}
