//! `keyward owner reset-password | setup-code`: the way back in.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use keyward_app::Owners;
use zeroize::Zeroizing;

use crate::clock::SystemClock;
use crate::command;
use crate::config::GlobalArgs;

#[derive(Subcommand)]
pub enum OwnerCommand {
    /// Set a new password for an owner, read from standard input (one line),
    /// and end all of that owner's sessions.
    ResetPassword {
        /// The owner's email address.
        #[arg(long)]
        email: String,
    },
    /// Print a new one-time setup code for the web UI's first-run page
    /// (only while no owner exists).
    SetupCode,
}

pub fn run(global: &GlobalArgs, command: &OwnerCommand) -> anyhow::Result<()> {
    command::with_store(global, |store, out| async move {
        let owners = Owners::new(store, Arc::new(SystemClock));
        match command {
            OwnerCommand::ResetPassword { email } => {
                crate::console::note(&format!("New password for {email} (one line on standard input):"));
                let mut line = Zeroizing::new(String::new());
                std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
                let password = line.trim_end_matches(['\n', '\r']);
                owners
                    .reset_password(email, password)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("the password was not changed")?;
                out.line(&format!("Password changed; every session of {email} has ended."))?;
            }
            OwnerCommand::SetupCode => match owners.new_setup_code().await? {
                Some(code) => out.line(&code)?,
                None => bail!("an owner exists already: use `keyward owner reset-password`"),
            },
        }
        Ok(())
    })
}
