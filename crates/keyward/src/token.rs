//! `keyward token create | list | revoke`.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use keyward_app::Tokens;
use keyward_core::Scope;

use crate::clock::SystemClock;
use crate::command::{self, Output};
use crate::config::GlobalArgs;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once, on the last line.
    Create {
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
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

pub fn run(global: &GlobalArgs, command: &TokenCommand) -> anyhow::Result<()> {
    if let TokenCommand::Create { scope, .. } = command
        && Scope::parse(scope).is_none()
    {
        bail!("--scope must be admin, read or device");
    }
    command::with_store(global, |store, out| async move {
        let tokens = Tokens::new(store.clone(), store, Arc::new(SystemClock));
        run_with(&tokens, command, out).await
    })
}

async fn run_with(tokens: &Tokens, command: &TokenCommand, out: Output) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scope, home } => {
            let scope = Scope::parse(scope).context("--scope must be admin, read or device")?;
            let (token, secret) =
                tokens.create(name, scope, home.as_deref()).await.context("cannot create the token")?;
            let heading = format!(
                "Created {} token {:?} (id {}). It is shown only this once:",
                token.scope.as_str(),
                token.name,
                token.id
            );
            // A token nobody saw must not stay valid unnoticed: say how to revoke it.
            out.line(&heading).and_then(|()| out.line(&secret)).with_context(|| {
                format!(
                    "the token {:?} (id {}) was created but not shown; revoke it with `keyward token revoke {}`",
                    token.name, token.id, token.id
                )
            })?;
        }
        TokenCommand::List => {
            out.line(&format!("{:<24}  {:<6}  {:<24}  {:<8}  name", "id", "scope", "home", "status"))?;
            for t in tokens.list().await? {
                let status = if t.revoked_at.is_some() { "revoked" } else { "active" };
                out.line(&format!(
                    "{:<24}  {:<6}  {:<24}  {:<8}  {}",
                    t.id,
                    t.scope.as_str(),
                    t.home_id.as_deref().unwrap_or("(any)"),
                    status,
                    t.name
                ))?;
            }
        }
        TokenCommand::Revoke { id } => {
            tokens.revoke(id).await?;
            out.line(&format!("Revoked token {id}."))?;
        }
    }
    Ok(())
}
