//! History from the archive's database: one indexed range scan of one switch (the primary
//! key is `(switch_id, updated_at)`), bucketed by the database when a step is given.

use std::time::Duration;

use slog::Logger;
use sqlx::Row;
use sqlx::mysql::MySqlPool;

use super::query::{BadParameter, HistoryQuery, Point, Series, points};
use crate::config::HistoryConfig;
use crate::model::Metric;
use crate::sql::{self, SqlError};

/// Connections the daemon's history queries use at most.
const MAX_CONNECTIONS: u32 = 8;

/// The archive, for queries.
#[derive(Clone)]
pub struct Archive {
    pool: MySqlPool,
    timeout: Duration,
    max_points: usize,
    log: Logger,
}

/// Why a history query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Bad(#[from] BadParameter),
    /// The database did not answer in time, or refused: a 503, the error logged.
    #[error("the history database is unavailable")]
    Unavailable(String),
}

/// The column of a metric; the names are the schema's, never a client's text.
fn column(metric: Metric) -> &'static str {
    match metric {
        Metric::BandwidthInMbps => "bandwidth_in_mbps",
        Metric::BandwidthOutMbps => "bandwidth_out_mbps",
        Metric::LatencyMs => "latency_ms",
        Metric::PacketErrors => "packet_errors",
        Metric::UpdatedAt => "updated_at",
    }
}

impl Archive {
    /// A lazily connecting pool: the database away at start is no error.
    pub fn new(config: &HistoryConfig, log: Logger) -> Result<Archive, SqlError> {
        Ok(Archive {
            pool: sql::pool(config, MAX_CONNECTIONS)?,
            timeout: Duration::from_millis(config.timeout_ms),
            max_points: config.max_points,
            log,
        })
    }

    /// The pool, for the stop sequence to close (a connection dropped unclosed is an
    /// "Aborted connection" warning in the database's log).
    pub fn pool(&self) -> MySqlPool {
        self.pool.clone()
    }

    pub fn max_points(&self) -> usize {
        self.max_points
    }

    /// Where a failed query is logged.
    pub fn log(&self) -> &Logger {
        &self.log
    }

    pub async fn series(&self, q: &HistoryQuery) -> Result<Series, HistoryError> {
        let query = self.run(q);
        match tokio::time::timeout(self.timeout, query).await {
            Ok(result) => result,
            Err(_) => Err(HistoryError::Unavailable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn run(&self, q: &HistoryQuery) -> Result<Series, HistoryError> {
        let col = column(q.metric);
        let unavailable = |e: sqlx::Error| HistoryError::Unavailable(e.to_string());
        match q.step_ms {
            None => {
                let sql = format!(
                    "SELECT updated_at, CAST({col} AS DOUBLE) FROM {} \
                     WHERE switch_id = ? AND updated_at >= ? AND updated_at < ? \
                     ORDER BY updated_at LIMIT ?",
                    sql::SAMPLES_TABLE
                );
                let rows = sqlx::query(&sql)
                    .bind(q.switch.0)
                    .bind(q.from_ms)
                    .bind(q.to_ms)
                    .bind(self.max_points as u64 + 1)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if rows.len() > self.max_points {
                    return Err(HistoryQuery::too_many_samples(self.max_points).into());
                }
                let samples: Vec<(u64, f64)> = rows
                    .iter()
                    .map(|r| Ok((r.try_get::<u64, _>(0)?, r.try_get::<f64, _>(1)?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(unavailable)?;
                Ok(points(&samples, None))
            }
            Some(step) => {
                let sql = format!(
                    "SELECT CAST(updated_at DIV ? AS UNSIGNED) AS bucket, CAST(MIN({col}) AS DOUBLE), \
                     CAST(AVG({col}) AS DOUBLE), CAST(MAX({col}) AS DOUBLE), COUNT(*) FROM {} \
                     WHERE switch_id = ? AND updated_at >= ? AND updated_at < ? \
                     GROUP BY bucket ORDER BY bucket",
                    sql::SAMPLES_TABLE
                );
                let rows = sqlx::query(&sql)
                    .bind(step)
                    .bind(q.switch.0)
                    .bind(q.from_ms)
                    .bind(q.to_ms)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|r| {
                        Ok(Point::Bucket {
                            t: (r.try_get::<u64, _>(0)? * step) as f64 / 1000.0,
                            min: r.try_get(1)?,
                            avg: r.try_get(2)?,
                            max: r.try_get(3)?,
                            count: r.try_get::<i64, _>(4)?.max(0) as u64,
                        })
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(unavailable)
            }
        }
    }
}
