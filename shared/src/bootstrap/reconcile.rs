//! The reconcile run (design §4): bring Metabase to the state Tenantbase needs, changing only
//! what differs, and report each change. Every step reads before it writes, so a run can be
//! repeated or resumed at any point and a healthy system sees no writes at all.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseDatabaseId, MetabaseGroupId};
use crate::metabase::{
    Auth, MetabaseClient, MetabaseHealth, NewDatabase, Patched, PermissionGroup, RetryPolicy, SetupOutcome, SetupPrefs,
    SetupRequest, SetupUser, probe_health,
};
use crate::secrets::{AppSecrets, SecretString};

/// The name of the admin API key bootstrap creates (and finds again).
pub const API_KEY_NAME: &str = "Tenantbase";

/// What a run changed. Empty `changes` means Metabase was already as required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub changes: Vec<String>,
    /// Run attempts used (a transient failure restarts the run from the top).
    pub attempts: u32,
}

impl Report {
    fn changed(&mut self, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(change = %what, "bootstrap repaired");
        self.changes.push(what);
    }
}

/// Whole-run retries: each step is idempotent, so a transient failure anywhere restarts the
/// run, which skips what is already done.
const RUN_ATTEMPTS: u32 = 10;
const RUN_BACKOFF: RetryPolicy =
    RetryPolicy { attempts: RUN_ATTEMPTS, base_delay: Duration::from_millis(250), max_delay: Duration::from_secs(4) };

/// Runs reconcile until it converges, retrying transient (502/503) failures.
///
/// # Errors
/// A permanent failure (bad configuration or credentials), or transient failures on every
/// attempt.
pub async fn reconcile(deps: &Deps) -> Result<Report> {
    wait_until_ready(deps).await?;
    let mut report = Report::default();
    for attempt in 0..RUN_ATTEMPTS {
        report.attempts = attempt + 1;
        match Box::pin(run_once(deps, &mut report)).await {
            Ok(()) => return Ok(report),
            Err(error @ (Error::Upstream { .. } | Error::Unavailable { .. })) if attempt + 1 < RUN_ATTEMPTS => {
                tracing::warn!(%error, attempt, "bootstrap step failed; retrying the run");
                tokio::time::sleep(RUN_BACKOFF.delay(attempt)).await;
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::unavailable("metabase", "bootstrap did not converge"))
}

/// Polls `GET /api/health` until Metabase is ready (§2), up to `BOOTSTRAP_WAIT_SECONDS`.
async fn wait_until_ready(deps: &Deps) -> Result<()> {
    let deadline = tokio::time::Instant::now() + deps.config.bootstrap_wait;
    let mut delay = Duration::from_millis(200);
    loop {
        let health = probe_health(&deps.http, &deps.config.metabase_url).await;
        if health == MetabaseHealth::Ready {
            return Ok(());
        }
        if tokio::time::Instant::now() + delay > deadline {
            let why = match health {
                MetabaseHealth::Initializing => "still initializing".to_owned(),
                MetabaseHealth::Unhealthy(why) | MetabaseHealth::Unreachable(why) => why,
                MetabaseHealth::Ready => "ready".to_owned(),
            };
            return Err(Error::unavailable(
                "metabase",
                format!("not ready after {}s: {why}", deps.config.bootstrap_wait.as_secs()),
            ));
        }
        tracing::info!(?health, "waiting for Metabase");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(3));
    }
}

async fn run_once(deps: &Deps, report: &mut Report) -> Result<()> {
    let secrets = deps.secrets.get().await?;
    validate_embedding_secret(&secrets.embedding_secret_key)?;
    let anonymous = deps.metabase(Auth::Anonymous);
    ensure_setup(deps, &anonymous, &secrets, report).await?;
    let admin = ensure_api_key(deps, &anonymous, report).await?;
    ensure_static_embedding(&admin, &secrets.embedding_secret_key, report).await?;
    let database = ensure_analytics_database(deps, &admin, &secrets, report).await?;
    let groups = admin.groups().await?;
    let all_users = find_group(&groups, PermissionGroup::is_all_users, "All Users")?;
    close_root_collection(&admin, all_users, report).await?;
    restrict_query_creation(&admin, all_users, database, report).await?;
    let mut changes = Vec::new();
    let result = Box::pin(crate::workspaces::provision::reconcile_all(deps, &mut changes)).await;
    for change in changes {
        report.changed(change);
    }
    result
}

/// Metabase accepts only 64 lowercase hex characters (§7) and answers anything else with a 500;
/// check before calling so the failure names the real cause.
fn validate_embedding_secret(key: &SecretString) -> Result<()> {
    let key = key.expose();
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(Error::internal("embedding_secret_key in the secret must be exactly 64 lowercase hex characters"))
    }
}

/// First-time setup (§4), detected through `has-user-setup` — never through `setup-token`,
/// which some versions keep exposing after setup.
async fn ensure_setup(
    deps: &Deps,
    anonymous: &MetabaseClient,
    secrets: &AppSecrets,
    report: &mut Report,
) -> Result<()> {
    let properties = anonymous.session_properties().await?;
    if properties.has_user_setup {
        return Ok(());
    }
    let token = properties
        .setup_token
        .ok_or_else(|| Error::upstream("metabase", "Metabase is not set up but exposes no setup-token"))?;
    let request = SetupRequest {
        token,
        user: SetupUser {
            email: secrets.metabase_admin_email.clone(),
            password: secrets.metabase_admin_password.clone(),
            first_name: Some("Tenantbase".to_owned()),
            last_name: Some("Admin".to_owned()),
        },
        prefs: SetupPrefs { site_name: deps.config.metabase_site_name.clone() },
    };
    match anonymous.setup(&request).await {
        Ok(SetupOutcome::Created) => report.changed(format!("set up Metabase with admin {}", request.user.email)),
        Ok(SetupOutcome::AlreadySetUp) => {}
        Err(e) if e.is_status(400) => {
            return Err(Error::internal(format!(
                "Metabase rejected first-time setup (check metabase_admin_email/password in the secret): {e}"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Reuses the API key from the secret when it still works as an admin; otherwise logs in as
/// the admin once, creates (or regenerates) the key and stores it in the secret (§6).
async fn ensure_api_key(deps: &Deps, anonymous: &MetabaseClient, report: &mut Report) -> Result<MetabaseClient> {
    let secrets = deps.secrets.get().await?;
    let stored = secrets.metabase_api_key.clone();
    if !stored.expose().is_empty() {
        let client = anonymous.as_auth(Auth::ApiKey(stored));
        match client.current_user().await {
            Ok(user) if user.is_superuser => return Ok(client),
            Ok(_) => tracing::warn!("the stored Metabase API key is not an admin key; replacing it"),
            Err(e) if e.is_status(401) || e.is_status(403) => {
                tracing::warn!("the stored Metabase API key was rejected; replacing it");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let session =
        anonymous.login(&secrets.metabase_admin_email, &secrets.metabase_admin_password).await.map_err(|e| match e
            .status
        {
            Some(status) if status.as_u16() == 401 || status.as_u16() == 400 => Error::internal(format!(
                "cannot log in to Metabase as {}: check metabase_admin_password in the secret ({e})",
                secrets.metabase_admin_email
            )),
            _ => e.into(),
        })?;
    let admin_session = anonymous.as_auth(Auth::Session(session));
    let created = create_or_regenerate_key(&admin_session, report).await;
    if let Err(error) = admin_session.logout().await {
        tracing::debug!(%error, "could not log out the bootstrap session");
    }
    let key = created?;
    let mut updated = (*secrets).clone();
    updated.metabase_api_key = key.clone();
    deps.secrets.put(updated).await?;
    Ok(anonymous.as_auth(Auth::ApiKey(key)))
}

async fn create_or_regenerate_key(admin: &MetabaseClient, report: &mut Report) -> Result<SecretString> {
    let groups = admin.groups().await?;
    let administrators = find_group(&groups, PermissionGroup::is_admin, "Administrators")?;
    match admin.create_api_key(administrators, API_KEY_NAME).await {
        Ok(created) => {
            report.changed("created the Metabase admin API key and stored it in the secret");
            Ok(created.unmasked_key)
        }
        // The key exists (an earlier run stored it elsewhere, or lost it): its value cannot be
        // read back, so regenerate it.
        Err(e) if e.is_status(400) && e.json().is_some_and(|b| b["errors"]["name"].is_string()) => {
            let existing = admin.api_keys().await?;
            let key = existing
                .iter()
                .find(|k| k.name == API_KEY_NAME)
                .ok_or_else(|| Error::upstream("metabase", "API key name reported taken but not listed"))?;
            let regenerated = admin.regenerate_api_key(key.id).await?;
            report.changed("regenerated the Metabase admin API key and stored it in the secret");
            Ok(regenerated.unmasked_key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Static embedding on (`enable-embedding-static`, not the inert legacy key, §7) and the secret
/// key equal to ours. Turning embedding on makes Metabase generate a key of its own, so the key
/// is compared after the switch.
async fn ensure_static_embedding(admin: &MetabaseClient, secret: &SecretString, report: &mut Report) -> Result<()> {
    let mut properties = admin.session_properties().await?;
    if properties.enable_embedding_static != Some(true) {
        admin.set_setting("enable-embedding-static", json!(true)).await?;
        report.changed("turned on static embedding (enable-embedding-static)");
        properties = admin.session_properties().await?;
    }
    if properties.embedding_secret_key.as_ref().map(|k| k.expose()) != Some(secret.expose()) {
        admin.set_setting("embedding-secret-key", json!(secret.expose())).await?;
        report.changed("pushed the embedding secret key from Secrets Manager");
    }
    Ok(())
}

/// Finds the analytics database by name, connecting it from the secret's details if absent.
async fn ensure_analytics_database(
    deps: &Deps,
    admin: &MetabaseClient,
    secrets: &AppSecrets,
    report: &mut Report,
) -> Result<MetabaseDatabaseId> {
    let name = &deps.config.analytics_db_name;
    if let Some(found) = admin.databases().await?.into_iter().find(|d| &d.name == name) {
        return Ok(found.id);
    }
    let details = secrets.analytics_db_details.clone().ok_or_else(|| {
        Error::internal(format!(
            "the analytics database {name:?} is not connected in Metabase and the secret has no analytics_db_details"
        ))
    })?;
    let created = admin
        .create_database(&NewDatabase { name: name.clone(), engine: deps.config.analytics_db_engine.clone(), details })
        .await?;
    report.changed(format!("connected the analytics database {name:?}"));
    Ok(created.id)
}

fn find_group(groups: &[PermissionGroup], is: fn(&PermissionGroup) -> bool, what: &str) -> Result<MetabaseGroupId> {
    groups.iter().find(|g| is(g)).map(|g| g.id).ok_or_else(|| Error::upstream("metabase", format!("no {what} group")))
}

/// All Users loses access to the root collection (§11), so new top-level collections (copied
/// from root at creation) start closed.
async fn close_root_collection(admin: &MetabaseClient, all_users: MetabaseGroupId, report: &mut Report) -> Result<()> {
    let group = all_users.to_string();
    let patched = admin
        .patch_collection_graph(|graph| {
            (graph.access(all_users, "root") != "none")
                .then(|| BTreeMap::from([(group.clone(), BTreeMap::from([("root".to_owned(), "none".to_owned())]))]))
        })
        .await?;
    if patched == Patched::Changed {
        report.changed("closed the root collection to All Users");
    }
    Ok(())
}

/// All Users may not write new queries on the analytics database (§12, the OSS restriction).
async fn restrict_query_creation(
    admin: &MetabaseClient,
    all_users: MetabaseGroupId,
    database: MetabaseDatabaseId,
    report: &mut Report,
) -> Result<()> {
    let group = all_users.to_string();
    let patched = admin
        .patch_data_graph(|graph| {
            (graph.create_queries(all_users, database) != "no").then(|| {
                let cell = BTreeMap::from([("create-queries".to_owned(), json!("no"))]);
                BTreeMap::from([(group.clone(), BTreeMap::from([(database.to_string(), cell)]))])
            })
        })
        .await?;
    if patched == Patched::Changed {
        report.changed("set All Users create-queries to \"no\" on the analytics database");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_secret_must_be_64_lowercase_hex() {
        assert!(validate_embedding_secret(&SecretString::new("ab".repeat(32))).is_ok());
        for bad in ["AB".repeat(32), "ab".repeat(31), "zz".repeat(32), String::new()] {
            let err = validate_embedding_secret(&SecretString::new(bad.clone())).unwrap_err();
            assert!(!err.to_string().contains(&bad) || bad.is_empty(), "the value is never echoed");
        }
    }
}
