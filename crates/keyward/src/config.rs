//! Configuration: command-line flags, then `KEYWARD_*` environment
//! variables, then the TOML file given by `--config`, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use keyward_core::ZoneName;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./keyward-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML file with any of: data_dir, listen, timezone, log.
    #[arg(long, env = "KEYWARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database and the key live [default: ./keyward-data].
    #[arg(long, env = "KEYWARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address to serve HTTP on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_LISTEN")]
    pub listen: Option<String>,
    /// The IANA time zone of the first home, made on first start [default: UTC].
    #[arg(long, env = "KEYWARD_TIMEZONE")]
    pub timezone: Option<String>,
    /// Log filter, such as info or keyward=debug [default: info].
    #[arg(long, env = "KEYWARD_LOG")]
    pub log: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    timezone: Option<String>,
    log: Option<String>,
}

#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub timezone: ZoneName,
    pub log: String,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = self.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let timezone = self.timezone.or(file.timezone);
        Ok(Config {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: listen.parse().with_context(|| format!("listen address {listen:?} is not IP:PORT"))?,
            timezone: match timezone {
                None => ZoneName::utc(),
                Some(name) => ZoneName::parse(&name).map_err(|e| anyhow::anyhow!("timezone {name:?}: {e}"))?,
            },
            log: self.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid keyward configuration", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs { config: None, data_dir: None, listen: None, timezone: None, log: None }
    }

    #[test]
    fn defaults() {
        let c = args().resolve().expect("defaults resolve");
        assert_eq!(c.data_dir, PathBuf::from("./keyward-data"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.timezone.as_str(), "UTC");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.toml");
        std::fs::write(&path, "data_dir = \"/srv/kw\"\nlisten = \"0.0.0.0:9000\"\ntimezone = \"Europe/Berlin\"\n")
            .expect("write");
        let c = ServeArgs { config: Some(path.clone()), listen: Some("127.0.0.1:1".into()), ..args() }
            .resolve()
            .expect("resolves");
        assert_eq!(c.data_dir, PathBuf::from("/srv/kw"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.timezone.as_str(), "Europe/Berlin");
        std::fs::write(&path, "colour = \"blue\"\n").expect("write");
        assert!(ServeArgs { config: Some(path), ..args() }.resolve().is_err(), "unknown keys are refused");
        assert!(ServeArgs { timezone: Some("Mars/Base".into()), ..args() }.resolve().is_err());
    }
}
