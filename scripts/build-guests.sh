#!/usr/bin/env bash
# Builds every step component: the built-in steps under steps/ and the test guests under
# tests/guests/ (one component per example file), and the code-step runners: python.wasm
# (scripts/build-python-step.sh) and javascript.wasm (scripts/build-js-step.sh). Output:
# target/wasm/<name>.wasm.
# Usage: scripts/build-guests.sh        (installs the guest toolchain first if it is missing)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/guest-toolchain.sh"
out="$root/target/wasm"
mkdir -p "$out"
# The host's rustup toolchain comes first on PATH and cannot build the 1.96 std sources: use
# Debian's compiler explicitly, and keep the outer cargo's variables out of this build.
unset CARGO RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_TARGET_DIR CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-C link-self-contained=no -L native=/usr/lib/wasm32-wasi"
export CARGO_TARGET_DIR="$root/target/guests"
/usr/bin/cargo build --quiet --release --manifest-path "$root/steps/Cargo.toml" \
  --workspace --lib --examples --target wasm32-wasip2 -Zbuild-std=std,panic_abort
rel="$CARGO_TARGET_DIR/wasm32-wasip2/release"
n=0
for f in "$rel"/*.wasm "$rel"/examples/*.wasm; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .wasm)
  case "$name" in *-*) continue ;; esac   # cargo's hashed copies of examples
  cmp -s "$f" "$out/$name.wasm" 2>/dev/null || cp "$f" "$out/$name.wasm"
  n=$((n + 1))
done
echo "built $n components into target/wasm/"
# The Python code step (a CPython interpreter, built with componentize-py from PyPI).
bash "$root/scripts/build-python-step.sh"
# The JavaScript code step (SpiderMonkey, built with componentize-js from npm).
bash "$root/scripts/build-js-step.sh"
