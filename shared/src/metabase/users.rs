//! Metabase users (§13): the mirror of each Tenantbase account, so workspace groups can hold it.
//!
//! Tenantbase never sends or sets a password for these users: people sign in to Tenantbase, not
//! to Metabase with the Tenantbase password. `POST /api/user` invites with a random password.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{MetabaseClient, MetabaseError};
use crate::ids::MetabaseUserId;

/// The fields of a Metabase user Tenantbase reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetabaseUser {
    pub id: MetabaseUserId,
    pub email: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default = "active")]
    pub is_active: bool,
}

fn active() -> bool {
    true
}

impl MetabaseUser {
    fn has_names(&self, first_name: &str, last_name: &str) -> bool {
        self.first_name.as_deref() == Some(first_name) && self.last_name.as_deref() == Some(last_name)
    }
}

/// `POST /api/user` answered that the email belongs to someone (any case).
fn is_email_in_use(error: &MetabaseError) -> bool {
    error.is_status(400) && error.json().is_some_and(|body| body["errors"]["email"].is_string())
}

impl MetabaseClient {
    /// `GET /api/user?query=…&status=all`, filtered to exactly `email` (case-insensitive): the
    /// query is a substring match on names and email (§13).
    ///
    /// # Errors
    /// Metabase failed or answered an unexpected shape.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<MetabaseUser>, MetabaseError> {
        let query = [("query", email.to_owned()), ("status", "all".to_owned())];
        let value: Value = self.call(Method::GET, "api/user", &query, None, true).await?;
        // Current versions page as `{data, total}`; very old ones answered a bare array.
        let list = value.get("data").cloned().unwrap_or(value);
        let users: Vec<MetabaseUser> = serde_json::from_value(list).map_err(|e| MetabaseError {
            method: Method::GET,
            path: "api/user".to_owned(),
            status: Some(StatusCode::OK),
            body: format!("unexpected response shape: {e}"),
        })?;
        Ok(users.into_iter().find(|user| user.email.eq_ignore_ascii_case(email)))
    }

    /// `POST /api/user` (superuser): an invited user with a random password, never ours.
    ///
    /// # Errors
    /// Metabase refused (`400` for an email already in use) or failed.
    pub async fn create_user(
        &self,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<MetabaseUser, MetabaseError> {
        self.post("api/user", &json!({"email": email, "first_name": first_name, "last_name": last_name})).await
    }

    /// `PUT /api/user/:id` with new names (active users only).
    ///
    /// # Errors
    /// Metabase refused (`404` for a deactivated user) or failed.
    pub async fn update_user_names(
        &self,
        id: MetabaseUserId,
        first_name: &str,
        last_name: &str,
    ) -> Result<(), MetabaseError> {
        self.put(&format!("api/user/{id}"), &json!({"first_name": first_name, "last_name": last_name}))
            .await
            .map(|_| ())
    }

    /// `PUT /api/user/:id/reactivate` (`400` when already active, which is the goal anyway).
    ///
    /// # Errors
    /// Metabase refused or failed.
    pub async fn reactivate_user(&self, id: MetabaseUserId) -> Result<(), MetabaseError> {
        match self.call::<Value>(Method::PUT, &format!("api/user/{id}/reactivate"), &[], None, true).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_status(400) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The Metabase user for `email`: the existing one (reactivated and renamed if needed) or a
    /// new one. Never creates a second user for one email, even when two calls race.
    ///
    /// # Errors
    /// Any of the calls above failed.
    pub async fn ensure_user(
        &self,
        email: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<MetabaseUser, MetabaseError> {
        let existing = match self.find_user_by_email(email).await? {
            Some(user) => user,
            None => match self.create_user(email, first_name, last_name).await {
                Ok(created) => return Ok(created),
                // Created meanwhile (another signup or an admin): link that one.
                Err(e) if is_email_in_use(&e) => self.find_user_by_email(email).await?.ok_or(e)?,
                Err(e) => return Err(e),
            },
        };
        if !existing.is_active {
            self.reactivate_user(existing.id).await?;
        }
        if !existing.has_names(first_name, last_name) {
            self.update_user_names(existing.id, first_name, last_name).await?;
        }
        Ok(MetabaseUser {
            first_name: Some(first_name.to_owned()),
            last_name: Some(last_name.to_owned()),
            is_active: true,
            ..existing
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_from_the_contract_shape_and_detect_duplicates() {
        let user: MetabaseUser = serde_json::from_value(json!({
            "id": 7, "email": "ada@example.com", "first_name": "Ada", "last_name": null,
            "common_name": "Ada", "is_active": false, "is_superuser": false
        }))
        .unwrap();
        assert_eq!(user.id, MetabaseUserId(7));
        assert_eq!(user.last_name, None);
        assert!(!user.is_active);
        assert!(!user.has_names("Ada", "Lovelace"));

        let error = |status: u16, body: &str| MetabaseError {
            method: Method::POST,
            path: "api/user".into(),
            status: Some(StatusCode::from_u16(status).unwrap()),
            body: body.into(),
        };
        assert!(is_email_in_use(&error(400, r#"{"errors":{"email":"Email address already in use."}}"#)));
        assert!(!is_email_in_use(&error(400, r#"{"errors":{"first_name":"bad"}}"#)));
        assert!(!is_email_in_use(&error(500, r#"{"errors":{"email":"x"}}"#)));
    }
}
