//! Criterion microbenchmarks of the CPU work on the request paths (BENCHMARKS.md):
//! the in-memory part of an embed mint (verify the caller's bearer token, decide the grant from
//! the records the one `BatchGetItem` returned, sign the embed token and URL), the isolation lint
//! of a 50-card dashboard, and the (de)serialisation of the records a mint reads. No I/O.
//!
//! Criterion runs as a library inside this binary rather than as a `cargo bench` target, so that
//! `make bench` builds it together with the functions in one cargo invocation: a bench target
//! would bring in dev-dependencies, change the features of shared dependencies and rebuild them.
//! Results go to `$CRITERION_HOME` (`make bench`: `target/criterion`).
//!
//! `tenantbase-micro [--filter REGEX]`: only the benchmarks whose name matches.

use std::hint::black_box;

use criterion::Criterion;
use tenantbase::auth::token::{self, TokenSettings};
use tenantbase::clock::{Clock, SystemClock};
use tenantbase::embed::{self, EmbedOptions};
use tenantbase::fixtures::embed::{embed_signer, records};
use tenantbase::fixtures::lint::{SLUG, wired_dashboard};
use tenantbase::items::{ItemKind, ItemRecord};
use tenantbase::lint::{LintOutcome, lint_dashboard};
use tenantbase::secrets::SecretString;
use tenantbase::signer::{Appearance, Theme};
use tenantbase::store::{from_item, to_item};
use tenantbase::workspaces::{Member, Workspace};

const SIGNING_KEY: &str = "9c4e1f7a2b8d3c6e0f5a9b1c7d2e8f4a6b0c3d9e5f1a7b2c8d4e0f6a3b9c5d1e";

fn hot_path(c: &mut Criterion) {
    let settings = TokenSettings {
        key: SecretString::new(SIGNING_KEY.into()),
        issuer: "tenantbase".into(),
        audience: "tenantbase-api".into(),
        ttl_seconds: 3600,
    };
    let (item, user, (workspace, member, record)) = records(ItemKind::Dashboard);
    // A workspace with appearance defaults, so signing merges them as it does in production.
    let workspace = workspace.map(|mut w| {
        w.embed_appearance =
            Some(Appearance { titled: Some(false), theme: Some(Theme::Night), ..Appearance::default() });
        w
    });
    let bearer = token::issue(&settings, &SystemClock, user).expect("issue").token;
    let signer = embed_signer();
    let query = [("minutes", "15"), ("param.channel", "web"), ("param.channel", "store"), ("bordered", "false")];

    // The parts on their own, to see where the time goes.
    c.bench_function("embed_hot_path: verify bearer", |b| {
        b.iter(|| token::verify(&settings, &SystemClock, black_box(bearer.expose())).expect("verifies"));
    });
    c.bench_function("embed_hot_path: options + grant + sign", |b| {
        b.iter(|| {
            let options = EmbedOptions::from_query(black_box(query)).expect("options");
            let now = SystemClock.unix_seconds();
            let grant = embed::grant(item, (workspace.clone(), member.clone(), record.clone()), now).expect("granted");
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
            let grant = embed::grant(item, (workspace.clone(), member.clone(), record.clone()), now).expect("granted");
            black_box(embed::sign(&signer, &grant, options, now).expect("signed"))
        });
    });
}

fn lint(c: &mut Criterion) {
    let dashboard = wired_dashboard(50);
    assert!(matches!(lint_dashboard(&dashboard, SLUG), LintOutcome::Embeddable { .. }), "the fixture is embeddable");
    c.bench_function("lint: 50-card dashboard", |b| b.iter(|| black_box(lint_dashboard(black_box(&dashboard), SLUG))));
}

fn items(c: &mut Criterion) {
    let (_, _, (workspace, member, record)) = records(ItemKind::Dashboard);
    let (workspace, member, record) = (workspace.expect("workspace"), member.expect("member"), record.expect("record"));
    c.bench_function("items: serialise workspace + member + item record", |b| {
        b.iter(|| {
            black_box((
                to_item(black_box(&workspace)).expect("workspace"),
                to_item(black_box(&member)).expect("member"),
                to_item(black_box(&record)).expect("record"),
            ))
        });
    });
    let stored = (to_item(&workspace).expect("w"), to_item(&member).expect("m"), to_item(&record).expect("r"));
    c.bench_function("items: deserialise workspace + member + item record", |b| {
        b.iter(|| {
            let (w, m, r) = black_box(&stored).clone();
            black_box((
                from_item::<Workspace>(w).expect("workspace"),
                from_item::<Member>(m).expect("member"),
                from_item::<ItemRecord>(r).expect("record"),
            ))
        });
    });
}

/// The criterion microbenchmarks (no I/O; needs no emulator).
#[derive(clap::Parser)]
#[command(about = "Tenantbase microbenchmarks (see BENCHMARKS.md)")]
struct Cli {
    /// Only the benchmarks whose name matches this regular expression.
    #[arg(long)]
    filter: Option<String>,
}

fn main() {
    let cli = <Cli as clap::Parser>::parse();
    let mut c = Criterion::default();
    if let Some(filter) = cli.filter {
        c = c.with_filter(filter);
    }
    hot_path(&mut c);
    lint(&mut c);
    items(&mut c);
    c.final_summary();
}
