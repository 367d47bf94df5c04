#!/usr/bin/env bash
# Runs schemathesis (https://schemathesis.io) against a running keyward with
# every check (`--checks all`): the OpenAPI document at /api/v1/openapi.json
# must tell the truth about every operation, status, and request rule. Any
# finding fails the script.
#
# Two runs: one with generated ids (unknown homes, users, locks: the 404s),
# one with the id of a real home, so requests reach the rules behind it.
# schemathesis is installed from scripts/openapi/requirements.txt into a
# virtual environment under target/ (made once, reused).
#
# Usage: scripts/openapi-check.sh [path to the keyward binary] [max examples]
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-target/debug/keyward}"
examples="${2:-50}"
[ -x "$bin" ] || cargo build --locked --bin keyward

venv=target/schemathesis-venv
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1 \
    || ! cmp -s scripts/openapi/requirements.txt "$venv/requirements.txt"; then
    echo "== installing schemathesis into $venv"
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/openapi/requirements.txt
    cp scripts/openapi/requirements.txt "$venv/requirements.txt"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log"; echo "FATAL: keyward did not start" >&2; exit 1; }

token=$("$bin" token create --name schemathesis --scope admin --data-dir "$work/data" | tail -n1)
auth="Authorization: Bearer $token"
export KEYWARD_HOME
KEYWARD_HOME=$(curl -sf -H "$auth" "$base/api/v1/homes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"name": "Front door"}' \
    "$base/api/v1/homes/$KEYWARD_HOME/locks" >/dev/null

st=("$venv/bin/schemathesis" --no-color)
run=(run "$base/api/v1/openapi.json" --checks all --max-examples "$examples" -H "$auth")
echo "== schemathesis: generated ids"
"${st[@]}" "${run[@]}"
echo "== schemathesis: the home $KEYWARD_HOME"
"${st[@]}" --config-file scripts/openapi/home.toml "${run[@]}"
if grep -E "panicked|request failed" "$work/server.log"; then
    echo "FATAL: keyward failed internally under schemathesis (above)" >&2
    exit 1
fi
