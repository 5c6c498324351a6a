//! Shared by the content and embed contract tests: one HTTP response reduced to what the
//! contract pins (status, content type, body text).

use reqwest::StatusCode;
use serde_json::Value;

pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Resp {
    /// Reads the status, content type and body of `response`.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Resp { status, content_type, text: response.text().await.unwrap() }
    }

    /// The body as JSON, or a panic that shows it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}
