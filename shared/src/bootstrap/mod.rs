//! The bootstrap function: zero-touch Metabase setup and continuous reconcile (design §4).
//!
//! One binary, three triggers: a CloudFormation custom resource (every deploy), an EventBridge
//! schedule, and a direct invoke. All three run the same idempotent [`reconcile`].

mod custom_resource;
mod reconcile;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

pub use custom_resource::{CustomResourceRequest, respond};
pub use reconcile::{API_KEY_NAME, Report, reconcile};

use crate::deps::Deps;
use crate::error::Result;

/// What invoked the function, recognised from the event's shape.
#[derive(Debug)]
pub enum Trigger {
    CustomResource(Box<CustomResourceRequest>),
    Scheduled,
    Direct,
}

impl Trigger {
    pub fn classify(event: &Value) -> Self {
        if event.get("RequestType").is_some() && event.get("ResponseURL").is_some() {
            match serde_json::from_value(event.clone()) {
                Ok(request) => return Self::CustomResource(Box::new(request)),
                Err(error) => {
                    tracing::warn!(%error, "custom-resource-like event did not parse; treating as a direct invoke")
                }
            }
        }
        if event.get("source").and_then(Value::as_str) == Some("aws.events")
            && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        {
            return Self::Scheduled;
        }
        Self::Direct
    }
}

/// Handles one bootstrap event. Custom-resource events always get their response document
/// (also on failure, else the stack hangs for an hour); `Delete` succeeds without touching
/// Metabase, so deleting the stack never depends on Metabase being up.
///
/// # Errors
/// Reconcile failed (schedule and direct invokes), or the custom-resource response could not be
/// delivered.
pub async fn handle(deps: &Deps, event: Value, log_stream: &str) -> Result<Value> {
    match Trigger::classify(&event) {
        Trigger::CustomResource(request) => {
            let outcome = if request.request_type == "Delete" { Ok(None) } else { reconcile(deps).await.map(Some) };
            let status = respond(&deps.http, &request, &outcome, log_stream).await?;
            Ok(json!({ "status": status, "report": outcome.ok().flatten() }))
        }
        Trigger::Scheduled | Trigger::Direct => {
            let report = reconcile(deps).await?;
            tracing::info!(changes = report.changes.len(), attempts = report.attempts, "bootstrap converged");
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }
    }
}

/// The bootstrap function's whole `main`: runs it on the Lambda runtime (see
/// [`crate::runtime`] for why this is not an `async fn`).
///
/// # Errors
/// The Tokio runtime could not start, initialisation failed (invalid configuration) or the
/// Lambda runtime stopped.
pub fn main() -> Result<(), lambda_runtime::Error> {
    crate::runtime::build()?.block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let deps = Deps::init().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            let log_stream = event.context.env_config.log_stream.clone();
            handle(&deps, event.payload, &log_stream).await
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_recognised_from_real_events() {
        let create: Value = serde_json::from_str(include_str!("../../../events/bootstrap/cfn-create.json")).unwrap();
        assert!(matches!(Trigger::classify(&create), Trigger::CustomResource(r) if r.request_type == "Create"));
        let scheduled: Value = serde_json::from_str(include_str!("../../../events/bootstrap/scheduled.json")).unwrap();
        assert!(matches!(Trigger::classify(&scheduled), Trigger::Scheduled));
        let direct: Value = serde_json::from_str(include_str!("../../../events/bootstrap/invoke.json")).unwrap();
        assert!(matches!(Trigger::classify(&direct), Trigger::Direct));
    }
}
