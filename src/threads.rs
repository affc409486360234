//! The daemon's threads, as an operator sees them (`top -H`, `ps -L -o comm,cls`):
//!
//! | thread | name | scheduling | runs |
//! |---|---|---|---|
//! | main | `telemetryd` | normal | signals, the listeners' supervision, the watchdog |
//! | ingest | `switches` | batch | every switch actor and its timer |
//! | ingest | `redis-writer` | batch | the writer: building, sending and confirming batches |
//! | ingest | `cache` | batch | the cache: reading Redis back, merging, publishing |
//! | HTTP workers | actix-server's | normal | both listeners' requests |
//!
//! Ingest threads run under `SCHED_BATCH`: same share of the CPU as any other thread, but
//! a waking ingest thread does not preempt a running HTTP worker. Ingest wakes often (at
//! 1,000 switches, one timer and one writer wake-up per sample): measured with the HTTP
//! worker and the ingest sharing one core under load, the worker was preempted 5,230 times
//! in 6 s with normal scheduling and 1,496 with batch (`bench/run.sh` reports both).

use std::ffi::CStr;

use slog::{Logger, warn};

/// An ingest thread's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingest {
    Switches,
    Writer,
    Cache,
}

impl Ingest {
    /// The thread's name (at most 15 bytes, the kernel's limit).
    pub fn name(self) -> &'static CStr {
        match self {
            Ingest::Switches => c"switches",
            Ingest::Writer => c"redis-writer",
            Ingest::Cache => c"cache",
        }
    }
}

/// Names the calling thread after `role` and schedules it as batch work. Neither can fail
/// on Linux short of a seccomp filter denying it; a failure is logged and the thread keeps
/// running as it was.
pub fn enter(role: Ingest, log: &Logger) {
    if let Err(error) = rustix::thread::set_name(role.name()) {
        warn!(log, "Cannot name the thread."; "thread" => ?role, "error" => %error);
    }
    if let Err(error) = schedule_as_batch() {
        warn!(log, "Cannot schedule the thread as batch work; HTTP latency may suffer under ingest.";
            "thread" => ?role, "error" => %error);
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
