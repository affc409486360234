//! The `telemetryd` binary: parses the command line, loads the config, sets up logging,
//! runs the daemon until SIGTERM or SIGINT (reopening the log file on SIGHUP), and maps the
//! outcome to an exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use slog::{Logger, error, info, warn};
use telemetryd::logging::Logging;
use telemetryd::shutdown::{Received, Signals};
use telemetryd::{Config, logging};

/// mimalloc rather than glibc's malloc: every sample is a message allocated on the switches'
/// thread and freed on the writer's, a pattern glibc's per-thread arenas handle poorly. At
/// 100,000 switches, perf found about a tenth of the daemon's time in glibc's `_int_free`
/// and `malloc_consolidate`, and the daemon's CPU fell from 102 % to 73 % of a core with
/// mimalloc (same build otherwise, measured here on 2026-11-28). mimalloc v2: v3's peak
/// RSS was 35-40 MB higher at the same load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns a page it no longer uses to the OS `purge_delay` (10 ms) after it was
/// freed, but only when the thread that owns it next allocates or frees: an HTTP worker that
/// goes idle after a flood of connections never does, and the daemon kept its peak RSS for
/// good (debug build, measured: 9,000 silent connections took it from 63 to 215 MB, and it
/// stayed at 189 MB after they closed). Purging at once returns the memory as it is freed
/// (47 -> 206 -> 48 MB). It costs little: 529 `madvise` calls a second at 20,000 switches
/// sampled every second, and the daemon's CPU was no higher (5.6 s per 10 s, against 6.2 s).
fn purge_freed_memory_at_once() {
    // The option's number in mimalloc v2's `mi_option_t` (mimalloc.h); the Rust bindings
    // export `mi_option_set` only with a feature that pulls in another crate.
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: mimalloc's options are plain integers it re-reads when it purges; setting one
    // is allowed at any time, from any thread.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

/// Exit codes (documented in the README).
mod exit {
    /// The daemon could not start: a port is taken, signals could not be installed.
    pub const START_FAILED: u8 = 1;
    /// A second signal arrived while stopping.
    pub const INTERRUPTED: i32 = 130;
    /// Something panicked: the daemon exits rather than run half-dead (sysexits'
    /// EX_SOFTWARE), and systemd's Restart=on-failure starts a fresh one.
    pub const PANIC: i32 = 70;
    /// The configuration is invalid (sysexits' EX_CONFIG).
    pub const CONFIG: u8 = 78;
}

/// Simulates network-switch telemetry, keeps it in Redis and serves it over HTTP.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Configuration file (YAML). Default: telemetry.yaml in the working directory, if
    /// present. TELEMETRYD_<SECTION>__<KEY> environment variables override it.
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Load and validate the configuration, open logging.file as the daemon would, print
    /// any warnings, and exit (0 when valid, 78 when not). Binds nothing, changes nothing.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Reads the samples from Kafka (kafka.topic, group archive.group) and writes each one
    /// into the database (history.database), until SIGTERM or SIGINT.
    Archive,
    /// Bearer tokens for auth.tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Prints a fresh random token, and the auth.tokens entry (its SHA-256) to configure.
    /// The token itself is shown only here: the daemon keeps only its hash.
    New {
        /// Who will hold it (shown in logs and metrics): letters, digits, '.', '_', '-'.
        name: String,
        /// read (the telemetry routes, /metrics) or admin.
        #[arg(long, default_value = "read")]
        scope: String,
    },
}

/// `telemetryd token new NAME`: needs no config.
fn token_new(name: &str, scope: &str) -> ExitCode {
    let valid = telemetryd::config::valid_token_name(name);
    if !valid || !matches!(scope, "read" | "admin") {
        eprintln!(
            "telemetryd: a token's name is 1 to 64 letters, digits, '.', '_' or '-', and its scope read or admin"
        );
        return ExitCode::from(2);
    }
    match telemetryd::auth::new_token() {
        Ok((token, sha256)) => {
            println!("token: {token}");
            println!(
                "# Give the token to {name}; put this under auth.tokens (the daemon keeps only the hash):"
            );
            println!("  - {{name: {name}, scope: {scope}, sha256: {sha256}}}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("telemetryd: cannot draw random bytes: {e}");
            ExitCode::from(exit::START_FAILED)
        }
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let cli = Cli::parse();
    if let Some(Command::Token(TokenCommand::New { name, scope })) = &cli.command {
        return token_new(name, scope);
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("telemetryd: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    // Opened for --check-config too, by the same code: a log file the daemon cannot open
    // is a config error either way. Shared with the stop-signal task; whoever drops it last
    // (when the System ends) writes the lines still queued.
    let log_file_existed = config.log_file().is_some_and(Path::exists);
    let (log, logging) = match logging::build(config.logging.level, config.log_file()) {
        Ok((log, logging)) => (log, Arc::new(logging)),
        Err(e) => {
            eprintln!("telemetryd: invalid configuration:\n  logging.file: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let warnings = config.warnings();
    if cli.check_config {
        // A check changes nothing: a log file it created goes again.
        if let Some(file) = config.log_file().filter(|_| !log_file_existed) {
            let _ = std::fs::remove_file(file);
        }
        if !warnings.is_empty() {
            eprintln!("telemetryd: configuration warnings:");
            for w in &warnings {
                eprintln!("  {w}");
            }
        }
        println!("telemetryd: configuration is valid");
        return ExitCode::SUCCESS;
    }

    exit_on_panic();
    if let Some(Command::Archive) = cli.command {
        return archive(config, log);
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let mut signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => {
                error!(log, "Cannot install signal handlers."; "error" => %e);
                return ExitCode::from(exit::START_FAILED);
            }
        };
        info!(log, "Starting."; "version" => env!("CARGO_PKG_VERSION"), "pid" => std::process::id());
        for w in &warnings {
            warn!(log, "Configuration beyond what was measured."; "key" => w.key.as_str(), "warning" => w.message.as_str());
        }
        let daemon = match telemetryd::run(config, log.clone()).await {
            Ok(daemon) => daemon,
            Err(e) => {
                error!(log, "Cannot start."; "error" => %e);
                eprintln!("telemetryd: {e}");
                return ExitCode::from(exit::START_FAILED);
            }
        };
        let mut drops = tokio::time::interval(logging::DROP_REPORT_INTERVAL);
        let signal = loop {
            tokio::select! {
                received = signals.next() => {
                    if let Some(stop) = unless_stop(received, &log, &logging) {
                        break stop;
                    }
                }
                _ = drops.tick() => logging.report_drops(),
            }
        };
        info!(log, "Signal received; stopping."; "signal" => signal);
        let (stop_log, stop_logging) = (log.clone(), logging.clone());
        actix_web::rt::spawn(async move {
            loop {
                let received = signals.next().await;
                if let Some(signal) = unless_stop(received, &stop_log, &stop_logging) {
                    logging::last_words(slog::Level::Warning, "Second signal; exiting at once.", signal);
                    std::process::exit(exit::INTERRUPTED);
                }
            }
        });
        daemon.shutdown().await;
        logging.report_drops();
        ExitCode::SUCCESS
    })
}

/// `telemetryd archive`: runs the archiver until SIGTERM or SIGINT.
fn archive(config: telemetryd::Config, log: Logger) -> ExitCode {
    if let Err(e) = telemetryd::archive::check(&config) {
        eprintln!("telemetryd: invalid configuration: {e}");
        return ExitCode::from(exit::CONFIG);
    }
    actix_web::rt::System::new().block_on(async move {
        let mut signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => {
                error!(log, "Cannot install signal handlers."; "error" => %e);
                return ExitCode::from(exit::START_FAILED);
            }
        };
        info!(log, "Starting the archiver."; "version" => env!("CARGO_PKG_VERSION"), "pid" => std::process::id());
        let archiver = match telemetryd::archive::run(config, log.clone()).await {
            Ok(archiver) => archiver,
            Err(e) => {
                error!(log, "Cannot start."; "error" => %e);
                eprintln!("telemetryd: {e}");
                return ExitCode::from(exit::START_FAILED);
            }
        };
        telemetryd::systemd::ready("Archiving Kafka samples into the database.");
        let looping = archiver.looping();
        telemetryd::systemd::start_watchdog_with(
            log.clone(),
            "The archive loop has ended; not pinging systemd.",
            move || std::future::ready(looping.load(std::sync::atomic::Ordering::Relaxed)),
        );
        let signal = loop {
            if let Received::Stop(signal) = signals.next().await {
                break signal;
            }
        };
        info!(log, "Signal received; stopping."; "signal" => signal);
        telemetryd::systemd::stopping();
        archiver.shutdown().await;
        info!(log, "Stopped.");
        ExitCode::SUCCESS
    })
}

/// Handles a signal that does not stop the daemon (SIGHUP reopens the log file, SIGUSR1/2
/// are logged and ignored); a stop signal is handed back by name.
fn unless_stop(received: Received, log: &Logger, logging: &Logging) -> Option<&'static str> {
    match received {
        Received::Stop(signal) => return Some(signal),
        Received::Reopen(signal) => logging.reopen(log, signal),
        Received::Ignore(signal) => info!(log, "Signal ignored."; "signal" => signal),
    }
    None
}

/// Any panic, on any thread (an actor, an HTTP worker), ends the process with
/// `exit::PANIC`. An actor that died would leave a daemon that answers HTTP but no longer
/// samples, writes or syncs; a clean exit lets systemd restart a whole one.
fn exit_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let what = info.to_string();
        logging::last_words(
            slog::Level::Critical,
            "Panic; exiting so the supervisor restarts the daemon.",
            &what,
        );
        std::process::exit(exit::PANIC);
    }));
}
