#!/usr/bin/env bash
# Load the seq_N workloads into a running server: the `increment` step module and the
# seq_3 / seq_10 workflows.   Usage: FLOWBOX_TOKEN=<admin token> bench/load.sh [SERVER_URL]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
url=${1:-http://127.0.0.1:8080}
auth="authorization: Bearer ${FLOWBOX_TOKEN:?set FLOWBOX_TOKEN to an admin token}"
curl -fsS -H "$auth" -X PUT --data-binary "@$root/target/wasm/increment.wasm" "$url/v1/steps/increment" >/dev/null
for f in "$root"/bench/workflows/*.yaml; do
  curl -fsS -H "$auth" -X POST --data-binary "@$f" "$url/v1/workflows"; echo
done
