#!/usr/bin/env bash
# Everything CI runs (`make test`): formatting, lints, unit and integration tests against the
# moto server (started and stopped here) and in-process Metabase emulators, template lint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
trap stop_children EXIT
trap 'exit 130' INT TERM

step "tools"
scripts/tools.sh

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "AWS emulator (moto)"
mkdir -p target/test-logs
moto_port=$(free_port)
start_moto "$moto_port" target/test-logs/moto.log
use_aws_emulator "$moto_port"
echo "moto on 127.0.0.1:$moto_port"

step "tests"
cargo test --workspace --locked

step "templates"
cfn-lint infra/template.yaml
echo "cfn-lint: infra/template.yaml ok"
