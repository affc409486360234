//! How old every switch's state in Redis is: reads `updated_at` of `telemetry:switch-0` ...
//! `telemetry:switch-{N-1}` with pipelined `HGET`s (1000 keys per pipeline) and prints the
//! age of the oldest, the median and the 99th percentile, in milliseconds relative to the
//! wall clock when each pipeline's reply arrived, plus how many hashes are missing.
//!
//! ```sh
//! cargo run --release --example ingest_lag -- --port 6379 --switches 100000
//! # switches=100000 missing=0 max_ms=1043 p50_ms=512 p99_ms=1001 read_ms=87
//! ```
//!
//! Exit code 0 when it could read Redis (whatever the ages), 1 otherwise.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use deadpool_redis::redis;

/// Ages of every switch's `updated_at` in Redis.
#[derive(Parser, Debug)]
struct Args {
    /// Redis host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Redis port.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Redis database number.
    #[arg(long, default_value_t = 0)]
    db: i64,
    /// Number of switches (switch-0 ... switch-{N-1}).
    #[arg(long)]
    switches: u32,
    /// Keys per pipeline.
    #[arg(long, default_value_t = 1000)]
    chunk: u32,
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

fn main() -> redis::RedisResult<()> {
    let args = Args::parse();
    let client = redis::Client::open(format!("redis://{}:{}/{}", args.host, args.port, args.db))?;
    let mut conn = client.get_connection()?;
    let started = Instant::now();
    let mut ages: Vec<f64> = Vec::with_capacity(args.switches as usize);
    let mut missing = 0u64;
    let mut unreadable = 0u64;
    let chunk = args.chunk.max(1);
    let mut first = 0u32;
    while first < args.switches {
        let last = (first + chunk).min(args.switches);
        let mut pipe = redis::pipe();
        for n in first..last {
            pipe.cmd("HGET")
                .arg(format!("telemetry:switch-{n}"))
                .arg("updated_at");
        }
        let replies: Vec<Option<String>> = pipe.query(&mut conn)?;
        let now = now_ms();
        for reply in replies {
            match reply.map(|text| text.parse::<f64>()) {
                None => missing += 1,
                Some(Ok(seconds)) => ages.push(now - seconds * 1000.0),
                Some(Err(_)) => unreadable += 1,
            }
        }
        first = last;
    }
    let read_ms = started.elapsed().as_millis();
    ages.sort_by(f64::total_cmp);
    let pick = |q: f64| -> String {
        if ages.is_empty() {
            return "nan".into();
        }
        let i = ((ages.len() as f64 - 1.0) * q).round() as usize;
        format!("{:.0}", ages[i])
    };
    println!(
        "switches={} missing={} unreadable={} max_ms={} p50_ms={} p99_ms={} read_ms={}",
        args.switches,
        missing,
        unreadable,
        pick(1.0),
        pick(0.5),
        pick(0.99),
        read_ms
    );
    Ok(())
}
