//! `keyward owner reset-password | setup-code`: the way back in.

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;
use keyward_app::owners;
use keyward_store::Db;
use zeroize::Zeroizing;

use crate::token::DataDir;

#[derive(Subcommand)]
pub enum OwnerCommand {
    /// Set a new password for an owner, read from standard input (one line),
    /// and end all of that owner's sessions.
    ResetPassword {
        #[command(flatten)]
        dir: DataDir,
        /// The owner's email address.
        #[arg(long)]
        email: String,
    },
    /// Print a new one-time setup code for the web UI's first-run page
    /// (only while no owner exists).
    SetupCode {
        #[command(flatten)]
        dir: DataDir,
    },
}

pub fn run(command: OwnerCommand) -> anyhow::Result<()> {
    match command {
        OwnerCommand::ResetPassword { dir, email } => {
            let opened = Db::open(&dir.data_dir)?;
            eprintln!("New password for {email} (one line on standard input):");
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
            let password = line.trim_end_matches(['\n', '\r']);
            owners::reset_password(&opened.connection, &email, password)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("the password was not changed")?;
            println!("Password changed; every session of {email} has ended.");
        }
        OwnerCommand::SetupCode { dir } => {
            let opened = Db::open(&dir.data_dir)?;
            match owners::new_setup_code(&opened.connection)? {
                Some(code) => println!("{code}"),
                None => bail!("an owner exists already: use `keyward owner reset-password`"),
            }
        }
    }
    Ok(())
}
