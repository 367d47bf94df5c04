//! Test support: the real keyward binary on a free port with a temporary
//! data directory, its CLI, and a small JSON client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    output: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[], &[])
    }

    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("KEYWARD_TIMEZONE")
            .env("KEYWARD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the keyward binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let output = Arc::clone(&output);
            let found = found.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let _ = found.send(addr.split_whitespace().next().unwrap_or_default().to_owned());
                    }
                    output.lock().expect("lock").push_str(&(line + "\n"));
                }
            });
        }
        let addr = match address.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("keyward did not start; it printed:\n{}", output.lock().expect("lock"));
            }
        };
        Self { child, base: format!("http://{addr}"), data_dir: data_dir.to_owned(), output }
    }

    /// Waits (up to 5 s) until the server has printed `needle`; returns all
    /// it printed. (Its two streams are read by two threads, so a line
    /// printed before "listening on" may still be on its way.)
    pub fn wait_for_output(&self, needle: &str) -> String {
        for _ in 0..500 {
            let output = self.output();
            if output.contains(needle) {
                return output;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server never printed {needle:?}:\n{}", self.output());
    }

    /// The one-time setup code printed on a first start.
    pub fn setup_code(&self) -> String {
        let output = self.wait_for_output("web UI is ");
        output.lines().find_map(|l| l.split("web UI is ").nth(1)).map(|c| c.trim().to_owned()).unwrap_or_default()
    }

    /// Everything the server printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }

    pub fn api(&self, token: &str) -> Api {
        Api { client: reqwest::Client::new(), base: self.base.clone(), token: Some(token.to_owned()) }
    }

    pub fn anonymous(&self) -> Api {
        Api { client: reqwest::Client::new(), base: self.base.clone(), token: None }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_9(mut self) -> String {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
        self.output()
    }

    /// SIGTERM, then waits for a clean exit; returns its status and output.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.output());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        panic!("keyward did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI; returns (success, stdout, stderr).
pub fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("the CLI runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

pub fn token(data_dir: &Path, scope: &str, home: Option<&str>) -> String {
    let dir = data_dir.to_str().expect("utf-8 path");
    let mut args = vec!["token", "create", "--data-dir", dir, "--name", scope, "--scope", scope];
    if let Some(home) = home {
        args.extend(["--home", home]);
    }
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "token create failed: {stderr}");
    stdout.lines().last().expect("a last line").to_owned()
}

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected reply: {}", self.text);
        self.body
    }

    /// An error reply: status, machine-readable code, and a human message.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        assert_eq!((self.status.as_u16(), self.error_code()), (status, code), "unexpected reply: {}", self.text);
        let message = self.body["error"]["message"].as_str().unwrap_or("");
        assert!(!message.is_empty(), "errors carry a message: {}", self.text);
        self.body
    }
}

impl Api {
    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.to_owned()), ..self.clone() }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let request = self.client.request(method, format!("{}{}", self.base, path));
        self.finish(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    pub async fn raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Reply {
        self.finish(self.client.request(method, format!("{}{}", self.base, path)).body(body)).await
    }

    async fn finish(&self, mut request: reqwest::RequestBuilder) -> Reply {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        Reply { status, body, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// The first home's id.
    pub async fn home_id(&self) -> String {
        let homes = self.get("/api/v1/homes").await.expect(200);
        homes["items"][0]["id"].as_str().expect("a home").to_owned()
    }

    pub async fn create_lock(&self, home: &str, name: &str) -> String {
        let lock = self.post(&format!("/api/v1/homes/{home}/locks"), json!({"name": name})).await.expect(201);
        lock["id"].as_str().expect("an id").to_owned()
    }

    pub async fn create_user(&self, home: &str, body: Value) -> String {
        let user = self.post(&format!("/api/v1/homes/{home}/users"), body).await.expect(201);
        user["id"].as_str().expect("an id").to_owned()
    }

    pub async fn access(&self, home: &str, code: &str, device: &str, action: &str) -> Reply {
        self.post(&format!("/api/v1/homes/{home}/access"), json!({"code": code, "device": device, "action": action}))
            .await
    }
}

/// A fresh data directory, with a server and an admin token.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub server: Server,
    pub admin: Api,
    pub home: String,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_args(&[]).await
    }

    pub async fn with_args(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Server::start_with(&dir.path().join("data"), args, &[]);
        let admin = server.api(&token(&server.data_dir, "admin", None));
        let home = admin.home_id().await;
        Self { dir, server, admin, home }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/homes/{}{}", self.home, rest)
    }

    pub fn token(&self, scope: &str, home: Option<&str>) -> Api {
        self.admin.with_token(&token(&self.server.data_dir, scope, home))
    }
}
