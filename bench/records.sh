#!/usr/bin/env bash
# Records and triggers at volume, on the embedded SQLite default (fsync on): import N records in
# one request (each checked against its object type, each leaving its event in the same
# transaction), then how long until a `record_created` trigger has started, and run to the end,
# one execution per record (each runs the `update_record` step, which writes the record again).
# One JSON line of figures.   Usage: bench/records.sh [N=10000]    env: PORT (18281),
#   FLOWBOX_BIN (a flowbox binary to measure instead of building this checkout's)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-10000}; PORT=${PORT:-18281}
source "$root/bench/binary.sh"
run=$(mktemp -d); trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$run"' EXIT
export FLOWBOX_ADMIN_TOKEN=fbx_bench_admin
"$fb" serve --listen "127.0.0.1:$PORT" --db "sqlite://$run/flowbox.db" \
  --cache-dir "$root/target/bench-cache" > "$run/server.log" 2>&1 &
server=$!
for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 - "http://127.0.0.1:$PORT" "$N" "$root/target/wasm/update_record.wasm" "$server" "$(getconf CLK_TCK)" <<'PY'
import json, sys, time, urllib.request
url, n, wasm, pid, tck = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
def call(method, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method=method,
        headers={"authorization": "Bearer fbx_bench_admin", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck
call("PUT", "/v1/steps/update_record?grant=records", raw=open(wasm, "rb").read())
call("PUT", "/v1/teams/bench", body={"members": ["bench"]})
call("POST", "/v1/objects", raw=b"name: deal\nfields:\n  amount: { type: number }\n  owner: { type: owner }\n")
call("POST", "/v1/workflows", raw=b"""name: on-create
scope: { object: deal }
triggers:
  - record_created: {}
steps:
  - { id: assign, action: update_record, input: { fields: { owner: bench } } }
""")
records = [{"id": f"d{i:07d}", "fields": {"amount": i}} for i in range(n)]
c0, t0 = cpu(), time.time()
out = call("POST", "/v1/records/deal/import", {"records": records})
t1 = time.time()
assert out["created"] == n, out
def unfinished():
    return sum(len(call("GET", f"/v1/executions?workflow=on-create&status={s}&limit=1")["executions"])
               for s in ("queued", "running", "waiting"))
last = records[-1]["id"]
while True:
    ev = call("GET", f"/v1/records/deal/{last}/events?limit=5")["events"]
    if any(e["kind"] == "created" and e["evaluated_at"] for e in ev) and unfinished() == 0:
        break
    time.sleep(0.05)
t2, c2 = time.time(), cpu()
done, cursor = 0, None
while True:
    page = call("GET", "/v1/executions?workflow=on-create&status=completed&limit=1000" + (f"&cursor={cursor}" if cursor else ""))
    done += len(page["executions"])
    cursor = page["next_cursor"]
    if not cursor:
        break
owner = call("GET", f"/v1/records/deal/{last}")["fields"].get("owner")
print("RESULT " + json.dumps({"records": n, "import_s": round(t1 - t0, 2), "records_per_s": round(n / (t1 - t0)),
    "trigger_to_done_s": round(t2 - t1, 2), "executions_completed": done, "executions_per_s": round(done / (t2 - t1)),
    "engine_cpu_ms_per_record": round((c2 - c0) * 1000 / n, 3), "last_record_owner": owner}))
PY
