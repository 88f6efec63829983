#!/usr/bin/env bash
# Builds the JavaScript code step, target/wasm/javascript.wasm, from steps/javascript/ and wit/
# with componentize-js (StarlingMonkey, a SpiderMonkey engine compiled to WebAssembly,
# pre-initialised with the step's runtime).
#
# Idempotent: installs componentize-js (from npm) only when missing, and rebuilds only when an
# input changed (a hash of the inputs is kept beside the output). A build takes ~10 s; the
# toolchain takes ~385 MB.
#
# Usage: scripts/build-js-step.sh [--force] [OUT.wasm]
#   FLOWBOX_JS_TOOLCHAIN  where componentize-js is installed (default: target/js-toolchain)
#   NPM                   the npm that installs it (default: npm; needs Node.js >= 18)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPONENTIZE_JS_VERSION=$(sed -n "s/^COMPONENTIZE_JS_VERSION=//p" "$root/scripts/js-toolchain.sh")

force=0
out=
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "build-js-step: unknown option $arg" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
out=${out:-$root/target/wasm/javascript.wasm}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
src=$root/steps/javascript
toolchain=${FLOWBOX_JS_TOOLCHAIN:-$root/target/js-toolchain}
case "$toolchain" in /*) ;; *) toolchain=$PWD/$toolchain ;; esac
cjs=$toolchain/node_modules/.bin/componentize-js

# 1. componentize-js in its own folder (a package.json pins the version).
bash "$root/scripts/js-toolchain.sh" "$toolchain"

# 2. Nothing to do if no input changed.
stamp_of_inputs() {
  {
    echo "componentize-js $COMPONENTIZE_JS_VERSION"
    sha256sum < "${BASH_SOURCE[0]}"
    (cd "$root" && find -L steps/javascript wit -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of_inputs)
if [ "$force" = 0 ] && [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$stamp" ]; then
  echo "build-js-step: $out is up to date"
  exit 0
fi

# 3. Build in a scratch folder: the WIT package plus the js-step world, and a copy of the sources.
# componentize-js maps the folder it runs in to `/` for the engine, so the sources' paths in the
# component are app.js and flowbox/*.js. `-d http fetch-event`: no wasi:http (the host refuses
# it; HTTP goes through flowbox:step/http). stdio, random and clocks stay: the host links those
# as locked-down WASI.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wit" "$work/app"
cp -R "$root/wit/." "$work/wit/"
cp "$src/wit/js-step.wit" "$work/wit/"
cp "$src/app.js" "$work/app/"
cp -R "$src/flowbox" "$work/app/"
mkdir -p "$(dirname "$out")"
start=$(date +%s%N)
(cd "$work/app" && "$cjs" app.js --wit "$work/wit" --world-name js-step \
  --disable http fetch-event --out "$work/javascript.wasm")
mv "$work/javascript.wasm" "$out"
echo "$stamp" > "$out.inputs"
echo "build-js-step: built $out ($(stat -c %s "$out") bytes) in $((($(date +%s%N) - start) / 1000000)) ms"
