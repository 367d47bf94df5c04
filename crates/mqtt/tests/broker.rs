//! The connection against real Mosquitto: the machine's broker
//! (127.0.0.1:1883) for messages, and a broker of the test's own on a free
//! port for a restart.

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use keyward_mqtt::{BrokerAddress, Message, Mqtt, MqttOptions};
use tokio::sync::broadcast;

fn options(url: &str, client_id: &str) -> MqttOptions {
    MqttOptions {
        address: BrokerAddress::parse(url).expect("url"),
        username: None,
        password: None,
        client_id: client_id.to_owned(),
        keep_alive: Duration::from_secs(10),
        ca_file: None,
    }
}

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes on `topic` until `listener` hears it (a subscription holds
/// once the broker has taken it), and answers what was heard.
async fn heard(speaker: &Mqtt, messages: &mut broadcast::Receiver<Message>, topic: &str) -> Message {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        speaker.publish(topic, b"{\"state\":\"LOCK\"}".to_vec()).await.expect("publish");
        let wait = tokio::time::sleep(Duration::from_millis(200));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                received = messages.recv() => match received {
                    Ok(message) if message.topic == topic => return message,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("the connection closed"),
                },
                () = &mut wait => break,
            }
        }
        assert!(Instant::now() < deadline, "{topic} was never heard");
    }
}

#[tokio::test]
async fn messages_flow_through_the_machine_s_mosquitto() {
    let base = unique("keyward-test");
    let listener = Mqtt::start(options("mqtt://127.0.0.1:1883", &unique("kw-listener"))).expect("start");
    let speaker = Mqtt::start(options("mqtt://127.0.0.1", &unique("kw-speaker"))).expect("start");
    let mut messages = listener.messages();
    let mut state = listener.state();
    until("connected", || listener.connected() && speaker.connected()).await;
    assert!(*state.borrow_and_update());
    listener.subscribe(&format!("{base}/#")).await.expect("subscribe");
    let message = heard(&speaker, &mut messages, &format!("{base}/front_door/set")).await;
    assert_eq!(&*message.payload, b"{\"state\":\"LOCK\"}");
    assert!(!message.retained, "keyward never publishes retained");
    // A message's debug form never shows its payload (it may hold a code).
    assert!(!format!("{message:?}").contains("LOCK"));
}

/// A Mosquitto of the test's own, on a free port, without persistence: a
/// restart forgets every session, as a reinstalled broker does.
struct OwnBroker {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

impl OwnBroker {
    fn start() -> Self {
        Self::start_with(|_, _| String::new())
    }

    /// With more of the listener's configuration, written by `extra` from
    /// the broker's folder and port.
    fn start_with(extra: impl Fn(&std::path::Path, u16) -> String) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("mosquitto.conf");
        let more = extra(dir.path(), port);
        std::fs::write(&config, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{more}"))
            .expect("config");
        let mut broker = Self { port, dir, process: None };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("mosquitto is installed (scripts/test.sh sees to it)");
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new(mosquitto)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn();
        self.process = Some(child.expect("mosquitto starts"));
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_restarted_broker_is_reconnected_and_subscriptions_are_made_again() {
    let mut broker = OwnBroker::start();
    let listener = Mqtt::start(options(&broker.url(), "kw-restart-listener")).expect("start");
    let speaker = Mqtt::start(options(&broker.url(), "kw-restart-speaker")).expect("start");
    let mut messages = listener.messages();
    until("connected", || listener.connected() && speaker.connected()).await;
    listener.subscribe("zigbee2mqtt/#").await.expect("subscribe");
    heard(&speaker, &mut messages, "zigbee2mqtt/front_door").await;

    broker.stop();
    until("the loss is noticed", || !listener.connected()).await;
    broker.run();
    until("reconnected", || listener.connected() && speaker.connected()).await;
    // The new broker knows no session: the subscription was made again.
    let message = heard(&speaker, &mut messages, "zigbee2mqtt/front_door").await;
    assert_eq!(message.topic, "zigbee2mqtt/front_door");
}

#[test]
fn a_ca_file_that_is_not_one_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").expect("write");
    let mut settings = options("mqtts://127.0.0.1", "kw-tls");
    settings.ca_file = Some(ca);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let refused = runtime.block_on(async { Mqtt::start(settings).err() });
    assert!(refused.is_some_and(|e| e.to_string().contains("no certificate")), "refused with its reason");
}

/// Makes a CA and a certificate for 127.0.0.1 signed by it, with openssl.
fn certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let done = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(done.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&done.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=keyward test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

/// mqtts:// with a CA file: a broker whose certificate the CA signed is
/// reached; without that CA (the system's roots) it is refused.
#[tokio::test]
async fn mqtts_trusts_the_ca_file_and_nothing_else() {
    let broker = OwnBroker::start_with(|dir, _| {
        certificates(dir);
        // As root, Mosquitto drops to its own user before it reads the key.
        format!("cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nuser root\n", dir.display())
    });
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let mut trusting = options(&url, "kw-tls-trusting");
    trusting.ca_file = Some(broker.dir.path().join("ca.pem"));
    let trusting = Mqtt::start(trusting).expect("start");
    until("connected over TLS", || trusting.connected()).await;

    let system_roots = Mqtt::start(options(&url, "kw-tls-stranger")).expect("start");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!system_roots.connected(), "a certificate the system does not trust is refused");
}

/// A broker that wants a user and password: keyward's are taken, wrong ones
/// are refused.
#[tokio::test]
async fn a_user_and_password_are_what_the_broker_checks() {
    let broker = OwnBroker::start_with(|dir, _| {
        let file = dir.join("passwords");
        let made = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&file)
            .args(["keyward", "tangerine kite 42"])
            .status()
            .expect("mosquitto_passwd runs");
        assert!(made.success(), "mosquitto_passwd");
        // As root, Mosquitto drops to its own user before it reads the file.
        format!("allow_anonymous false\npassword_file {}\nuser root\n", file.display())
    });
    let mut member = options(&broker.url(), "kw-auth-member");
    member.username = Some("keyward".into());
    member.password = Some(zeroize::Zeroizing::new("tangerine kite 42".into()));
    let member = Mqtt::start(member).expect("start");
    until("connected with the password", || member.connected()).await;

    let mut stranger = options(&broker.url(), "kw-auth-stranger");
    stranger.username = Some("keyward".into());
    stranger.password = Some(zeroize::Zeroizing::new("wrong".into()));
    let stranger = Mqtt::start(stranger).expect("start");
    let anonymous = Mqtt::start(options(&broker.url(), "kw-auth-anonymous")).expect("start");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!stranger.connected() && !anonymous.connected(), "refused without the right password");
}
