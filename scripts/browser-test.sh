#!/usr/bin/env bash
# The demo page's browser test (examples/web/tests): the local stack as `make dev` runs it (Metabase
# emulator, devstack, the functions under `cargo lambda watch`, the page on a static server), on
# free ports and a fresh table and secret, then Playwright driving Debian's chromium headless.
# Uses the moto server of AWS_ENDPOINT_URL when set (scripts/test.sh), else starts one.
# Screenshots go to target/test-artifacts/, logs to target/test-logs/browser/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
trap stop_children EXIT
trap 'exit 130' INT TERM

logs=target/test-logs/browser
mkdir -p "$logs"
if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
  moto_port=$(free_port)
  start_moto "$moto_port" "$logs/moto.log"
  use_aws_emulator "$moto_port"
fi

cargo build --workspace --bins --locked --quiet
build_web

run_id=$(date +%s)-$$
export METABASE_ADMIN_EMAIL=admin@tenantbase.test
export METABASE_ADMIN_PASSWORD=Browser-test-passw0rd-2026
export OPERATOR_API_KEY=browser-test-operator-key-$run_id
export TABLE_NAME=tb-browser-$run_id SECRET_ID=tb-browser/$run_id

metabase_port=$(free_port)
start_metabase_emulator "$metabase_port" "$logs/metabase-emulator.log"
export METABASE_URL=http://127.0.0.1:$metabase_port METABASE_SITE_URL=http://127.0.0.1:$metabase_port
target/debug/devstack >"$logs/devstack.log" 2>&1 || { cat "$logs/devstack.log" >&2; exit 1; }

api_port=$(free_port)
web_port=$(free_port)
export CORS_ALLOWED_ORIGINS=http://127.0.0.1:$web_port
write_functions_env "$logs/functions.env"
start_functions "$api_port" "$logs/functions.env" "$logs/functions.log"
# cargo lambda watch starts each function on its first request: start them all now with a
# preflight each (so the browser's requests are not the ones that wait), checking on the way that
# OPTIONS reaches the functions and is answered for the page's origin.
for path in /auth/login /api/workspaces /api/templates /api/embed/token; do
  answer=$(curl -s -o /dev/null -w '%{http_code} %header{access-control-allow-origin}' --max-time 600 -X OPTIONS \
    -H "Origin: $CORS_ALLOWED_ORIGINS" -H "Access-Control-Request-Method: POST" "http://127.0.0.1:$api_port$path")
  if [[ "$answer" != "204 $CORS_ALLOWED_ORIGINS" ]]; then
    echo "preflight of $path answered '$answer', expected '204 $CORS_ALLOWED_ORIGINS'" >&2; exit 1
  fi
done
answer=$(curl -s -o /dev/null -w '%{http_code} %header{access-control-allow-origin}' -X OPTIONS \
  -H "Origin: http://localhost:$web_port" -H "Access-Control-Request-Method: POST" "http://127.0.0.1:$api_port/auth/login")
[[ "$answer" == "403 " ]] || { echo "a preflight from another origin answered '$answer', expected '403 '" >&2; exit 1; }
start_web "$web_port" "$logs/web.log"

export API_URL=http://127.0.0.1:$api_port
export DEMO_URL="http://127.0.0.1:$web_port/?api=$API_URL"
export TEST_ARTIFACTS=$ROOT/target/test-artifacts
rm -f "$TEST_ARTIFACTS"/demo-*.png
(cd examples/web && node --test --test-reporter=spec tests/) || { tail -30 "$logs/functions.log" >&2; exit 1; }
echo "screenshots: $(ls "$TEST_ARTIFACTS"/demo-*.png | tr '\n' ' ')"
