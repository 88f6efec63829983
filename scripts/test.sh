#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (idempotently), builds every
# guest component from source, starts a PostgreSQL server on loopback, then formatting, lints,
# and every test (each database test runs on SQLite and on PostgreSQL). Lints alone, as a
# developer runs them: `cargo clippy --workspace --all-targets -- -D warnings`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# Each phase prints the time since the start, so that a slow phase shows in CI's log.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "guest components (scripts/build-guests.sh)"
bash scripts/build-guests.sh

step "an SMTP server for the email tests (Debian's python3-aiosmtpd)"
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-aiosmtpd; } >&2
fi
/usr/bin/python3 -c 'import aiosmtpd; print("aiosmtpd", aiosmtpd.__version__)'

step "Prometheus, which scrapes a test server (Debian's prometheus)"
if ! command -v prometheus >/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >&2
fi
prometheus --version 2>&1 | head -1

step "Chromium and chromedriver for the console's browser tests (Debian's chromium, chromium-driver)"
if ! command -v chromedriver >/dev/null || ! [ -x /usr/bin/chromium ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver; } >&2
fi
/usr/bin/chromium --version 2>/dev/null

step "PostgreSQL for the tests (scripts/test-postgres.sh)"
FLOWBOX_TEST_PG=$(bash scripts/test-postgres.sh)
export FLOWBOX_TEST_PG
echo "$FLOWBOX_TEST_PG"

step "cargo fmt --check"
cargo fmt --all --check

# One build serves the lints and the tests: clippy-driver, in place of rustc for the workspace's
# own crates (as `cargo clippy` runs it), lints them with -D warnings while it compiles them for
# the tests. `cargo clippy --all-targets` would check every dependency a second time, in another
# mode, for nothing the test build does not already cover (lib, bins, tests and examples, each
# as code and as its test harness): that was a quarter of CI's time.
# (Exported, so that the server schemathesis runs below is the binary this build made, not a
# second build of the workspace's crates.)
step "cargo test, linted as it builds (clippy -D warnings on every target)"
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
cargo test --workspace --quiet

step "the served OpenAPI against real answers (scripts/schemathesis.sh)"
bash scripts/schemathesis.sh

step "all passed"
