//! The keyward binary: the command line, configuration, and wiring.

mod channel;
mod clock;
mod command;
mod config;
mod console;
mod owner;
mod serve;
mod sim_lock;
mod storage;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Requests are parsed on the async workers and their log entries freed on
/// the writer thread; mimalloc handles that cross-thread traffic with much
/// less CPU than glibc's allocator (measured: docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "keyward", version, about = "A self-hosted access hub for the home")]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub: the REST API, the web UI, and everything behind them.
    Serve(config::ServeArgs),
    /// Create, list or revoke API tokens (works while the hub is running).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Owner accounts of the web UI: reset a password, or make a new setup code.
    #[command(subcommand)]
    Owner(owner::OwnerCommand),
    /// A home's alert channels: list, add, remove, send a test (works while the hub is running).
    #[command(subcommand)]
    Channel(channel::ChannelCommand),
    /// Simulated devices, to try keyward without hardware.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// A virtual Zigbee keypad lock speaking Zigbee2MQTT's payloads over MQTT;
    /// type codes at its prompt.
    Lock(sim_lock::SimLockArgs),
}

/// mimalloc keeps freed memory committed for reuse by default; on a small
/// box the memory matters more. These options make it return memory to the
/// OS at once and commit its arena only as it is used: the hub sits at
/// ~14 MB after a load instead of ~30 MB (docs/benchmarks.md).
///
/// They must be set before the first allocation reserves the arena, which
/// happens before `main`; so they are set from a constructor that runs ahead
/// of mimalloc's own (a numbered `.init_array` entry runs before unnumbered
/// ones, and nothing allocates through Rust's allocator before `main`).
mod allocator_options {
    use libmimalloc_sys::{mi_option_set, mi_option_t};

    // Positions in mimalloc 3's `mi_option_e` (include/mimalloc.h), which the
    // sys crate does not name yet; Cargo.lock pins the version they are for.
    const ARENA_EAGER_COMMIT: mi_option_t = 4;
    const PURGE_DELAY: mi_option_t = 15;

    extern "C" fn set() {
        // SAFETY: mi_option_set stores an integer in mimalloc's option table.
        // It runs single-threaded, before any allocation.
        #[allow(unsafe_code)]
        unsafe {
            mi_option_set(ARENA_EAGER_COMMIT, 0);
            mi_option_set(PURGE_DELAY, 0);
        }
    }

    #[used]
    #[allow(unsafe_code)]
    #[unsafe(link_section = ".init_array.00200")]
    static SET_BEFORE_FIRST_ALLOCATION: extern "C" fn() = set;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Token(command) => token::run(&cli.global, command),
        Command::Owner(command) => owner::run(&cli.global, command),
        Command::Channel(command) => channel::run(&cli.global, command),
        Command::Sim(SimCommand::Lock(args)) => sim_lock::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            console::note(&format!("keyward: {e:#}"));
            if e.chain().any(|cause| cause.is::<console::StdoutClosed>()) {
                ExitCode::from(console::STDOUT_CLOSED_STATUS)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
