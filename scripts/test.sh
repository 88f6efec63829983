#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (idempotently), builds every
# guest component from source, starts a PostgreSQL server on loopback, then formatting, lints,
# and every test (each database test runs on SQLite and on PostgreSQL).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

step "guest components (scripts/build-guests.sh)"
bash scripts/build-guests.sh

step "PostgreSQL for the tests (scripts/test-postgres.sh)"
FLOWBOX_TEST_PG=$(bash scripts/test-postgres.sh)
export FLOWBOX_TEST_PG
echo "$FLOWBOX_TEST_PG"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --workspace --quiet
