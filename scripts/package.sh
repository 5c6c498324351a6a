#!/usr/bin/env bash
# `make package`: release arm64 Lambda zips for every function (cargo lambda, cross-compiled with
# the venv's zig), one line per zip with its size; fails if any zip exceeds Lambda's 5 MB budget.
# Zips land in target/lambda/<function>/bootstrap.zip (the workspace's shared target directory).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

MAX_ZIP_BYTES=$((5 * 1024 * 1024))

step "tools"
scripts/tools.sh

step "arm64 target"
if ! rustup target add aarch64-unknown-linux-gnu; then
  echo "package: 'rustup target add aarch64-unknown-linux-gnu' failed; the arm64 build needs it" >&2
  exit 1
fi

# One package per function directory; the binary name is the package name.
functions=()
for manifest in functions/*/Cargo.toml; do
  functions+=("$(basename "$(dirname "$manifest")")")
done

# One build per binary, exactly as `sam build` (rust-cargolambda) runs it, so both share the same
# compiled artifacts in the shared target directory and whichever runs second is nearly free.
step "build (release, arm64): ${functions[*]}"
started=$SECONDS
for function in "${functions[@]}"; do
  cargo lambda build --release --arm64 --output-format zip --locked --bin "$function"
done
echo "built in $((SECONDS - started))s"

step "zips"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
failed=0
for function in "${functions[@]}"; do
  zip="$target_dir/lambda/$function/bootstrap.zip"
  if [[ ! -f "$zip" ]]; then
    echo "package: $zip was not produced" >&2
    failed=1
    continue
  fi
  # Size and architecture in one read: the zip's `bootstrap` must be an AArch64 ELF (e_machine 183).
  read -r bytes machine < <(python3 - "$zip" <<'PY'
import os, struct, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    head = z.open("bootstrap").read(20)
machine = struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else 0
print(os.path.getsize(path), machine)
PY
)
  verdict=ok
  if ((machine != 183)); then verdict="NOT AN ARM64 BINARY (e_machine $machine)"; failed=1; fi
  if ((bytes > MAX_ZIP_BYTES)); then verdict="TOO LARGE (limit $MAX_ZIP_BYTES bytes)"; failed=1; fi
  printf '%-12s %9d bytes  %6s MB  %s  %s\n' "$function" "$bytes" \
    "$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')" "${zip#"$ROOT"/}" "$verdict"
done
if ((failed)); then
  echo "package: failed (see above)" >&2
  exit 1
fi
echo "package: every zip is arm64 and within 5 MB"
