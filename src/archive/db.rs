//! The archive's writes: a batch in one or two transactions, the retention `DELETE`s, and the
//! backoff between attempts while the database is away.

use std::time::Duration;

use sqlx::mysql::MySqlPool;

use crate::model::Sample;

/// First wait after a failed attempt; doubled after each further one, up to [`BACKOFF_MAX`].
pub const BACKOFF_START: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Rows in one `INSERT` (a batch of up to 100,000 rows goes in several statements, in one
/// transaction, so it is still all or nothing): about 0.5 MB of SQL.
const ROWS_PER_STATEMENT: usize = 5_000;

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

/// Smallest batch split in two (see [`insert`]); below it one transaction does.
const SPLIT_FROM: usize = 1_000;

/// Writes `rows`; returns once all are committed. A row already there (a record delivered
/// again after a crash or a rebalance) is left as it is: the archive holds each sample once.
///
/// A large batch goes as two halves in two transactions at once, on the pool's two
/// connections: one statement at a time left MariaDB idle between them (bench/streaming.sh:
/// 0.46-0.49x of `LOAD DATA` with one, 0.52-0.59x with two). Either half failing fails
/// the batch, which is then written again whole: the half already in is ignored.
pub async fn insert(pool: &MySqlPool, rows: &[Sample]) -> Result<(), sqlx::Error> {
    if rows.len() < SPLIT_FROM {
        return insert_one(pool, rows).await;
    }
    let (a, b) = rows.split_at(rows.len() / 2);
    let (a, b) = tokio::join!(insert_one(pool, a), insert_one(pool, b));
    a.and(b)
}

/// Writes `rows` in one transaction.
///
/// The statements are text with the values as literals, sent unprepared: bound, each batch
/// cost a prepare of a statement of up to 30,000 placeholders.
async fn insert_one(pool: &MySqlPool, rows: &[Sample]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut sql = String::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        insert_statement(chunk, &mut sql);
        sqlx::raw_sql(&sql).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The `INSERT` of `rows`, into `sql` (cleared first). Every value is a number: the
/// records' decoder lets only finite, non-negative ones through.
fn insert_statement(rows: &[Sample], sql: &mut String) {
    sql.clear();
    sql.reserve(rows.len() * 96 + 256);
    sql.push_str(
        "INSERT INTO samples (switch_id, updated_at, bandwidth_in_mbps, \
         bandwidth_out_mbps, latency_ms, packet_errors) VALUES ",
    );
    let mut int = itoa::Buffer::new();
    let mut float = zmij::Buffer::new();
    for (i, s) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ",(" });
        sql.push_str(int.format(s.switch.0));
        sql.push(',');
        sql.push_str(int.format(s.updated_at_ms));
        for v in [s.bandwidth_in_mbps, s.bandwidth_out_mbps, s.latency_ms] {
            sql.push(',');
            double_literal(v, &mut float, sql);
        }
        sql.push(',');
        sql.push_str(int.format(s.packet_errors));
        sql.push(')');
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE switch_id = switch_id");
}

/// `v` as a SQL approximate-value literal: with an exponent, MariaDB reads it as a DOUBLE
/// (correctly rounded) rather than as an exact DECIMAL. Shortest round-trip digits.
fn double_literal(v: f64, buf: &mut zmij::Buffer, sql: &mut String) {
    if !v.is_finite() {
        // Unreachable through the decoder; NULL makes the NOT NULL column refuse the row.
        sql.push_str("NULL");
        return;
    }
    let text = buf.format_finite(v);
    sql.push_str(text);
    if !text.contains('e') {
        sql.push_str("e0");
    }
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
    fn an_insert_statement_holds_every_value_as_a_literal_that_reads_back_exactly() {
        let rows = [
            Sample {
                switch: crate::model::SwitchId(19),
                bandwidth_in_mbps: 1.0,
                bandwidth_out_mbps: 0.1 + 0.2,
                latency_ms: 1.5e-7,
                packet_errors: u64::MAX,
                updated_at_ms: 1_765_000_000_123,
            },
            Sample {
                switch: crate::model::SwitchId(u32::MAX),
                bandwidth_in_mbps: 9.87e300,
                bandwidth_out_mbps: 0.0,
                latency_ms: 2.5,
                packet_errors: 0,
                updated_at_ms: 0,
            },
        ];
        let mut sql = String::from("left over");
        insert_statement(&rows, &mut sql);
        assert_eq!(
            sql,
            "INSERT INTO samples (switch_id, updated_at, bandwidth_in_mbps, bandwidth_out_mbps, \
             latency_ms, packet_errors) VALUES \
             (19,1765000000123,1.0e0,0.30000000000000004e0,1.5e-7,18446744073709551615),\
             (4294967295,0,9.87e+300,0.0e0,2.5e0,0) ON DUPLICATE KEY UPDATE switch_id = switch_id"
        );
    }

    #[test]
    fn backoff_doubles_from_100_ms_to_at_most_5_s() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..9).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }
}
