#!/usr/bin/env bash
# `make bench`: the measurements behind BENCHMARKS.md. Builds the six functions and the two bench
# tools (tenantbase-micro: the criterion benches; tenantbase-bench: the rest) for the host in one
# optimised profile (bench-release: the release profile without LTO; BENCH_PROFILE=release
# measures the shipped fat-LTO build instead, at the cost of eight long single-threaded links)
# while the local tools (moto) install, runs the criterion microbenchmarks, then cold start,
# the embed mint under load and discovery at scale against moto (a fresh one per section) and
# the in-process Metabase emulator, and reports the arm64 zip sizes of the last `make package`.
# Not part of `make test`. Output is also written to target/bench/report.txt.
#
# Scale knobs (defaults are the issue's): BENCH_RUNS (cold-start runs, 20), BENCH_REQUESTS
# (mints per concurrency, 5000), BENCH_CONCURRENCY (1,8,32), BENCH_WORKSPACES (1000),
# BENCH_DASHBOARDS (10 per workspace), BENCH_LATENCY_MS (20).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
trap stop_children EXIT
trap 'exit 130' INT TERM

mkdir -p target/bench
exec > >(tee target/bench/report.txt) 2>&1

FUNCTIONS=(signup workspaces discovery embed health bootstrap)
PROFILE=${BENCH_PROFILE:-bench-release}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
started=$SECONDS

step "machine"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
echo "cpus:    $(nproc) × $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "memory:  $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
echo "rustc:   $(rustc -V)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"

# The tools install (a no-op once installed) while cargo builds; moto is first needed after the
# microbenchmarks. A child like moto: stopped on exit if the build fails first.
tools_log=target/bench/tools.log
start_child "$tools_log" scripts/tools.sh
tools_pid=$LAST_PID

step "build (profile $PROFILE, host: the six functions and the two bench tools, one cargo invocation)"
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done
build_start=$SECONDS
cargo build --profile "$PROFILE" --locked "${packages[@]}" -p tenantbase-micro -p tenantbase-bench
echo "built in $((SECONDS - build_start)) s"
BIN=$TARGET/$PROFILE

step "tools (moto and the rest of .venv, installed during the build)"
tools_status=0
wait "$tools_pid" || tools_status=$?
cat "$tools_log"
((tools_status == 0)) || { echo "bench: installing the tools failed (exit $tools_status)" >&2; exit 1; }
echo "ready $((SECONDS - started)) s after the start"

step "microbenchmarks (criterion; medians from target/criterion/*/new/estimates.json)"
export CRITERION_HOME=$TARGET/criterion
rm -rf "$CRITERION_HOME"
"$BIN/tenantbase-micro"
python3 - "$CRITERION_HOME" <<'PY'
import json, pathlib, sys
rows = []
for estimates in sorted(pathlib.Path(sys.argv[1]).glob("*/new/estimates.json")):
    data = json.loads(estimates.read_text())
    name = json.loads((estimates.parent / "benchmark.json").read_text())["title"]
    median, mad = data["median"], data["median_abs_dev"]["point_estimate"]
    ci = median["confidence_interval"]
    rows.append((name, median["point_estimate"], ci["lower_bound"], ci["upper_bound"], mad))
width = max(len(r[0]) for r in rows)
for name, point, low, high, mad in rows:
    print(f"{name:<{width}}  median {point/1000:8.2f} µs  (95% CI {low/1000:.2f} – {high/1000:.2f}, MAD {mad/1000:.2f})")
PY

# A fresh moto per section: moto slows down as the data it holds grows (after the load section
# it took over a second per request), so one section's data must not slow the next.
fresh_moto() {
  stop_children
  local port
  port=$(free_port)
  start_moto "$port" "target/bench/moto-$1.log"
  use_aws_emulator "$port"
  echo "moto on 127.0.0.1:$port"
}

step "cold start"
fresh_moto coldstart
"$BIN/tenantbase-bench" coldstart --bin-dir "$BIN" --runs "${BENCH_RUNS:-20}"

step "embed hot path under load"
fresh_moto embed-load
"$BIN/tenantbase-bench" embed-load --requests "${BENCH_REQUESTS:-5000}" --concurrency "${BENCH_CONCURRENCY:-1,8,32}"

step "discovery at scale"
fresh_moto discovery
"$BIN/tenantbase-bench" discovery --workspaces "${BENCH_WORKSPACES:-1000}" \
  --dashboards "${BENCH_DASHBOARDS:-10}" --latency-ms "${BENCH_LATENCY_MS:-20}"

step "sizes (arm64 zips from the last \`make package\`)"
limit=$((5 * 1024 * 1024))
for f in "${FUNCTIONS[@]}"; do
  zip=$TARGET/lambda/$f/bootstrap.zip
  if [[ -f "$zip" ]]; then
    size=$(stat -c %s "$zip")
    awk -v f="$f" -v s="$size" -v l="$limit" -v t="$(date -u -r "$zip" +%Y-%m-%dT%H:%MZ)" \
      'BEGIN { printf "%-11s %.2f MiB (%d bytes, %.0f%% of the 5 MiB limit; built %s)\n", f, s/1048576, s, 100*s/l, t }'
  else
    echo "$f: no $zip — \`make package\` builds the arm64 zips (about 25 min on a fresh clone); not rebuilt here"
  fi
done

echo
echo "make bench took $((SECONDS - started)) s; report in target/bench/report.txt"
