//! The suite's logs and the secrets they must never contain.
//!
//! Each test binary writes every event (debug and up; the AWS SDK and HTTP plumbing at info) to
//! `target/test-logs/<binary>.log`, and the functions and the emulator run in-process, so their
//! logs land there too. Every secret the harness creates or sees (keys, passwords, access tokens)
//! is recorded in `target/test-logs/<binary>.secrets`. After `cargo test`, `scan-logs` searches
//! every `*.log` there (moto's included) for every recorded value.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Shorter values are not recorded: they would match by chance, and no real secret is this short.
pub const MIN_SECRET_LEN: usize = 8;

/// `target/test-logs` of the workspace.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-logs")
}

/// The running test binary's name without cargo's hash suffix (`faults-0123abcd` → `faults`).
fn binary_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("tests");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}

struct Files {
    secrets: Mutex<File>,
    recorded: Mutex<BTreeSet<String>>,
}

static FILES: OnceLock<Option<Files>> = OnceLock::new();

fn open(path: &Path) -> std::io::Result<File> {
    File::create(path)
}

/// Installs the process-wide subscriber once: the per-binary log file at debug, and, as before,
/// the test output filtered by `RUST_LOG` (errors only by default).
pub fn init() {
    FILES.get_or_init(|| {
        let dir = dir();
        fs::create_dir_all(&dir).ok()?;
        let name = binary_name();
        let log = open(&dir.join(format!("{name}.log"))).ok()?;
        let secrets = open(&dir.join(format!("{name}.secrets"))).ok()?;
        let file_filter = EnvFilter::new(
            "debug,aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_smithy_http_client=info,aws_config=info,\
             aws_sdk_dynamodb=info,aws_sdk_secretsmanager=info,aws_sdk_eventbridge=info,hyper=info,hyper_util=info,\
             h2=info,rustls=info,tower=info,reqwest=info",
        );
        let file_layer =
            tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(log)).with_filter(file_filter);
        let test_layer = tracing_subscriber::fmt::layer().with_test_writer().with_filter(EnvFilter::from_default_env());
        let _ = tracing_subscriber::registry().with(file_layer).with(test_layer).try_init();
        Some(Files { secrets: Mutex::new(secrets), recorded: Mutex::new(BTreeSet::new()) })
    });
}

/// Records a secret value so the scan looks for it (also its URL-encoded form when different).
pub fn record_secret(value: &str) {
    init();
    let Some(Some(files)) = FILES.get() else { return };
    if value.chars().count() < MIN_SECRET_LEN || value.contains('\n') {
        return;
    }
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let mut recorded = files.recorded.lock().unwrap_or_else(|p| p.into_inner());
    let mut file = files.secrets.lock().unwrap_or_else(|p| p.into_inner());
    for form in [value.to_owned(), encoded] {
        if recorded.insert(form.clone()) {
            let _ = writeln!(file, "{form}");
        }
    }
}

/// Prints a suite's summary line (case counts) and keeps it in `target/test-logs/summary.txt`,
/// which `make test` prints at the end (cargo hides the output of passing tests).
pub fn summary(line: &str) {
    println!("{line}");
    let file = fs::create_dir_all(dir())
        .and_then(|()| fs::OpenOptions::new().create(true).append(true).open(dir().join("summary.txt")));
    if let Ok(mut file) = file {
        let _ = writeln!(file, "{line}");
    }
}

/// [`summary`] with `format!` arguments.
#[macro_export]
macro_rules! summary {
    ($($arg:tt)*) => { $crate::logs::summary(&format!($($arg)*)) };
}

/// One recorded value found in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub file: PathBuf,
    pub line: usize,
    /// The value redacted to its first two characters and its length.
    pub hint: String,
}

/// What a scan looked at and found.
#[derive(Debug, Default)]
pub struct Scan {
    pub values: usize,
    pub files: usize,
    pub bytes: u64,
    pub hits: Vec<Hit>,
}

/// `ab…(24 chars)`: enough to tell which secret leaked without printing it.
pub fn redact(value: &str) -> String {
    let head: String = value.chars().take(2).collect();
    format!("{head}…({} chars)", value.chars().count())
}

/// Searches every `*.log` in `dir` for every value listed (one a line) in its `*.secrets` files.
///
/// # Errors
/// The directory or a file could not be read.
pub fn scan(dir: &Path) -> std::io::Result<Scan> {
    let mut values = BTreeSet::new();
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("secrets") => {
                values.extend(
                    fs::read_to_string(&path)?.lines().filter(|l| l.len() >= MIN_SECRET_LEN).map(str::to_owned),
                );
            }
            Some("log") => logs.push(path),
            _ => {}
        }
    }
    logs.sort();
    let mut scan = Scan { values: values.len(), files: logs.len(), ..Scan::default() };
    for path in logs {
        let bytes = fs::read(&path)?;
        scan.bytes += bytes.len() as u64;
        let text = String::from_utf8_lossy(&bytes);
        for (number, line) in text.lines().enumerate() {
            for value in values.iter().filter(|v| line.contains(v.as_str())) {
                scan.hits.push(Hit { file: path.clone(), line: number + 1, hint: redact(value) });
            }
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(log: &str, secrets: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tb-scan-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("suite.log"), log).unwrap();
        fs::write(dir.join("suite.secrets"), secrets).unwrap();
        dir
    }

    #[test]
    fn a_planted_secret_is_found_with_its_file_and_line_and_only_a_hint() {
        let dir = dir_with("INFO start\nDEBUG key=planted-secret-0123456789 sent\n", "planted-secret-0123456789\n");
        let scan = scan(&dir).unwrap();
        assert_eq!((scan.values, scan.files), (1, 1));
        assert_eq!(scan.hits.len(), 1);
        assert_eq!(scan.hits[0].line, 2);
        assert!(scan.hits[0].file.ends_with("suite.log"));
        assert_eq!(scan.hits[0].hint, "pl…(25 chars)");
        assert!(!format!("{:?}", scan.hits).contains("planted-secret"), "the report never shows the value");
    }

    #[test]
    fn clean_logs_and_short_values_give_no_hit() {
        let dir = dir_with("INFO all fine\nDEBUG user=abc\n", "not-in-any-log-0000\nabc\n");
        let scan = scan(&dir).unwrap();
        assert_eq!(scan.values, 1, "values shorter than {MIN_SECRET_LEN} characters are ignored");
        assert!(scan.hits.is_empty());
        assert!(scan.bytes > 0);
    }
}
