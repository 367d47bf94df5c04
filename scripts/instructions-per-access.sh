#!/usr/bin/env bash
# Instructions per access request, counted by callgrind: repeatable for the
# same binary and inputs, whatever else the machine is doing, so two builds
# can be compared where wall-clock load tests are too noisy.
#
#   scripts/instructions-per-access.sh [requests] [binary]   (default 2000, target/release/keyward)
#
# Starts the binary under valgrind with instrumentation off, sets up a home
# of 50 users on SQLite, sends 200 warm-up attempts, then counts instructions
# over `requests` sequential attempts on one keep-alive connection, each
# committed on its own, in two parts: the request side (the async workers:
# HTTP, authentication, the decision, queueing the record) and the storage
# threads (the writer's commit and the checkpointer). The storage side varies
# by a few percent from run to run with SQLite's WAL-index work, which depends
# on when the checkpointer restarts the WAL; the request side is stable.
# Needs valgrind (Debian package) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
bin="${2:-target/release/keyward}"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
[ -x "$bin" ] || cargo build --release --quiet

work=$(mktemp -d)
vg=""
trap 'kill "$vg" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file="$work/callgrind.out" \
    "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --log warn >/dev/null 2>"$work/valgrind" &
vg=$!
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.2; done
admin=$("$bin" token create --data-dir "$work/data" --name bench --scope admin | tail -n1)
device=$("$bin" token create --data-dir "$work/data" --name keypad --scope device | tail -n1)

python3 - "$port" "$admin" "$device" "$n" <<'PY'
import http.client, json, random, subprocess, sys
port, admin, device, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, body, token):
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()
home = json.loads(call("GET", "/api/v1/homes", None, admin)[1])["items"][0]["id"]
lock = json.loads(call("POST", f"/api/v1/homes/{home}/locks", {"name": "Front door"}, admin)[1])["id"]
rng, codes = random.Random(7), []
while len(codes) < 50:
    code = "".join(rng.choice("0123456789") for _ in range(6))
    if call("POST", f"/api/v1/homes/{home}/users", {"name": f"U{len(codes)}", "code": code, "locks": "all"}, admin)[0] == 201:
        codes.append(code)
def attempt(i):
    status, _ = call("POST", f"/api/v1/homes/{home}/access", {"code": codes[i % 50], "device": lock, "action": "unlock"}, device)
    assert status == 200, status
for i in range(200):
    attempt(i)
subprocess.run(["callgrind_control", "-i", "on"], check=True, capture_output=True)
for i in range(n):
    attempt(i)
subprocess.run(["callgrind_control", "-i", "off"], check=True, capture_output=True)
PY
kill -TERM "$vg"
wait "$vg" || true
request=0
storage=0
# One file per thread (callgrind.out-NN).
for part in "$work"/callgrind.out-*; do
    count=$(awk '/^totals:/ {print $2}' "$part")
    if grep -q "writer::run\|checkpoint_until_closed\|writer::in_savepoint\|writer::checkpoint" "$part"; then
        storage=$((storage + ${count:-0}))
    else
        request=$((request + ${count:-0}))
    fi
done
echo "per attempt: $((request / n)) instructions on the request side, $((storage / n)) on the storage threads," \
    "$(((request + storage) / n)) in all ($n attempts, $bin)"
