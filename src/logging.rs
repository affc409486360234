//! slog drains: logfmt lines on stderr (with journald priority prefixes under systemd) and,
//! when configured, the same lines appended to a file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use slog::{Drain, Level, Logger, Never, OwnedKVList, Record, error, info, o};
use slog_async::{AsyncCore, AsyncGuard};

use crate::config::LogLevel;

/// Lines queued for the logging thread before new ones are dropped (and counted, see
/// [`Logging::report_drops`]) rather than slowing request handling.
const QUEUE_LINES: usize = 16_384;

/// How often the binary reports dropped lines, at most: one WARNING line per interval
/// however many were dropped, so a flood cannot flood `journalctl -p warning` in turn.
pub const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// What the binary keeps of its logging once the root logger is built: dropping it writes
/// the lines still queued; it also reopens the log file (SIGHUP) and reports dropped lines.
pub struct Logging {
    queue: Arc<CountDrops>,
    level: Level,
    file: Option<LogFile>,
    // Last: the fields above hold no thread, the guard joins the logging thread.
    _guard: AsyncGuard,
}

/// The log file and the handle that makes its writer reopen it before its next line.
struct LogFile {
    path: PathBuf,
    handle: reopen::Handle,
}

/// Builds the daemon's root logger.
///
/// Under systemd (`JOURNAL_STREAM` set) each stderr line starts with `<N>`, the syslog
/// priority, which journald strips and stores, so `journalctl -p warning` filters by level;
/// journald adds its own timestamp. Elsewhere lines start with an RFC 3339 timestamp. No
/// colour codes either way.
pub fn build(level: LogLevel, file: Option<&Path>) -> io::Result<(Logger, Logging)> {
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    // slog-logfmt writes a line in a dozen pieces and flushes at its end: buffered, a line
    // is one write(2) instead of a dozen.
    let stderr = slog_logfmt::Logfmt::new(BufWriter::new(io::stderr()))
        .set_prefix(if under_journald {
            journald_prefix
        } else {
            timestamp_prefix
        })
        .print_msg(true)
        .build()
        .ignore_res();
    let (drain, file): (Box<dyn Drain<Ok = (), Err = Never> + Send>, _) = match file {
        Some(path) => {
            let owned = path.to_path_buf();
            let writer =
                reopen::Reopen::new(Box::new(move || open_append(&owned))).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot open log file {}: {e}", path.display()),
                    )
                })?;
            let handle = writer.handle();
            let file_drain = slog_logfmt::Logfmt::new(BufWriter::new(writer))
                .set_prefix(timestamp_prefix)
                .print_msg(true)
                .build()
                .ignore_res();
            let file = LogFile {
                path: path.to_path_buf(),
                handle,
            };
            (
                Box::new(slog::Duplicate::new(stderr, file_drain).ignore_res()),
                Some(file),
            )
        }
        None => (Box::new(stderr), None),
    };
    Ok(queued(drain, QUEUE_LINES, slog_level(level), file))
}

/// The root logger: lines at `level` or above go through a queue of `lines` to the logging
/// thread, which writes them to `drain`.
fn queued(
    drain: Box<dyn Drain<Ok = (), Err = Never> + Send>,
    lines: usize,
    level: Level,
    file: Option<LogFile>,
) -> (Logger, Logging) {
    let (core, guard) = AsyncCore::custom(drain)
        .chan_size(lines)
        .thread_name("telemetryd-log".into())
        .build_with_guard();
    let queue = Arc::new(CountDrops {
        core,
        lines,
        dropped: AtomicU64::new(0),
    });
    // Filtered before the queue: a line below the level costs a comparison, not a trip
    // through the channel to the logging thread.
    let root = slog::LevelFilter::new(queue.clone(), level).ignore_res();
    let logging = Logging {
        queue,
        level,
        file,
        _guard: guard,
    };
    (Logger::root(root, o!()), logging)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The queue to the logging thread, counting the lines it had no room for instead of
/// reporting each (slog-async's `Async` writes one ERROR line per overflow: 21,006 of them
/// in 5 s at 36,000 requests/s).
struct CountDrops {
    core: AsyncCore,
    /// The queue's size, for the report.
    lines: usize,
    dropped: AtomicU64,
}

impl Drain for CountDrops {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), Never> {
        // Full, or (never seen) the logging thread gone: either way the line is lost.
        if self.core.log(record, values).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Logging {
    /// Writes one WARNING line with the number of lines dropped since the last report, if
    /// any were. Called every [`DROP_REPORT_INTERVAL`] by the binary. The line bypasses the
    /// counter: when the queue is still full it is not lost but the count is kept for the
    /// next report.
    pub fn report_drops(&self) {
        let dropped = self.queue.dropped.swap(0, Ordering::Relaxed);
        if dropped == 0 || !Level::Warning.is_at_least(self.level) {
            return;
        }
        let sent = self.queue.core.log(
            &slog::record!(
                Level::Warning,
                "",
                &format_args!("Log lines dropped."),
                slog::b!("queue_lines" => self.queue.lines, "dropped" => dropped)
            ),
            &o!().into(),
        );
        if sent.is_err() {
            self.queue.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// Makes the log file writer reopen `logging.file` before its next line, so that after
    /// logrotate moved the file away new lines go to a new file at the configured path
    /// (SIGHUP). The line saying so is the new file's first. When the path cannot be opened,
    /// logs an error and keeps writing to the file it has open.
    pub fn reopen(&self, log: &Logger, signal: &'static str) {
        let Some(file) = &self.file else {
            info!(log, "No log file to reopen."; "signal" => signal);
            return;
        };
        // Tried here, where a failure can be logged: the writer would only lose its lines.
        match open_append(&file.path) {
            Ok(_) => {
                file.handle.reopen();
                info!(log, "Log file reopened."; "path" => %file.path.display(), "signal" => signal);
            }
            Err(e) => {
                error!(log, "Cannot reopen the log file; still writing to the one open.";
                    "error" => %e, "path" => %file.path.display(), "signal" => signal);
            }
        }
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A drain that writes logfmt lines into a buffer, and waits while the test holds `gate`
    /// (a logging thread that cannot keep up).
    struct Gated {
        gate: Arc<Mutex<()>>,
        /// Set once the logging thread has taken its first line and waits at the gate.
        waiting: Arc<std::sync::atomic::AtomicBool>,
        out: Mutex<slog_logfmt::Logfmt<Buf>>,
    }

    /// A writer into memory, for tests that read back what a drain wrote.
    #[derive(Clone)]
    pub(crate) struct Buf(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Drain for Gated {
        type Ok = ();
        type Err = Never;
        fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), Never> {
            self.waiting.store(true, Ordering::SeqCst);
            drop(self.gate.lock().unwrap());
            let _ = self.out.lock().unwrap().log(record, values);
            Ok(())
        }
    }

    /// A logger with a queue of `lines`, whose logging thread holds one line and waits
    /// while the test holds the returned gate.
    fn gated(lines: usize) -> (Logger, Logging, std::sync::MutexGuard<'static, ()>, Buf) {
        let gate: &'static Arc<Mutex<()>> = Box::leak(Box::new(Arc::new(Mutex::new(()))));
        let held = gate.lock().unwrap();
        let waiting = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let buf = Buf(Arc::new(Mutex::new(Vec::new())));
        let out = slog_logfmt::Logfmt::new(buf.clone())
            .no_prefix()
            .print_level(true)
            .print_msg(true)
            .build();
        let drain = Gated {
            gate: gate.clone(),
            waiting: waiting.clone(),
            out: Mutex::new(out),
        };
        let (log, logging) = queued(Box::new(drain), lines, Level::Info, None);
        info!(log, "Line."; "n" => 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !waiting.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "the logging thread never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        (log, logging, held, buf)
    }

    fn text(buf: &Buf) -> String {
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn dropped_lines_are_reported_in_one_warning_with_their_count() {
        let (log, logging, held, buf) = gated(4);
        for n in 1..20 {
            info!(log, "Line."; "n" => n);
        }
        // One line with the logging thread, 4 queued: of 20, 15 dropped.
        let dropped = logging.queue.dropped.load(Ordering::Relaxed);
        assert_eq!(dropped, 15);
        drop(held);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while text(&buf).lines().count() < (20 - dropped) as usize {
            assert!(std::time::Instant::now() < deadline, "{}", text(&buf));
            std::thread::sleep(Duration::from_millis(5));
        }
        logging.report_drops();
        logging.report_drops();
        drop(logging);
        let out = text(&buf);
        let reports: Vec<&str> = out.lines().filter(|l| l.contains("dropped")).collect();
        assert_eq!(
            reports,
            [format!(
                "level=WARN msg=\"Log lines dropped.\" dropped={dropped} queue_lines=4"
            )],
            "{out}"
        );
        assert_eq!(out.lines().count() as u64, 20 - dropped + 1, "{out}");
    }

    #[test]
    fn a_report_that_finds_the_queue_still_full_keeps_the_count_for_the_next() {
        let (log, logging, held, _buf) = gated(2);
        for n in 1..10 {
            info!(log, "Line."; "n" => n);
        }
        assert_eq!(logging.queue.dropped.load(Ordering::Relaxed), 7);
        logging.report_drops();
        assert_eq!(logging.queue.dropped.load(Ordering::Relaxed), 7);
        drop(held);
    }

    /// The log file's lines, parsed as the daemon wrote them, once the logging thread has
    /// written `at_least` of them.
    fn file_lines(path: &Path, at_least: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(String::from).collect();
            if lines.len() >= at_least {
                return lines;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_log_file_gets_every_line_at_or_above_the_level_with_a_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("telemetry.log");
        let (log, logging) = build(LogLevel::Warning, Some(&path)).unwrap();
        info!(log, "Below the level.");
        slog::warn!(log, "At the level."; "key" => "value with spaces");
        slog::error!(log, "Above it.");
        let lines = file_lines(&path, 2);
        drop(logging);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("ts="), "{}", lines[0]);
        assert!(
            lines[0].ends_with(r#"level=WARNING msg="At the level." key="value with spaces""#),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(r#"level=ERROR msg="Above it.""#),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn reopening_after_the_file_was_moved_writes_a_new_file_at_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("telemetry.log");
        let moved = dir.path().join("telemetry.log.1");
        let (log, logging) = build(LogLevel::Info, Some(&path)).unwrap();
        info!(log, "Before the move.");
        file_lines(&path, 1);
        std::fs::rename(&path, &moved).unwrap();
        logging.reopen(&log, "SIGHUP");
        info!(log, "After the move.");
        let new = file_lines(&path, 2);
        drop(logging);
        assert!(new[0].contains(r#"msg="Log file reopened.""#), "{new:?}");
        assert!(new[0].contains("signal=SIGHUP"), "{new:?}");
        assert!(new[1].contains(r#"msg="After the move.""#), "{new:?}");
        let old = std::fs::read_to_string(&moved).unwrap();
        assert_eq!(old.lines().count(), 1, "{old}");
        assert!(old.contains(r#"msg="Before the move.""#), "{old}");
    }

    #[test]
    fn a_log_file_that_cannot_be_opened_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("telemetry.log");
        let error = build(LogLevel::Info, Some(&path))
            .err()
            .expect("no such directory");
        assert!(
            error.to_string().starts_with("cannot open log file "),
            "{error}"
        );
        assert!(error.to_string().contains("missing-dir"), "{error}");
    }

    #[test]
    fn journald_lines_start_with_the_syslog_priority_of_their_level() {
        for (level, priority) in [
            (Level::Critical, 2),
            (Level::Error, 3),
            (Level::Warning, 4),
            (Level::Info, 6),
            (Level::Debug, 7),
            (Level::Trace, 7),
        ] {
            assert_eq!(syslog_priority(level), priority, "{}", level.as_str());
        }
        let buf = Buf(Arc::new(Mutex::new(Vec::new())));
        let drain = slog_logfmt::Logfmt::new(buf.clone())
            .set_prefix(journald_prefix)
            .print_msg(true)
            .build();
        let log = Logger::root(Mutex::new(drain).fuse(), o!());
        slog::warn!(log, "Redis unreachable.");
        let line = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            line.trim_end(),
            r#"<4>level=WARNING msg="Redis unreachable.""#
        );
    }
}
