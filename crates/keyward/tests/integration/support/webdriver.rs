//! A small W3C WebDriver client for the browser tests: Debian's chromedriver
//! driving a real headless Chromium. Only what the tests use.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    process: Child,
    base: String,
    client: reqwest::Client,
}

pub struct Browser {
    driver: Driver,
    session: String,
}

use super::free_port;

impl Browser {
    /// Starts chromedriver and a headless Chromium. Panics, loudly, when
    /// either is missing: `.ci/run` installs them.
    pub async fn start() -> Self {
        Self::start_with_zone(None).await
    }

    /// A browser whose clock is in `zone` (the `TZ` Chromium reads), as a
    /// browser in that home's country would be.
    pub async fn start_in_zone(zone: &str) -> Self {
        Self::start_with_zone(Some(zone)).await
    }

    async fn start_with_zone(zone: Option<&str>) -> Self {
        for binary in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
            assert!(Path::new(binary).exists(), "{binary} is missing: apt-get install chromium chromium-driver");
        }
        let port = free_port();
        let mut command = Command::new("/usr/bin/chromedriver");
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let process = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { process, base: format!("http://127.0.0.1:{port}"), client: reqwest::Client::new() };
        for _ in 0..100 {
            if driver.client.get(format!("{}/status", driver.base)).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir").keep();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--lang=en-GB", format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let created = driver.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        let session = created["sessionId"].as_str().expect("a session").to_owned();
        Self { driver, session }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.driver.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (up to 5 s) until the page's URL ends with `suffix`: a click
    /// that submits a form returns before the next page has loaded.
    /// Waits (up to 20 s: the suite runs four tests at a time on two cores)
    /// until the page is at an address ending with `suffix`.
    pub async fn wait_for_url(&self, suffix: &str) {
        for _ in 0..400 {
            if self.url().await.ends_with(suffix) && self.ready().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page did not reach {suffix}: at {}: {:?}", self.url().await, self.try_page_text().await);
    }

    /// Waits (up to 20 s) until the page shows `text`.
    pub async fn wait_for_text(&self, text: &str) {
        for _ in 0..400 {
            if self.ready().await && self.try_page_text().await.is_some_and(|t| t.contains(text)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never showed {text:?}: {:?}", self.try_page_text().await);
    }

    /// Runs an async script in the page (as an attacker's page or a browser
    /// extension could) and returns what it resolves to.
    pub async fn run_async(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": []}))).await
    }

    /// Runs a script in the page and returns its value.
    pub async fn run(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// The id of the element that has the focus ("" for none or no id).
    pub async fn focused_id(&self) -> String {
        self.run("return document.activeElement ? document.activeElement.id : ''")
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Presses keys in the focused element (WebDriver key codes, such as
    /// `\u{E007}` for Enter and `\u{E004}` for Tab).
    pub async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})]
            })
            .collect();
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.call(reqwest::Method::POST, "/actions", Some(body)).await;
    }

    /// The text of an open `confirm()` dialog, waiting up to 5 s for one.
    pub async fn dialog_text(&self) -> String {
        for _ in 0..100 {
            let text = self.call(reqwest::Method::GET, "/alert/text", None).await;
            if let Some(text) = text.as_str() {
                return text.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no dialog opened");
    }

    /// Answers an open dialog: OK (`true`) or Cancel.
    pub async fn answer_dialog(&self, ok: bool) {
        let path = if ok { "/alert/accept" } else { "/alert/dismiss" };
        self.call(reqwest::Method::POST, path, Some(json!({}))).await;
    }

    async fn ready(&self) -> bool {
        let state = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return document.readyState", "args": []})),
            )
            .await;
        state.as_str() == Some("complete")
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    pub async fn find(&self, css: &str) -> Element<'_> {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned();
        Element { browser: self, id }
    }

    /// The page's text, or `None` while a navigation replaces the document.
    async fn try_page_text(&self) -> Option<String> {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": "body"}))).await;
        let id = found[ELEMENT].as_str()?.to_owned();
        let text = self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await;
        text.as_str().map(str::to_owned)
    }

    pub async fn page_text(&self) -> String {
        self.find("body").await.text().await
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Audits the page with axe-core (from npm, `scripts/axe`, injected
    /// here): panics on any critical, serious or moderate violation, naming
    /// each rule and the elements that break it. `page` names the page in
    /// the message.
    pub async fn audit(&self, page: &str) {
        let violations = self.violations().await;
        assert_eq!(violations, json!([]), "accessibility violations on {page} ({}):\n{violations:#}", self.url().await);
    }

    /// axe-core's critical, serious and moderate violations on this page.
    pub async fn violations(&self) -> Value {
        static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let axe = AXE.get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/axe/node_modules/axe-core/axe.min.js");
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}; scripts/test.sh installs axe-core (npm ci)", path.display()))
        });
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": axe, "args": []}))).await;
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(
                r => done(r.violations
                    .filter(v => ['critical', 'serious', 'moderate'].includes(v.impact))
                    .map(v => ({rule: v.id, impact: v.impact, help: v.help,
                                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))),
                e => done([{rule: 'axe failed', help: String(e)}]));";
        self.run_async(script).await
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64_decode(png.as_str().expect("base64"));
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// The value of the browser's cookie `name` for the current page, if any
    /// (HttpOnly cookies included).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let found = self.call(reqwest::Method::GET, &format!("/cookie/{name}"), None).await;
        found["value"].as_str().map(str::to_owned)
    }

    pub async fn add_cookie(&self, name: &str, value: &str) {
        self.call(
            reqwest::Method::POST,
            "/cookie",
            Some(json!({"cookie": {"name": name, "value": value, "path": "/"}})),
        )
        .await;
    }
}

impl Drop for Browser {
    /// Ends the session first, which makes chromedriver quit Chromium (killing
    /// chromedriver alone would leave Chromium running), then chromedriver.
    /// Plain blocking HTTP: drop cannot await, and it runs on panics too.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let address = self.driver.base.trim_start_matches("http://").to_owned();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.process.kill();
        let _ = self.driver.process.wait();
    }
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.expect("chromedriver answers").json().await.expect("json");
        reply["value"].clone()
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser.call(reqwest::Method::POST, &format!("/element/{}/click", self.id), Some(json!({}))).await;
    }

    pub async fn clear(&self) {
        self.browser.call(reqwest::Method::POST, &format!("/element/{}/clear", self.id), Some(json!({}))).await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser
            .call(reqwest::Method::POST, &format!("/element/{}/value", self.id), Some(json!({"text": text})))
            .await;
    }

    pub async fn text(&self) -> String {
        let text = self.browser.call(reqwest::Method::GET, &format!("/element/{}/text", self.id), None).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Sets an input's value as the browser's own picker would, with the
    /// input and change events. Used for `<input type=time>`, whose segmented
    /// editor does not take WebDriver keystrokes reliably in headless Chromium.
    pub async fn set_value(&self, value: &str) {
        let script = "arguments[0].value = arguments[1]; \
                      arguments[0].dispatchEvent(new Event('input', {bubbles: true})); \
                      arguments[0].dispatchEvent(new Event('change', {bubbles: true}));";
        let element = json!({ELEMENT: self.id});
        self.browser
            .call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": [element, value]})))
            .await;
    }

    pub async fn value(&self) -> String {
        let v = self.browser.call(reqwest::Method::GET, &format!("/element/{}/property/value", self.id), None).await;
        v.as_str().unwrap_or_default().to_owned()
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|b| *b != b'=' && !b.is_ascii_whitespace()) {
        let Some(value) = ALPHABET.iter().position(|a| *a == byte) else { continue };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
