#!/usr/bin/env bash
# The demo: builds the step components and flowbox, starts the server on the embedded SQLite
# default, loads the example workflows, runs them, and prints each execution with its step
# history: a record event running a Python step and the built-in actions (owner, activity,
# notification, email to a local SMTP server). Then hostile steps, each stopped with its own error.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build-guests.sh
echo "building flowbox..."
cargo build --quiet -p flowbox
fb="$root/target/debug/flowbox"
w="$root/target/wasm"
data="$root/target/demo"
rm -rf "$data"
port=${DEMO_PORT:-18181}
smtp_port=${DEMO_SMTP_PORT:-18125}
# A local SMTP server (Debian's python3-aiosmtpd) receives the demo's email into a maildir.
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-aiosmtpd; } >&2
fi
export FLOWBOX_SERVER="http://127.0.0.1:$port"
# The bootstrap admin token (created on the server's first start) and the CLI's token.
export FLOWBOX_ADMIN_TOKEN=fbx_demo_admin FLOWBOX_TOKEN=fbx_demo_admin

mkdir -p "$data"
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$data/mail" &
smtp=$!
"$fb" serve --listen "127.0.0.1:$port" --data-dir "$data" --smtp-url "smtp://127.0.0.1:$smtp_port" \
  --smtp-from "flowbox demo <demo@flowbox.localhost>" > "$data.log" 2>&1 &
server=$!
trap 'kill $server $smtp 2>/dev/null; wait $server $smtp 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "$FLOWBOX_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$FLOWBOX_SERVER/healthz" >/dev/null || { echo "the server did not start:"; cat "$data.log"; exit 1; }
say() { printf '\n== %s\n' "$*"; }

say "step modules and workflows"
"$fb" step upload increment "$w/increment.wasm"
"$fb" step upload fail "$w/fail.wasm"
"$fb" step upload update_record "$w/update_record.wasm" --grant records
"$fb" step upload assign_owner "$w/assign_owner.wasm" --grant records --grant teams
"$fb" step upload schedule_activity "$w/schedule_activity.wasm" --grant records
"$fb" step upload notify_team "$w/notify_team.wasm" --grant teams
"$fb" step upload send_email "$w/send_email.wasm" --grant email
echo "uploading the Python and JavaScript runners (compiled once, then cached)..."
"$fb" step upload python "$w/python.wasm" --grant log --grant variables --grant records --grant http --grant clock
"$fb" step upload javascript "$w/javascript.wasm" --grant log --grant variables --grant records --grant http --grant clock
# Everything below goes through the CLI; `--json` where the demo picks a value out.
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }
echo '{"name": "success", "members": ["ana", "ben"]}' | "$fb" team apply - >/dev/null
"$fb" object apply examples/objects/customer.yaml >/dev/null
for f in examples/*.yaml; do "$fb" workflow apply "$f"; done
"$fb" record create customer --id acme --fields '{"name": "ACME", "seats": 120, "stage": "trial", "email": "it@acme.example"}' >/dev/null
"$fb" record create customer --id tiny --fields '{"name": "Tiny", "seats": 3, "stage": "trial", "email": "hi@tiny.example"}' >/dev/null

say "intake: started by each customer's creation; Python and JavaScript steps and the built-in actions"
for _ in $(seq 100); do
  n=$("$fb" execution list --workflow intake --status completed --json | field 'len(v["executions"])')
  [ "$n" = 2 ] && break; sleep 0.2
done
id=$("$fb" execution list --workflow intake --status completed --json | field 'v["executions"][0]["id"]')
"$fb" execution show "$id"
owner() { "$fb" record get customer "$1" --json | field 'v["fields"]["owner"]'; }
echo "owners: acme $(owner acme), tiny $(owner tiny) (round-robin)"
echo "acme's activities:"
"$fb" activity list customer acme
echo "the success team's notifications:"
"$fb" team notifications success
echo "email received by the SMTP server:"
for m in "$data"/mail/new/*; do grep -E '^(To|Subject|Message-ID):' "$m" | sed 's/^/  /'; done

say "seq3: three action steps"
"$fb" run seq3 --input '{"n": 0}'
say "onboarding on a big account: condition (then), a 2 s delay (a row, not a sleeping task), an action"
"$fb" run onboarding --record acme
say "onboarding on a small account: the condition ends it"
"$fb" run onboarding --record tiny
say "flaky: a retryable failure, retried with backoff"
"$fb" run flaky

say "a record event starts a workflow: acme's stage becomes active"
"$fb" record patch customer acme --fields '{"stage": "active"}'
for _ in $(seq 50); do
  id=$("$fb" execution list --workflow activation --status completed --json | field 'v["executions"][0]["id"] if v["executions"] else ""')
  [ -n "$id" ] && break; sleep 0.1
done
"$fb" execution show "$id"
echo "acme now:"
"$fb" record get customer acme

say "hostile steps in the sandbox"
show() { printf '$ flowbox %s\n' "$*"; "$fb" "$@" || true; }
show step run "$w/spin.wasm" --fuel 100000000
show step run "$w/spin.wasm" --no-fuel --timeout-ms 250
show step run "$w/memory_bomb.wasm" --memory-mb 32
show step run "$w/panic.wasm" --input '{"what": "the demo"}'
show step run "$w/huge_output.wasm"
show step run "$w/http_call.wasm"

say "the web console"
echo "open $FLOWBOX_SERVER/ui/ and sign in with the token $FLOWBOX_ADMIN_TOKEN"
echo "(the demo's workflows, executions, records and step modules are in it)"
# At a terminal the server stays up for the console until Ctrl-C; in a script it stops here.
if [ -t 0 ] && [ -t 1 ] && [ -z "${DEMO_NO_WAIT:-}" ]; then
  echo "press Ctrl-C to stop the server"
  wait $server || true
fi
