//! Account operations behind `/auth/*`: sign up, log in, and the caller's profile, including
//! the mirrored Metabase user.
//!
//! The Metabase link is best effort: if Metabase is down or bootstrap has not stored an API key
//! yet, signup still succeeds without `metabase_user_id`, and the next successful login
//! completes the link.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Created, Membership, User};
use crate::auth::lockout::Attempts;
use crate::auth::{IssuedToken, Principal, password, token};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseUserId, UserId};
use crate::metabase::RetryPolicy;
use crate::secrets::SecretString;
use crate::store::WriteOutcome;

/// Longest first or last name accepted.
pub const MAX_NAME_LENGTH: usize = 100;
const INVALID_CREDENTIALS: &str = "invalid email or password";

/// What `POST /auth/signup` asks for, as received.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password: SecretString,
    pub first_name: String,
    pub last_name: String,
}

/// The caller's own view of their account (`GET /auth/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub created_at: String,
    pub metabase_user_id: Option<MetabaseUserId>,
    pub workspaces: Vec<Membership>,
}

/// Trims and lower-cases an email and checks its shape: one `@`, a non-empty local part of at
/// most 64 characters, a dotted domain, no spaces, at most 254 characters in all.
///
/// # Errors
/// 400 `invalid_email`.
pub fn normalise_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || Error::bad_request("invalid_email", "email must be a valid email address");
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let valid = email.chars().count() <= 254
        && !local.is_empty()
        && local.chars().count() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(email) } else { Err(invalid()) }
}

/// # Errors
/// 400 `invalid_field` naming the field.
fn name(field: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::bad_request("missing_field", format!("{field} is required")));
    }
    if value.chars().count() > MAX_NAME_LENGTH || value.chars().any(char::is_control) {
        return Err(Error::bad_request(
            "invalid_field",
            format!("{field} must be at most {MAX_NAME_LENGTH} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

fn timestamp(unix_seconds: i64) -> Result<String> {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map_err(Error::internal)?
        .format(&Rfc3339)
        .map_err(Error::internal)
}

/// Creates an account and, if Metabase can be reached, its Metabase user.
///
/// # Errors
/// 400 for invalid fields or a weak password, 409 `email_taken`, 5xx when DynamoDB or the
/// secret fails. A Metabase failure is not an error (see the module docs).
pub async fn sign_up(deps: &Deps, account: NewAccount) -> Result<User> {
    let email = normalise_email(&account.email)?;
    let first_name = name("first_name", &account.first_name)?;
    let last_name = name("last_name", &account.last_name)?;
    password::check_policy(account.password.expose(), &email)?;
    let taken = || Error::conflict("email_taken", "an account with this email already exists");
    // Cheap early answer for the common duplicate; the transaction below is what guarantees it.
    if super::find_by_email(&deps.store, &email).await?.is_some() {
        return Err(taken());
    }
    let user = User {
        id: UserId::generate(),
        email,
        first_name,
        last_name,
        password_hash: password::hash(&account.password).await?,
        is_active: true,
        created_at: timestamp(deps.clock.unix_seconds())?,
        metabase_user_id: None,
    };
    let mut user = match super::create(&deps.store, &user).await? {
        Created::Created(user) => user,
        Created::EmailTaken => return Err(taken()),
    };
    tracing::info!(user = %user.id, "account created");
    user.metabase_user_id = link_metabase(deps, &user).await;
    accept_invitations(deps, &user).await;
    Ok(user)
}

/// Pending workspace invitations of the account's email become memberships. A failure leaves
/// them pending; the next login tries again.
async fn accept_invitations(deps: &Deps, user: &User) {
    match crate::workspaces::members::accept_invitations(deps, user).await {
        Ok(accepted) if !accepted.is_empty() => {
            tracing::info!(user = %user.id, count = accepted.len(), "workspace invitations accepted");
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(user = %user.id, %error, "invitations not accepted yet; the next login retries"),
    }
}

/// Verifies credentials and issues an access token. Unknown emails and wrong passwords get the
/// same 401 after the same work (a dummy hash is verified); failures count towards a lockout.
///
/// # Errors
/// 400 for a missing field, 401 for bad credentials, 429 (with `Retry-After`) while locked out,
/// 5xx when DynamoDB or the secret fails.
pub async fn log_in(deps: &Deps, raw_email: &str, password: &SecretString) -> Result<IssuedToken> {
    // No shape check: a malformed email simply matches no account and fails like any other.
    let email = raw_email.trim().to_lowercase();
    let now = deps.clock.unix_seconds();
    let stored = super::attempts(&deps.store, &email, now).await?;
    if let Some(wait) = stored.attempts.locked_for(now) {
        return Err(locked(wait));
    }
    let user = super::find_by_email(&deps.store, &email).await?;
    let matches = password::verify(password, user.as_ref().map(|u| &u.password_hash)).await?;
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => {
            record_failure(deps, &email, now).await?;
            return Err(Error::Unauthorized(INVALID_CREDENTIALS.to_owned()));
        }
    };
    if stored.version.is_some() {
        super::clear_attempts(&deps.store, &email).await?;
    }
    if user.metabase_user_id.is_none() {
        link_metabase(deps, &user).await;
    }
    accept_invitations(deps, &user).await;
    let settings = crate::auth::token_settings(deps).await?;
    let issued = token::issue(&settings, deps.clock.as_ref(), user.id)?;
    tracing::info!(user = %user.id, jti = %issued.claims.jti, "access token issued");
    Ok(issued)
}

fn locked(wait_seconds: u64) -> Error {
    Error::TooManyRequests {
        message: format!("too many failed logins for this account; try again in {wait_seconds} seconds"),
        retry_after_secs: wait_seconds,
    }
}

/// Adds one failure to the account's counter; concurrent failures retry on the new version so
/// none is lost.
async fn record_failure(deps: &Deps, email: &str, now: i64) -> Result<()> {
    for _ in 0..5 {
        let stored = super::attempts(&deps.store, email, now).await?;
        let next: Attempts = stored.attempts.after_failure(now);
        match super::save_attempts(&deps.store, email, stored, next, now).await? {
            WriteOutcome::Applied => {
                if let Some(wait) = next.locked_for(now) {
                    tracing::warn!(lock_seconds = wait, locks = next.locks, "account locked after failed logins");
                }
                return Ok(());
            }
            WriteOutcome::ConditionFailed => continue,
        }
    }
    tracing::warn!("failed-login counter kept changing; this failure was not counted");
    Ok(())
}

/// The caller's profile and workspace memberships.
///
/// # Errors
/// 401 when the account no longer exists or is deactivated; 5xx when DynamoDB fails.
pub async fn profile(deps: &Deps, principal: &Principal) -> Result<Profile> {
    let user = super::get(&deps.store, principal.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(|| Error::Unauthorized("the account of this token no longer exists".to_owned()))?;
    let workspaces = super::memberships(&deps.store, user.id).await?;
    Ok(Profile {
        id: user.id,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        is_active: user.is_active,
        created_at: user.created_at,
        metabase_user_id: user.metabase_user_id,
        workspaces,
    })
}

/// Finds or creates the Metabase user of `user` and records its id. Any failure is logged and
/// leaves the link for the next login.
pub async fn link_metabase(deps: &Deps, user: &User) -> Option<MetabaseUserId> {
    // Short retries: this runs inside a signup or login request, and a later login retries anyway.
    let retry =
        RetryPolicy { attempts: 2, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(500) };
    let result = async {
        let client = deps.metabase_admin().await?.with_retry(retry);
        let metabase_user = client.ensure_user(&user.email, &user.first_name, &user.last_name).await?;
        super::set_metabase_user_id(&deps.store, user.id, metabase_user.id).await?;
        Ok::<_, Error>(metabase_user.id)
    }
    .await;
    match result {
        Ok(id) => {
            tracing::info!(user = %user.id, metabase_user = %id, "Metabase user linked");
            Some(id)
        }
        Err(error) => {
            tracing::warn!(user = %user.id, %error, "Metabase user not linked yet; the next login retries");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lower_cased_and_checked() {
        assert_eq!(normalise_email("  Ada.Lovelace@Example.COM \n").unwrap(), "ada.lovelace@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@example..com",
            "ada@.example.com",
        ] {
            assert_eq!(normalise_email(bad).unwrap_err().code(), "invalid_email", "{bad:?}");
        }
        assert!(normalise_email(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn names_are_trimmed_required_and_bounded() {
        assert_eq!(name("first_name", "  Ada ").unwrap(), "Ada");
        assert_eq!(name("first_name", "  ").unwrap_err().code(), "missing_field");
        let error = name("last_name", &"x".repeat(101)).unwrap_err();
        assert_eq!(error.code(), "invalid_field");
        assert!(error.to_string().starts_with("last_name"));
        assert!(name("last_name", "a\u{0}b").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(timestamp(0).unwrap(), "1970-01-01T00:00:00Z");
    }
}
