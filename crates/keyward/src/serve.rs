//! `keyward serve`.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use keyward_app::{App, Clock, Owners};
use keyward_web::WebConfig;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::clock::SystemClock;
use crate::config::{Config, DatabaseUrl, GlobalArgs, ProcessEnvironment, ServeArgs};
use crate::storage::{Purpose, Storage};

pub fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(global, Some(args), &ProcessEnvironment)?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("the log filter is not valid")?)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        // A log line that cannot be written (a closed pipe, a full disk) is
        // lost; reporting that on standard error would panic, and with
        // `panic = "abort"` stop the hub.
        .log_internal_errors(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let storage = Storage::open(&config, Purpose::Serve).await?;
    let served = match Devices::start(&config) {
        Ok(devices) => match start(&config, &storage, &devices, clock.clone(), true).await {
            Ok(app) => listen(&config, app, &storage, &devices, clock).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    // Every acknowledged write is already committed; this lets the writer
    // finish anything still queued, and stops it.
    storage.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The lock networks and the broker, made once: an `App` built again after
/// a lost instance lock uses the same connections.
struct Devices {
    networks: Vec<Arc<dyn keyward_app::devices::LockNetwork>>,
    /// The alarm sensors' and sirens' networks (Zigbee2MQTT's, over the broker).
    sensors: Vec<Arc<dyn keyward_app::devices::SensorNetwork>>,
    sirens: Vec<Arc<dyn keyward_app::devices::SirenNetwork>>,
    links: Vec<Arc<dyn keyward_app::links::Link>>,
    broker: Option<keyward_mqtt::Mqtt>,
}

impl Devices {
    fn start(config: &Config) -> anyhow::Result<Self> {
        let mut networks: Vec<Arc<dyn keyward_app::devices::LockNetwork>> = Vec::new();
        let mut links: Vec<Arc<dyn keyward_app::links::Link>> = Vec::new();
        let mut broker = None;
        let mut sensors: Vec<Arc<dyn keyward_app::devices::SensorNetwork>> = Vec::new();
        let mut sirens: Vec<Arc<dyn keyward_app::devices::SirenNetwork>> = Vec::new();
        if let Some(zwave_js) = &config.zwave_js {
            tracing::info!(url = zwave_js.url.as_str(), "reaching Z-Wave locks through Z-Wave JS");
            networks.push(Arc::new(keyward_zwave_js::ZwaveJs::start(&zwave_js.url)));
        }
        if let Some(mqtt) = &config.mqtt {
            let options = keyward_mqtt::MqttOptions {
                address: mqtt.address.clone(),
                username: mqtt.username.clone(),
                password: mqtt.password.as_ref().map(|p| zeroize::Zeroizing::new(p.expose().to_owned())),
                client_id: match &mqtt.client_id {
                    Some(id) => id.clone(),
                    None => default_client_id(&config.data_dir)?,
                },
                keep_alive: std::time::Duration::from_secs(u64::from(mqtt.keep_alive_seconds.unwrap_or(30))),
                ca_file: mqtt.ca_file.clone(),
            };
            let connection = keyward_mqtt::Mqtt::start(options).context("MQTT")?;
            links.push(Arc::new(MqttLink { connection: connection.clone(), address: mqtt.address.to_string() }));
            let z2m = &config.zigbee2mqtt;
            tracing::info!(broker = %mqtt.address, base_topic = z2m.base_topic.as_str(), "reaching Zigbee locks through Zigbee2MQTT");
            broker = Some(connection.clone());
            let alarm_devices = keyward_zigbee2mqtt::Zigbee2MqttSensors::start(connection.clone(), &z2m.base_topic);
            sensors.push(Arc::new(alarm_devices.clone()));
            sirens.push(Arc::new(alarm_devices));
            networks.push(Arc::new(keyward_zigbee2mqtt::Zigbee2Mqtt::start(
                connection,
                &z2m.base_topic,
                z2m.answer_timeout,
            )));
        }
        Ok(Self { networks, sensors, sirens, links, broker })
    }
}

/// The broker connection, as the owner and `/readyz` see it.
struct MqttLink {
    connection: keyward_mqtt::Mqtt,
    address: String,
}

impl keyward_app::links::Link for MqttLink {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn label(&self) -> String {
        format!("MQTT broker {}", self.address)
    }

    fn connected(&self) -> bool {
        self.connection.connected()
    }

    fn problem(&self) -> Option<String> {
        self.connection.problem()
    }
}

/// Builds the `App` from what the store holds: at start, and again after a
/// lost instance lock was taken back (`first` is false then).
async fn start(
    config: &Config,
    storage: &Storage,
    devices: &Devices,
    clock: Arc<dyn Clock>,
    first: bool,
) -> anyhow::Result<App> {
    let first_start = first && storage.created;
    let setup_code =
        if first_start { Owners::new(storage.store.clone(), clock.clone()).new_setup_code().await? } else { None };
    let locks = keyward_app::LockOptions { networks: devices.networks.clone(), lead: config.lock_lead };
    let mut app = App::start(storage.store.clone(), storage.vault.clone(), clock, &config.timezone, locks).await?;
    app.links = devices.links.clone();
    app.follow_sensors(&devices.sensors);
    app.attach_sirens(&devices.sirens);
    let (senders, mailer) = senders(config, devices.broker.clone())?;
    if let Some(mailer) = mailer {
        app.shares.set_mailer(mailer);
    }
    let alerts_prefix =
        config.mqtt.as_ref().map_or(keyward_core::channel::DEFAULT_ALERTS_PREFIX, |m| m.alerts_prefix.as_str());
    app.start_deliveries(senders, config.allow_private_targets, alerts_prefix);
    app.start_retention(storage.store.clone(), config.retention_days);
    if first_start {
        print_first_start(config, setup_code.as_deref());
    }
    Ok(app)
}

/// A sender for each kind of channel this hub can deliver: webhooks and
/// ntfy always, email with `[smtp]`, MQTT with `[mqtt]`; and with `[smtp]`
/// the mailer that emails visitors their shared links.
#[allow(clippy::type_complexity)]
fn senders(
    config: &Config,
    broker: Option<keyward_mqtt::Mqtt>,
) -> anyhow::Result<(Vec<Arc<dyn keyward_app::delivery::Sender>>, Option<Arc<dyn keyward_app::shares::Mailer>>)> {
    use keyward_notify::{email, mqtt, ntfy, webhook};
    let mut senders: Vec<Arc<dyn keyward_app::delivery::Sender>> = Vec::new();
    let mut mailer: Option<Arc<dyn keyward_app::shares::Mailer>> = None;
    // The client reads the system's trusted roots at its first request.
    let client = keyward_notify::http::client(config.allow_private_targets);
    senders.push(Arc::new(webhook::WebhookSender::new(client.clone())));
    senders.push(Arc::new(ntfy::NtfySender::new(client)));
    if let Some(smtp) = &config.smtp {
        let settings = email::SmtpSettings {
            host: smtp.host.clone(),
            port: smtp.port,
            security: email::Security::parse(&smtp.security).context("[smtp] security")?,
            username: smtp.username.clone(),
            password: smtp.password.as_ref().map(|p| zeroize::Zeroizing::new(p.expose().to_owned())),
            from: smtp.from.clone(),
        };
        let sender = Arc::new(email::EmailSender::new(settings)?);
        senders.push(sender.clone());
        mailer = Some(sender);
        tracing::info!(host = smtp.host.as_str(), security = smtp.security.as_str(), "sending alerts by email");
    }
    if let Some(broker) = broker {
        let prefix =
            config.mqtt.as_ref().map_or(keyward_core::channel::DEFAULT_ALERTS_PREFIX, |m| m.alerts_prefix.as_str());
        senders.push(Arc::new(mqtt::MqttSender::new(broker, prefix)));
    }
    Ok((senders, mailer))
}

/// A client id stable across restarts (the broker keeps keyward's session
/// by it) and distinct for each installation on a host: two keywards with
/// one id would throw each other off the broker. Random, kept in the data
/// directory (`mqtt-client-id`): nobody can work it out from a path and
/// take keyward's session over.
fn default_client_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let path = data_dir.join(CLIENT_ID_FILE);
    let valid = |id: &str| {
        id.strip_prefix("keyward-").is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if valid(id) {
            return Ok(id.to_owned());
        }
        tracing::warn!(file = %path.display(), "the stored MQTT client id is not one keyward made; making a new one");
    }
    let id = format!("keyward-{}", keyward_app::secrets::random_hex(8));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{id}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

/// Where the MQTT client id is kept, in the data directory.
const CLIENT_ID_FILE: &str = "mqtt-client-id";

async fn listen(
    config: &Config,
    app: App,
    storage: &Storage,
    devices: &Devices,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "listening on {}", listener.local_addr()?);
    let serving = Serving::new(config, storage);
    let switch = keyward_web::Switch::new(serving.routes(app));
    let shutdown = {
        let serving = serving.clone();
        async move {
            shutdown_signal().await;
            // Live streams never end on their own; end them so the server can drain.
            serving.close_streams();
        }
    };
    let server =
        keyward_web::serve(listener, switch.router(), config.http.clone(), config.trusted_proxies.clone(), shutdown);
    match storage.lease() {
        None => server.await,
        Some(lease) => {
            let follow = follow_the_lease(lease, &switch, &serving, (config, storage, devices, clock));
            tokio::select! {
                () = server => {}
                () = follow => {}
            }
        }
    }
    Ok(())
}

/// What every generation of routes shares, and the current one's "closing"
/// (which ends its live streams).
#[derive(Clone)]
struct Serving {
    csrf_key: [u8; 32],
    public_url: Option<String>,
    trusted_proxies: keyward_web::TrustedProxies,
    closing: Arc<std::sync::Mutex<watch::Sender<bool>>>,
    /// The `App` serving now, for the lease follower to stop it.
    app: Arc<std::sync::Mutex<Option<Arc<App>>>>,
}

impl Serving {
    fn new(config: &Config, storage: &Storage) -> Self {
        Self {
            csrf_key: *storage.vault.web_key(),
            public_url: config.public_url.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            closing: Arc::new(std::sync::Mutex::new(watch::channel(false).0)),
            app: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// The routes of `app`; from now on, `close_streams` ends its streams.
    fn routes(&self, app: App) -> keyward_web::Router {
        let (closing, closing_seen) = watch::channel(false);
        let old =
            std::mem::replace(&mut *self.closing.lock().unwrap_or_else(std::sync::PoisonError::into_inner), closing);
        old.send_replace(true);
        let app = Arc::new(app);
        *self.app.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(app.clone());
        let web = WebConfig {
            csrf_key: self.csrf_key,
            closing: closing_seen,
            public_url: self.public_url.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
        };
        keyward_web::router(app, web)
    }

    fn close_streams(&self) {
        self.closing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send_replace(true);
    }

    fn take_app(&self) -> Option<Arc<App>> {
        self.app.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// PostgreSQL's instance lock, followed: when it is lost (with the writer's
/// connection), another instance may take it and change the homes, so this
/// one stops serving at once (503, `/readyz` not ready), stops its `App`,
/// and waits; when the writer has taken the lock back, it waits for the
/// requests still under way in the old `App`, lets writes through again,
/// builds a new `App` from the database and serves that. It never serves
/// from the memory it had before the loss.
async fn follow_the_lease(
    mut lease: watch::Receiver<keyward_store_postgres::Lease>,
    switch: &keyward_web::Switch,
    serving: &Serving,
    (config, storage, devices, clock): (&Config, &Storage, &Devices, Arc<dyn Clock>),
) {
    use keyward_store_postgres::Lease;
    loop {
        if lease.wait_for(|l| *l != Lease::Held).await.is_err() {
            return;
        }
        switch.set(keyward_web::unavailable("instance_lock_lost", LOCK_LOST));
        serving.close_streams();
        if let Some(old) = serving.take_app() {
            old.stop();
            // Requests under way in the old `App` finish (their writes are
            // refused while the lock is lost) before writes go through again.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        'reloaded: loop {
            if lease.wait_for(|l| *l == Lease::Regained).await.is_err() {
                return;
            }
            switch.set(keyward_web::unavailable("reloading", RELOADING));
            storage.resume();
            if lease.wait_for(|l| *l != Lease::Regained).await.is_err() {
                return;
            }
            // Held again (or already lost again: wait for the next retake).
            while *lease.borrow() == Lease::Held {
                match start(config, storage, devices, clock.clone(), false).await {
                    Ok(app) => {
                        switch.set(serving.routes(app));
                        tracing::warn!("every home was reloaded from the database: serving again");
                        break 'reloaded;
                    }
                    Err(error) => {
                        tracing::error!(%error, "the homes could not be reloaded from the database; trying again");
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                }
            }
        }
    }
}

const LOCK_LOST: &str = "keyward lost its hold on the PostgreSQL database (its connection ended) and serves nothing \
                         until it holds it again and has reloaded every home";
const RELOADING: &str = "keyward is reloading every home from the database";

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

fn print_first_start(config: &Config, setup_code: Option<&str>) {
    let mut lines = Vec::new();
    let exe = std::env::current_exe().ok().map(|p| p.display().to_string()).unwrap_or_else(|| "keyward".to_owned());
    let dir = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    lines.push(format!("keyward: this is the first start with the data directory {}.", dir.display()));
    lines.push(
        "keyward: back up keyward.key from it: without the key, the codes in the database cannot be used.".to_owned(),
    );
    lines.push("keyward: create your first admin token with:".to_owned());
    let mut command = vec![shell_quote(&exe), "token create".to_owned()];
    if let Some(file) = &config.file {
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        command.push(format!("--config {}", shell_quote(&file.display().to_string())));
    }
    command.push(format!("--data-dir {}", shell_quote(&dir.display().to_string())));
    let mut password_hidden = false;
    match &config.database {
        DatabaseUrl::Sqlite(path) if *path == config.data_dir.join(keyward_store_sqlite::DATABASE_FILE) => {}
        DatabaseUrl::Sqlite(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            command.push(format!("--database-url {}", shell_quote(&format!("sqlite://{}", path.display()))));
        }
        // A URL with a password is never printed: the command reads it from
        // the environment instead.
        DatabaseUrl::Postgres(url) if has_password(url.expose()) => {
            command.push("--database-url \"$KEYWARD_DATABASE_URL\"".to_owned());
            password_hidden = true;
        }
        DatabaseUrl::Postgres(url) => command.push(format!("--database-url {}", shell_quote(url.expose()))),
    }
    command.push("--name admin --scope admin".to_owned());
    lines.push(format!("  {}", command.join(" ")));
    if password_hidden {
        lines.push(
            "keyward: (with KEYWARD_DATABASE_URL set to the database URL, password included, as for serve)".to_owned(),
        );
    }
    if let Some(code) = setup_code {
        // Printed once: it lets the first person at the web UI become its owner.
        lines.push(format!("keyward: the one-time setup code for the owner's account in the web UI is {code}"));
    }
    // The hub serves on when nobody reads its output.
    if lines.iter().try_for_each(|line| crate::console::line(line)).is_err() {
        tracing::warn!(
            "the first start's instructions could not be printed; make a setup code with `keyward owner setup-code`"
        );
    }
}

/// Whether a PostgreSQL URL carries a password (`user:password@`, or a
/// `password=` parameter).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let userinfo = authority.rsplit_once('@').map(|(userinfo, _)| userinfo);
    userinfo.is_some_and(|u| u.contains(':')) || url.contains("password=")
}

fn shell_quote(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_recognised() {
        assert!(has_password("postgres://kw:secret@db:5432/keyward"));
        assert!(has_password("postgresql://db/keyward?user=kw&password=secret"));
        assert!(!has_password("postgres://root@127.0.0.1:5432/keyward"));
        assert!(!has_password("postgres://127.0.0.1:5432/keyward"));
    }
}
