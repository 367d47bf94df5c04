#!/usr/bin/env bash
# The test suite, on a fresh machine too: installs what the browser test
# needs (Debian's chromium and chromium-driver) when missing, stops loudly if
# that is impossible (no test is ever skipped), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
    echo "== installing chromium and chromium-driver for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version || { echo "FATAL: chromium is not available" >&2; exit 1; }
/usr/bin/chromedriver --version || { echo "FATAL: chromedriver is not available" >&2; exit 1; }
cargo test --workspace --locked
