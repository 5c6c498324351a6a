#!/usr/bin/env bash
# `make dev`: the whole stack on emulators, in the foreground. Ctrl-C stops everything it started.
#
#   moto (DynamoDB, Secrets Manager, EventBridge)  127.0.0.1:$AWS_EMULATOR_PORT  (5555)
#   Metabase emulator (unless METABASE_URL is set)  127.0.0.1:$METABASE_PORT      (3000)
#   the functions under `cargo lambda watch`       127.0.0.1:$API_PORT           (9000)
#   the demo page (examples/web)                    127.0.0.1:$WEB_PORT           (8080)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

API_PORT=${API_PORT:-9000}
WEB_PORT=${WEB_PORT:-8080}
METABASE_PORT=${METABASE_PORT:-3000}
AWS_EMULATOR_PORT=${AWS_EMULATOR_PORT:-5555}
export METABASE_ADMIN_EMAIL=${METABASE_ADMIN_EMAIL:-admin@tenantbase.local}
export METABASE_ADMIN_PASSWORD=${METABASE_ADMIN_PASSWORD:-Tenantbase-dev-2026!}
export OPERATOR_API_KEY=${OPERATOR_API_KEY:-tb-dev-operator-key-change-me}
export TABLE_NAME=${TABLE_NAME:-tenantbase-dev}
export SECRET_ID=${SECRET_ID:-tenantbase/dev}

shutdown() {
  # Ignore further signals rather than take their default: make forwards a TERM of its own to this
  # script right after the first, which would otherwise end it before every child is stopped.
  trap - EXIT
  trap '' INT TERM
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
for port in "$API_PORT" "$AWS_EMULATOR_PORT" "$WEB_PORT"; do
  if port_in_use "$port"; then echo "port $port is already in use (is another make dev running?)" >&2; exit 1; fi
done

step "tools"
scripts/tools.sh

step "build (debug)"
cargo build --workspace --bins --locked
build_web

step "AWS emulator (moto) on 127.0.0.1:$AWS_EMULATOR_PORT"
start_moto "$AWS_EMULATOR_PORT" .dev/moto.log
use_aws_emulator "$AWS_EMULATOR_PORT"

if [[ -n "${METABASE_URL:-}" ]]; then
  step "Metabase: using METABASE_URL=$METABASE_URL"
else
  if port_in_use "$METABASE_PORT"; then echo "port $METABASE_PORT is already in use; set METABASE_PORT or METABASE_URL" >&2; exit 1; fi
  METABASE_URL="http://127.0.0.1:$METABASE_PORT"
  step "Metabase emulator on $METABASE_URL"
  start_metabase_emulator "$METABASE_PORT" .dev/metabase-emulator.log
fi
export METABASE_URL
export METABASE_SITE_URL=${METABASE_SITE_URL:-$METABASE_URL}

step "table, secret and bootstrap"
target/debug/devstack

step "functions (cargo lambda watch) on 127.0.0.1:$API_PORT"
# The demo page's origin may call the API from the browser (and only it, unless set otherwise).
export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-http://127.0.0.1:$WEB_PORT}
write_functions_env .dev/functions.env
start_functions "$API_PORT" .dev/functions.env .dev/functions.log
watch_pid=$FUNCTIONS_PID

step "demo page on 127.0.0.1:$WEB_PORT"
start_web "$WEB_PORT" .dev/web.log
health=$(curl -s --max-time 30 "http://127.0.0.1:$API_PORT/health")

echo
echo "Tenantbase API: http://127.0.0.1:$API_PORT (CORS allowed for $CORS_ALLOWED_ORIGINS)"
echo "Demo page: http://127.0.0.1:$WEB_PORT/?api=http://127.0.0.1:$API_PORT"
echo "Metabase: $METABASE_URL (admin login: $METABASE_ADMIN_EMAIL / password from METABASE_ADMIN_PASSWORD)"
echo "AWS emulator: $AWS_ENDPOINT_URL (table $TABLE_NAME, secret $SECRET_ID); logs in .dev/"
if [[ "$health" != *'"status":"ok"'* ]]; then
  echo "health is not green: $health"
fi
echo "Ctrl-C stops everything."
wait "$watch_pid"
