//! The single table's definition, in one place: local dev and tests create the table from it,
//! and `shared/tests/table_drift.rs` fails if `infra/template.yaml` declares anything else.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use std::time::Duration;

use crate::error::{Error, Result};

/// A global secondary index (all string keys, projection ALL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexDefinition],
    /// Items with this numeric attribute (epoch seconds) expire (token ledger, lockouts).
    pub ttl_attribute: &'static str,
}

/// Key names of the table and of its index.
pub mod keys {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const GSI1: &str = "GSI1";
    pub const GSI1PK: &str = "GSI1PK";
    pub const GSI1SK: &str = "GSI1SK";
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Tenantbase's table (design §5): typed `PK`/`SK` prefixes and one inverted index `GSI1`
/// (e.g. the workspaces of a user).
pub const TABLE: TableDefinition = TableDefinition {
    partition_key: keys::PK,
    sort_key: keys::SK,
    indexes: &[IndexDefinition { name: keys::GSI1, partition_key: keys::GSI1PK, sort_key: keys::GSI1SK }],
    ttl_attribute: keys::EXPIRES_AT,
};

impl TableDefinition {
    /// Every attribute that appears in a key schema, sorted and deduplicated.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.indexes {
            names.extend([index.partition_key, index.sort_key]);
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Creates the table (on-demand) if it does not exist, waits until it is ACTIVE, and turns
    /// on TTL. Safe to call repeatedly.
    ///
    /// # Errors
    /// DynamoDB refused the creation or the table never became active.
    pub async fn ensure(&self, client: &Client, table_name: &str) -> Result<()> {
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().map_err(Error::internal)
        };
        let mut request = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(self.partition_key, KeyType::Hash)?)
            .key_schema(key(self.sort_key, KeyType::Range)?);
        for name in self.key_attributes() {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(Error::internal)?,
            );
        }
        for index in self.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash)?)
                    .key_schema(key(index.sort_key, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(Error::internal)?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(super::sdk_error(e)),
        }
        // Real DynamoDB takes seconds to create a table; always wait (moto is ACTIVE at once).
        client
            .wait_until_table_exists()
            .table_name(table_name)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| Error::unavailable("dynamodb", format!("table {table_name} did not become active: {e}")))?;
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(self.ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(Error::internal)?,
            )
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                // Enabling TTL twice is a ValidationException ("already enabled"): not an error.
                let already = e
                    .as_service_error()
                    .and_then(|s| s.meta().message())
                    .is_some_and(|m| m.contains("already enabled"));
                if already { Ok(()) } else { Err(super::sdk_error(e)) }
            })
    }
}
