#!/usr/bin/env bash
# Installs the project's local tools into .venv, which is git-ignored. A fast no-op when already
# installed.
#   tools/requirements.txt          moto, cargo-lambda, zig, cfn-lint  -> .venv
#   tools/requirements-<tool>.txt   aws-sam-cli, checkov               -> .venv/tools/<tool>, linked
#                                   into .venv/bin (each pins boto3 exactly, to versions that
#                                   cannot share one environment)
#   examples/web/package-lock.json  typescript, playwright-core        -> examples/web/node_modules
#   Debian's chromium               the browser test's browser         -> apt-get (as root)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
requirements="$root/tools/requirements.txt"
isolated=(sam:sam checkov:checkov)  # <requirements-NAME.txt>:<executable>
stamp="$venv/.requirements.sha256"
want=$(cat "$requirements" "$root"/tools/requirements-*.txt | sha256sum | cut -d' ' -f1)

web="$root/examples/web"
web_stamp="$web/node_modules/.package-lock.sha256"
web_want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [[ ! -f "$web_stamp" || "$(cat "$web_stamp")" != "$web_want" ]]; then
  command -v npm >/dev/null || { echo "tools: node and npm are required (examples/web)" >&2; exit 1; }
  echo "tools: installing examples/web's npm packages (package-lock.json)..."
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$web_want" > "$web_stamp"
fi
# Playwright drives the system's chromium: npm's browser downloads are not used.
if ! command -v chromium >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "tools: chromium is missing; install it with: sudo apt-get install -y chromium" >&2; exit 1
  fi
  echo "tools: installing Debian's chromium (one-time)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "tools: python3 is required" >&2; exit 1; }
echo "tools: installing the pinned tools into .venv (one-time, a few minutes)..."
python3 -m venv "$venv"
mkdir -p "$venv/tools"
# The isolated tools install in parallel with the main set; each logs to .venv/tools/<name>.log.
pids=()
for entry in "${isolated[@]}"; do
  name=${entry%%:*}
  (
    python3 -m venv "$venv/tools/$name" &&
      "$venv/tools/$name/bin/pip" install --quiet --disable-pip-version-check \
        -r "$root/tools/requirements-$name.txt"
  ) >"$venv/tools/$name.log" 2>&1 &
  pids+=("$!")
done
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
failed=0
for i in "${!isolated[@]}"; do
  name=${isolated[$i]%%:*}
  if ! wait "${pids[$i]}"; then
    echo "tools: installing $name failed:" >&2
    tail -20 "$venv/tools/$name.log" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
for entry in "${isolated[@]}"; do
  name=${entry%%:*} tool=${entry#*:}
  ln -sf "../tools/$name/bin/$tool" "$venv/bin/$tool"
done
for tool in moto_server cargo-lambda cfn-lint python-zig sam checkov; do
  [[ -x "$venv/bin/$tool" ]] || { echo "tools: $tool missing after install" >&2; exit 1; }
done
echo "$want" > "$stamp"
echo "tools: ready"
