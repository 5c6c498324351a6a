# Shared shell helpers for scripts/dev.sh and scripts/test.sh (sourced, not run).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
# The venv first on PATH: cargo-lambda, moto and cfn-lint, and the venv's python3, which is how
# cargo-lambda finds zig (PyPI ziglang) for cross-compiling.
export PATH="$VENV/bin:$PATH"
CHILD_PIDS=()

step() { printf '\n==> %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  python3 -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# wait_for_http URL SECONDS [PID]: until URL answers any HTTP status; fails if PID dies first.
wait_for_http() {
  local url=$1 seconds=$2 pid=${3:-} deadline=$((SECONDS + $2))
  until curl -s -o /dev/null --max-time 2 "$url"; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited while waiting for $url" >&2; return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$url did not answer within ${seconds}s" >&2; return 1
    fi
    sleep 0.3
  done
}

# Runs a command in the background in its own process group, so stop_children can end it and
# everything it started (cargo lambda watch spawns the functions).
start_child() {
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 &
  CHILD_PIDS+=("$!")
  LAST_PID=$!
}

stop_children() {
  local pid
  for pid in "${CHILD_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${CHILD_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  CHILD_PIDS=()
}

# start_moto PORT LOG: moto serves DynamoDB, Secrets Manager and EventBridge on one port.
start_moto() {
  local port=$1 log=$2
  if port_in_use "$port"; then
    echo "port $port is in use: stop what runs there or set AWS_EMULATOR_PORT" >&2; return 1
  fi
  start_child "$log" python3 "$ROOT/tools/aws_emulator.py" -H 127.0.0.1 -p "$port"
  wait_for_http "http://127.0.0.1:$port/moto-api/" 30 "$LAST_PID" || { cat "$log" >&2; return 1; }
}

# Dummy credentials and the emulator endpoint for the AWS SDK (aws-config honours
# AWS_ENDPOINT_URL); never reach a real account from local runs.
use_aws_emulator() {
  export AWS_ENDPOINT_URL="http://127.0.0.1:$1"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# start_metabase_emulator PORT LOG: the emulator binary (built by `cargo build --workspace --bins`).
start_metabase_emulator() {
  local port=$1 log=$2
  start_child "$log" "$ROOT/target/debug/metabase-emulator" --bind "127.0.0.1:$port"
  wait_for_http "http://127.0.0.1:$port/api/health" 30 "$LAST_PID" || { cat "$log" >&2; return 1; }
}

# start_functions PORT ENV_FILE LOG: every function under `cargo lambda watch`, routed as
# Cargo.toml's [workspace.metadata.lambda.watch.router] says; returns once GET /health answers
# (the first request compiles and starts a function). ENV_FILE holds the functions' environment.
# --disable-cors: cargo lambda watch's own CORS layer answers every preflight itself and allows
# any origin with credentials; without it, preflights reach the functions, whose CORS layer
# allows only CORS_ALLOWED_ORIGINS, as the deployed API does.
start_functions() {
  local port=$1 env_file=$2 log=$3
  start_child "$log" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
    --env-file "$env_file" --ignore-changes --disable-cors
  FUNCTIONS_PID=$LAST_PID
  echo "waiting for GET /health (the first request compiles and starts the health function)..."
  wait_for_http "http://127.0.0.1:$port/health" 600 "$FUNCTIONS_PID" || { tail -50 "$log" >&2; return 1; }
}

# write_functions_env FILE: the functions' environment from the exported stack variables.
write_functions_env() {
  cat > "$1" <<ENV
TABLE_NAME=$TABLE_NAME
SECRET_ID=$SECRET_ID
METABASE_URL=$METABASE_URL
METABASE_SITE_URL=$METABASE_SITE_URL
CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-}
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=${RUST_LOG:-info}
ENV
}

WEB="$ROOT/examples/web"

# build_web: compiles the demo page's TypeScript (its npm packages come from scripts/tools.sh).
build_web() {
  (cd "$WEB" && node_modules/.bin/tsc -p .)
}

# start_web PORT LOG: serves examples/web on 127.0.0.1 (static files only).
start_web() {
  local port=$1 log=$2
  start_child "$log" python3 -m http.server --bind 127.0.0.1 --directory "$WEB" "$port"
  wait_for_http "http://127.0.0.1:$port/index.html" 30 "$LAST_PID" || { cat "$log" >&2; return 1; }
}
