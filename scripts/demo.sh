#!/usr/bin/env bash
# The demo: builds the step components and flowbox, then inspects and runs steps in the sandbox,
# a well-behaved one and hostile ones, showing what each outcome looks like.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build-guests.sh
cargo build --quiet -p flowbox
fb="$root/target/debug/flowbox"
w="$root/target/wasm"
show() { printf '\n$ flowbox %s\n' "$*"; "$fb" "$@" || echo "(exit code $?)"; }

show step inspect "$w/normal.wasm"
show step run "$w/increment.wasm" --input '{"n": 41}'
show step run "$w/normal.wasm" --input '{"n": 1}' --grant log --grant variables --grant clock --verbose
show step run "$w/normal.wasm" --input '{"n": 1}'
show step run "$w/spin.wasm" --fuel 100000000
show step run "$w/spin.wasm" --no-fuel --timeout-ms 250
show step run "$w/memory_bomb.wasm" --memory-mb 32
show step run "$w/panic.wasm" --input '{"what": "the demo"}'
show step run "$w/huge_output.wasm"
