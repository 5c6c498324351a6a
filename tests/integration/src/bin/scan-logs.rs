//! Searches the test suite's logs (`target/test-logs/*.log`, moto's included) for every secret
//! the tests recorded; exits non-zero, naming the file and line and a redacted hint, on any hit.

fn main() -> std::process::ExitCode {
    let dir = std::env::args().nth(1).map_or_else(tenantbase_tests::logs::dir, std::path::PathBuf::from);
    let scan = match tenantbase_tests::logs::scan(&dir) {
        Ok(scan) => scan,
        Err(error) => {
            eprintln!("secrets in logs: cannot read {}: {error}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    for hit in &scan.hits {
        eprintln!("secrets in logs: {}:{} contains {}", hit.file.display(), hit.line, hit.hint);
    }
    println!(
        "secrets in logs: {} values searched in {} files ({} bytes), {} hits",
        scan.values,
        scan.files,
        scan.bytes,
        scan.hits.len()
    );
    if scan.values == 0 || scan.files == 0 {
        eprintln!("secrets in logs: nothing to scan in {}; run the tests first", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    if scan.hits.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
