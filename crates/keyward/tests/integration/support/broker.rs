//! A Mosquitto of the test's own (the machine's binary), on a free port and
//! without persistence, for tests that restart the broker: a restart then
//! forgets every session and retained message, as a reinstalled broker does.

use std::process::{Child, Command};

pub struct OwnBroker {
    pub port: u16,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

impl OwnBroker {
    pub fn start() -> Self {
        Self::configured(tempfile::tempdir().expect("tempdir"), "allow_anonymous true\n")
    }

    /// A broker that sends small messages at once (`set_tcp_nodelay`),
    /// as an installer tuning Mosquitto for alarm latency would set it.
    pub fn without_nagle() -> Self {
        Self::configured(tempfile::tempdir().expect("tempdir"), "allow_anonymous true\nset_tcp_nodelay true\n")
    }

    /// A broker that takes only this user with this password.
    pub fn with_password(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("passwords");
        let made = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&file)
            .args([user, password])
            .output()
            .expect("mosquitto_passwd (installed with mosquitto)");
        assert!(made.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&made.stderr));
        let access = format!("allow_anonymous false\npassword_file {}\n", file.display());
        Self::configured(dir, &access)
    }

    fn configured(dir: tempfile::TempDir, access: &str) -> Self {
        let port = super::free_port();
        let config = format!("listener {port} 127.0.0.1\n{access}persistence false\n");
        std::fs::write(dir.path().join("mosquitto.conf"), config).expect("config");
        let mut broker = Self { port, dir, process: None };
        broker.run();
        broker
    }

    pub fn run(&mut self) {
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto is installed (scripts/test.sh sees to it)");
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new(binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn();
        self.process = Some(child.expect("mosquitto starts"));
        // Listening within a moment; clients retry anyway.
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
