//! actix-server's own warnings and errors (sent through the `log` crate, which nothing else
//! in the daemon reads) into the daemon's log. Its accept loop logs every failed accept (out
//! of file descriptors: every 500 ms, for as long as it lasts); that becomes one line when
//! accepting starts failing and one when a connection is accepted again.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::{Logger, error, info, warn};

/// Whether the last accept failed, process-wide (actix-server's accept threads share it).
static ACCEPT_FAILING: AtomicBool = AtomicBool::new(false);
/// Where the forwarded lines go: the logger of the first daemon started in the process.
static LOG: OnceLock<Logger> = OnceLock::new();

/// The prefix of actix-server's line for a failed accept (`accept.rs`).
const ACCEPT_ERROR: &str = "Error accepting connection: ";

/// Forwards actix-server's warnings and errors to `log` from now on. Only the first call
/// in a process installs anything (the `log` crate takes one logger per process).
pub fn install(log: &Logger) {
    if LOG.set(log.clone()).is_ok() && log::set_boxed_logger(Box::new(Forward)).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// A connection was accepted: if accepting had been failing, that is logged as over.
pub fn accepted() {
    if ACCEPT_FAILING.load(Ordering::Relaxed) && ACCEPT_FAILING.swap(false, Ordering::AcqRel) {
        accepting_again();
    }
}

fn accepting_again() {
    if let Some(log) = LOG.get() {
        info!(log, "Accepting connections again.");
    }
}

/// Accepting a connection failed (`error` as actix-server words it): logged once until a
/// connection is accepted again.
fn accept_failed(error: &str) {
    if !ACCEPT_FAILING.swap(true, Ordering::AcqRel)
        && let Some(log) = LOG.get()
    {
        error!(log, "Cannot accept connections; retrying every 500 ms."; "error" => error);
    }
}

struct Forward;

impl log::Log for Forward {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn && metadata.target().starts_with("actix_server")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        if let Some(error) = message.strip_prefix(ACCEPT_ERROR) {
            accept_failed(error);
        } else if let Some(log) = LOG.get() {
            warn!(log, "HTTP server: {}.", message.trim_end_matches('.'); "target" => record.target());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_accept_loop_is_logged_once_until_a_connection_is_accepted() {
        use crate::logging::tests::Buf;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        use slog::Drain;
        let drain = slog_logfmt::Logfmt::new(Buf(buf.clone()))
            .no_prefix()
            .print_msg(true)
            .build();
        install(&Logger::root(
            std::sync::Mutex::new(drain).fuse(),
            slog::o!(),
        ));
        let failed = || {
            log::logger().log(
                &log::Record::builder()
                    .level(log::Level::Error)
                    .target("actix_server::accept")
                    .args(format_args!(
                        "Error accepting connection: Too many open files (os error 24)"
                    ))
                    .build(),
            )
        };
        failed();
        failed();
        failed();
        accepted();
        accepted();
        failed();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "msg=\"Cannot accept connections; retrying every 500 ms.\" error=\"Too many open files (os error 24)\"",
                "msg=\"Accepting connections again.\"",
                "msg=\"Cannot accept connections; retrying every 500 ms.\" error=\"Too many open files (os error 24)\"",
            ]
        );
    }
}
