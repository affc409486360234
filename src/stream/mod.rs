//! Streaming: every sample also goes to Kafka when `kafka.brokers` is set ([`writer`]), as
//! one JSON record keyed by switch id ([`record`]), for `telemetryd archive` and any other
//! consumer.

pub mod record;
pub mod writer;

pub use writer::{KafkaSettings, KafkaWriter};
