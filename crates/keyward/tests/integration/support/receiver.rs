//! An HTTP receiver for keyward's webhooks (scripts/receivers/webhook_receiver.py,
//! in the venv scripts/test.sh makes): it verifies every delivery with the
//! Standard Webhooks reference library, can be down for its first requests,
//! and reports each request as a JSON line.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Receiver {
    child: Child,
    pub lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// Listening on `port`, verifying with `secret`, answering 503 to its
    /// first `fail_first` requests.
    pub fn start(port: u16, secret: &str, fail_first: u32) -> Self {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join("target/receivers-venv/bin/python");
        assert!(python.exists(), "{} is missing: scripts/test.sh makes it", python.display());
        let mut child = Command::new(python)
            .arg(root.join("scripts/receivers/webhook_receiver.py"))
            .args([port.to_string(), secret.to_owned(), fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let log = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    log.lock().expect("log").push(value);
                }
            }
        });
        let receiver = Self { child, lines };
        receiver.wait_for("listening", |l| l.get("listening").is_some());
        receiver
    }

    pub fn wait_for(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.lines.lock().expect("log").iter().any(&done) {
            assert!(Instant::now() < deadline, "the receiver never saw {what}: {:?}", self.lines.lock().expect("log"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.lines.lock().expect("log").iter().filter(|l| l["answered"] == 204).cloned().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
