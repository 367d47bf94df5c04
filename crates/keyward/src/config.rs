//! Configuration, the same for every subcommand: command-line flags win over
//! `KEYWARD_*` environment variables, which win over the TOML file given by
//! `--config` (or `KEYWARD_CONFIG`), which wins over the defaults.
//!
//! Every secret can also be read from a file (`password_file` in the TOML
//! file, `KEYWARD_…_FILE` in the environment), as container users expect;
//! secrets are held in zeroizing strings and never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use keyward_core::ZoneName;
use keyward_web::{ConnectionLimits, TrustedProxies};
use serde::Deserialize;
use zeroize::Zeroizing;

pub const DEFAULT_DATA_DIR: &str = "./keyward-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Options every subcommand takes.
#[derive(Args, Debug, Default, Clone)]
pub struct GlobalArgs {
    /// A TOML configuration file (see the README for its keys).
    #[arg(long, env = "KEYWARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where the key (and, by default, the SQLite database) live [default: ./keyward-data].
    #[arg(long, env = "KEYWARD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: the SQLite database in the data directory].
    #[arg(long, env = "KEYWARD_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log filter, such as info or keyward=debug [default: info].
    #[arg(long, env = "KEYWARD_LOG", global = true)]
    pub log: Option<String>,
}

/// Options only `serve` takes.
#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// The address to serve HTTP on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_LISTEN")]
    pub listen: Option<String>,
    /// The IANA time zone of the first home, made on first start [default: UTC].
    #[arg(long, env = "KEYWARD_TIMEZONE")]
    pub timezone: Option<String>,
    /// The address owners reach keyward at, e.g. https://keys.example.org;
    /// links sent to people (invitations) are built from it.
    #[arg(long, env = "KEYWARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A reverse proxy (address or CIDR network) whose X-Forwarded-For names
    /// the client; repeat the flag, or separate with commas [default: none].
    #[arg(long = "trusted-proxy", env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// A Z-Wave JS server to reach Z-Wave locks through, e.g.
    /// ws://127.0.0.1:3000 (Home Assistant's add-on or Z-Wave JS UI).
    // Never printed (`serve --help` shows an environment variable's value
    // otherwise): a URL may hold what should not be seen.
    #[arg(long, env = "KEYWARD_ZWAVE_JS_URL", hide_env_values = true)]
    pub zwave_js_url: Option<String>,
    /// An MQTT broker, e.g. mqtt://127.0.0.1:1883 or mqtts://host:8883
    /// (Zigbee locks through Zigbee2MQTT); user and password in [mqtt].
    #[arg(long, env = "KEYWARD_MQTT_URL", hide_env_values = true)]
    pub mqtt_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    timezone: Option<String>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    log: Option<String>,
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    database: DatabaseSection,
    #[serde(default)]
    mqtt: MqttSection,
    #[serde(default)]
    zwave_js: ZwaveJsSection,
    #[serde(default)]
    zigbee2mqtt: Zigbee2MqttSection,
    #[serde(default)]
    locks: LocksSection,
    #[serde(default)]
    smtp: SmtpSection,
    #[serde(default)]
    notify: NotifySection,
    #[serde(default)]
    activity: ActivitySection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActivitySection {
    retention_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NotifySection {
    allow_private_targets: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    url: Option<String>,
    url_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MqttSection {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    client_id: Option<String>,
    keep_alive_seconds: Option<u16>,
    ca_file: Option<PathBuf>,
    alerts_prefix: Option<String>,
}

/// Limits on HTTP clients (see `keyward_web::ConnectionLimits`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    max_connections: Option<usize>,
    max_connections_per_client: Option<usize>,
    header_timeout_seconds: Option<u64>,
    body_timeout_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ZwaveJsSection {
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Zigbee2MqttSection {
    base_topic: Option<String>,
    answer_timeout_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LocksSection {
    lead_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SmtpSection {
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    from: Option<String>,
}

/// A secret from the configuration: wiped from memory when dropped, and
/// never printed, not even in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// A libpq-style URL; it may hold a password, so it is never printed.
    Postgres(Secret),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(_) => f.write_str("postgres://<redacted>"),
        }
    }
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("the database URL sqlite:// needs a path, such as sqlite:///var/lib/keyward/keyward.db");
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(Secret::new(url.to_owned())));
        }
        // The URL may hold a password: it is not repeated in the error.
        bail!("the database URL must start with sqlite:// or postgres://")
    }
}

/// The MQTT broker keyward connects to.
#[derive(Debug)]
pub struct MqttConfig {
    pub address: keyward_mqtt::BrokerAddress,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub client_id: Option<String>,
    pub keep_alive_seconds: Option<u16>,
    pub ca_file: Option<PathBuf>,
    /// Homes' MQTT alerts go to `<alerts_prefix>/<home id>/alerts` and below.
    pub alerts_prefix: String,
}

#[derive(Debug)]
pub struct ZwaveJsConfig {
    pub url: String,
}

// Read by its integration when that lands (issues 8–10); until then `serve`
// warns that the section is configured but unused.
#[allow(dead_code)]
#[derive(Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    pub security: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
}

#[derive(Debug)]
pub struct Zigbee2MqttConfig {
    /// Zigbee2MQTT's `base_topic` (default `zigbee2mqtt`).
    pub base_topic: String,
    /// How long a lock may take to answer a read.
    pub answer_timeout: std::time::Duration,
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub log: String,
    pub listen: SocketAddr,
    pub timezone: ZoneName,
    /// Where owners reach keyward (scheme and authority, no trailing slash).
    pub public_url: Option<String>,
    /// Reverse proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: TrustedProxies,
    /// What HTTP clients may hold open, and for how long.
    pub http: ConnectionLimits,
    /// The configuration file, when one was given.
    pub file: Option<PathBuf>,
    pub mqtt: Option<MqttConfig>,
    pub zwave_js: Option<ZwaveJsConfig>,
    /// Zigbee2MQTT, followed whenever MQTT is configured.
    pub zigbee2mqtt: Zigbee2MqttConfig,
    /// How long before a window opens a code is put into the locks.
    pub lock_lead: jiff::SignedDuration,
    pub smtp: Option<SmtpConfig>,
    /// `[notify] allow_private_targets`: alert receivers on the local
    /// network or the hub itself (true by default; an installer may forbid them).
    pub allow_private_targets: bool,
    /// `[activity] retention_days`: how long the activity log is kept (400
    /// by default; 0 keeps it for ever).
    pub retention_days: u32,
}

/// Where configuration values come from, besides flags: the environment (a
/// function, so tests need not touch the process's own).
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// A secret given directly or as a file holding it (its trailing newline
/// dropped). The first source that has one wins.
fn secret(sources: [(Option<String>, Option<PathBuf>); 2], what: &str) -> anyhow::Result<Option<Secret>> {
    for (value, file) in sources {
        if let Some(value) = value {
            return Ok(Some(Secret::new(value)));
        }
        if let Some(path) = file {
            let text = Zeroizing::new(
                std::fs::read_to_string(&path).with_context(|| format!("reading {what} from {}", path.display()))?,
            );
            return Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned())));
        }
    }
    Ok(None)
}

impl Config {
    /// Resolves the configuration from flags (`global`, and `serve`'s own
    /// when running it), the environment and the file.
    pub fn resolve(global: &GlobalArgs, serve: Option<&ServeArgs>, env: &dyn Environment) -> anyhow::Result<Self> {
        let file_path = global.config.clone();
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = global.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let env_file = |name: &str| env.var(name).map(PathBuf::from);
        let database = match secret(
            [
                (global.database_url.clone(), env_file("KEYWARD_DATABASE_URL_FILE")),
                (file.database.url, file.database.url_file),
            ],
            "the database URL",
        )? {
            Some(url) => DatabaseUrl::parse(url.expose())?,
            None => DatabaseUrl::Sqlite(data_dir.join(keyward_store_sqlite::DATABASE_FILE)),
        };
        let listen = serve.and_then(|s| s.listen.clone()).or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let timezone = serve.and_then(|s| s.timezone.clone()).or(file.timezone);
        let public_url = match serve.and_then(|s| s.public_url.clone()).or(file.public_url) {
            Some(url) => Some(public_url(&url)?),
            None => None,
        };
        let proxies = match serve.map(|s| s.trusted_proxies.clone()).filter(|p| !p.is_empty()) {
            Some(flags) => flags,
            None => file.trusted_proxies.unwrap_or_default(),
        };
        let trusted_proxies = TrustedProxies::parse(&proxies).map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        let http = http_limits(file.http, env)?;
        let lead_seconds = match env.var("KEYWARD_LOCK_LEAD_SECONDS") {
            Some(text) => Some(text.parse::<u64>().context("KEYWARD_LOCK_LEAD_SECONDS is not a whole number")?),
            None => file.locks.lead_seconds,
        };
        let lock_lead = match lead_seconds {
            None => keyward_core::lock_sync::DEFAULT_LEAD,
            Some(seconds @ 0..=3600) => jiff::SignedDuration::from_secs(seconds as i64),
            Some(_) => bail!("[locks] lead_seconds must be 0 to 3600"),
        };
        let mqtt = file.mqtt;
        let mqtt_url = serve.and_then(|s| s.mqtt_url.clone()).or(env.var("KEYWARD_MQTT_URL")).or(mqtt.url);
        let mqtt = match mqtt_url {
            None => None,
            Some(url) => Some(MqttConfig {
                address: keyward_mqtt::BrokerAddress::parse(&url).map_err(|e| anyhow::anyhow!("[mqtt] url: {e}"))?,
                username: env.var("KEYWARD_MQTT_USERNAME").or(mqtt.username),
                password: secret(
                    [
                        (env.var("KEYWARD_MQTT_PASSWORD"), env_file("KEYWARD_MQTT_PASSWORD_FILE")),
                        (mqtt.password, mqtt.password_file),
                    ],
                    "the MQTT password",
                )?,
                client_id: env.var("KEYWARD_MQTT_CLIENT_ID").or(mqtt.client_id),
                keep_alive_seconds: match env.var("KEYWARD_MQTT_KEEP_ALIVE_SECONDS") {
                    Some(text) => Some(text.parse().context("KEYWARD_MQTT_KEEP_ALIVE_SECONDS is not a number")?),
                    None => mqtt.keep_alive_seconds,
                },
                ca_file: env_file("KEYWARD_MQTT_CA_FILE").or(mqtt.ca_file),
                alerts_prefix: env
                    .var("KEYWARD_MQTT_ALERTS_PREFIX")
                    .or(mqtt.alerts_prefix)
                    .unwrap_or_else(|| keyward_core::channel::DEFAULT_ALERTS_PREFIX.to_owned()),
            }),
        };
        let zigbee2mqtt = Zigbee2MqttConfig {
            base_topic: match env.var("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC").or(file.zigbee2mqtt.base_topic) {
                None => "zigbee2mqtt".to_owned(),
                Some(base) if keyward_core::FriendlyName::parse(&base).is_ok() => base,
                Some(base) => bail!("[zigbee2mqtt] base_topic {base:?} is not an MQTT topic without wildcards"),
            },
            answer_timeout: match file.zigbee2mqtt.answer_timeout_seconds {
                None => keyward_zigbee2mqtt::DEFAULT_ANSWER_TIMEOUT,
                Some(seconds @ 1..=120) => std::time::Duration::from_secs(seconds),
                Some(_) => bail!("[zigbee2mqtt] answer_timeout_seconds must be 1 to 120"),
            },
        };
        if let Some(mqtt) = &mqtt {
            alerts_prefix_apart(&mqtt.alerts_prefix, &zigbee2mqtt.base_topic)?;
        }
        let zwave_js = match serve
            .and_then(|s| s.zwave_js_url.clone())
            .or(env.var("KEYWARD_ZWAVE_JS_URL"))
            .or(file.zwave_js.url)
        {
            Some(url) => Some(ZwaveJsConfig { url: zwave_js_url(url)? }),
            None => None,
        };
        let smtp = file.smtp;
        let smtp = match env.var("KEYWARD_SMTP_HOST").or(smtp.host) {
            None => None,
            Some(host) => Some(SmtpConfig {
                host,
                port: match env.var("KEYWARD_SMTP_PORT") {
                    Some(text) => Some(text.parse().context("KEYWARD_SMTP_PORT is not a port number")?),
                    None => smtp.port,
                },
                security: env.var("KEYWARD_SMTP_SECURITY").or(smtp.security).unwrap_or_else(|| "starttls".to_owned()),
                username: env.var("KEYWARD_SMTP_USERNAME").or(smtp.username),
                password: secret(
                    [
                        (env.var("KEYWARD_SMTP_PASSWORD"), env_file("KEYWARD_SMTP_PASSWORD_FILE")),
                        (smtp.password, smtp.password_file),
                    ],
                    "the SMTP password",
                )?,
                from: env
                    .var("KEYWARD_SMTP_FROM")
                    .or(smtp.from)
                    .context("[smtp] from is required: the address alerts come from, such as keyward@example.org")?,
            }),
        };
        let retention_days = match env.var("KEYWARD_ACTIVITY_RETENTION_DAYS") {
            Some(text) => text.parse().context("KEYWARD_ACTIVITY_RETENTION_DAYS is a number of days")?,
            None => file.activity.retention_days.unwrap_or(400),
        };
        if retention_days > 36_500 {
            bail!("[activity] retention_days is at most 36500 (100 years), or 0 to keep everything");
        }
        let allow_private_targets = match env.var("KEYWARD_NOTIFY_ALLOW_PRIVATE_TARGETS") {
            Some(text) => text.parse().context("KEYWARD_NOTIFY_ALLOW_PRIVATE_TARGETS is true or false")?,
            None => file.notify.allow_private_targets.unwrap_or(true),
        };
        if let Some(smtp) = &smtp
            && !["starttls", "tls", "none"].contains(&smtp.security.as_str())
        {
            bail!("[smtp] security must be \"starttls\", \"tls\" or \"none\"");
        }
        Ok(Self {
            database,
            log: global.log.clone().or(file.log).unwrap_or_else(|| "info".to_owned()),
            listen: listen.parse().with_context(|| format!("listen address {listen:?} is not IP:PORT"))?,
            timezone: match timezone {
                None => ZoneName::utc(),
                Some(name) => ZoneName::parse(&name).map_err(|e| anyhow::anyhow!("timezone {name:?}: {e}"))?,
            },
            public_url,
            trusted_proxies,
            http,
            data_dir,
            file: file_path,
            mqtt,
            zwave_js,
            zigbee2mqtt,
            lock_lead,
            smtp,
            allow_private_targets,
            retention_days,
        })
    }
}

/// The `[http]` limits, each from `KEYWARD_HTTP_…` or the file, else the default.
fn http_limits(file: HttpSection, env: &dyn Environment) -> anyhow::Result<ConnectionLimits> {
    let number = |name: &str, from_file: Option<u64>| -> anyhow::Result<Option<u64>> {
        let value = match env.var(name) {
            Some(text) => Some(text.parse::<u64>().with_context(|| format!("{name} is not a whole number"))?),
            None => from_file,
        };
        if value == Some(0) {
            bail!("{name} (or its [http] key) must be at least 1");
        }
        Ok(value)
    };
    let count = |name: &str, from_file: Option<usize>| {
        number(name, from_file.map(|n| n as u64)).map(|n| n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
    };
    let defaults = ConnectionLimits::default();
    Ok(ConnectionLimits {
        max_connections: count("KEYWARD_HTTP_MAX_CONNECTIONS", file.max_connections)?
            .unwrap_or(defaults.max_connections),
        max_per_client: count("KEYWARD_HTTP_MAX_CONNECTIONS_PER_CLIENT", file.max_connections_per_client)?
            .unwrap_or(defaults.max_per_client),
        header_timeout: number("KEYWARD_HTTP_HEADER_TIMEOUT_SECONDS", file.header_timeout_seconds)?
            .map_or(defaults.header_timeout, Duration::from_secs),
        body_timeout: number("KEYWARD_HTTP_BODY_TIMEOUT_SECONDS", file.body_timeout_seconds)?
            .map_or(defaults.body_timeout, Duration::from_secs),
    })
}

/// Home Assistant's MQTT discovery prefix (its default): alert topics stay
/// off it.
const HOME_ASSISTANT_DISCOVERY: &str = "homeassistant";

/// The MQTT alert prefix is a topic of its own, apart from Zigbee2MQTT's
/// base topic and Home Assistant's discovery prefix (neither under the
/// other), so an alert never lands where a device listens.
fn alerts_prefix_apart(prefix: &str, zigbee2mqtt_base: &str) -> anyhow::Result<()> {
    if keyward_core::channel::ChannelTarget::mqtt_topic(prefix).is_err() {
        bail!("[mqtt] alerts_prefix must be an MQTT topic without + or # or empty levels, such as keyward");
    }
    let overlaps = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"));
    for (other, whose) in [
        (zigbee2mqtt_base, "Zigbee2MQTT's base topic"),
        (HOME_ASSISTANT_DISCOVERY, "Home Assistant's discovery prefix"),
    ] {
        if overlaps(prefix, other) {
            bail!("[mqtt] alerts_prefix {prefix:?} overlaps {whose} {other:?}: give alerts a topic of their own");
        }
    }
    Ok(())
}

/// A Z-Wave JS server's address: `ws://host:port`, without a user or a
/// password (zwave-js-server has no authentication of its own, so a URL
/// with them is a mistake whose secret must not reach the log). Errors never
/// repeat the URL.
fn zwave_js_url(url: String) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("ws://") else {
        bail!(
            "the zwave_js url must look like ws://127.0.0.1:3000 (wss:// is not supported: keep Z-Wave JS on the \
             local network or a tunnel)"
        );
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        bail!(
            "the zwave_js url must not hold a user or a password (zwave-js-server does not ask for one): give it as \
             ws://host:port, and keep the server on the local network or behind a tunnel"
        );
    }
    if authority.is_empty() {
        bail!("the zwave_js url must name the server, like ws://127.0.0.1:3000");
    }
    Ok(url)
}

/// Checks a public URL: http or https, a host, an optional port and path; no
/// query, fragment or credentials. A trailing slash is dropped.
fn public_url(url: &str) -> anyhow::Result<String> {
    let problem = || {
        anyhow::anyhow!(
            "public_url {url:?} must look like https://keys.example.org (http or https, a host, nothing after the path)"
        )
    };
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).ok_or_else(problem)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/:[]%".contains(c);
    if authority.is_empty() || authority.starts_with(':') || !rest.chars().all(allowed) {
        return Err(problem());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // toml's messages quote the offending line, which may hold a secret:
    // only the position is kept.
    toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default();
        anyhow::anyhow!("{} is not a valid keyward configuration{at}: {}", path.display(), e.message())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Env(HashMap<&'static str, String>);

    impl Environment for Env {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> Env {
        Env(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(&GlobalArgs::default(), None, &env(&[])).expect("defaults resolve");
        assert_eq!(c.data_dir, PathBuf::from("./keyward-data"));
        assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("./keyward-data/keyward.db")));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.timezone.as_str(), "UTC");
        assert!(c.allow_private_targets, "local receivers are normal for self-hosters");
        assert_eq!(c.retention_days, 400);
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, "data_dir = \"/srv/kw\"\nlisten = \"0.0.0.0:9000\"\ntimezone = \"Europe/Berlin\"\n")
            .expect("write");
        let global = GlobalArgs { config: Some(path.clone()), ..GlobalArgs::default() };
        let serve = ServeArgs { listen: Some("127.0.0.1:1".into()), ..ServeArgs::default() };
        let c = Config::resolve(&global, Some(&serve), &env(&[])).expect("resolves");
        assert_eq!(c.data_dir, PathBuf::from("/srv/kw"));
        assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("/srv/kw/keyward.db")));
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.timezone.as_str(), "Europe/Berlin");
        std::fs::write(&path, "colour = \"blue\"\n").expect("write");
        assert!(Config::resolve(&global, None, &env(&[])).is_err(), "unknown keys are refused");
        let mars = ServeArgs { timezone: Some("Mars/Base".into()), ..ServeArgs::default() };
        assert!(Config::resolve(&GlobalArgs::default(), Some(&mars), &env(&[])).is_err());
    }

    #[test]
    fn the_public_url_is_checked_and_trimmed() {
        let with = |url: &str| {
            let serve = ServeArgs { public_url: Some(url.into()), ..ServeArgs::default() };
            Config::resolve(&GlobalArgs::default(), Some(&serve), &env(&[])).map(|c| c.public_url)
        };
        assert_eq!(with("https://keys.example.org/").expect("valid"), Some("https://keys.example.org".into()));
        assert_eq!(with("http://192.168.1.5:8080/kw").expect("valid"), Some("http://192.168.1.5:8080/kw".into()));
        for bad in
            ["keys.example.org", "ftp://x", "https://", "https://a/?q=1", "https://a/#x", "https://u@a", "https://a b"]
        {
            assert!(with(bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn trusted_proxies_from_flags_or_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, "trusted_proxies = [\"10.0.0.0/8\"]\n").expect("write");
        let global = GlobalArgs { config: Some(path.clone()), ..GlobalArgs::default() };
        let serve = ServeArgs::default();
        let c = Config::resolve(&global, Some(&serve), &env(&[])).expect("resolves");
        assert!(format!("{:?}", c.trusted_proxies).contains("10.0.0.0"));
        let serve = ServeArgs { trusted_proxies: vec!["127.0.0.1".into()], ..ServeArgs::default() };
        let c = Config::resolve(&global, Some(&serve), &env(&[])).expect("resolves");
        assert!(!format!("{:?}", c.trusted_proxies).contains("10.0.0.0"), "the flag wins");
        let bad = ServeArgs { trusted_proxies: vec!["proxy.lan".into()], ..ServeArgs::default() };
        let e = Config::resolve(&GlobalArgs::default(), Some(&bad), &env(&[])).expect_err("refused").to_string();
        assert!(e.contains("proxy.lan"), "{e}");
    }

    #[test]
    fn the_database_url_and_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url_file = dir.path().join("db-url");
        std::fs::write(&url_file, "postgres://kw:s3cret@db.example:5432/keyward\n").expect("write");
        let config = dir.path().join("keyward.toml");
        std::fs::write(&config, format!("[database]\nurl_file = {:?}\n", url_file.display().to_string()))
            .expect("write");
        let global = GlobalArgs { config: Some(config), ..GlobalArgs::default() };
        let c = Config::resolve(&global, None, &env(&[])).expect("resolves");
        assert_eq!(
            c.database,
            DatabaseUrl::Postgres(Secret::new("postgres://kw:s3cret@db.example:5432/keyward".into()))
        );
        assert!(!format!("{c:?}").contains("s3cret"), "a password never prints");

        let from_env = env(&[("KEYWARD_DATABASE_URL_FILE", url_file.to_str().expect("utf-8"))]);
        let c = Config::resolve(&GlobalArgs::default(), None, &from_env).expect("resolves");
        assert!(matches!(c.database, DatabaseUrl::Postgres(_)));

        let flag = GlobalArgs { database_url: Some("sqlite:///var/lib/kw.db".into()), ..global };
        let c = Config::resolve(&flag, None, &from_env).expect("resolves");
        assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("/var/lib/kw.db")), "the flag wins");

        let bad = GlobalArgs { database_url: Some("mysql://root:hunter2@x/db".into()), ..GlobalArgs::default() };
        let e = Config::resolve(&bad, None, &env(&[])).expect_err("refused").to_string();
        assert!(e.contains("sqlite://") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn sections_for_what_is_coming_with_secrets_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let password = dir.path().join("mqtt-password");
        std::fs::write(&password, "broker-pass\n").expect("write");
        let config = dir.path().join("keyward.toml");
        std::fs::write(
            &config,
            format!(
                "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nusername = \"kw\"\npassword_file = {:?}\n\n[zwave_js]\nurl = \"ws://127.0.0.1:3000\"\n\n[smtp]\nhost = \"mail.example\"\nsecurity = \"tls\"\npassword = \"smtp-pass\"\nfrom = \"keyward@example.org\"\n\n[notify]\nallow_private_targets = false\n",
                password.display().to_string()
            ),
        )
        .expect("write");
        let global = GlobalArgs { config: Some(config.clone()), ..GlobalArgs::default() };
        let c = Config::resolve(&global, None, &env(&[("KEYWARD_SMTP_PASSWORD", "from-env")])).expect("resolves");
        let mqtt = c.mqtt.as_ref().expect("mqtt");
        assert_eq!(
            (mqtt.address.to_string().as_str(), mqtt.username.as_deref()),
            ("mqtt://127.0.0.1:1883", Some("kw"))
        );
        assert_eq!(mqtt.password.as_ref().map(Secret::expose), Some("broker-pass"));
        assert!(!format!("{c:?}").contains("broker-pass"), "secrets never print");
        let smtp = c.smtp.as_ref().expect("smtp");
        assert_eq!(smtp.password.as_ref().map(Secret::expose), Some("from-env"), "the environment wins");
        assert_eq!(c.zwave_js.as_ref().map(|z| z.url.as_str()), Some("ws://127.0.0.1:3000"));
        assert!(!c.allow_private_targets);

        std::fs::write(&config, "[smtp]\nhost = \"mail.example\"\nsecurity = \"ssl\"\nfrom = \"k@x.org\"\n")
            .expect("write");
        assert!(Config::resolve(&global, None, &env(&[])).is_err(), "security is one of three");
        std::fs::write(&config, "[smtp]\nhost = \"mail.example\"\n").expect("write");
        let e = Config::resolve(&global, None, &env(&[])).expect_err("no from").to_string();
        assert!(e.contains("from is required"), "{e}");
        std::fs::write(&config, "[mqtt]\nurl = \"mqtt://x\"\npassword = \"hunter2\"\ncolour = 1\n").expect("write");
        let e = Config::resolve(&global, None, &env(&[])).expect_err("unknown key").to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
