#!/usr/bin/env bash
# The served OpenAPI description checked against real answers: schemathesis (from the Python
# package registry, pinned, in target/schemathesis) generates requests for every operation from
# /openapi.json and checks every answer: no 5xx, only documented status codes, content types
# and headers, bodies that fit their schemas, malformed requests refused. It runs as an admin and
# as a client, against a fresh server (this checkout's debug build, SQLite in a temp dir).
#
# Left out, on purpose:
# - `DELETE /v1/tokens/{id}`: the run would revoke the token it runs with.
# - nothing else: every check runs. Where an operation applies rules its schema cannot state (a
#   definition checked against what it names, a component's imports), scripts/schemathesis.toml
#   says which 4xx a request that fits the schema may still get, with the rule.
#
# Usage: scripts/schemathesis.sh [EXAMPLES=20]   (env SCHEMATHESIS_SEED: another seed)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
examples=${1:-20}
venv="$root/target/schemathesis"
version=4.32.5

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv; } >&2
  fi
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
"$venv/bin/schemathesis" --version

(cd "$root" && cargo build --quiet -p flowbox)
run=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$run"; }
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=fbx_schemathesis_admin
FLOWBOX_ADMIN_TOKEN=$admin "$root/target/debug/flowbox" serve --listen "127.0.0.1:$port" \
  --db "sqlite://$run/flowbox.db" --data-dir "$run/data" > "$run/server.log" 2>&1 &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
client=$(curl -fsS -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name": "schemathesis", "role": "client"}' "$url/v1/tokens" |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

status=0
for who in admin client; do
  token=$admin; [ "$who" = client ] && token=$client
  printf '\n--- as %s\n' "$who"
  seed=(--generation-deterministic)
  [ -n "${SCHEMATHESIS_SEED:-}" ] && seed=(--seed "$SCHEMATHESIS_SEED")
  (cd "$run" && "$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" \
    run "$url/openapi.json" -H "Authorization: Bearer $token" \
    --max-examples "$examples" "${seed[@]}" --checks all \
    --exclude-operation-id tokens_revoke --no-color) || status=1
done
if [ "$status" != 0 ]; then
  echo "schemathesis found answers that do not fit /openapi.json (above); the server's log:" >&2
  tail -50 "$run/server.log" >&2
fi
exit "$status"
