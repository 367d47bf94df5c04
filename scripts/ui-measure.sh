#!/usr/bin/env bash
# Server time of the Users page for a home of 250 users, and the weight of
# each page (its HTML and every file it loads, uncompressed), as
# docs/benchmarks.md reports.
#
#   scripts/ui-measure.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${KEYWARD_BIN:-target/release/keyward}"
[ -x "$bin" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --log warn >"$work/out" 2>"$work/err" &
server=$!
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.01; done
base="http://127.0.0.1:$port"
admin=$("$bin" token create --data-dir "$work/data" --name bench --scope admin | tail -n1)
setup_code=$(sed -n 's/.*web UI is //p' "$work/out")

python3 - "$port" "$admin" <<'PY'
import json, random, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
def call(method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(), headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
home = call("GET", "/api/v1/homes")["items"][0]["id"]
locks = [call("POST", f"/api/v1/homes/{home}/locks", {"name": n})["id"] for n in ["Front door", "Back door", "Garage"]]
rng = random.Random(7)
made = 0
while made < 250:
    body = {"name": f"User {made}", "code": "".join(rng.choice("0123456789") for _ in range(6)),
            "panel": {"disarm": True}, "locks": locks[: 1 + made % 3],
            "schedule": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}]},
            "notify": {"arrive": made % 2 == 0}}
    if made % 5 == 0:
        body.update({"valid_from": "2026-12-05T00:00:00Z", "valid_until": "2026-12-12T00:00:00Z", "max_uses": 10})
    try:
        call("POST", f"/api/v1/homes/{home}/users", body)
        made += 1
    except urllib.error.HTTPError:
        pass
PY

jar="$work/cookies"
csrf=$(curl -s -c "$jar" "$base/setup" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -n1)
curl -s -b "$jar" -c "$jar" -o /dev/null "$base/setup" --data-urlencode "csrf=$csrf" \
    --data-urlencode "setup_code=$setup_code" --data-urlencode "email=owner@example.org" \
    --data-urlencode "password=tangerine kite 42"

echo "== Users page, 250 users: time to first byte over loopback, 200 requests"
for _ in $(seq 200); do curl -s -b "$jar" -o /dev/null -w '%{time_starttransfer}\n' "$base/users"; done \
    | sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p99 %.2f ms, max %.2f ms\n", a[int(NR/2)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'

echo "== page weights: the HTML and every file it loads (stylesheet, scripts, icons), uncompressed, bytes"
weigh() {
    local html="$1" total assets
    total=$(wc -c <"$html")
    # Every /static/ file the page names, once (the icon sprite's #fragments aside).
    assets=$(grep -o '\(src\|href\)="/static/[^"#]*' "$html" | sed 's/.*="//' | sort -u)
    for asset in $assets; do total=$((total + $(curl -s "$base$asset" | wc -c))); done
    echo "$total ($(echo $assets | wc -w) files)"
}
for page in /users /users/new /activity /locks /alerts /settings; do
    curl -s -b "$jar" "$base$page" >"$work/page.html"
    echo "$page: $(weigh "$work/page.html")"
done
user=$(curl -s -b "$jar" "$base/users" | grep -o 'href="/users/[0-9a-z]\{24\}"' | head -n1 | sed 's/href="//;s/"//')
curl -s -b "$jar" "$base$user" >"$work/page.html"
echo "a person's page ($user): $(weigh "$work/page.html")"
curl -s "$base/login" >"$work/page.html"
echo "/login (signed out): $(weigh "$work/page.html")"
