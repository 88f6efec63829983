#!/usr/bin/env bash
# The console with a large history: is /ui still responsive with N executions in the database?
# flowbox on SQLite (a fresh data dir, target/bench-console/data, kept after the run for a look at
# its query plans), a workflow `seq1` (one `increment` step), a few real executions through the
# API, then (server stopped) copies of them in SQL up to N (bench/console-fill.py: ~2% failed,
# ~5% waiting a year, the rest completed, over the last 3 days), then the server again, and:
#   - the API calls the console makes, each timed with curl (median of RUNS, ms): the first page,
#     the 10th page (by cursor), a status filter, a workflow filter, the counts (all, one
#     workflow, the last day), one execution, GET /v1/changes;
#   - the console in Debian's chromium (bench/console-browser.py, python3-selenium): the list, the
#     failed list and one execution page, from navigation to shown (median of RUNS, ms), the rows
#     in the DOM (a page: at most 50), the JS heap.
# A human table on stderr, then one line RESULT {json}.
# Usage: bench/console.sh [N=100000]
#   env: FLOWBOX_BIN (the flowbox binary to measure; default target/release/flowbox, built if
#   missing), PORT (default: a free one), RUNS (5), PYTHON (/usr/bin/python3: Debian's, which has
#   python3-selenium), FLOWBOX_CONSOLE_DIR (passed to the server: serve the console from a folder
#   instead of the files embedded in the binary)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-100000}; RUNS=${RUNS:-5}; PY=${PYTHON:-/usr/bin/python3}
REAL=10   # executions started through the API, the templates of the copies
for t in curl /usr/bin/chromium /usr/bin/chromedriver; do
  command -v "$t" >/dev/null || { echo "$t missing (apt-get install curl chromium chromium-driver)" >&2; exit 2; }
done
"$PY" -c "import selenium, sqlite3" 2>/dev/null || { echo "$PY lacks selenium: apt-get install python3-selenium" >&2; exit 2; }
[ -e "$root/target/wasm/increment.wasm" ] || bash "$root/scripts/build-guests.sh" >&2
if [ -n "${FLOWBOX_BIN:-}" ]; then
  fb=$FLOWBOX_BIN
else
  fb="$root/target/release/flowbox"
  [ -x "$fb" ] || (cd "$root" && cargo build --quiet --release -p flowbox)
fi
PORT=${PORT:-$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")}
url="http://127.0.0.1:$PORT"
work="$root/target/bench-console"; data="$work/data"
rm -rf "$data"; mkdir -p "$data"
export FLOWBOX_ADMIN_TOKEN=fbx_bench_console_admin
auth="authorization: Bearer $FLOWBOX_ADMIN_TOKEN"
server=""
stop() { [ -n "$server" ] || return 0; kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; }
trap stop EXIT
start() {
  "$fb" serve --listen "127.0.0.1:$PORT" --data-dir "$data" --cache-dir "$root/target/bench-cache" >> "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do curl -fsS "$url/healthz" >/dev/null 2>&1 && return 0; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  echo "the server did not start: $work/server.log" >&2; tail -20 "$work/server.log" >&2; exit 1
}
t_start=$(date +%s)
: > "$work/server.log"
start

# 1. The step module, the workflow and a few real executions.
curl -fsS -H "$auth" -X PUT --data-binary "@$root/target/wasm/increment.wasm" "$url/v1/steps/increment" >/dev/null
curl -fsS -H "$auth" -H 'content-type: application/yaml' -X POST --data-binary @- "$url/v1/workflows" >/dev/null <<'YAML'
name: seq1
steps:
  - id: increment
    action: increment
    input: { n: 1 }
YAML
for _ in $(seq "$REAL"); do
  curl -fsS -H "$auth" -H 'content-type: application/json' -X POST -d '{}' "$url/v1/workflows/seq1/executions?wait=10" |
    grep -q '"status":"completed"' || { echo "a seq1 execution did not complete" >&2; exit 1; }
done

# 2. Copies in SQL up to N, the server stopped; then the server again on the same data.
stop
fill=$("$PY" "$root/bench/console-fill.py" "$data/flowbox.db" "$N" seq1 3)
echo "fill: $fill" >&2
exec_id=$("$PY" -c "import json, sys; print(json.loads(sys.argv[1])['sample_id'])" "$fill")
start
t_ready=$(date +%s)

# 3. The API, with curl: the median of RUNS, in ms.
api() {  # api PATH -> the median time (ms) of RUNS calls
  local i ts=()
  for i in $(seq "$RUNS"); do
    ts+=("$(curl -fsS -o /dev/null -w '%{time_total}' -H "$auth" "$url$1")")
  done
  printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f\n", m * 1000}'
}
cursor=""
for _ in $(seq 9); do   # the 10th page's cursor, following next_cursor
  cursor=$(curl -fsS -H "$auth" "$url/v1/executions?limit=50${cursor:+&cursor=$cursor}" |
    "$PY" -c "import json, sys, urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)['next_cursor'], safe=''))")
done
page10=$(curl -fsS -H "$auth" "$url/v1/executions?limit=50&cursor=$cursor" | "$PY" -c "import json, sys; print(len(json.load(sys.stdin)['executions']))")
[ "$page10" = 50 ] || { echo "the 10th page has $page10 executions, not 50" >&2; exit 1; }
since=$(date -u -d '1 day ago' +%Y-%m-%dT%H:%M:%SZ)
declare -A ms
ms[api_list]=$(api "/v1/executions?limit=50")
ms[api_list_page10]=$(api "/v1/executions?limit=50&cursor=$cursor")
ms[api_list_failed]=$(api "/v1/executions?status=failed&limit=50")
ms[api_list_workflow]=$(api "/v1/executions?workflow=seq1&limit=50")
ms[api_counts]=$(api "/v1/executions/counts")
ms[api_counts_workflow]=$(api "/v1/executions/counts?workflow=seq1")
ms[api_counts_since_1d]=$(api "/v1/executions/counts?since=$since")
ms[api_execution]=$(api "/v1/executions/$exec_id")
ms[api_changes]=$(api "/v1/changes")

# 4. The console in chromium.
ui=$("$PY" "$root/bench/console-browser.py" "$url" "$FLOWBOX_ADMIN_TOKEN" "$exec_id" "$RUNS")
db_mb=$("$PY" -c "import glob, os, sys; print(round(sum(map(os.path.getsize, glob.glob(sys.argv[1] + '*'))) / 1048576, 1))" "$data/flowbox.db")
stop
elapsed=$(( $(date +%s) - t_start )); measured=$(( $(date +%s) - t_ready ))

# 5. The table and the RESULT line.
keys=(api_list api_list_page10 api_list_failed api_list_workflow api_counts api_counts_workflow api_counts_since_1d api_execution api_changes)
api_json=$(for k in "${keys[@]}"; do printf '%s %s\n' "$k" "${ms[$k]}"; done)
"$PY" - "$N" "$fill" "$ui" "$db_mb" "$fb" "$elapsed" "$measured" "$RUNS" "$api_json" <<'PY'
import json, sys
n, fill, ui, db_mb, fb, elapsed, measured, runs, api = sys.argv[1:10]
fill, ui = json.loads(fill), json.loads(ui)
api = {k: float(v) for k, v in (line.split() for line in api.strip().splitlines())}
what = {
    "api_list": "GET /v1/executions?limit=50",
    "api_list_page10": "  the 10th page (cursor)",
    "api_list_failed": "GET /v1/executions?status=failed&limit=50",
    "api_list_workflow": "GET /v1/executions?workflow=seq1&limit=50",
    "api_counts": "GET /v1/executions/counts",
    "api_counts_workflow": "GET /v1/executions/counts?workflow=seq1",
    "api_counts_since_1d": "GET /v1/executions/counts?since=<1 day ago>",
    "api_execution": "GET /v1/executions/{id}",
    "api_changes": "GET /v1/changes",
    "ui_list_ms": "/ui/executions: 50 rows and the counts",
    "ui_list_failed_ms": "/ui/executions?status=failed",
    "ui_execution_ms": "/ui/executions/{id}: the timeline",
}
limit = lambda k: 2000 if k.startswith("ui_") else 500
err = sys.stderr
print(f"\nconsole, {fill['executions']:,} executions {fill['by_status']} (+{int(n) - fill['copied']} real), db {db_mb} MB, "
      f"median of {runs}, binary {fb}", file=err)
print(f"{'':46} {'ms':>9}", file=err)
for k, label in what.items():
    v = api.get(k, ui.get(k))
    each = ui.get(k.replace("_ms", "_runs"))
    print(f"{label:46} {v:9.1f}{'  SLOW' if v > limit(k) else ''}{'   runs: ' + ' '.join(map(str, each)) if each else ''}", file=err)
print(f"{'rows in the DOM (list / failed list)':46} {ui['rows_in_dom']:>5} / {ui['rows_in_dom_failed']}", file=err)
print(f"{'DOM elements (list)':46} {ui['dom_elements']:>9}", file=err)
print(f"{'JS heap after the list (MB, after a GC)':46} {ui['js_heap_mb']:9.2f}", file=err)
print(f"{'page errors':46} {len(ui['page_errors']):>9}", file=err)
print(f"{'script s: in all / from the restart':46} {elapsed:>5} / {measured}", file=err)
result = {"engine": "flowbox", "db": "sqlite", "workload": "console", "n": fill["executions"], "runs": int(runs),
          **{k + "_ms": v for k, v in api.items()},
          **{k: ui[k] for k in ("ui_list_ms", "ui_list_failed_ms", "ui_execution_ms", "rows_in_dom",
                                "rows_in_dom_failed", "dom_elements", "js_heap_mb")},
          "page_errors": len(ui["page_errors"]), "db_mb": float(db_mb), "fill_s": fill["fill_s"],
          "elapsed_s": int(elapsed)}
print("RESULT " + json.dumps(result))
if ui["rows_in_dom"] > 50 or ui["rows_in_dom_failed"] > 50 or not ui["failed_rows_all_failed"]:
    sys.exit("the console shows more than a page, or the failed filter shows other statuses")
PY
