//! `kafka`: the broker the daemon streams every sample to (none by default), the topic,
//! and how the producer batches and bounds what it holds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// Compression codecs librdkafka offers (`compression.codec`).
pub const COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// Streaming to Kafka. Off while `brokers` is empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` each; empty: no streaming.
    pub brokers: Vec<String>,
    /// Topic every sample goes to, keyed by switch id.
    pub topic: String,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: String,
    /// Longest a record waits for its batch, in milliseconds (`linger.ms`).
    pub linger_ms: u64,
    /// Most records in one produce request per partition (`batch.num.messages`).
    pub batch_size: usize,
    /// Most records held while the broker is slow or away; beyond it the oldest are
    /// dropped and counted.
    pub queue_capacity: usize,
    /// How long a record may wait for the broker before it is dropped and counted, in
    /// milliseconds (`message.timeout.ms`).
    pub timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: Vec::new(),
            topic: "telemetry.samples".into(),
            compression: "lz4".into(),
            linger_ms: 50,
            batch_size: 10_000,
            queue_capacity: 200_000,
            timeout_ms: 30_000,
        }
    }
}

impl KafkaConfig {
    /// Whether samples are streamed.
    pub fn enabled(&self) -> bool {
        !self.brokers.is_empty()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// This section's checks.
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("kafka.{key}"), message));
        };
        for broker in &self.brokers {
            let port = broker
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p != 0) {
                problem("brokers", format!("each must be host:port, got {broker:?}"));
            }
        }
        if !valid_topic(&self.topic) {
            problem(
                "topic",
                format!(
                    "must be 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-', got {:?}",
                    self.topic
                ),
            );
        }
        if !COMPRESSIONS.contains(&self.compression.as_str()) {
            problem(
                "compression",
                format!(
                    "must be one of {}, got {:?}",
                    COMPRESSIONS.join(", "),
                    self.compression
                ),
            );
        }
        if self.linger_ms > 900_000 {
            problem(
                "linger_ms",
                format!("must be at most 900000, got {}", self.linger_ms),
            );
        }
        if !(1..=1_000_000).contains(&self.batch_size) {
            problem(
                "batch_size",
                format!("must be 1 to 1000000, got {}", self.batch_size),
            );
        }
        if !(1..=10_000_000).contains(&self.queue_capacity) {
            problem(
                "queue_capacity",
                format!("must be 1 to 10000000, got {}", self.queue_capacity),
            );
        }
        if self.timeout_ms < 1_000 {
            problem(
                "timeout_ms",
                format!("must be at least 1000, got {}", self.timeout_ms),
            );
        }
    }
}

/// Kafka's own rule for topic names.
fn valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_kafka_value_is_named() {
        let k = KafkaConfig {
            brokers: vec!["localhost".into(), "h:0".into(), "h:9092".into()],
            topic: "no spaces".into(),
            compression: "brotli".into(),
            linger_ms: 1_000_000,
            batch_size: 0,
            queue_capacity: 0,
            timeout_ms: 10,
        };
        let mut problems = Vec::new();
        k.validate(&mut problems);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "kafka.brokers",
                "kafka.brokers",
                "kafka.topic",
                "kafka.compression",
                "kafka.linger_ms",
                "kafka.batch_size",
                "kafka.queue_capacity",
                "kafka.timeout_ms"
            ]
        );
        let mut none = Vec::new();
        KafkaConfig::default().validate(&mut none);
        assert!(none.is_empty());
        assert!(!KafkaConfig::default().enabled());
    }
}
