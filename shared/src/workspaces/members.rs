//! Workspace members and invitations, and keeping the workspace's Metabase group equal to its
//! owners and editors (viewers only see embeds; they get no Metabase access).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseGroupId, MetabaseUserId, UserId};
use crate::metabase::MetabaseClient;
use crate::store::{Condition, WriteOutcome, from_item, keys, sdk_error};
use crate::users::{self, User};
use crate::workspaces::{self, Invitation, Member, Role, Workspace, lease, member_sk, provision, workspace_pk};

/// A member or a pending invitation, as the members routes show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    pub user_id: Option<UserId>,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    /// `active` for members, `invited` for pending invitations.
    pub status: &'static str,
    pub created_at: String,
}

/// The members and invitations of a workspace (one query on its partition).
///
/// # Errors
/// DynamoDB failed.
pub async fn list(deps: &Deps, workspace: &Workspace) -> Result<(Vec<Member>, Vec<Invitation>)> {
    let mut members = Vec::new();
    let mut invitations = Vec::new();
    for item in workspaces::partition(&deps.store, workspace.id).await? {
        match item.get(keys::SK).and_then(|v| v.as_s().ok()) {
            Some(sk) if sk.starts_with("MEMBER#") => members.push(from_item::<Member>(item)?),
            Some(sk) if sk.starts_with("INVITE#") => invitations.push(from_item::<Invitation>(item)?),
            _ => {}
        }
    }
    Ok((members, invitations))
}

/// Members with their profiles, then invitations.
///
/// # Errors
/// DynamoDB failed.
pub async fn views(deps: &Deps, workspace: &Workspace) -> Result<Vec<MemberView>> {
    let (members, invitations) = list(deps, workspace).await?;
    let mut views = Vec::with_capacity(members.len() + invitations.len());
    for member in members {
        let user = users::get(&deps.store, member.user_id).await?;
        views.push(MemberView {
            user_id: Some(member.user_id),
            email: user.as_ref().map(|u| u.email.clone()).unwrap_or_default(),
            first_name: user.as_ref().map(|u| u.first_name.clone()),
            last_name: user.as_ref().map(|u| u.last_name.clone()),
            role: member.role,
            status: "active",
            created_at: member.created_at,
        });
    }
    views.extend(invitations.into_iter().map(|i| MemberView {
        user_id: None,
        email: i.email,
        first_name: None,
        last_name: None,
        role: i.role,
        status: "invited",
        created_at: i.created_at,
    }));
    Ok(views)
}

/// Makes the Metabase group's membership equal to the workspace's owners and editors: adds the
/// missing (linking Metabase users first when signup could not), removes everyone else —
/// including users someone added by hand in Metabase.
///
/// # Errors
/// Metabase or DynamoDB failed, or an editor's Metabase user cannot be linked yet.
pub async fn sync_group(
    deps: &Deps,
    admin: &MetabaseClient,
    workspace: &Workspace,
    group: MetabaseGroupId,
    changes: &mut Vec<String>,
) -> Result<()> {
    sync_group_as_if(deps, admin, workspace, group, None, changes).await
}

/// [`sync_group`] as if `pending` (a user and their new role, `None` = removed) were already
/// stored: access is taken away in Metabase *before* the record changes, so a failure leaves
/// nothing half-done.
async fn sync_group_as_if(
    deps: &Deps,
    admin: &MetabaseClient,
    workspace: &Workspace,
    group: MetabaseGroupId,
    pending: Option<(UserId, Option<Role>)>,
    changes: &mut Vec<String>,
) -> Result<()> {
    let (members, _) = list(deps, workspace).await?;
    let roles = members.iter().map(|m| (m.user_id, Some(m.role))).chain(pending).collect::<BTreeMap<_, _>>();
    let mut wanted: BTreeSet<MetabaseUserId> = BTreeSet::new();
    for (user_id, _) in roles.iter().filter(|(_, role)| role.is_some_and(Role::in_metabase_group)) {
        let user = users::get(&deps.store, *user_id)
            .await?
            .ok_or_else(|| Error::internal(format!("member {user_id} has no account")))?;
        wanted.insert(metabase_user(deps, &user).await?);
    }
    let current: BTreeMap<MetabaseUserId, u64> =
        admin.group_members(group).await?.into_iter().map(|m| (m.user_id, m.membership_id)).collect();
    for user in wanted.iter().filter(|u| !current.contains_key(u)) {
        admin.add_membership(group, *user).await?;
        changes.push(format!("workspace {}: added Metabase user {user} to its group", workspace.id));
    }
    for (user, membership) in current.iter().filter(|(u, _)| !wanted.contains(u)) {
        admin.remove_membership(*membership).await?;
        changes.push(format!("workspace {}: removed Metabase user {user} from its group", workspace.id));
    }
    Ok(())
}

async fn metabase_user(deps: &Deps, user: &User) -> Result<MetabaseUserId> {
    if let Some(id) = user.metabase_user_id {
        return Ok(id);
    }
    users::accounts::link_metabase(deps, user).await.ok_or_else(|| {
        Error::unavailable("metabase", format!("the Metabase user of {} could not be linked yet", user.id))
    })
}

/// Syncs the group for a membership change about to be stored (see [`sync_group_as_if`]).
async fn resync(deps: &Deps, workspace: &Workspace, pending: Option<(UserId, Option<Role>)>) -> Result<()> {
    let Some(group) = workspace.metabase_group_id.filter(|_| workspace.is_active()) else {
        return Ok(());
    };
    let admin = deps.metabase_admin().await?;
    sync_group_as_if(deps, &admin, workspace, group, pending, &mut Vec::new()).await
}

/// Granting access late is safe: after a stored addition, a failed sync is left to the
/// reconciler rather than failing a request whose record is already written.
async fn grant_later_if_needed(deps: &Deps, workspace: &Workspace) {
    if let Err(error) = resync(deps, workspace, None).await {
        tracing::warn!(workspace = %workspace.id, %error, "Metabase group sync deferred to the reconciler");
    }
}

/// What adding a member by email did.
#[derive(Debug)]
pub enum Added {
    Member(Member),
    Invited(Invitation),
}

/// Adds `email` with `role`: a membership when the account exists, else a pending invitation
/// honoured at signup.
///
/// # Errors
/// 409 when the email is already a member or invited; DynamoDB or Metabase failed.
pub async fn add(deps: &Deps, workspace: &Workspace, email: &str, role: Role, by: Option<UserId>) -> Result<Added> {
    serialised(deps, workspace, add_unlocked(deps, workspace, email, role, by)).await
}

/// Membership changes of one workspace run one at a time (the saga's lease), so two owners
/// demoting each other at once cannot leave the workspace without an owner.
async fn serialised<T>(deps: &Deps, workspace: &Workspace, work: impl Future<Output = Result<T>>) -> Result<T> {
    lease::hold(
        &deps.store,
        deps.clock.as_ref(),
        &lease::workspace(workspace.id),
        provision::SAGA_LEASE_TTL,
        Box::pin(work),
    )
    .await
}

async fn add_unlocked(
    deps: &Deps,
    workspace: &Workspace,
    email: &str,
    role: Role,
    by: Option<UserId>,
) -> Result<Added> {
    let now = provision::now(deps);
    match users::find_by_email(&deps.store, email).await? {
        Some(user) => {
            let member = Member::new(workspace.id, user.id, role, now);
            if deps.store.put_if(&member, Condition::not_exists()).await? == WriteOutcome::ConditionFailed {
                return Err(Error::conflict("already_member", format!("{email} is already a member")));
            }
            grant_later_if_needed(deps, workspace).await;
            Ok(Added::Member(member))
        }
        None => {
            let invitation = Invitation::new(workspace.id, email, role, by, now);
            if deps.store.put_if(&invitation, Condition::not_exists()).await? == WriteOutcome::ConditionFailed {
                return Err(Error::conflict("already_invited", format!("{email} is already invited")));
            }
            Ok(Added::Invited(invitation))
        }
    }
}

async fn owners(deps: &Deps, workspace: &Workspace) -> Result<usize> {
    Ok(list(deps, workspace).await?.0.iter().filter(|m| m.role == Role::Owner).count())
}

/// Changes a member's role. The last owner cannot be demoted.
///
/// # Errors
/// 404 unknown member, 409 last owner; DynamoDB or Metabase failed.
pub async fn set_role(deps: &Deps, workspace: &Workspace, user: UserId, role: Role) -> Result<Member> {
    serialised(deps, workspace, set_role_unlocked(deps, workspace, user, role)).await
}

async fn set_role_unlocked(deps: &Deps, workspace: &Workspace, user: UserId, role: Role) -> Result<Member> {
    let current = deps
        .store
        .get::<Member>(&workspace_pk(workspace.id), &member_sk(user))
        .await?
        .ok_or_else(|| Error::NotFound("member not found".to_owned()))?;
    if current.role == role {
        return Ok(current);
    }
    if current.role == Role::Owner && owners(deps, workspace).await? <= 1 {
        return Err(Error::conflict("last_owner", "the last owner cannot be demoted; make someone else owner first"));
    }
    let updated = current.with_role(role);
    if !role.in_metabase_group() {
        resync(deps, workspace, Some((user, Some(role)))).await?;
    }
    if deps.store.put_if(&updated, Condition::exists()).await? == WriteOutcome::ConditionFailed {
        return Err(Error::NotFound("member not found".to_owned()));
    }
    if role.in_metabase_group() {
        grant_later_if_needed(deps, workspace).await;
    }
    Ok(updated)
}

/// Removes a member. The last owner cannot leave.
///
/// # Errors
/// 404 unknown member, 409 last owner; DynamoDB or Metabase failed.
pub async fn remove(deps: &Deps, workspace: &Workspace, user: UserId) -> Result<()> {
    serialised(deps, workspace, remove_unlocked(deps, workspace, user)).await
}

async fn remove_unlocked(deps: &Deps, workspace: &Workspace, user: UserId) -> Result<()> {
    let current = deps
        .store
        .get::<Member>(&workspace_pk(workspace.id), &member_sk(user))
        .await?
        .ok_or_else(|| Error::NotFound("member not found".to_owned()))?;
    if current.role == Role::Owner && owners(deps, workspace).await? <= 1 {
        return Err(Error::conflict("last_owner", "the last owner cannot leave; make someone else owner first"));
    }
    resync(deps, workspace, Some((user, None))).await?;
    deps.store
        .client()
        .delete_item()
        .table_name(deps.store.table())
        .key(keys::PK, AttributeValue::S(workspace_pk(workspace.id)))
        .key(keys::SK, AttributeValue::S(member_sk(user)))
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}

/// Turns the pending invitations of a new account into memberships. Failures to sync Metabase
/// are left to the reconciler; the memberships themselves are written first.
///
/// # Errors
/// DynamoDB failed.
pub async fn accept_invitations(deps: &Deps, user: &User) -> Result<Vec<Member>> {
    let mut accepted = Vec::new();
    for invitation in workspaces::invitations_for(&deps.store, &user.email).await? {
        let member = Member::new(invitation.workspace_id, user.id, invitation.role, provision::now(deps));
        let outcome = deps.store.put_if(&member, Condition::not_exists()).await?;
        deps.store
            .client()
            .delete_item()
            .table_name(deps.store.table())
            .key(keys::PK, AttributeValue::S(workspace_pk(invitation.workspace_id)))
            .key(keys::SK, AttributeValue::S(format!("INVITE#{}", invitation.email)))
            .send()
            .await
            .map_err(sdk_error)?;
        if outcome == WriteOutcome::Applied {
            if let Some(workspace) = workspaces::get(&deps.store, invitation.workspace_id).await? {
                grant_later_if_needed(deps, &workspace).await;
            }
            accepted.push(member);
        }
    }
    Ok(accepted)
}
