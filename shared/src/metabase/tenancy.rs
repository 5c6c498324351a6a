//! The Metabase objects that make up a tenant: its collection (§9), its permission group and the
//! group's memberships (§10).

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{MetabaseClient, MetabaseError};
use super::types::PermissionGroup;
use crate::ids::{MetabaseCollectionId, MetabaseGroupId, MetabaseUserId};

/// The fields of a collection Tenantbase reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Collection {
    pub id: MetabaseCollectionId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub personal_owner_id: Option<u64>,
}

/// One member of a group (`GET /api/permissions/group/:id` → `members`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMember {
    pub membership_id: u64,
    pub user_id: MetabaseUserId,
}

fn shape_error(method: Method, path: &str, e: impl std::fmt::Display) -> MetabaseError {
    MetabaseError {
        method,
        path: path.to_owned(),
        status: Some(StatusCode::OK),
        body: format!("unexpected response shape: {e}"),
    }
}

impl MetabaseClient {
    /// Every non-personal collection, archived ones included (`GET /api/collection/`, whose root
    /// pseudo-collection has the string id `root` and is skipped).
    ///
    /// # Errors
    /// Metabase failed or answered an unexpected shape.
    pub async fn collections(&self) -> Result<Vec<Collection>, MetabaseError> {
        let mut found = Vec::new();
        for archived in ["false", "true"] {
            let query = [("exclude-other-user-collections", "true".to_owned()), ("archived", archived.to_owned())];
            let list: Vec<Value> = self.call(Method::GET, "api/collection/", &query, None, true).await?;
            for item in list.into_iter().filter(|c| c["id"].is_u64() && c["personal_owner_id"].is_null()) {
                found.push(serde_json::from_value(item).map_err(|e| shape_error(Method::GET, "api/collection/", e))?);
            }
        }
        Ok(found)
    }

    /// `POST /api/collection` at the top level.
    ///
    /// # Errors
    /// Metabase failed (not retried on 5xx: the caller looks for it before creating again).
    pub async fn create_collection(&self, name: &str, description: &str) -> Result<Collection, MetabaseError> {
        self.post("api/collection", &json!({"name": name, "description": description, "parent_id": null})).await
    }

    /// `PUT /api/collection/:id` with the given fields (`name`, `archived`, …).
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn update_collection(
        &self,
        id: MetabaseCollectionId,
        fields: &Value,
    ) -> Result<Collection, MetabaseError> {
        self.call(Method::PUT, &format!("api/collection/{id}"), &[], Some(fields), true).await
    }

    /// `POST /api/permissions/group`. A duplicate name is `400` plain text (§10).
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn create_group(&self, name: &str) -> Result<PermissionGroup, MetabaseError> {
        self.post("api/permissions/group", &json!({ "name": name })).await
    }

    /// The members of a group, with the membership ids needed to remove them.
    ///
    /// # Errors
    /// Metabase failed (404 when the group does not exist).
    pub async fn group_members(&self, group: MetabaseGroupId) -> Result<Vec<GroupMember>, MetabaseError> {
        let path = format!("api/permissions/group/{group}");
        let value: Value = self.get(&path).await?;
        serde_json::from_value(value["members"].clone()).map_err(|e| shape_error(Method::GET, &path, e))
    }

    /// `POST /api/permissions/membership`.
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn add_membership(&self, group: MetabaseGroupId, user: MetabaseUserId) -> Result<(), MetabaseError> {
        self.post::<Value>("api/permissions/membership", &json!({"group_id": group, "user_id": user})).await.map(|_| ())
    }

    /// `DELETE /api/permissions/membership/:id`; an already-removed membership (404) is success.
    ///
    /// # Errors
    /// Metabase failed.
    pub async fn remove_membership(&self, membership_id: u64) -> Result<(), MetabaseError> {
        match self
            .call::<Value>(Method::DELETE, &format!("api/permissions/membership/{membership_id}"), &[], None, true)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_status(404) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
