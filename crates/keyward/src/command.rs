//! What the commands other than `serve` share: the same configuration as
//! `serve`, storage opened on existing data only, and output that does not
//! take the process down when standard output is closed.

use std::future::Future;
use std::sync::Arc;

use keyward_store::Store;

use crate::config::{Config, GlobalArgs, ProcessEnvironment};
use crate::storage::{Purpose, Storage};

/// Standard output for a command's results. A closed pipe (`| head -1`)
/// is an error the command reports, not a panic.
#[derive(Clone, Copy)]
pub struct Output;

impl Output {
    pub fn line(&self, text: &str) -> Result<(), crate::console::StdoutClosed> {
        crate::console::line(text)
    }
}

/// Runs `work` with the configuration and the storage (its vault too),
/// opened for a command, and closes the storage afterwards.
pub fn with_storage<F, Fut>(global: &GlobalArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(Config, Arc<dyn Store>, Arc<keyward_store::Vault>, Output) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::resolve(global, None, &ProcessEnvironment)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let storage = Storage::open(&config, Purpose::Command).await?;
        let result = work(config, storage.store.clone(), storage.vault.clone(), Output).await;
        storage.close().await;
        result
    })
}

/// Runs `work` against the configured storage, opened for a command, and
/// closes the storage afterwards, whatever the outcome.
pub fn with_store<F, Fut>(global: &GlobalArgs, work: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn Store>, Output) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::resolve(global, None, &ProcessEnvironment)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let storage = Storage::open(&config, Purpose::Command).await?;
        let result = work(storage.store.clone(), Output).await;
        storage.close().await;
        result
    })
}
