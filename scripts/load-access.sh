#!/usr/bin/env bash
# Load test of POST /api/v1/homes/{home}/access, as docs/benchmarks.md reports it.
#
#   scripts/load-access.sh [seconds]     (default 10)
#   PACE_MS=1 scripts/load-access.sh      each connection waits 1 ms between
#                                         requests: ~20,000 requests/s instead
#                                         of saturation
#   BACKEND=postgres scripts/load-access.sh
#                                         against a fresh PostgreSQL database on
#                                         POSTGRES_URL (default
#                                         postgres://postgres@127.0.0.1:5432/postgres),
#                                         dropped afterwards
#
# Starts the release binary on a free loopback port with a fresh data
# directory, measures the cold start to /healthz, creates a home of 250 users
# with codes, then runs wrk (1 thread, 32 keep-alive connections) against the
# access endpoint with a device token, rotating through the 250 codes. Every
# request is a real attempt, durably logged before it is answered. Reports
# wrk's figures, the server's resident memory after the load, and checks that
# the activity log holds at least as many attempts as wrk counted responses.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
bin="${KEYWARD_BIN:-target/release/keyward}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$bin" ] || cargo build --release --quiet

work=$(mktemp -d)
backend="${BACKEND:-sqlite}"
server=""
database_args=()
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [ "$backend" = postgres ]; then psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)"; fi
    rm -rf "$work"
}
trap cleanup EXIT
if [ "$backend" = postgres ]; then
    admin_url="${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    bench_db="keyward_bench_$$"
    psql -q "$admin_url" -c "CREATE DATABASE $bench_db"
    database_args=(--database-url "${admin_url%/*}/$bench_db")
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Starts the server in the background and sets $server and $startup_ms, the
# time from spawn to /healthz answering.
start_server() {
    local start_ns ready_ns
    start_ns=$(date +%s%N)
    "$bin" serve --data-dir "$work/data" "${database_args[@]}" --listen "127.0.0.1:$port" --log warn \
        >>"$work/out" 2>>"$work/err" &
    server=$!
    until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.001; done
    ready_ns=$(date +%s%N)
    startup_ms=$(( (ready_ns - start_ns) / 1000000 ))
}

start_server
echo "backend: $backend"
echo "cold start to /healthz: $startup_ms ms (fresh data directory, includes creating it)"

admin=$("$bin" token create --data-dir "$work/data" "${database_args[@]}" --name bench --scope admin | tail -n1)
device=$("$bin" token create --data-dir "$work/data" "${database_args[@]}" --name keypad --scope device | tail -n1)

python3 - "$port" "$admin" "$work" <<'PY'
import json, os, random, sys, urllib.request
port, token, work = sys.argv[1], sys.argv[2], sys.argv[3]
def call(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
home = call("GET", "/api/v1/homes")["items"][0]["id"]
lock = call("POST", f"/api/v1/homes/{home}/locks", {"name": "Front door"})["id"]
rng = random.Random(7)
codes = []
while len(codes) < 250:
    code = "".join(rng.choice("0123456789") for _ in range(6))
    try:
        call("POST", f"/api/v1/homes/{home}/users",
             {"name": f"User {len(codes)}", "code": code, "locks": "all", "panel": {"arm": True, "disarm": True}})
        codes.append(code)
    except urllib.error.HTTPError:
        pass  # a weak or conflicting random code: draw another
bodies = ",\n".join(json.dumps(json.dumps({"code": c, "device": lock, "action": "unlock"})) for c in codes)
with open(f"{work}/access.lua", "w") as f:
    f.write(f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {{ {bodies} }}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/api/v1/homes/{home}/access", nil, bodies[i])
end
""")
    pace = os.environ.get("PACE_MS")
    if pace:
        f.write(f"delay = function() return {int(pace)} end\n")
with open(f"{work}/home", "w") as f:
    f.write(home)

PY
home=$(cat "$work/home")

wrk -t1 -c32 -d"${duration}s" --latency -H "Authorization: Bearer $device" -s "$work/access.lua" \
    "http://127.0.0.1:$port" | tee "$work/wrk"
echo "server resident memory after the load: $(awk '/VmRSS/ {print $2, $3}' /proc/$server/status) (peak $(awk '/VmHWM/ {print $2, $3}' /proc/$server/status))"

responses=$(awk '/requests in/ {print $1}' "$work/wrk")
count="SELECT count(*) FROM activity WHERE kind IN ('arrival','access_denied')"
if [ "$backend" = postgres ]; then
    logged=$(psql -Atq "${admin_url%/*}/$bench_db" -c "$count")
else
    logged=$(sqlite3 "$work/data/keyward.db" "$count")
fi
echo "responses counted by wrk: $responses; attempts in the activity log: $logged"
[ "$logged" -ge "$responses" ] || { echo "FAIL: fewer logged attempts than responses" >&2; exit 1; }


# A restart on the data directory the load just filled (250 users, every
# attempt above in the log): SIGTERM, then the time from spawn to /healthz.
kill -TERM "$server"
wait "$server" || true
start_server
echo "restart to /healthz with $logged logged attempts and 250 users: $startup_ms ms"
echo "server resident memory idle after restart: $(awk '/VmRSS/ {print $2, $3}' /proc/$server/status)"
