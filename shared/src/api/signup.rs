//! HTTP handlers of the `signup` function: `POST /auth/signup`, `POST /auth/login`, `GET /auth/me`.
//! They translate requests into account operations (`users::accounts`) and results into JSON.

use http::StatusCode;
use lambda_http::Request;
use serde::Serialize;

use crate::auth;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::request::{self, FORM, JSON};
use crate::http::{HttpResponse, Matched, json};
use crate::ids::UserId;
use crate::routes::Endpoint;
use crate::secrets::SecretString;
use crate::users::User;
use crate::users::accounts::{self, NewAccount};

pub(super) async fn handle(deps: &Deps, matched: Matched, request: &Request) -> Result<HttpResponse> {
    match matched.endpoint {
        Endpoint::Signup => signup(deps, request).await,
        Endpoint::Login => login(deps, request).await,
        Endpoint::Me => me(deps, request).await,
        // The route table gives this function only the three endpoints above.
        other => Err(Error::internal(format!("{other:?} is not an endpoint of the signup function"))),
    }
}

/// The `201` body of a signup.
#[derive(Debug, Serialize)]
struct Account {
    id: UserId,
    email: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    created_at: String,
}

impl From<User> for Account {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            is_active: user.is_active,
            created_at: user.created_at,
        }
    }
}

/// The `200` body of a login, as OAuth2's password flow returns it.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
}

async fn signup(deps: &Deps, request: &Request) -> Result<HttpResponse> {
    let body = request::json_object(request)?;
    let account = NewAccount {
        email: body.required_string("email")?,
        password: SecretString::new(body.required_string("password")?),
        first_name: body.required_string("first_name")?,
        last_name: body.required_string("last_name")?,
    };
    let user = accounts::sign_up(deps, account).await?;
    Ok(json(StatusCode::CREATED, &Account::from(user)))
}

/// Credentials from a form (`username`, `password`: OAuth2's password flow, as the product's
/// frontend sends them) or from JSON (`email`, `password`).
fn credentials(request: &Request) -> Result<(String, SecretString)> {
    match request::media_type(request).as_deref() {
        Some(FORM) => {
            let form = request::form_body(request)?;
            Ok((form.required_string("username")?, SecretString::new(form.required_string("password")?)))
        }
        Some(media) if request::is_json(media) => {
            let body = request::json_object(request)?;
            Ok((body.required_string("email")?, SecretString::new(body.required_string("password")?)))
        }
        other => Err(Error::UnsupportedMediaType(format!(
            "{} is not accepted here; send {FORM} (username, password) or {JSON} (email, password)",
            other.map_or_else(|| "a body without a content type".to_owned(), |m| format!("content type {m}"))
        ))),
    }
}

async fn login(deps: &Deps, request: &Request) -> Result<HttpResponse> {
    let (email, password) = credentials(request)?;
    let issued = accounts::log_in(deps, &email, &password).await?;
    let body =
        TokenResponse { access_token: issued.token.expose(), token_type: "bearer", expires_in: issued.expires_in };
    let mut response = json(StatusCode::OK, &body);
    // RFC 6749 §5.1: token responses must not be cached.
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn me(deps: &Deps, request: &Request) -> Result<HttpResponse> {
    let principal = auth::authenticate(deps, request).await?;
    let profile = accounts::profile(deps, &principal).await?;
    Ok(json(StatusCode::OK, &profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNUP: &str = include_str!("../../../events/signup/post-signup.json");
    const LOGIN_FORM: &str = include_str!("../../../events/signup/post-login-form.json");
    const LOGIN_JSON: &str = include_str!("../../../events/signup/post-login-json.json");
    const ME: &str = include_str!("../../../events/signup/get-me.json");

    fn load(event: &str) -> Request {
        lambda_http::request::from_str(event).expect("a valid API Gateway v2 event")
    }

    fn endpoint(request: &Request) -> Endpoint {
        crate::http::route(crate::routes::Function::Signup, request).unwrap().endpoint
    }

    #[test]
    fn the_signup_event_routes_and_parses() {
        let request = load(SIGNUP);
        assert_eq!(endpoint(&request), Endpoint::Signup);
        let body = request::json_object(&request).unwrap();
        for field in ["email", "password", "first_name", "last_name"] {
            assert!(body.required_string(field).is_ok(), "{field}");
        }
    }

    #[test]
    fn both_login_events_yield_credentials() {
        for event in [LOGIN_FORM, LOGIN_JSON] {
            let request = load(event);
            assert_eq!(endpoint(&request), Endpoint::Login);
            let (email, password) = credentials(&request).unwrap();
            assert_eq!(email, "ada.lovelace@example.com");
            assert!(!password.expose().is_empty());
        }
    }

    #[test]
    fn other_login_content_types_are_415() {
        let mut event: serde_json::Value = serde_json::from_str(LOGIN_JSON).unwrap();
        event["headers"]["content-type"] = "text/plain".into();
        let request = load(&event.to_string());
        assert_eq!(credentials(&request).unwrap_err().status().as_u16(), 415);
    }

    #[test]
    fn the_me_event_carries_a_bearer_token() {
        let request = load(ME);
        assert_eq!(endpoint(&request), Endpoint::Me);
        assert!(auth::bearer_token(request.headers()).is_ok());
    }
}
