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

step "an SMTP server for the email tests (Debian's python3-aiosmtpd)"
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-aiosmtpd; } >&2
fi
/usr/bin/python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'

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

step "the served OpenAPI against real answers (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh
