#!/usr/bin/env bash
# What traces cost: seq_N (bench/seq.sh) with traces off, and exported over OTLP to a sink on
# loopback (bench/otlp-sink.py) sampled at 0.01 and at 1.0, in alternating rounds on the same
# binary. One `RESULT {json}` line per run, with `traces` saying which.
# Usage: bench/traces.sh [N=3] [SECONDS=15] [ROUNDS=3]    env: FLOWBOX_BIN, SINK_PORT (14318)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-3}; SECS=${2:-15}; ROUNDS=${3:-3}; SINK_PORT=${SINK_PORT:-14318}
source "$root/bench/binary.sh"
export FLOWBOX_BIN="$fb"
python3 "$root/bench/otlp-sink.py" "$SINK_PORT" & sink=$!
trap 'kill $sink 2>/dev/null; wait $sink 2>/dev/null' EXIT
for _ in $(seq "$ROUNDS"); do
  for traces in off 0.01 1.0; do
    if [ "$traces" = off ]; then
      line=$(env -u OTEL_EXPORTER_OTLP_ENDPOINT bash "$root/bench/seq.sh" "$N" "$SECS" 2>/dev/null | grep '^RESULT ')
    else
      line=$(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" OTEL_SERVICE_NAME=flowbox-bench \
        OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG="$traces" \
        bash "$root/bench/seq.sh" "$N" "$SECS" 2>/dev/null | grep '^RESULT ')
    fi
    python3 -c 'import json, sys; r = json.loads(sys.argv[1][7:]); r["traces"] = sys.argv[2]; print("RESULT", json.dumps(r))' "$line" "$traces"
  done
done
