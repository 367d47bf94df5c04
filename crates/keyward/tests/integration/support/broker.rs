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
        let port = super::free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
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
