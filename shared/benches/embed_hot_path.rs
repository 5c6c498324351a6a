//! The in-memory part of an embed mint: verify the caller's bearer token, decide the grant from
//! the records the one `BatchGetItem` returned, and sign the embed token and URL. The DynamoDB
//! round trips are not measured here (see BENCHMARKS.md).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tenantbase::auth::token::{self, TokenSettings};
use tenantbase::clock::{Clock, SystemClock};
use tenantbase::embed::{self, EmbedOptions};
use tenantbase::ids::{UserId, WorkspaceId};
use tenantbase::items::{ItemKind, ItemRecord, ItemRef, ItemStatus};
use tenantbase::lint::{EmbedParamMode, ParameterSummary};
use tenantbase::secrets::SecretString;
use tenantbase::signer::{Appearance, EmbedSigner, SignerSettings, Theme};
use tenantbase::workspaces::{Member, Role, Status, Workspace};

const EMBEDDING_SECRET: &str = "5f1c0a4e9b2d7c3e8f6a1b0c9d2e4f3a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const SIGNING_KEY: &str = "9c4e1f7a2b8d3c6e0f5a9b1c7d2e8f4a6b0c3d9e5f1a7b2c8d4e0f6a3b9c5d1e";

fn records(workspace_id: WorkspaceId, user: UserId, item: ItemRef) -> (Workspace, Member, ItemRecord) {
    let workspace = Workspace {
        id: workspace_id,
        name: "Acme".into(),
        description: None,
        tenant_key: "acme".into(),
        owner_id: user,
        status: Status::Active,
        failure_reason: None,
        metabase_collection_id: None,
        metabase_collection_name: None,
        metabase_group_id: None,
        permissions_applied: true,
        created_at: "2026-11-22T03:00:00Z".into(),
        updated_at: "2026-11-22T03:00:00Z".into(),
        version: 3,
        embeds_revoked_until: None,
        embed_appearance: Some(Appearance { titled: Some(false), theme: Some(Theme::Night), ..Appearance::default() }),
    };
    let member = Member::new(workspace_id, user, Role::Viewer, "2026-11-22T03:00:00Z".into());
    let parameters = ["tenant_id", "channel", "region"]
        .map(|slug| ParameterSummary { slug: slug.into(), name: slug.into(), kind: "string/=".into() })
        .to_vec();
    let embedding_params = BTreeMap::from([
        ("tenant_id".to_owned(), EmbedParamMode::Locked),
        ("channel".to_owned(), EmbedParamMode::Enabled),
        ("region".to_owned(), EmbedParamMode::Enabled),
    ]);
    let record = ItemRecord::new(
        item,
        "Orders per tenant".into(),
        None,
        ItemStatus::Embeddable,
        None,
        parameters,
        embedding_params,
        "2026-11-22T02:00:00Z".into(),
        "2026-11-22T03:00:00Z".into(),
    );
    (workspace, member, record)
}

fn hot_path(c: &mut Criterion) {
    let settings = TokenSettings {
        key: SecretString::new(SIGNING_KEY.into()),
        issuer: "tenantbase".into(),
        audience: "tenantbase-api".into(),
        ttl_seconds: 3600,
    };
    let user = UserId::generate();
    let bearer = token::issue(&settings, &SystemClock, user).expect("issue").token;
    let signer = EmbedSigner::new(
        &SecretString::new(EMBEDDING_SECRET.into()),
        SignerSettings {
            tenant_slug: "tenant_id".into(),
            default_minutes: 10,
            cap_minutes: 60,
            site_url: url::Url::parse("https://analytics.example.com").expect("url"),
        },
    )
    .expect("signer");
    let workspace_id = WorkspaceId::generate();
    let item = ItemRef::new(workspace_id, ItemKind::Dashboard, 7);
    let (workspace, member, record) = records(workspace_id, user, item);
    let query = [("minutes", "15"), ("param.channel", "web"), ("param.channel", "store"), ("bordered", "false")];

    // The parts on their own, to see where the time goes.
    c.bench_function("embed_hot_path: verify bearer", |b| {
        b.iter(|| token::verify(&settings, &SystemClock, black_box(bearer.expose())).expect("verifies"));
    });
    c.bench_function("embed_hot_path: options + grant + sign", |b| {
        b.iter(|| {
            let options = EmbedOptions::from_query(black_box(query)).expect("options");
            let now = SystemClock.unix_seconds();
            let grant = embed::grant(item, (Some(workspace.clone()), Some(member.clone()), Some(record.clone())), now)
                .expect("granted");
            black_box(embed::sign(&signer, &grant, options, now).expect("signed"))
        });
    });
    c.bench_function("embed_hot_path: verify bearer + grant + sign", |b| {
        b.iter(|| {
            let claims = token::verify(&settings, &SystemClock, black_box(bearer.expose())).expect("verifies");
            assert_eq!(claims.sub, user);
            let options = EmbedOptions::from_query(black_box(query)).expect("options");
            // The records arrive owned from the read; cloning stands in for that allocation.
            let now = SystemClock.unix_seconds();
            let grant = embed::grant(item, (Some(workspace.clone()), Some(member.clone()), Some(record.clone())), now)
                .expect("granted");
            black_box(embed::sign(&signer, &grant, options, now).expect("signed"))
        });
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
