#!/usr/bin/env bash
# The seq_N workload (bench/README.md): flowbox on its embedded SQLite default (fsync on),
# driven by wrk (closed loop, C connections, start-and-wait), one JSON line of figures.
# Usage: bench/seq.sh [N=3] [SECONDS=20]      env: C_CONC (32), PORT (18280), DB (sqlite in a temp dir),
#   FLOWBOX_BIN (a flowbox binary to measure instead of building this checkout's, e.g. an older
#   build for a before/after comparison)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-3}; SECS=${2:-20}; C=${C_CONC:-32}; PORT=${PORT:-18280}
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 2; }
source "$root/bench/binary.sh"
run=$(mktemp -d); trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$run"' EXIT
DB=${DB:-sqlite://$run/flowbox.db}
export FLOWBOX_ADMIN_TOKEN=fbx_bench_admin FLOWBOX_TOKEN=fbx_bench_admin
"$fb" serve --listen "127.0.0.1:$PORT" --db "$DB" --cache-dir "$root/target/bench-cache" > "$run/server.log" 2>&1 &
server=$!
for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
bash "$root/bench/load.sh" "http://127.0.0.1:$PORT" >&2
URL="http://127.0.0.1:$PORT/v1/workflows/seq_$N/executions?wait=60"
curl -fsS -H "authorization: Bearer $FLOWBOX_TOKEN" -X POST -d '{"input":{"n":0}}' "$URL" >&2; echo >&2
export WRK_BODY='{"input":{"n":0}}' WRK_EXPECT="\"n\":$N}" WRK_AUTH="Bearer $FLOWBOX_TOKEN"
wrk -t1 -c"$C" -d5s -s "$root/bench/wrk-post-json.lua" "$URL" >/dev/null 2>&1   # warm-up
stats() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
read -r _ T0 <<< "$(stats $server | tr "\n" " ")"
wrk -t1 -c"$C" -d"${SECS}s" --latency -s "$root/bench/wrk-post-json.lua" "$URL" > "$run/wrk.txt" 2>&1
read -r HWM T1 <<< "$(stats $server | tr "\n" " ")"
cat "$run/wrk.txt" >&2
python3 - "$run/wrk.txt" "$N" "$C" "$T0" "$T1" "$HWM" "$(getconf CLK_TCK)" "$DB" <<'PY'
import re, sys, json
txt = open(sys.argv[1]).read(); n, c = int(sys.argv[2]), int(sys.argv[3])
t0, t1, hwm, tck = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
db = sys.argv[8].split(":")[0]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", txt).group(1))
reqs = int(re.search(r"(\d+) requests in", txt).group(1))
bad = int(re.search(r"BAD (\d+)", txt).group(1))
def lat(p):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % p, txt)
    v, u = float(m.group(1)), m.group(2)
    return round(v / 1000 if u == "us" else v * 1000 if u == "s" else v, 2)
cpu = (t1 - t0) / tck
print("RESULT " + json.dumps({"engine": "flowbox", "db": db, "client": "wrk", "workload": f"seq_{n}", "concurrency": c,
  "requests": reqs, "bad": bad, "wf_per_s": rps, "steps_per_s": round(rps * n, 1), "p50_ms": lat(50), "p90_ms": lat(90),
  "p99_ms": lat(99), "engine_cpu_ms_per_wf": round(cpu * 1000 / max(reqs, 1), 3), "peak_rss_mb": round(hwm / 1024, 1)}))
PY
