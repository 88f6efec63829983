#!/usr/bin/env bash
# flowbox against Restate on the seq_N workload, in one sitting, with the same client (wrk,
# 32 connections, closed loop). Restate comes from the peer harness beside the project
# (../shared/peers), copied into target/peers so that its installs stay out of the source tree.
# Usage: bench/compare.sh [SECONDS=20]      Never run it while a build or another benchmark runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECS=${1:-20}
peers_src=${PEERS_DIR:-$root/../shared/peers}
[ -d "$peers_src/restate" ] || { echo "no peer harness at $peers_src" >&2; exit 2; }
peers="$root/target/peers"
mkdir -p "$peers"
cp -r "$peers_src/." "$peers/"
bash "$peers/setup.sh" >&2
results="$root/target/compare.jsonl"
: > "$results"
for n in 3 10; do
  bash "$peers/restate/run-wrk.sh" "$n" "$SECS" 2>/dev/null | sed -n 's/^RESULT //p' >> "$results"
  bash "$root/bench/seq.sh" "$n" "$SECS" 2>/dev/null | sed -n 's/^RESULT //p' >> "$results"
done
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| engine | workload | wf/s | p50 ms | p99 ms | engine CPU ms/wf |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['engine']} | {r['workload']} | {r['wf_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['engine_cpu_ms_per_wf']} |")
by = {(r['engine'], r['workload']): r for r in rows}
for w in ("seq_3", "seq_10"):
    f, r = by.get(("flowbox", w)), by.get(("restate", w))
    if f and r:
        print(f"{w}: flowbox / restate = {f['wf_per_s'] / r['wf_per_s']:.1f}x throughput, "
              f"{r['engine_cpu_ms_per_wf'] / f['engine_cpu_ms_per_wf']:.0f}x less CPU per workflow")
PY
