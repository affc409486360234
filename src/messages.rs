//! Every message the actors exchange, on one page, in the order data flows:
//! switch -> writers -> (Redis, Kafka) -> cache.

use std::time::Instant;

use actix::Message;

use crate::model::Sample;

/// A switch produced a sample (switch -> RedisWriter). Fire and forget.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Produced(pub Sample);

/// Samples the writer has dealt with (RedisWriter -> cache): written to Redis when
/// `in_redis`, otherwise held for a retry and shown by the cache as not yet confirmed.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Stored {
    pub samples: Vec<Sample>,
    pub in_redis: bool,
}

/// The Kafka link's state changed (KafkaWriter -> cache), for `/readyz`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct KafkaHealth(pub LinkState);

/// Stop taking samples and deliver what is held, within the given time (shutdown ->
/// KafkaWriter). Answers how many records were left undelivered.
#[derive(Message, Debug)]
#[rtype(result = "usize")]
pub struct StreamFlush(pub std::time::Duration);

/// A component's view of Redis changed (RedisWriter -> cache), for the health report.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RedisHealth(pub LinkState);

/// What is known of a link to a server (Redis, Kafka).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LinkState {
    /// No write or read has had an outcome yet.
    #[default]
    Unknown,
    Up,
    /// The last attempt failed, as have all since `since`.
    Down {
        since: Instant,
        error: String,
    },
}

impl LinkState {
    /// The state's name, as `/readyz` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Unknown => "unknown",
            LinkState::Up => "up",
            LinkState::Down { .. } => "down",
        }
    }

    /// The error that took Redis down, while down.
    pub fn error(&self) -> Option<&str> {
        match self {
            LinkState::Down { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn is_up(&self) -> bool {
        *self == LinkState::Up
    }
}

/// Write every pending sample now and stop accepting new ones (shutdown -> RedisWriter).
/// Answers how many samples reached Redis.
#[derive(Message, Debug)]
#[rtype(result = "Result<usize, crate::store::StoreError>")]
pub struct Flush;

/// Are you alive? (watchdog -> cache and writer). Answered as soon as the actor runs.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Ping;
