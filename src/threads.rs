//! The daemon's threads, as an operator sees them (`top -H`, `ps -L -o tid,comm,cls`):
//!
//! | thread | name | scheduling | runs |
//! |---|---|---|---|
//! | main | `telemetryd` | normal | signals, the listeners' supervision, the watchdog |
//! | ingest | `switches` | batch | every switch actor and its timer (only when simulating) |
//! | ingest | `redis-writer` | batch | the writer: building, sending and confirming batches |
//! | ingest | `kafka-writer` | batch | the Kafka writer: its queue, handing records to librdkafka (only with `kafka.brokers`) |
//! | librdkafka | `rdk:…` (librdkafka's) | normal | the Kafka client's broker connections and delivery reports |
//! | ingest | `cache` | batch | the cache: reading Redis back, merging, publishing |
//! | HTTP workers | `actix-rt\|system…` (actix's) | normal | both listeners' requests |
//! | acceptor | `actix-server ac…` (actix's) | normal | accepting connections |
//! | log | `telemetryd-log` | normal | writing log lines (slog-async) |
//!
//! Ingest threads run under `SCHED_BATCH`: same share of the CPU as any other thread, but
//! a waking ingest thread does not preempt a running HTTP worker. Ingest wakes often (at
//! 1,000 switches every 1 s, about 100 times a second: once per `PHASE_STEP` of the
//! switches' timers, and the writer after them), and each preemption stalls every request
//! the worker has in flight. `bench/run.sh` counts how often the HTTP worker
//! is preempted with the ingest as shipped and after `chrt --other` (BENCHMARKS.md, "p99 with
//! the load generator on a core of its own").

use std::ffi::CStr;

use slog::{Logger, warn};

/// An ingest thread's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingest {
    Switches,
    Writer,
    Kafka,
    Cache,
}

impl Ingest {
    /// The thread's name (at most 15 bytes, the kernel's limit).
    pub fn name(self) -> &'static CStr {
        match self {
            Ingest::Switches => c"switches",
            Ingest::Writer => c"redis-writer",
            Ingest::Kafka => c"kafka-writer",
            Ingest::Cache => c"cache",
        }
    }

    /// The thread's name as a log field.
    pub fn label(self) -> &'static str {
        match self {
            Ingest::Switches => "switches",
            Ingest::Writer => "redis-writer",
            Ingest::Kafka => "kafka-writer",
            Ingest::Cache => "cache",
        }
    }
}

/// Schedules the calling thread as batch work and names it after `role`. Neither fails on
/// Linux with glibc unless a seccomp filter denies it (the systemd unit allows both); a
/// failure is logged and the thread keeps running as it was.
pub fn enter(role: Ingest, log: &Logger) {
    // Scheduled first, named second: a thread with the ingest name is already batch work.
    if let Err(error) = schedule_as_batch() {
        warn!(log, "Cannot schedule the thread as batch work; HTTP latency may suffer under ingest.";
            "thread" => role.label(), "error" => %error);
    }
    if let Err(error) = rustix::thread::set_name(role.name()) {
        warn!(log, "Cannot name the thread."; "thread" => role.label(), "error" => %error);
    }
}

/// `SCHED_BATCH` for the calling thread, keeping its nice value. (The thread-priority crate
/// sets policies too, but always rewrites the nice value, which would undo an operator's
/// `Nice=`.)
#[allow(unsafe_code)]
fn schedule_as_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid `sched_param` that outlives the call. On Linux, pid 0 is the
    // calling thread (the policy is per thread), so no other thread is touched.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_label_is_the_thread_name() {
        for role in [
            Ingest::Switches,
            Ingest::Writer,
            Ingest::Kafka,
            Ingest::Cache,
        ] {
            assert_eq!(role.name().to_str(), Ok(role.label()));
        }
    }
}
