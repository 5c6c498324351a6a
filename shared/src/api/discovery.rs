//! HTTP handlers of the `discovery` function.

use lambda_http::Request;

use crate::deps::Deps;
use crate::error::Result;
use crate::http::{HttpResponse, Matched};

pub(super) async fn handle(_deps: &Deps, matched: Matched, _request: &Request) -> Result<HttpResponse> {
    Err(super::not_implemented(matched.endpoint))
}
