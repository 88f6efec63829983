#!/usr/bin/env python3
"""Fills a stopped flowbox's SQLite database up to N executions for bench/console.sh, by copying
the real ones it finds (workflow WORKFLOW, each with its step runs) in SQL: fast, where starting
100,000 through the API would take minutes.

Each copy gets a new id of the same format (a UUIDv7 whose time is its own created_at; its tail
is a counter, so ids are unique), a created_at spread over the last DAYS days (inserted oldest
first, as they would have been written), and a status:
~2% failed (the step failed for good), ~5% waiting on a retry with wake_at a year away (nothing
wakes during the benchmark), the rest completed; each with its matching step run.
Prints one JSON line: {"copied": ..., "by_status": {...}, "sample_id": <a completed copy>}.

Usage: console-fill.py DB_PATH N [WORKFLOW=seq1] [DAYS=3]
"""
import json
import random
import sqlite3
import sys
import time

db, n = sys.argv[1], int(sys.argv[2])
workflow = sys.argv[3] if len(sys.argv) > 3 else "seq1"
days = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0

c = sqlite3.connect(db)
c.row_factory = sqlite3.Row
c.execute("PRAGMA synchronous = OFF")  # a fixture: rebuilt from scratch if the fill is cut short

templates = [dict(r) for r in c.execute(
    "SELECT * FROM executions WHERE workflow = ? AND status = 'completed' ORDER BY created_at", (workflow,))]
if not templates:
    sys.exit(f"console-fill: no completed `{workflow}` execution to copy in {db}")
runs = {}
for r in c.execute("SELECT * FROM step_runs WHERE execution_id IN (SELECT id FROM executions WHERE workflow = ?) "
                   "ORDER BY execution_id, seq", (workflow,)):
    runs.setdefault(r["execution_id"], []).append(dict(r))
have = c.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
todo = max(0, n - have)

ex_cols = list(templates[0].keys())
run_cols = [d[1] for d in c.execute("PRAGMA table_info(step_runs)")]
ins_ex = f"INSERT INTO executions ({', '.join(ex_cols)}) VALUES ({', '.join('?' * len(ex_cols))})"
ins_run = f"INSERT INTO step_runs ({', '.join(run_cols)}) VALUES ({', '.join('?' * len(run_cols))})"

rng = random.Random(20261130)
now = int(time.time() * 1000)
span = int(days * 86400 * 1000)
far = now + 365 * 86400 * 1000
by_status = {"completed": 0, "failed": 0, "waiting": 0}
sample = None


def new_id(ms, i):
    """A UUIDv7 for `ms`: 48 bits of time, version 7, 12 random bits, variant, 62 bits of tail
    (0xbe, for "bench", then the copy's number)."""
    t = f"{ms:012x}"
    tail = f"{(0xbe << 40) | i:012x}"
    return f"{t[:8]}-{t[8:]}-7{rng.getrandbits(12):03x}-{8 | rng.getrandbits(2):x}{rng.getrandbits(12):03x}-{tail}"


def rows():
    global sample
    # Oldest first, as a real history is written: rowids follow created_at, so that reads which
    # visit rows in created_at order touch the table in its own order, as they would in production.
    times = sorted(now - 1 - rng.randrange(span) for _ in range(todo))
    for i, created in enumerate(times):
        src = templates[i % len(templates)]
        r = rng.random()
        status = "failed" if r < 0.02 else "waiting" if r < 0.07 else "completed"
        by_status[status] += 1
        e = dict(src)
        e["id"] = new_id(created, i)
        e["status"] = status
        e["created_at"] = e["event_at"] = created
        took = rng.randrange(2, 40)  # ms from start to the end of its step
        e["updated_at"] = created + took
        e["lease_owner"] = e["lease_until"] = e["control"] = e["pause_reason"] = None
        step_runs = [dict(s) for s in runs.get(src["id"], [])]
        for s in step_runs:
            s["execution_id"] = e["id"]
            s["started_at"] = created + 1
            s["ended_at"] = created + took
        state = json.loads(src["state"])
        if status == "completed":
            e["ended_at"] = created + took
            if e["started_at"] is not None:
                e["started_at"] = created
        elif status == "failed":
            step = step_runs[-1]["step_id"] if step_runs else "increment"
            err = json.dumps({"code": "step_failed", "step": step,
                              "message": "the step returned a permanent failure: bench: a copied failure"},
                             separators=(",", ":"))
            e["output"], e["error"], e["ended_at"] = None, err, created + took
            if step_runs:
                step_runs[-1].update(status="failed", output=None, error=err)
            state.update(position=step, outputs={}, last_output=None)
        else:  # waiting on the backoff before a second attempt, a year away
            step = step_runs[-1]["step_id"] if step_runs else "increment"
            err = json.dumps({"code": "step_failed_retryable",
                              "message": "the step returned a retryable failure: bench: a copied wait"},
                             separators=(",", ":"))
            e["output"], e["error"], e["ended_at"], e["wake_at"] = None, None, None, far
            if step_runs:
                step_runs[-1].update(status="failed", output=None, error=err)
            state.update(position=step, outputs={}, last_output=None, attempt=2,
                         waiting={"kind": "retry", "step": step})
        e["state"] = json.dumps(state, separators=(",", ":"))
        if status == "completed" and sample is None and i >= todo // 2:
            sample = e["id"]
        yield e, step_runs


t0 = time.time()
batch_ex, batch_run = [], []
with c:
    for e, step_runs in rows():
        batch_ex.append([e[k] for k in ex_cols])
        batch_run.extend([s[k] for k in run_cols] for s in step_runs)
        if len(batch_ex) >= 5000:
            c.executemany(ins_ex, batch_ex)
            c.executemany(ins_run, batch_run)
            batch_ex, batch_run = [], []
    c.executemany(ins_ex, batch_ex)
    c.executemany(ins_run, batch_run)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
if sample is None:
    sample = templates[-1]["id"]
total = c.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
print(json.dumps({"copied": todo, "executions": total, "by_status": by_status,
                  "fill_s": round(time.time() - t0, 1), "sample_id": sample}))
