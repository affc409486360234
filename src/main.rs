//! The `telemetryd` binary: parses the command line, loads the config, sets up logging,
//! runs the daemon until SIGTERM or SIGINT, and maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slog::{error, info};
use telemetryd::shutdown::Signals;
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
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Load and validate the configuration, print it, and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("telemetryd: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    if cli.check_config {
        println!("telemetryd: configuration is valid");
        return ExitCode::SUCCESS;
    }
    let (log, _flush_logs_on_exit) = match logging::build(config.logging.level, config.log_file()) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("telemetryd: invalid configuration:\n  logging.file: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };

    exit_on_panic();
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
        let daemon = match telemetryd::run(config, log.clone()).await {
            Ok(daemon) => daemon,
            Err(e) => {
                error!(log, "Cannot start."; "error" => %e);
                eprintln!("telemetryd: {e}");
                return ExitCode::from(exit::START_FAILED);
            }
        };
        let signal = signals.next().await;
        info!(log, "Signal received; stopping."; "signal" => signal);
        actix_web::rt::spawn(async move {
            let signal = signals.next().await;
            logging::last_words(slog::Level::Warning, "Second signal; exiting at once.", signal);
            std::process::exit(exit::INTERRUPTED);
        });
        daemon.shutdown().await;
        ExitCode::SUCCESS
    })
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
