//! The real Z-Wave JS stack for a test: zwave-js's `mock-server` with the
//! simulated keypad locks of `sim/zwave-js/locks.cjs`, and `zwave-server`
//! (the real driver and WebSocket server) in front of it, each on free ports,
//! with a driver cache of the test's own. The locks' control port lets a test
//! type at a keypad, program a code at the lock, wipe it or take it off the
//! network; `codes` reads what the lock's memory really holds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn sim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim/zwave-js")
}

use super::free_port;

fn tool(name: &str) -> PathBuf {
    let path = sim_dir().join("node_modules/.bin").join(name);
    assert!(path.exists(), "{} is missing: run `npm ci` in sim/zwave-js (scripts/test.sh does)", path.display());
    path
}

pub struct ZwaveSim {
    mock: Child,
    server: Option<Child>,
    dir: tempfile::TempDir,
    mock_port: u16,
    control_port: u16,
    server_port: u16,
    http: reqwest::Client,
}

/// One simulated lock: its node id, how many code slots it has, whether
/// it hides codes when they are read ("****"), and whether it keeps its own
/// wrong-code limit in Configuration CC parameters (as Yale locks do).
#[derive(Default)]
pub struct SimLock {
    pub node_id: u32,
    pub slots: u16,
    pub masked: bool,
    pub wrong_code_limit: bool,
}

impl ZwaveSim {
    pub async fn start(locks: &[SimLock]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mock_port, control_port, server_port) = (free_port(), free_port(), free_port());
        let locks_json = Value::Array(
            locks
                .iter()
                .map(|l| {
                    json!({"id": l.node_id, "slots": l.slots, "masked": l.masked, "wrong_code_limit": l.wrong_code_limit})
                })
                .collect(),
        );
        let mock_log = std::fs::File::create(dir.path().join("mock.log")).expect("log");
        let mock = Command::new(tool("mock-server"))
            .args(["--port", &mock_port.to_string(), "--config"])
            .arg(sim_dir().join("locks.cjs"))
            .env("KEYWARD_SIM_LOCKS", locks_json.to_string())
            .env("KEYWARD_SIM_CONTROL_PORT", control_port.to_string())
            .stdout(mock_log.try_clone().expect("log"))
            .stderr(mock_log)
            .spawn()
            .expect("mock-server starts");
        let mut sim =
            Self { mock, server: None, dir, mock_port, control_port, server_port, http: reqwest::Client::new() };
        sim.wait_for_log("mock.log", "control port").await;
        sim.start_server().await;
        sim
    }

    /// The URL keyward connects to.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.server_port)
    }

    async fn start_server(&mut self) {
        let log_path = self.dir.path().join("server.log");
        let before = std::fs::read_to_string(&log_path).unwrap_or_default().matches("All nodes are ready").count();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log");
        let server = Command::new(tool("zwave-server"))
            .arg(format!("tcp://127.0.0.1:{}", self.mock_port))
            .arg("--config")
            .arg(sim_dir().join("server.cjs"))
            .args(["--port", &self.server_port.to_string(), "--disable-dns-sd"])
            .env("KEYWARD_SIM_CACHE_DIR", self.dir.path().join("cache"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("zwave-server starts");
        self.server = Some(server);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.matches("All nodes are ready").count() > before && text.contains("listening on") {
                return;
            }
            if Instant::now() >= deadline {
                let mock = std::fs::read_to_string(self.dir.path().join("mock.log")).unwrap_or_default();
                panic!("zwave-server did not get ready:\n{text}\nmock-server said:\n{mock}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops zwave-server (as a crash or an update would).
    pub fn stop_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts zwave-server again; with `wipe_cache`, as a reinstalled
    /// Z-Wave JS (its first interview then clears every lock's codes).
    pub async fn restart_server(&mut self, wipe_cache: bool) {
        self.stop_server();
        if wipe_cache {
            let _ = std::fs::remove_dir_all(self.dir.path().join("cache"));
        }
        self.start_server().await;
    }

    async fn wait_for_log(&self, file: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "{file} never said {needle:?}:\n{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    async fn control(&self, method: reqwest::Method, node_id: u32, command: &str, body: Value) -> Value {
        let url = format!("http://127.0.0.1:{}/nodes/{node_id}/{command}", self.control_port);
        let response = self.http.request(method, url).json(&body).send().await.expect("the control port answers");
        assert!(response.status().is_success(), "control {command}: {}", response.text().await.unwrap_or_default());
        response.json().await.expect("JSON")
    }

    /// What the lock's memory holds: slot → code.
    pub async fn codes(&self, node_id: u32) -> std::collections::BTreeMap<u16, String> {
        let answer = self.control(reqwest::Method::GET, node_id, "codes", json!({})).await;
        serde_json::from_value::<std::collections::BTreeMap<String, String>>(answer)
            .expect("slot map")
            .into_iter()
            .map(|(slot, code)| (slot.parse().expect("slot number"), code))
            .collect()
    }

    /// The lock's own wrong-code limit as it holds it: (attempts, seconds),
    /// `None` each until set.
    pub async fn keypad_settings(&self, node_id: u32) -> (Option<u64>, Option<u64>) {
        let answer = self.control(reqwest::Method::GET, node_id, "settings", json!({})).await;
        (answer["wrong_code_limit"].as_u64(), answer["wrong_code_lockout_time"].as_u64())
    }

    /// Types a code at the keypad; answers the slot the lock matched.
    pub async fn type_code(&self, node_id: u32, code: &str) -> Option<u16> {
        let answer = self.control(reqwest::Method::POST, node_id, "keypad", json!({"code": code})).await;
        answer["slot"].as_u64().map(|s| s as u16)
    }

    pub async fn program_at_lock(&self, node_id: u32, slot: u16, code: &str) {
        self.control(reqwest::Method::POST, node_id, "program", json!({"slot": slot, "code": code})).await;
    }

    /// A code programmed at a lock that sends no report of it.
    pub async fn program_at_lock_silently(&self, node_id: u32, slot: u16, code: &str) {
        let body = json!({"slot": slot, "code": code, "silent": true});
        self.control(reqwest::Method::POST, node_id, "program", body).await;
    }

    pub async fn wipe(&self, node_id: u32) {
        self.control(reqwest::Method::POST, node_id, "wipe", json!({})).await;
    }

    pub async fn set_online(&self, node_id: u32, online: bool) {
        let command = if online { "online" } else { "offline" };
        self.control(reqwest::Method::POST, node_id, command, json!({})).await;
    }

    pub async fn operate_by_hand(&self, node_id: u32, unlock: bool) {
        let action = if unlock { "unlock" } else { "lock" };
        self.control(reqwest::Method::POST, node_id, "manual", json!({"action": action})).await;
    }

    pub async fn set_battery(&self, node_id: u32, level: u8) {
        self.control(reqwest::Method::POST, node_id, "battery", json!({"level": level})).await;
    }

    /// Waits until the lock's memory is as expected.
    pub async fn wait_for_codes(&self, node_id: u32, expected: &[(u16, &str)], within: Duration) {
        let want: std::collections::BTreeMap<u16, String> =
            expected.iter().map(|(slot, code)| (*slot, (*code).to_owned())).collect();
        let deadline = Instant::now() + within;
        loop {
            let codes = self.codes(node_id).await;
            if codes == want {
                return;
            }
            assert!(Instant::now() < deadline, "node {node_id} holds {codes:?}, expected {want:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ZwaveSim {
    fn drop(&mut self) {
        self.stop_server();
        let _ = self.mock.kill();
        let _ = self.mock.wait();
    }
}
