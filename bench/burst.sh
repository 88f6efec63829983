#!/usr/bin/env bash
# A burst of due work (bench/README.md): N executions of `[delay until T, increment]`, started
# without waiting before T, all due at T. Measured from T: time until all completed,
# completions/s, lateness (completion - T) p50/p99/max, the server's peak RSS, and the p99 of a
# steady seq_3 start-and-wait load (wrk, STEADY_C connections) running through the burst. The
# goal's yardstick, seq_1 throughput, is measured first in the same sitting. One JSON line.
# Usage: bench/burst.sh [N=100000]
#   env: DB (default: SQLite in a temp dir; or postgres://...), NODES (PostgreSQL only: servers
#   sharing the burst, default 1), PORT (18380), LEAD (seconds from the first start to T;
#   default N/2500 + 15), STEADY_C (4), MAX_IN_FLIGHT (the server's default if unset),
#   FLOWBOX_BIN (a flowbox binary to measure instead of building this checkout's)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-100000}; PORT=${PORT:-18380}; NODES=${NODES:-1}; STEADY_C=${STEADY_C:-4}
LEAD=${LEAD:-$((N / 2500 + 15))}
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
source "$root/bench/binary.sh"
run=$(mktemp -d)
servers=()
cleanup() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$run"; }
trap cleanup EXIT
DB=${DB:-sqlite://$run/flowbox.db}
case "$DB" in
  sqlite:*) [ "$NODES" = 1 ] || { echo "NODES > 1 needs DB=postgres://..." >&2; exit 2; } ;;
  postgres:*) command -v psql >/dev/null || { echo "psql missing" >&2; exit 2; }
    psql -q "$DB" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >&2 ;;
esac
export FLOWBOX_ADMIN_TOKEN=fbx_bench_admin FLOWBOX_TOKEN=fbx_bench_admin
flags=()
[ -n "${MAX_IN_FLIGHT:-}" ] && flags+=(--max-in-flight "$MAX_IN_FLIGHT")
for i in $(seq 0 $((NODES - 1))); do
  "$fb" serve --listen "127.0.0.1:$((PORT + i))" --db "$DB" --data-dir "$run/node$i" --node-id "node$i" \
    --cache-dir "$root/target/bench-cache" "${flags[@]}" > "$run/server$i.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$((PORT + i))/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
done
url="http://127.0.0.1:$PORT"
bash "$root/bench/load.sh" "$url" >&2
auth="Bearer $FLOWBOX_TOKEN"

# The yardstick: seq_1 start-and-wait throughput, 10 s, 32 connections.
export WRK_AUTH="$auth" WRK_BODY='{"input":{"n":0}}'
WRK_EXPECT='"n":1}' wrk -t1 -c32 -d10s -s "$root/bench/wrk-post-json.lua" "$url/v1/workflows/seq_1/executions?wait=60" > "$run/seq1.txt" 2>&1
seq1=$(awk '/Requests\/sec:/{print $2}' "$run/seq1.txt")

# The burst: N starts, all due at T.
t_ms=$(( $(date +%s%3N) + LEAD * 1000 ))
at=$(date -u -d "@$((t_ms / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf %03d $((t_ms % 1000)))Z
count() {
  case "$DB" in
    sqlite:*) python3 -c "import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True); print(c.execute(sys.argv[2]).fetchone()[0])" "${DB#sqlite://}" "$1" ;;
    postgres:*) psql -tA "$DB" -c "$1" ;;
  esac
}
# wrk sleeps its whole duration even when its threads are done: it is stopped (SIGINT) once
# every start is answered.
WRK_BODY="{\"input\":{\"at\":\"$at\",\"n\":0}}" BURST_N=$N WRK_THREADS=1 \
  wrk -t1 -c64 -d3600s -s "$root/bench/wrk-start-async.lua" "$url/v1/workflows/burst/executions" > "$run/starts.txt" 2>&1 &
starter=$!
last=-1
while :; do
  sleep 1
  got=$(count "SELECT COUNT(*) FROM executions WHERE workflow = 'burst'")
  [ "$got" -ge "$N" ] && break
  [ "$got" = "$last" ] && break   # no progress: the starts are done (some refused)
  last=$got
done
kill -INT $starter 2>/dev/null || true; wait $starter || true
grep -E "ACCEPTED" "$run/starts.txt" >&2 || true
accepted=$(count "SELECT COUNT(*) FROM executions WHERE workflow = 'burst'")
if [ "$(date +%s%3N)" -ge "$t_ms" ]; then
  echo "the starts ran past T: raise LEAD (now $LEAD s)" >&2; exit 1
fi
# Memory, sampled through the burst (and each server's VmHWM at the end).
( while sleep 0.5; do for p in "${servers[@]}"; do awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s}'; done ) > "$run/rss.txt" &
sampler=$!
python3 -c "import sys, time; time.sleep(max(0, int(sys.argv[1]) / 1000 - time.time()))" "$t_ms"
# A steady load through the burst: seq_3 start-and-wait, STEADY_C connections, 20 s from T.
WRK_BODY='{"input":{"n":0}}' WRK_EXPECT='"n":3}' wrk -t1 -c"$STEADY_C" -d20s --latency -s "$root/bench/wrk-post-json.lua" \
  "$url/v1/workflows/seq_3/executions?wait=60" > "$run/steady.txt" 2>&1 &
steady=$!
deadline=$(( $(date +%s) + 3600 ))
while [ "$(count "SELECT COUNT(*) FROM executions WHERE workflow = 'burst' AND status = 'completed'")" -lt "$accepted" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "the burst did not complete within an hour" >&2; exit 1; }
  sleep 0.5
done
wait $steady
kill $sampler 2>/dev/null || true
hwm=0; for p in "${servers[@]}"; do h=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status"); hwm=$((hwm > h ? hwm : h)); done
case "$DB" in
  sqlite:*) count "SELECT group_concat(ended_at) FROM executions WHERE workflow = 'burst'" > "$run/ended.txt" ;;
  postgres:*) count "SELECT string_agg(ended_at::text, ',') FROM executions WHERE workflow = 'burst'" > "$run/ended.txt" ;;
esac
count "SELECT COUNT(*) FROM step_runs s JOIN executions e ON e.id = s.execution_id WHERE e.workflow = 'burst' AND s.step_id = 'add'" > "$run/adds.txt"
cat "$run/steady.txt" >&2
python3 - "$run" "$N" "$accepted" "$t_ms" "$seq1" "$hwm" "$DB" "$NODES" <<'PY'
import json, re, sys
run, n, accepted, t, seq1, hwm, db, nodes = sys.argv[1:9]
n, accepted, t, seq1, hwm = int(n), int(accepted), int(t), float(seq1), int(hwm)
ended = sorted(int(x) - t for x in open(f"{run}/ended.txt").read().strip().split(","))
adds = int(open(f"{run}/adds.txt").read().strip())
rss = [int(x) for x in open(f"{run}/rss.txt").read().split() if x.strip().isdigit()]
def q(p): return round(ended[min(len(ended) - 1, int(p * len(ended)))] / 1000, 2)
steady = open(f"{run}/steady.txt").read()
def lat(p):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % p, steady)
    if not m: return None
    v, u = float(m.group(1)), m.group(2)
    return round(v / 1000 if u == "us" else v * 1000 if u == "s" else v, 2)
all_done = ended[-1] / 1000
print("RESULT " + json.dumps({
    "engine": "flowbox", "db": db.split(":")[0], "nodes": int(nodes), "workload": "burst", "n": n,
    "accepted": accepted, "add_steps_run": adds, "all_done_s": round(all_done, 2),
    "completions_per_s": round(accepted / max(all_done, 0.001), 1),
    "lateness_p50_s": q(0.5), "lateness_p99_s": q(0.99), "lateness_max_s": q(1.0),
    "peak_rss_mb": round(max([hwm] + rss) / 1024, 1),
    "seq1_wf_per_s": seq1, "goal_s": round(n / seq1 + 10, 1),
    "steady_seq3_p50_ms": lat(50), "steady_seq3_p99_ms": lat(99),
    "steady_seq3_requests": int(re.search(r"(\d+) requests in", steady).group(1)),
    "steady_bad": int(re.search(r"BAD (\d+)", steady).group(1)),
}))
PY
