#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (idempotently), builds every
# guest component from source, then formatting, lints, and every test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

step "guest components (scripts/build-guests.sh)"
bash scripts/build-guests.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --workspace --quiet
