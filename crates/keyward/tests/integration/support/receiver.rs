//! The receivers of keyward's alerts (scripts/receivers/, in the venv
//! scripts/test.sh makes), each a process reporting every request as a JSON
//! line, able to be down for its first requests: an HTTP receiver verifying
//! webhooks with the Standard Webhooks reference library, an SMTP server
//! (aiosmtpd), and one speaking ntfy's publish API.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Receiver {
    child: Child,
    pub lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// A webhook receiver on `port`, verifying with `secret`, answering 503
    /// to its first `fail_first` requests.
    pub fn start(port: u16, secret: &str, fail_first: u32) -> Self {
        Self::script("webhook_receiver.py", &[&port.to_string(), secret, &fail_first.to_string()])
    }

    /// A webhook receiver that takes `delay_ms` to answer each request.
    pub fn slow(port: u16, secret: &str, delay_ms: u32) -> Self {
        Self::script("webhook_receiver.py", &[&port.to_string(), secret, "0", &delay_ms.to_string()])
    }

    /// An SMTP server on `port`, requiring `login` (user, password) if
    /// given, refusing its first `fail_first` messages with 451.
    pub fn smtp(port: u16, login: Option<(&str, &str)>, fail_first: u32) -> Self {
        let (user, password) = login.unwrap_or(("-", "-"));
        Self::script("smtp_receiver.py", &[&port.to_string(), user, password, &fail_first.to_string()])
    }

    /// An ntfy server on `port`, requiring `token` if given, answering 503
    /// to its first `fail_first` requests.
    pub fn ntfy(port: u16, token: Option<&str>, fail_first: u32) -> Self {
        Self::script("ntfy_receiver.py", &[&port.to_string(), token.unwrap_or("-"), &fail_first.to_string()])
    }

    fn script(name: &str, args: &[&str]) -> Self {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join("target/receivers-venv/bin/python");
        assert!(python.exists(), "{} is missing: scripts/test.sh makes it", python.display());
        let mut child = Command::new(python)
            .arg(root.join("scripts/receivers").join(name))
            .args(args)
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

    /// What the receiver took (a 2xx answer, or SMTP's 250).
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        let taken = |l: &&serde_json::Value| l["answered"].as_u64().is_some_and(|s| (200..300).contains(&s));
        self.lines.lock().expect("log").iter().filter(taken).cloned().collect()
    }

    /// Waits until the receiver has taken `count` deliveries; returns them.
    pub async fn wait_for_accepted(&self, count: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(
                Instant::now() < deadline,
                "took {} of {count}: {:?}",
                accepted.len(),
                self.lines.lock().expect("log")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
