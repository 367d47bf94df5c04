//! `keyward token create | list | revoke`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keyward_app::{Scope, tokens};
use keyward_store::Db;

use crate::config::DEFAULT_DATA_DIR;

#[derive(Args)]
pub struct DataDir {
    /// The hub's data directory.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once, on the last line.
    Create {
        #[command(flatten)]
        dir: DataDir,
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// admin (everything), read (GET and previews by user), device (the access endpoint only).
        #[arg(long)]
        scope: String,
        /// Bind the token to one home.
        #[arg(long)]
        home: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Revoke a token by its id.
    Revoke {
        #[command(flatten)]
        dir: DataDir,
        id: String,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { dir, name, scope, home } => {
            let Some(scope) = Scope::parse(&scope) else { bail!("--scope must be admin, read or device") };
            let opened = Db::open(&dir.data_dir)?;
            let (row, secret) =
                tokens::create(&opened.connection, &name, scope, home.as_deref()).context("cannot create the token")?;
            println!("Created {} token {:?} (id {}). It is shown only this once:", row.scope, row.name, row.id);
            println!("{secret}");
        }
        TokenCommand::List { dir } => {
            let opened = Db::open(&dir.data_dir)?;
            println!("{:<24}  {:<6}  {:<24}  {:<8}  name", "id", "scope", "home", "status");
            for t in tokens::list(&opened.connection)? {
                let status = if t.revoked_at.is_some() { "revoked" } else { "active" };
                println!(
                    "{:<24}  {:<6}  {:<24}  {:<8}  {}",
                    t.id,
                    t.scope,
                    t.home_id.as_deref().unwrap_or("(any)"),
                    status,
                    t.name
                );
            }
        }
        TokenCommand::Revoke { dir, id } => {
            let opened = Db::open(&dir.data_dir)?;
            tokens::revoke(&opened.connection, &id)?;
            println!("Revoked token {id}.");
        }
    }
    Ok(())
}
