//! The archive database (MariaDB or MySQL), as `telemetryd archive` writes it and the
//! history route reads it: how to connect from the config, and the schema's migrations
//! (`migrations/`, embedded in the binary, applied by the archiver at start).

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::config::HistoryConfig;

/// The schema, versioned: `sqlx::migrate!` embeds `migrations/*.sql` at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The table of samples (see `migrations/0001_samples.sql`).
pub const SAMPLES_TABLE: &str = "samples";

/// Why the database cannot be used. The text never holds the password: sqlx's errors name
/// the server and the user, not the password, and the URL given holds none (the config
/// refuses one).
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("history.database is not set")]
    NotConfigured,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The connection options of `history.database` with `history.password`. Statements are
/// logged by sqlx at TRACE only: the daemon's logs are its own.
pub fn connect_options(history: &HistoryConfig) -> Result<MySqlConnectOptions, SqlError> {
    let url = history.database.as_deref().ok_or(SqlError::NotConfigured)?;
    let url = url.replacen("mariadb://", "mysql://", 1);
    let mut options = MySqlConnectOptions::from_str(&url)?
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600));
    if let Some(password) = &history.password {
        options = options.password(password.expose());
    }
    Ok(options)
}

/// A pool of up to `max` connections that connects lazily: a database away at start is
/// not an error, each query is (and is retried by its caller).
pub fn pool(history: &HistoryConfig, max: u32) -> Result<MySqlPool, SqlError> {
    let timeout = Duration::from_millis(history.timeout_ms);
    Ok(MySqlPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(timeout)
        .connect_lazy_with(connect_options(history)?))
}
