#!/usr/bin/env bash
# `make dev`: the whole stack on emulators, in the foreground. Ctrl-C stops everything it started.
#
#   moto (DynamoDB, Secrets Manager, EventBridge)  127.0.0.1:$AWS_EMULATOR_PORT  (5555)
#   Metabase emulator (unless METABASE_URL is set)  127.0.0.1:$METABASE_PORT      (3000)
#   the functions under `cargo lambda watch`       127.0.0.1:$API_PORT           (9000)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

API_PORT=${API_PORT:-9000}
METABASE_PORT=${METABASE_PORT:-3000}
AWS_EMULATOR_PORT=${AWS_EMULATOR_PORT:-5555}
export METABASE_ADMIN_EMAIL=${METABASE_ADMIN_EMAIL:-admin@tenantbase.local}
export METABASE_ADMIN_PASSWORD=${METABASE_ADMIN_PASSWORD:-Tenantbase-dev-2026!}
export OPERATOR_API_KEY=${OPERATOR_API_KEY:-tb-dev-operator-key-change-me}
export TABLE_NAME=${TABLE_NAME:-tenantbase-dev}
export SECRET_ID=${SECRET_ID:-tenantbase/dev}

shutdown() {
  trap - EXIT INT TERM
  # Stop the children before printing: if our output pipe is gone (make dev | tee, and Ctrl-C
  # killed tee), writing would end this script before the children are stopped.
  trap '' PIPE
  stop_children
  echo "local stack stopped" 2>/dev/null || true
  exit "${1:-0}"
}
trap 'shutdown 0' INT TERM
trap 'shutdown $?' EXIT

mkdir -p .dev
for port in "$API_PORT" "$AWS_EMULATOR_PORT"; do
  if port_in_use "$port"; then echo "port $port is already in use (is another make dev running?)" >&2; exit 1; fi
done

step "tools"
scripts/tools.sh

step "build (debug)"
cargo build --workspace --bins --locked

step "AWS emulator (moto) on 127.0.0.1:$AWS_EMULATOR_PORT"
start_moto "$AWS_EMULATOR_PORT" .dev/moto.log
use_aws_emulator "$AWS_EMULATOR_PORT"

if [[ -n "${METABASE_URL:-}" ]]; then
  step "Metabase: using METABASE_URL=$METABASE_URL"
else
  if port_in_use "$METABASE_PORT"; then echo "port $METABASE_PORT is already in use; set METABASE_PORT or METABASE_URL" >&2; exit 1; fi
  METABASE_URL="http://127.0.0.1:$METABASE_PORT"
  step "Metabase emulator on $METABASE_URL"
  start_child .dev/metabase-emulator.log target/debug/metabase-emulator --bind "127.0.0.1:$METABASE_PORT"
  wait_for_http "$METABASE_URL/api/health" 30 "$LAST_PID" || { cat .dev/metabase-emulator.log >&2; exit 1; }
fi
export METABASE_URL
export METABASE_SITE_URL=${METABASE_SITE_URL:-$METABASE_URL}

step "table, secret and bootstrap"
target/debug/devstack

step "functions (cargo lambda watch) on 127.0.0.1:$API_PORT"
cat > .dev/functions.env <<ENV
TABLE_NAME=$TABLE_NAME
SECRET_ID=$SECRET_ID
METABASE_URL=$METABASE_URL
METABASE_SITE_URL=$METABASE_SITE_URL
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_REGION=$AWS_REGION
AWS_EC2_METADATA_DISABLED=true
RUST_LOG=${RUST_LOG:-info}
ENV
start_child .dev/functions.log cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
  --env-file .dev/functions.env --ignore-changes
watch_pid=$LAST_PID
echo "waiting for GET /health (the first request compiles and starts the health function)..."
wait_for_http "http://127.0.0.1:$API_PORT/health" 600 "$watch_pid" || { tail -50 .dev/functions.log >&2; exit 1; }
health=$(curl -s --max-time 30 "http://127.0.0.1:$API_PORT/health")

echo
echo "Tenantbase API: http://127.0.0.1:$API_PORT"
echo "Metabase: $METABASE_URL (admin login: $METABASE_ADMIN_EMAIL / password from METABASE_ADMIN_PASSWORD)"
echo "AWS emulator: $AWS_ENDPOINT_URL (table $TABLE_NAME, secret $SECRET_ID); logs in .dev/"
if [[ "$health" != *'"status":"ok"'* ]]; then
  echo "health is not green: $health"
fi
echo "Ctrl-C stops everything."
wait "$watch_pid"
