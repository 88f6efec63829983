#!/usr/bin/env bash
# The step kit's figures, for the trivial step `flowbox step new` writes in each language:
# build times (first, unchanged, one-line change), component size, and the module's cost in the
# sandbox (compile, load from the disk cache, first call after a load, warm p50/p99, fuel on),
# beside the code-step runners of Python and JavaScript.
#
# Usage: bench/stepkit.sh          (builds the release binaries first; run on an idle machine)
#   FLOWBOX_BIN    a release flowbox binary (default: target/release/flowbox)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
(unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS; cargo build --quiet --release -p flowbox -p flowbox-bench)
bin=${FLOWBOX_BIN:-$root/target/release/flowbox}
bench=$root/target/release/flowbox-bench
bash scripts/build-guests.sh >/dev/null
# The toolchains build-guests.sh installed; a fresh target for Rust (its first build compiles std).
export FLOWBOX_PYTHON_TOOLCHAIN=$root/target/python-toolchain FLOWBOX_JS_TOOLCHAIN=$root/target/js-toolchain
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secs() { local t=$(date +%s%N); "$@" >/dev/null 2>&1; echo "$(( ($(date +%s%N) - t) / 1000000 ))"; }
for lang in rust python js; do
  (cd "$work" && "$bin" step new "k_$lang" --lang "$lang" >/dev/null)
  p=$work/k_$lang
  first=$(cd "$p" && secs "$bin" step build)
  again=$(cd "$p" && secs "$bin" step build)
  case $lang in
    rust) sed -i 's/Hello, /Hi, /' "$p/src/lib.rs" ;;
    python) sed -i 's/Hello, /Hi, /' "$p/step.py" ;;
    js) sed -i 's/Hello, /Hi, /' "$p/step.js" ;;
  esac
  changed=$(cd "$p" && secs "$bin" step build)
  size=$(stat -c %s "$p/target/k_$lang.wasm")
  echo "== $lang: first build $first ms, unchanged $again ms, one-line change $changed ms, $((size / 1024)) KiB"
  case $lang in
    rust) "$bench" step-module --component "$p/target/k_$lang.wasm" ;;
    python) "$bench" step-module --component "$p/target/k_$lang.wasm" --beside python ;;
    js) "$bench" step-module --component "$p/target/k_$lang.wasm" --beside javascript ;;
  esac
done
for lang in python javascript; do
  echo "== the $lang code step, for comparison"
  "$bench" code-step --language "$lang"
done
