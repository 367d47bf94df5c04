//! `keyward channel`: a home's alert channels from the command line, beside
//! a running hub (it takes the change in within a few seconds) or without
//! one. The same rules as the API: the kinds this configuration can send,
//! private receivers only when allowed, names unique in the home, every
//! change in the activity log (as `token:cli`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::SystemClock;
use anyhow::{Context, bail};
use keyward_app::{App, ChannelInput, Channels, Deliverable};
use keyward_core::Actor;
use keyward_core::channel::{ChannelKind, ChannelTarget, HttpUrl};
use keyward_core::notify::QuietHours;
use zeroize::Zeroizing;

use crate::command::{self, Output};
use crate::config::{Config, GlobalArgs};

#[derive(clap::Subcommand)]
pub enum ChannelCommand {
    /// List the home's channels (an address by its host only: a path may be a receiver's secret).
    List {
        /// The home (needed when there are several).
        #[arg(long)]
        home: Option<String>,
    },
    /// Add a channel; a webhook's signing secret is printed once, on the last line.
    Add {
        #[arg(long)]
        home: Option<String>,
        /// A name to recognise it by ("Anna's phone").
        #[arg(long)]
        name: String,
        /// webhook, email, ntfy or mqtt.
        #[arg(long)]
        kind: String,
        /// A webhook's URL, or an ntfy topic's URL.
        #[arg(long)]
        url: Option<String>,
        /// An email channel's recipient.
        #[arg(long)]
        to: Option<String>,
        /// An MQTT channel's topic.
        #[arg(long)]
        topic: Option<String>,
        /// A file holding an ntfy access token (kept sealed, never shown again).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Also send duress, lockouts and lock problems here.
        #[arg(long)]
        emergency: bool,
        /// Hold back all but emergencies between these times: 22:00-07:00.
        #[arg(long)]
        quiet: Option<String>,
    },
    /// Remove a channel by its id (what it had still to deliver is dropped).
    Remove {
        #[arg(long)]
        home: Option<String>,
        id: String,
    },
    /// Queue a test message on a channel (a running hub sends it within 30 s).
    Test {
        #[arg(long)]
        home: Option<String>,
        id: String,
    },
}

/// Who the activity log names for a change made here.
fn actor() -> Actor {
    Actor::Token("cli".to_owned())
}

pub fn run(global: &GlobalArgs, command: &ChannelCommand) -> anyhow::Result<()> {
    command::with_storage(global, |config, store, vault, out| async move {
        let homes = store.load().await?.homes;
        let channels = App::channels_for_command(store, vault, Arc::new(SystemClock), deliverable(&config)).await?;
        let home = |given: &Option<String>| -> anyhow::Result<String> {
            match (given, homes.as_slice()) {
                (Some(id), _) if homes.iter().any(|h| &h.id == id) => Ok(id.clone()),
                (Some(id), _) => bail!("no home with id {id}"),
                (None, [only]) => Ok(only.id.clone()),
                (None, _) => bail!("this hub has several homes: say which with --home"),
            }
        };
        match command {
            ChannelCommand::List { home: given } => list(&channels, &home(given)?, out).await,
            ChannelCommand::Add { home: given, name, kind, url, to, topic, token_file, emergency, quiet } => {
                let target = target(kind, url.as_deref(), to.as_deref(), topic.as_deref())?;
                let token = match token_file {
                    None => None,
                    Some(path) => {
                        let text = Zeroizing::new(
                            std::fs::read_to_string(path)
                                .with_context(|| format!("reading the token file {}", path.display()))?,
                        );
                        Some(Zeroizing::new(text.trim().to_owned()))
                    }
                };
                let quiet = quiet.as_deref().map(quiet_hours).transpose()?;
                let input = ChannelInput { name: name.clone(), target, emergency: *emergency, quiet, token };
                let (channel, secret) = channels.create(&home(given)?, input, actor()).await?;
                let line = format!("Added {} channel {:?} (id {}).", channel.target.kind().as_str(), name, channel.id);
                match secret {
                    None => out.line(&line)?,
                    Some(bytes) => {
                        out.line(&format!("{line} Its signing secret, shown only this once:"))?;
                        out.line(&keyward_web::webhook_secret_text(&bytes))?;
                    }
                }
                Ok(())
            }
            ChannelCommand::Remove { home: given, id } => {
                channels.delete(&home(given)?, id, actor()).await?;
                out.line(&format!("Removed channel {id}."))?;
                Ok(())
            }
            ChannelCommand::Test { home: given, id } => {
                channels.test(&home(given)?, id).await?;
                out.line("A test message is queued; a running hub sends it within 30 seconds.")?;
                Ok(())
            }
        }
    })
}

/// What this configuration can send: webhooks and ntfy always, email with
/// `[smtp]`, MQTT with `[mqtt]`.
fn deliverable(config: &Config) -> Deliverable {
    let mut kinds = vec![ChannelKind::Webhook, ChannelKind::Ntfy];
    if config.smtp.is_some() {
        kinds.push(ChannelKind::Email);
    }
    if config.mqtt.is_some() {
        kinds.push(ChannelKind::Mqtt);
    }
    let mqtt_alerts_prefix = config
        .mqtt
        .as_ref()
        .map_or(keyward_core::channel::DEFAULT_ALERTS_PREFIX, |m| m.alerts_prefix.as_str())
        .to_owned();
    Deliverable { kinds, allow_private_targets: config.allow_private_targets, mqtt_alerts_prefix }
}

fn target(kind: &str, url: Option<&str>, to: Option<&str>, topic: Option<&str>) -> anyhow::Result<ChannelTarget> {
    Ok(match (kind, url, to, topic) {
        ("webhook", Some(url), None, None) => ChannelTarget::Webhook { url: HttpUrl::parse(url)? },
        ("ntfy", Some(url), None, None) => ChannelTarget::Ntfy { url: HttpUrl::parse(url)? },
        ("email", None, Some(to), None) => ChannelTarget::email(to)?,
        ("mqtt", None, None, Some(topic)) => ChannelTarget::Mqtt { topic: ChannelTarget::mqtt_topic(topic)? },
        ("webhook" | "ntfy", ..) => bail!("a {kind} channel takes --url (and no --to or --topic)"),
        ("email", ..) => bail!("an email channel takes --to (and no --url or --topic)"),
        ("mqtt", ..) => bail!("an MQTT channel takes --topic (and no --url or --to)"),
        _ => bail!("--kind is webhook, email, ntfy or mqtt"),
    })
}

fn quiet_hours(text: &str) -> anyhow::Result<QuietHours> {
    let time = |t: &str| jiff::civil::Time::strptime("%H:%M", t.trim()).ok();
    let parsed =
        text.split_once('-').and_then(|(start, end)| Some(QuietHours { start: time(start)?, end: time(end)? }));
    parsed.context("--quiet is two times such as 22:00-07:00")
}

async fn list(channels: &Channels, home: &str, out: Output) -> anyhow::Result<()> {
    out.line(&format!("{:<24}  {:<7}  {:<9}  {:<20}  target", "id", "kind", "emergency", "name"))?;
    for view in channels.list(home).await? {
        let c = view.channel;
        let target = match &c.target {
            ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => url.host_only(),
            ChannelTarget::Email { to } => to.as_str().to_owned(),
            ChannelTarget::Mqtt { topic } => topic.clone(),
        };
        out.line(&format!(
            "{:<24}  {:<7}  {:<9}  {:<20}  {target}",
            c.id,
            c.target.kind().as_str(),
            if c.emergency { "yes" } else { "no" },
            c.name.as_str()
        ))?;
    }
    Ok(())
}
