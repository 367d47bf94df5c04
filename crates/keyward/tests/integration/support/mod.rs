//! Test support: the real keyward binary on a free port, against SQLite in
//! a temporary data directory or against a fresh PostgreSQL database of its
//! own; its CLI; and a small JSON client. Every test that takes a `Backend`
//! runs on both (`on_both_backends!`).

#![allow(dead_code)]

pub mod broker;
pub mod postgres;
pub mod proxy;
pub mod receiver;
pub mod webdriver;
pub mod zigbee;
pub mod zigbee_sensors;
pub mod zwave;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

pub use postgres::TestDatabase;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    // The port is free when asked, then released for the process that will
    // listen on it, so the system may hand it out again: a port given once
    // in this run is never given twice (a mock-server once got the same
    // port for its serial and its control ports).
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Where a test's hub keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` as two tests, in the
/// modules `sqlite` and `postgres`.
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Backend::Postgres).await
                }
            )+
        }
    };
}

pub(crate) use on_both_backends;

/// A hub's data for one test: a temporary data directory (made by `serve`
/// on its first start) and, on PostgreSQL, a fresh database of its own.
/// Both go when the test ends.
pub struct Place {
    _dir: tempfile::TempDir,
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub database: Option<TestDatabase>,
}

impl Place {
    pub fn new(backend: Backend) -> Self {
        Self::named(backend, "data")
    }

    /// With a data directory of this name (spaces and all).
    pub fn named(backend: Backend, name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join(name);
        let database = (backend == Backend::Postgres).then(TestDatabase::create);
        Self { _dir: dir, backend, data_dir, database }
    }

    /// The options every command needs to find this data.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir.display().to_string()];
        if let Some(db) = &self.database {
            args.extend(["--database-url".to_owned(), db.url.clone()]);
        }
        args
    }

    pub fn start(&self) -> Server {
        self.start_with(&[], &[])
    }

    pub fn start_with(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all: Vec<String> = self.args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Server::start(&all, env)
    }

    /// Runs a command of the CLI on this data.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(self.args());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        cli(&all)
    }

    /// A new token from the CLI.
    pub fn token(&self, scope: &str, home: Option<&str>) -> String {
        let mut args = vec!["token", "create", "--name", scope, "--scope", scope];
        if let Some(home) = home {
            args.extend(["--home", home]);
        }
        let (ok, stdout, stderr) = self.cli(&args);
        assert!(ok, "token create failed: {stderr}");
        stdout.lines().last().expect("a last line").to_owned()
    }

    /// Runs SQL on the database beside the hub (SQLite or PostgreSQL, so
    /// mind the dialect).
    pub fn execute(&self, sql: &str) {
        match &self.database {
            Some(db) => db.execute(sql),
            None => {
                let db = rusqlite::Connection::open(self.data_dir.join("keyward.db")).expect("open");
                db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
                db.execute_batch(sql).expect("SQL");
            }
        }
    }

    /// Everything stored, as bytes: the files of the data directory, and on
    /// PostgreSQL every row of every table.
    pub fn stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut stored = Vec::new();
        for entry in std::fs::read_dir(&self.data_dir).expect("data dir") {
            let path = entry.expect("entry").path();
            stored.push((path.display().to_string(), std::fs::read(&path).expect("read")));
        }
        if let Some(db) = &self.database {
            stored.push((format!("database {}", db.name), db.dump()));
        }
        stored
    }
}

pub struct Server {
    child: Child,
    pub base: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// `keyward serve` on a free port with these options (and no other
    /// configuration from the test's own environment).
    pub fn start(args: &[String], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("KEYWARD_TIMEZONE")
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_DATA_DIR")
            .env_remove("KEYWARD_CONFIG")
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
        Self { child, base: format!("http://{addr}"), output }
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

    /// The most memory the server has held at once (its peak resident set), in MiB.
    /// CPU time the process has used so far (user + system), in clock ticks
    /// of 10 ms.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("/proc stat");
        // Fields after the command name (which may hold spaces) start after ")".
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
        let field = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        field(11) + field(12)
    }

    pub fn peak_memory_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024
    }

    /// Everything the server printed so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }

    pub fn api(&self, token: &str) -> Api {
        Api { client: client(), base: self.base.clone(), token: Some(token.to_owned()) }
    }

    pub fn anonymous(&self) -> Api {
        Api { client: client(), base: self.base.clone(), token: None }
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

/// The API client's HTTP settings: an idle connection is dropped after 5 s,
/// before the server ends it (its idle limit is 10 s), so a request never
/// goes out on a connection the server is closing at that moment (hyper's
/// `IncompleteMessage`, once seen under load).
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(5))
}

fn client() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// Runs `keyward serve` on this data where it is expected to refuse to start:
/// returns (success, stderr); a server still running after 10 s is stopped
/// and counts as started.
pub fn serve_expecting_refusal(place: &Place) -> (bool, String) {
    serve_expecting_refusal_with(place, &[])
}

/// As `serve_expecting_refusal`, with more options.
pub fn serve_expecting_refusal_with(place: &Place, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(place.args())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
            return (status.success(), stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (true, "it started and kept running".to_owned())
}

/// Runs the CLI; returns (success, stdout, stderr).
pub fn cli(args: &[&str]) -> (bool, String, String) {
    cli_with(args, &[])
}

/// Runs the CLI with these environment variables (and no other keyward
/// configuration from the test's own environment).
pub fn cli_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command.args(args);
    for name in ["KEYWARD_DATABASE_URL", "KEYWARD_DATA_DIR", "KEYWARD_CONFIG"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("the CLI runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
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

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
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

    /// The same caller, connecting from another local address (any of
    /// 127.0.0.0/8 reaches the server on Linux), as another machine would.
    pub fn connecting_from(&self, local: std::net::IpAddr) -> Api {
        let client = client_builder().local_address(local).build().expect("client");
        Api { client, base: self.base.clone(), token: self.token.clone() }
    }

    pub async fn access(&self, home: &str, code: &str, device: &str, action: &str) -> Reply {
        self.post(&format!("/api/v1/homes/{home}/access"), json!({"code": code, "device": device, "action": action}))
            .await
    }
}

/// A fresh place with a server and an admin token.
pub struct Fixture {
    pub place: Place,
    pub server: Server,
    pub admin: Api,
    pub home: String,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        Self::with_args(backend, &[]).await
    }

    pub async fn with_args(backend: Backend, args: &[&str]) -> Self {
        Self::with_env(backend, args, &[]).await
    }

    pub async fn with_env(backend: Backend, args: &[&str], env: &[(&str, &str)]) -> Self {
        let place = Place::new(backend);
        let server = place.start_with(args, env);
        let admin = server.api(&place.token("admin", None));
        let home = admin.home_id().await;
        Self { place, server, admin, home }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/homes/{}{}", self.home, rest)
    }

    pub fn token(&self, scope: &str, home: Option<&str>) -> Api {
        self.admin.with_token(&self.place.token(scope, home))
    }
}

/// What a browser submits for the form of `html` that posts to `action`,
/// pressing the submit button whose value is `button`: text, hidden, date
/// and time inputs with their values, checked boxes and radios, selected
/// options.
pub fn form_fields(html: &str, action: &str, button: &str) -> Vec<(String, String)> {
    let target = format!("action=\"{action}\"");
    let form = html
        .split("<form")
        .skip(1)
        .find(|f| f.split('>').next().is_some_and(|head| head.contains(&target)))
        .and_then(|f| f.split("</form>").next())
        .unwrap_or_else(|| panic!("no form posting to {action}"));
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key)? + key.len();
        let value = tag[at..].split('"').next()?;
        Some(
            value
                .replace("&quot;", "\"")
                .replace("&#x27;", "'")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    let mut fields = Vec::new();
    for tag in form.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let flag = |name: &str| tag.split_whitespace().any(|word| word == name);
        if let Some(rest) = tag.strip_prefix("input") {
            let Some(name) = attribute(rest, "name") else { continue };
            match attribute(rest, "type").as_deref() {
                Some("checkbox" | "radio") if !flag("checked") => {}
                Some("checkbox" | "radio") => {
                    fields.push((name, attribute(rest, "value").unwrap_or_else(|| "on".into())))
                }
                _ => fields.push((name, attribute(rest, "value").unwrap_or_default())),
            }
        } else if let Some(rest) = tag.strip_prefix("button")
            && let (Some(name), Some(value)) = (attribute(rest, "name"), attribute(rest, "value"))
            && value == button
        {
            fields.push((name, value));
        }
    }
    // Selects: the selected option's value.
    for select in form.split("<select").skip(1) {
        let head = select.split('>').next().unwrap_or("");
        if let Some(name) = attribute(head, "name") {
            let body = select.split("</select>").next().unwrap_or("");
            let chosen =
                body.split("<option").skip(1).find(|o| o.split('>').next().is_some_and(|t| t.contains(" selected")));
            if let Some(value) = chosen.and_then(|o| attribute(o.split('>').next().unwrap_or(""), "value")) {
                fields.push((name, value));
            }
        }
    }
    fields
}

/// Whether `text` shows `code` anywhere a person or program would read it:
/// as a run of digits of its own ("4719", "pin4719", `"4719"`). Long hex
/// words (ids, cursors, digests, tokens) are random and may hold any four
/// digits by chance, so they are skipped; so are the code's digits inside a
/// longer run of digits (a timestamp's fraction, a nanosecond count in a
/// temporary name), which is another number, not the code.
pub fn shows_code(text: &str, code: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !(word.len() >= 16 && word.chars().all(|c| c.is_ascii_hexdigit())))
        .any(|word| word.split(|c: char| !c.is_ascii_digit()).any(|digits| digits == code))
}

/// How long the lock tests wait for something a lock or keyward does.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until the user's code on `lock` has this status (and reason).
pub async fn wait_for_status(
    f: &Fixture,
    user: &str,
    lock: &str,
    status: &str,
    reason: Option<&str>,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let body = f.admin.get(&f.path(&format!("/users/{user}"))).await.expect(200);
        let code = body["lock_codes"].as_array().and_then(|c| c.iter().find(|c| c["lock_id"] == lock)).cloned();
        if let Some(code) = &code
            && code["status"] == status
            && reason.is_none_or(|r| code["reason"] == r)
        {
            return code.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user} on {lock} never became {status} {reason:?}: {}",
            body["lock_codes"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until the home's activity has an entry that satisfies `wanted`.
pub async fn wait_for_entry(f: &Fixture, what: &str, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let page = f.admin.get(&f.path("/activity?limit=50")).await.expect(200);
        if let Some(entry) = page["items"].as_array().and_then(|items| items.iter().find(|e| wanted(e))) {
            return entry.clone();
        }
        assert!(std::time::Instant::now() < deadline, "never logged: {what}; the log: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[test]
fn shows_code_sees_a_code_and_not_other_numbers() {
    assert!(shows_code("code=4719", "4719"));
    assert!(shows_code(r#"{"pin_code":"4719"}"#, "4719"));
    assert!(shows_code("pin4719", "4719"));
    assert!(!shows_code("2026-11-27T10:47:19.847193Z", "4719"), "a timestamp's fraction");
    assert!(!shows_code("base_topic=kwtest-17437-1795773184719000123", "4719"), "a nanosecond count");
    assert!(!shows_code("user 0482a616638b1f9021b64719", "4719"), "an id");
}
