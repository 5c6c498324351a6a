//! Counts the DynamoDB calls the code under test makes, by operation, and the time spent in
//! them: an SDK interceptor on the store's client, so every path that reads or writes the table
//! is counted without touching the code under test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use tenantbase::deps::Deps;
use tenantbase::store::Store;

/// Calls and time per DynamoDB operation (`GetItem`, `BatchGetItem`, `Query`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub calls: BTreeMap<String, u64>,
    pub time: Duration,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls of operations that write.
    pub fn writes(&self) -> u64 {
        self.calls.iter().filter(|(op, _)| is_write(op)).map(|(_, n)| n).sum()
    }

    pub fn reads(&self) -> u64 {
        self.total() - self.writes()
    }

    /// `BatchGetItem=1 PutItem=1` style.
    pub fn summary(&self) -> String {
        if self.calls.is_empty() {
            return "none".to_owned();
        }
        self.calls.iter().map(|(op, n)| format!("{op}={n}")).collect::<Vec<_>>().join(" ")
    }
}

fn is_write(op: &str) -> bool {
    matches!(op, "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems")
}

/// Shared between the interceptor and the benchmark that reads it.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<Mutex<Tally>>);

impl Counter {
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().expect("counter lock"))
    }
}

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct Interceptor(Counter);

impl Intercept for Interceptor {
    fn name(&self) -> &'static str {
        "bench-call-counter"
    }

    // Per attempt, so a retried call counts as the round trips it made.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context.request().headers().get("x-amz-target").unwrap_or("unknown");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        *self.0.0.lock().expect("counter lock").calls.entry(op).or_insert(0) += 1;
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Started(at)) = cfg.load::<Started>().copied() {
            self.0.0.lock().expect("counter lock").time += at.elapsed();
        }
        Ok(())
    }
}

/// Swaps `deps`' store for one whose client counts its calls into the returned counter.
pub fn count_dynamodb(deps: &mut Deps, sdk: &aws_sdk_dynamodb::config::Builder) -> Counter {
    let counter = Counter::default();
    let config = sdk.clone().interceptor(Interceptor(counter.clone())).build();
    let table = deps.store.table().to_owned();
    deps.store = Store::new(aws_sdk_dynamodb::Client::from_conf(config), table);
    counter
}
