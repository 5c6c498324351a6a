//! Identifier newtypes, so a workspace id can never be passed where a user id (or a Metabase
//! collection id where a dashboard id) is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Tenantbase's own identifiers: UUIDv7 (time-ordered, so DynamoDB keys and listings sort by
/// creation) rendered in the canonical hyphenated form.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self).map_err(|_| InvalidId { kind: stringify!($name) })
            }
        }
    };
}

/// Metabase's identifiers: positive integers, distinct per object kind.
macro_rules! metabase_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Self(n)),
                    _ => Err(InvalidId { kind: stringify!($name) }),
                }
            }
        }
    };
}

uuid_id!(
    /// A Tenantbase user account.
    UserId
);
uuid_id!(
    /// A workspace: one tenant of the SaaS product.
    WorkspaceId
);
uuid_id!(
    /// A discovered dashboard or question record (our id, not Metabase's).
    ItemId
);

metabase_id!(
    /// A Metabase user (`/api/user/:id`).
    MetabaseUserId
);
metabase_id!(
    /// A Metabase collection (`/api/collection/:id`).
    MetabaseCollectionId
);
metabase_id!(
    /// A Metabase permission group (`/api/permissions/group/:id`).
    MetabaseGroupId
);
metabase_id!(
    /// A Metabase dashboard (`/api/dashboard/:id`).
    MetabaseDashboardId
);
metabase_id!(
    /// A Metabase saved question (`/api/card/:id`).
    MetabaseCardId
);
metabase_id!(
    /// A Metabase database connection (`/api/database/:id`).
    MetabaseDatabaseId
);

/// A path or body carried something that is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}")]
pub struct InvalidId {
    pub kind: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_and_reject_garbage() {
        let id = WorkspaceId::generate();
        let parsed: WorkspaceId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert_eq!("nope".parse::<WorkspaceId>(), Err(InvalidId { kind: "WorkspaceId" }));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn uuid_ids_sort_by_creation() {
        let first = UserId::generate();
        let second = UserId::generate();
        assert!(first < second);
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn metabase_ids_are_positive_integers() {
        assert_eq!("7".parse::<MetabaseDashboardId>(), Ok(MetabaseDashboardId(7)));
        assert!("0".parse::<MetabaseDashboardId>().is_err());
        assert!("-1".parse::<MetabaseCardId>().is_err());
        assert!("7a".parse::<MetabaseCardId>().is_err());
        assert_eq!(serde_json::to_string(&MetabaseGroupId(3)).unwrap(), "3");
        assert_eq!(format!("{:?}", MetabaseGroupId(3)), "MetabaseGroupId(3)");
    }
}
