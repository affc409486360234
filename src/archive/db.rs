//! The archive's writes: one transaction per batch, the retention `DELETE`s, and the
//! backoff between attempts while the database is away.

use std::time::Duration;

use sqlx::mysql::MySqlPool;
use sqlx::{MySql, QueryBuilder};

use crate::model::Sample;

/// First wait after a failed attempt; doubled after each further one, up to [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Rows in one `INSERT`: MySQL's protocol numbers a statement's placeholders in 16 bits,
/// and a row takes six, so a batch of up to 100,000 rows goes in several statements (in
/// one transaction, so it is still all or nothing).
const ROWS_PER_STATEMENT: usize = 10_000;

/// The wait after each failed attempt: 100 ms, doubling, at most 5 s.
#[derive(Debug)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(BACKOFF_START)
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after it is twice as long (to the cap).
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }
}

/// Writes `rows` in one transaction. A row already there (a record delivered again after a
/// crash or a rebalance) is left as it is: the archive holds each sample once.
pub async fn insert(pool: &MySqlPool, rows: &[Sample]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(
            "INSERT INTO samples (switch_id, updated_at, bandwidth_in_mbps, \
             bandwidth_out_mbps, latency_ms, packet_errors) ",
        );
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.switch.0)
                .push_bind(s.updated_at_ms)
                .push_bind(s.bandwidth_in_mbps)
                .push_bind(s.bandwidth_out_mbps)
                .push_bind(s.latency_ms)
                .push_bind(s.packet_errors);
        });
        q.push(" ON DUPLICATE KEY UPDATE switch_id = switch_id");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Deletes rows taken before `before_ms`, `batch` rows per statement so that no statement
/// holds locks on a large range for long; returns how many went.
pub async fn delete_older(
    pool: &MySqlPool,
    before_ms: u64,
    batch: u64,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let done = sqlx::query("DELETE FROM samples WHERE updated_at < ? LIMIT ?")
            .bind(before_ms)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += done;
        if done < batch {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100_ms_to_at_most_5_s() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..9).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }
}
