//! slog drains: logfmt lines on stderr (with journald priority prefixes under systemd) and,
//! when configured, the same lines appended to a file.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use slog::{Drain, Level, Logger, Never, Record, o};

use crate::config::LogLevel;

/// Keeps the asynchronous drain alive; dropping it flushes the lines still queued.
pub type LogGuard = slog_async::AsyncGuard;

/// Lines queued for the logging thread before new ones are dropped (and the drop counted in
/// a later line) rather than slowing request handling.
const QUEUE_LINES: usize = 16_384;

/// Builds the daemon's root logger.
///
/// Under systemd (`JOURNAL_STREAM` set) each stderr line starts with `<N>`, the syslog
/// priority, which journald strips and stores, so `journalctl -p warning` filters by level;
/// journald adds its own timestamp. Elsewhere lines start with an RFC 3339 timestamp. No
/// colour codes either way.
pub fn build(level: LogLevel, file: Option<&Path>) -> io::Result<(Logger, LogGuard)> {
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let stderr = slog_logfmt::Logfmt::new(io::stderr())
        .set_prefix(if under_journald {
            journald_prefix
        } else {
            timestamp_prefix
        })
        .print_msg(true)
        .build()
        .ignore_res();
    let drain: Box<dyn Drain<Ok = (), Err = Never> + Send> = match file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot open log file {}: {e}", path.display()),
                    )
                })?;
            let file = slog_logfmt::Logfmt::new(file)
                .set_prefix(timestamp_prefix)
                .print_msg(true)
                .build()
                .ignore_res();
            Box::new(slog::Duplicate::new(stderr, file).ignore_res())
        }
        None => Box::new(stderr),
    };
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(QUEUE_LINES)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .thread_name("telemetryd-log".into())
        .build_with_guard();
    // Filtered before the queue: a line below the level costs a comparison, not a trip
    // through the channel to the logging thread.
    let drain = slog::LevelFilter::new(drain.fuse(), slog_level(level)).fuse();
    Ok((Logger::root(drain, o!()), guard))
}

/// A logger that drops everything (for tests and library users that bring none).
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

fn slog_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warning => Level::Warning,
        LogLevel::Error => Level::Error,
        LogLevel::Critical => Level::Critical,
    }
}

/// The syslog priority journald files a line under.
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::Error => 3,
        Level::Warning => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn journald_prefix(w: &mut dyn io::Write, record: &Record) -> slog::Result {
    write!(
        w,
        "<{}>level={} ",
        syslog_priority(record.level()),
        record.level().as_str()
    )?;
    Ok(())
}

fn timestamp_prefix(w: &mut dyn io::Write, record: &Record) -> slog::Result {
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    write!(w, "ts={now} level={} ", record.level().as_str())?;
    Ok(())
}

/// Writes one line straight to stderr, bypassing the asynchronous drain: for the last words
/// of a process that is about to exit (a panic, a second signal), which the logging thread
/// might not get to write.
pub fn last_words(level: Level, msg: &str, detail: &str) {
    let detail = detail.replace('"', "'").replace('\n', " ");
    let prefix = match std::env::var_os("JOURNAL_STREAM") {
        Some(_) => format!("<{}>", syslog_priority(level)),
        None => format!(
            "ts={} ",
            humantime::format_rfc3339_millis(SystemTime::now())
        ),
    };
    eprintln!(
        "{prefix}level={} msg=\"{msg}\" detail=\"{detail}\"",
        level.as_str()
    );
}
