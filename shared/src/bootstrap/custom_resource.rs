//! CloudFormation custom-resource protocol: the request CloudFormation sends, and the response
//! document the function must `PUT` to the pre-signed `ResponseURL`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::reconcile::Report;
use crate::error::{Error, Result};

/// The fields of a custom-resource request this function uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    /// `Create`, `Update` or `Delete`.
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    /// Absent on `Create`; echoed back unchanged afterwards (a new id would make CloudFormation
    /// replace the resource and send a `Delete` for the old one).
    #[serde(default)]
    pub physical_resource_id: Option<String>,
}

const PHYSICAL_ID: &str = "tenantbase-metabase-bootstrap";

/// Sends the response document and returns the status sent (`SUCCESS` or `FAILED`). The
/// failure reason is the error's public message: no secrets, no internal hostnames.
///
/// # Errors
/// The response could not be delivered after a few attempts.
pub async fn respond(
    http: &reqwest::Client,
    request: &CustomResourceRequest,
    outcome: &Result<Option<Report>>,
    log_stream: &str,
) -> Result<&'static str> {
    let (status, reason, data) = match outcome {
        Ok(report) => (
            "SUCCESS",
            format!("See CloudWatch log stream {log_stream}"),
            json!({ "Changes": report.as_ref().map_or(0, |r| r.changes.len()).to_string() }),
        ),
        Err(error) => {
            tracing::error!(%error, "bootstrap failed for the custom resource");
            ("FAILED", format!("{} (see CloudWatch log stream {log_stream})", error.public_message()), json!({}))
        }
    };
    let body = json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": request.physical_resource_id.as_deref().unwrap_or(PHYSICAL_ID),
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "NoEcho": false,
        "Data": data,
    })
    .to_string();
    let mut last = String::new();
    for attempt in 0..4u32 {
        // Pre-signed S3 URLs are signed without a content type: sending one breaks the signature.
        let sent = http
            .put(&request.response_url)
            .header(http::header::CONTENT_TYPE, "")
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(status),
            Ok(response) => last = format!("HTTP {}", response.status()),
            Err(error) => last = if error.is_timeout() { "timed out".into() } else { "request failed".into() },
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
    Err(Error::unavailable("cloudformation", format!("could not deliver the custom-resource response: {last}")))
}
