//! Tracing set up the Lambda way: JSON lines when the function's log format is JSON
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`), compact text otherwise; level from `RUST_LOG` or
//! `AWS_LAMBDA_LOG_LEVEL`, default `info`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // CloudWatch adds its own timestamp; the JSON format keeps ours for local runs.
    let result = if json {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    } else {
        builder.without_time().with_ansi(false).try_init()
    };
    if let Err(error) = result {
        eprintln!("tracing was already initialised: {error}");
    }
}
