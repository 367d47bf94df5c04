//! `keyward serve`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keyward_app::Hub;
use keyward_store::Db;
use tracing_subscriber::EnvFilter;

use crate::config::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("the log filter is not valid")?)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();

    let opened = Db::open(&config.data_dir)?;
    let setup_code = if opened.created { keyward_app::owners::new_setup_code(&opened.connection)? } else { None };
    let first_start = opened.created;
    let (hub, writer) = Hub::start(opened, &config.timezone)?;
    if first_start {
        print_first_start(&config.data_dir, setup_code.as_deref());
    }
    let hub = Arc::new(hub);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "listening on {}", listener.local_addr()?);
        // The peer address feeds sign-in throttling per client address.
        let app = keyward_web::router(Arc::clone(&hub)).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let stopping = Arc::clone(&hub);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                // Live streams never end on their own; end them so the server can drain.
                stopping.close_streams();
            })
            .await
            .context("the HTTP server failed")
    })?;
    // Every acknowledged write is already committed; this lets the writer
    // finish anything still queued before the process ends.
    drop(hub);
    runtime.shutdown_timeout(Duration::from_secs(5));
    writer.join();
    tracing::info!("stopped");
    Ok(())
}

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

fn print_first_start(data_dir: &Path, setup_code: Option<&str>) {
    let exe = std::env::current_exe().ok().map(|p| p.display().to_string()).unwrap_or_else(|| "keyward".to_owned());
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    println!("keyward: this is the first start with the data directory {}.", dir.display());
    println!("keyward: back up keyward.key from it: without the key, the codes in the database cannot be used.");
    println!("keyward: create your first admin token with:");
    println!(
        "  {} token create --data-dir {} --name admin --scope admin",
        shell_quote(&exe),
        shell_quote(&dir.display().to_string())
    );
    if let Some(code) = setup_code {
        // Printed once: it lets the first person at the web UI become its owner.
        println!("keyward: the one-time setup code for the owner's account in the web UI is {code}");
    }
}

fn shell_quote(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
