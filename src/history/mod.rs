//! History: a switch's metric over a time range, `GET /telemetry/{switch_id}/{metric}/history`.
//! Answered from the archive's database when `history.database` is set ([`database`]),
//! otherwise from a bounded window of each switch's recent samples kept in memory
//! ([`window`], fed by the cache). [`query`] parses and bounds the request and buckets a
//! series the same way for both.

pub mod database;
pub mod query;
pub mod window;

pub use query::{HistoryQuery, Point, Series};
pub use window::Window;

/// Where history comes from.
#[derive(Clone)]
pub enum Source {
    Memory(std::sync::Arc<Window>),
    Database(database::Archive),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::Memory(_) => "memory",
            Source::Database(_) => "database",
        }
    }
}
