#!/usr/bin/env bash
# Installs, idempotently, componentize-js (from npm) into a folder: what builds JavaScript step
# components (the JavaScript code step, and JavaScript step projects with `flowbox step build`).
# Usage: scripts/js-toolchain.sh DIR     (the tool is DIR/node_modules/.bin/componentize-js)
#   NPM  the npm that installs it (default: npm; needs Node.js >= 18)
set -euo pipefail
COMPONENTIZE_JS_VERSION=0.23.0
toolchain=${1:?usage: js-toolchain.sh DIR}
case "$toolchain" in /*) ;; *) toolchain=$PWD/$toolchain ;; esac
npm=${NPM:-npm}
cjs=$toolchain/node_modules/.bin/componentize-js
installed_version() {
  node -p "require('$toolchain/node_modules/@bytecodealliance/componentize-js/package.json').version" 2>/dev/null || true
}
if [ ! -x "$cjs" ] || [ "$(installed_version)" != "$COMPONENTIZE_JS_VERSION" ]; then
  command -v "$npm" >/dev/null || {
    echo "js toolchain: npm not found (on Debian: apt-get install npm)" >&2
    exit 1
  }
  echo "js toolchain: installing componentize-js $COMPONENTIZE_JS_VERSION into $toolchain" >&2
  rm -rf "$toolchain"
  mkdir -p "$toolchain"
  printf '{"name": "flowbox-js-toolchain", "private": true}\n' > "$toolchain/package.json"
  (cd "$toolchain" && "$npm" install --no-fund --no-audit --loglevel=error \
    "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2)
  [ "$(installed_version)" = "$COMPONENTIZE_JS_VERSION" ] || {
    echo "js toolchain: componentize-js $COMPONENTIZE_JS_VERSION did not install into $toolchain" >&2
    exit 1
  }
fi
