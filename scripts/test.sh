#!/usr/bin/env bash
# The test suite, on a fresh machine too. It needs, and sees to:
# - Debian's chromium and chromium-driver for the browser test (installed
#   when missing);
# - PostgreSQL at 127.0.0.1:5432 (or KEYWARD_TEST_POSTGRES_URL), because every
#   storage and integration test runs on SQLite and on PostgreSQL (started
#   when it is installed but not running).
# - Mosquitto at 127.0.0.1:1883, and its binary (the MQTT tests also run a
#   broker of their own to restart it) (started when installed but not
#   running, installed from Debian when missing);
# - Node.js and npm, for the real Z-Wave JS driver and server the lock tests
#   run against (sim/zwave-js: versions pinned in its package-lock.json,
#   installed with `npm ci` when missing or changed).
# - axe-core (scripts/axe, pinned in its package-lock.json), which the browser
#   tests inject into every page to audit its accessibility;
# - Python 3 with venv and pip, for the receivers the notification tests
#   verify with (scripts/receivers/requirements.txt, into target/receivers-venv).
# It stops loudly when any of them is impossible: no test is ever skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
    echo "== installing chromium and chromium-driver for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version || { echo "FATAL: chromium is not available" >&2; exit 1; }
/usr/bin/chromedriver --version || { echo "FATAL: chromedriver is not available" >&2; exit 1; }

postgres_url="${KEYWARD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -q -d "$postgres_url" 2>/dev/null && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "== starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -d "$postgres_url" && break; sleep 1; done
fi
pg_isready -d "$postgres_url" || {
    echo "FATAL: PostgreSQL is not reachable at $postgres_url; the storage and integration tests run on it too" >&2
    exit 1
}

if ! [ -x /usr/sbin/mosquitto ] && ! command -v mosquitto >/dev/null; then
    echo "== installing mosquitto for the MQTT tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi
command -v openssl >/dev/null || {
    echo "== installing openssl (the MQTT TLS test makes its certificates with it)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}
broker_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if ! broker_up; then
    echo "== starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf 2>/dev/null || /usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
    for _ in $(seq 1 20); do broker_up && break; sleep 0.5; done
fi
broker_up || {
    echo "FATAL: Mosquitto is not reachable at 127.0.0.1:1883; the MQTT tests run against it" >&2
    exit 1
}

command -v node >/dev/null && command -v npm >/dev/null || {
    echo "FATAL: Node.js and npm are needed for the Z-Wave JS tests (apt-get install nodejs npm)" >&2
    exit 1
}
if ! cmp -s sim/zwave-js/package-lock.json sim/zwave-js/node_modules/.installed-from-lock; then
    echo "== installing the Z-Wave JS driver and server (npm ci)"
    (cd sim/zwave-js && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-from-lock)
fi
[ -x sim/zwave-js/node_modules/.bin/zwave-server ] && [ -x sim/zwave-js/node_modules/.bin/mock-server ] || {
    echo "FATAL: npm ci in sim/zwave-js did not install zwave-server and mock-server" >&2
    exit 1
}

if ! cmp -s scripts/axe/package-lock.json scripts/axe/node_modules/.installed-from-lock; then
    echo "== installing axe-core for the accessibility audits (npm ci)"
    (cd scripts/axe && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.installed-from-lock)
fi
[ -f scripts/axe/node_modules/axe-core/axe.min.js ] || {
    echo "FATAL: npm ci in scripts/axe did not install axe-core" >&2
    exit 1
}

# The receivers the notification tests verify keyward's deliveries with
# (the Standard Webhooks reference library, an SMTP server), in a venv under
# target/, made again when scripts/receivers/requirements.txt changes.
venv=target/receivers-venv
if ! cmp -s scripts/receivers/requirements.txt "$venv/requirements.txt" || ! [ -x "$venv/bin/python" ]; then
    echo "== installing the test receivers into $venv (pip)"
    python3 -m venv --clear "$venv" || {
        echo "FATAL: python3 -m venv failed (apt-get install python3-venv)" >&2
        exit 1
    }
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/receivers/requirements.txt
    cp scripts/receivers/requirements.txt "$venv/requirements.txt"
fi

# The end-to-end tests mostly wait (for a lock's answer, a broker, a
# backoff): four run at a time, also on two cores (KEYWARD_TEST_THREADS).
cargo test --workspace --locked -- --test-threads="${KEYWARD_TEST_THREADS:-4}"
