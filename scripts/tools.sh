#!/usr/bin/env bash
# Installs the project's local tools (moto, cargo-lambda, zig, cfn-lint; pinned in
# tools/requirements.txt) into .venv, which is git-ignored. A fast no-op when already installed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
requirements="$root/tools/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
command -v python3 >/dev/null || { echo "tools: python3 is required" >&2; exit 1; }
echo "tools: installing $(grep -cvE '^\s*(#|$)' "$requirements") pinned tools into .venv (one-time)..."
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
for tool in moto_server cargo-lambda cfn-lint python-zig; do
  [[ -x "$venv/bin/$tool" ]] || { echo "tools: $tool missing after install" >&2; exit 1; }
done
echo "$want" > "$stamp"
echo "tools: ready"
