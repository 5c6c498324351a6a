//! Signed embeds for workspace members: authorise from one read, sign in memory, record the token
//! in the ledger; plus revocation and usage (design §2 items 4 and 6, contract §15 and §19.5).
//!
//! The hot path of a mint or a refresh is: the bearer token checked in memory, one strongly
//! consistent `BatchGetItem` ([`items::with_access`]) for the workspace, the caller's membership
//! and the item, [`grant`] and [`sign`] in memory, then one `PutItem` into the token ledger
//! before the answer leaves (an unrecorded token is never handed out). No Metabase call.

pub mod ledger;
pub mod revoke;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseCardId, MetabaseDashboardId, UserId};
use crate::items::{self, ItemKind, ItemRecord, ItemRef, ItemStatus};
use crate::signer::{APPEARANCE_KEYS, Appearance, EmbedRequest, EmbedResource, EmbedSigner, SignedEmbed};
use crate::workspaces::{Member, Workspace};

/// The query key of the requested lifetime.
const MINUTES: &str = "minutes";
/// Viewer filter values: `?param.<slug>=value` (repeat the key for several values).
const PARAM_PREFIX: &str = "param.";

/// How a token was issued, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// `GET /api/workspaces/{dashboards|questions}/{id}/embed`.
    Mint,
    /// `POST /api/embed/token` (the guest-embed refresh contract).
    Refresh,
}

/// What a mint request may choose: lifetime, viewer filter values and appearance overrides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedOptions {
    pub minutes: Option<u32>,
    /// One entry per slug; repeated values are already combined into one array.
    pub viewer_params: Vec<(String, Value)>,
    pub appearance: Appearance,
}

impl EmbedOptions {
    /// Reads `minutes`, `param.<slug>` and the appearance options from query pairs (repeated
    /// pairs included, in order).
    ///
    /// # Errors
    /// 400: `invalid_minutes` (not a whole number, or given twice), `invalid_param` (`param.`
    /// without a slug), `invalid_appearance` (see [`Appearance::from_query`]),
    /// `unknown_query_parameter` for any other key.
    pub fn from_query<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let pairs: Vec<(K, V)> = pairs.into_iter().collect();
        let appearance = Appearance::from_query(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
        let mut minutes = None;
        let mut viewer: Vec<(String, Vec<String>)> = Vec::new();
        for (key, value) in &pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if let Some(slug) = key.strip_prefix(PARAM_PREFIX) {
                if slug.is_empty() {
                    return Err(Error::bad_request("invalid_param", "a viewer filter is written param.<slug>=value"));
                }
                match viewer.iter_mut().find(|(known, _)| known == slug) {
                    Some((_, values)) => values.push(value.to_owned()),
                    None => viewer.push((slug.to_owned(), vec![value.to_owned()])),
                }
            } else if key == MINUTES {
                if minutes.is_some() {
                    return Err(Error::bad_request("invalid_minutes", "minutes is given more than once"));
                }
                minutes = Some(value.parse::<u32>().map_err(|_| {
                    Error::bad_request("invalid_minutes", format!("minutes must be a whole number (got {value:?})"))
                })?);
            } else if !APPEARANCE_KEYS.contains(&key) {
                return Err(Error::bad_request(
                    "unknown_query_parameter",
                    format!("{key} is not an option here (minutes, param.<slug>, {})", APPEARANCE_KEYS.join(", ")),
                ));
            }
        }
        // Metabase takes several values of one filter as an array (§19.5); the signer wants one
        // entry per slug.
        let viewer_params = viewer
            .into_iter()
            .map(|(slug, mut values)| {
                let value = if values.len() == 1 {
                    Value::String(values.remove(0))
                } else {
                    Value::Array(values.into_iter().map(Value::String).collect())
                };
                (slug, value)
            })
            .collect();
        Ok(Self { minutes, viewer_params, appearance })
    }
}

/// What the one authorisation read established: this member may embed this item now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub workspace: Workspace,
    pub member: Member,
    pub item: ItemRecord,
}

/// Decides a mint or refresh from the records [`items::with_access`] read, as of `now` (Unix
/// seconds).
///
/// # Errors
/// * 404 when the caller is not a member of the owning workspace, or the item does not exist or
///   was removed (indistinguishable, so ids of other tenants reveal nothing).
/// * 409 `workspace_not_active` (provisioning, failed or archived workspace); 409 `quarantined`
///   with the lint's reason.
/// * 403 `forbidden` naming the revocation: workspace or item scope until its window has passed,
///   member scope until lifted.
pub fn grant(
    item: ItemRef,
    records: (Option<Workspace>, Option<Member>, Option<ItemRecord>),
    now: i64,
) -> Result<Grant> {
    let not_found = || Error::NotFound(format!("{} not found", item.kind.label()));
    let (Some(workspace), Some(member), Some(record)) = records else { return Err(not_found()) };
    if record.status == ItemStatus::Removed {
        return Err(not_found());
    }
    if !workspace.is_active() {
        return Err(Error::conflict(
            "workspace_not_active",
            format!("workspace {} is {:?}, so its items cannot be embedded", workspace.id, workspace.status)
                .to_lowercase(),
        ));
    }
    if let Some(until) = workspace.embeds_revoked_until.filter(|until| *until > now) {
        return Err(revoked(format!("the embeds of this workspace are revoked until {}", rfc3339(until))));
    }
    if member.embeds_revoked {
        return Err(revoked("your embeds in this workspace are revoked until an owner lifts it".to_owned()));
    }
    if let Some(until) = record.revoked_until.filter(|until| *until > now) {
        return Err(revoked(format!("the embeds of this {} are revoked until {}", item.kind.label(), rfc3339(until))));
    }
    if record.status == ItemStatus::Quarantined {
        let reason = record.reason.as_deref().unwrap_or("it failed the isolation lint");
        return Err(Error::conflict(
            "quarantined",
            format!("{} {:?} is quarantined: {reason}", item.kind.label(), record.name),
        ));
    }
    Ok(Grant { workspace, member, item: record })
}

fn revoked(message: String) -> Error {
    Error::Forbidden(format!("revoked: {message}"))
}

/// Unix seconds as RFC 3339 (UTC), for messages and responses.
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// The Metabase resource a record names.
pub fn resource_of(item: &ItemRecord) -> EmbedResource {
    match item.kind {
        ItemKind::Dashboard => EmbedResource::Dashboard(MetabaseDashboardId(item.metabase_id)),
        ItemKind::Question => EmbedResource::Question(MetabaseCardId(item.metabase_id)),
    }
}

/// The workspace's default appearance reduced to what applies to `item`: a default that hides a
/// filter this item does not have is not the viewer's mistake, so it is dropped rather than
/// refused (the signer refuses unknown slugs a request names itself).
fn defaults_for(workspace: &Workspace, item: &ItemRecord) -> Appearance {
    let mut defaults = workspace.embed_appearance.clone().unwrap_or_default();
    if let Some(hidden) = defaults.hide_parameters.as_mut() {
        hidden.retain(|slug| item.embedding_params.contains_key(slug));
    }
    defaults
}

/// Signs the granted item with the request's options over the workspace's appearance defaults.
///
/// # Errors
/// The signer's 400s (`invalid_minutes`, `param_not_allowed`, `invalid_param_value`,
/// `invalid_appearance`) and its 500 for a record that does not lock the tenant.
pub fn sign(signer: &EmbedSigner, grant: &Grant, options: EmbedOptions, now: i64) -> Result<SignedEmbed> {
    let request = EmbedRequest {
        resource: resource_of(&grant.item),
        tenant_key: &grant.workspace.tenant_key,
        embedding_params: &grant.item.embedding_params,
        viewer_params: options.viewer_params,
        minutes: options.minutes,
        appearance: Appearance::merge(&defaults_for(&grant.workspace, &grant.item), &options.appearance),
    };
    signer.sign(&request, now)
}

/// The signer for the current embedding secret (cached secret; building it is a key copy).
///
/// # Errors
/// 503 when the secret is unreadable; 500 when the key or the embed settings are invalid.
pub async fn signer(deps: &Deps) -> Result<EmbedSigner> {
    let secrets = deps.secrets.get().await?;
    EmbedSigner::from_config(&secrets.embedding_secret_key, &deps.config)
}

/// Mints (or refreshes) an embed of `item` for `user`: one read, in-memory signing, one ledger
/// write.
///
/// # Errors
/// As [`grant`] and [`sign`]; 502/503 when DynamoDB fails (then no token is handed out).
pub async fn mint(deps: &Deps, user: UserId, item: ItemRef, options: EmbedOptions, via: Via) -> Result<SignedEmbed> {
    let signer = signer(deps).await?;
    let records = items::with_access(&deps.store, item, user).await?;
    let now = deps.clock.unix_seconds();
    let grant = grant(item, records, now)?;
    let signed = sign(&signer, &grant, options, now)?;
    ledger::record(&deps.store, &ledger::Entry::new(&grant, user, &signed, via, now)).await?;
    tracing::info!(
        workspace = %grant.workspace.id,
        item = %item,
        user = %user,
        jti = %signed.jti,
        via = ?via,
        minutes = signed.expires_in_minutes,
        "embed token issued"
    );
    Ok(signed)
}

#[cfg(test)]
mod tests;
