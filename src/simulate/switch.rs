//! SwitchActor: one simulated switch. Samples once at start (so the cache is complete at
//! once), then every interval from its own phase, and sends each sample to the writers.
//! Nothing holds its address: its timer keeps it running for the life of the System.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::SwitchModel;
use crate::fabric::Fabric;
use crate::messages::Produced;
use crate::model::now_unix_ms;
use crate::store::RedisWriter;
use crate::stream::KafkaWriter;

/// Where every switch sends each sample: the Redis writer, and the Kafka writer when
/// streaming.
pub struct Writers {
    pub redis: Addr<RedisWriter>,
    pub kafka: Option<Addr<KafkaWriter>>,
}

/// One simulated switch.
pub struct SwitchActor {
    model: SwitchModel,
    interval: Duration,
    /// Delay before the first periodic sample. Phases are spread over the interval so a
    /// fabric of N switches does not fire in the same millisecond.
    phase: Duration,
    /// Shared by every switch: cloning an `Addr` allocates a sender of its own, which at
    /// 100,000 switches is memory for nothing.
    writers: Arc<Writers>,
    /// With `fabric.enabled`: the fabric whose ports make this switch's totals.
    fabric: Option<Arc<Fabric>>,
}

impl SwitchActor {
    pub fn new(
        model: SwitchModel,
        interval: Duration,
        phase: Duration,
        writers: Arc<Writers>,
    ) -> Self {
        SwitchActor {
            model,
            interval,
            phase,
            writers,
            fabric: None,
        }
    }

    /// This switch as part of `fabric`: its bandwidth and packet errors are the sums over
    /// its ports, and it samples on the fabric's step grid (every switch at once, as UFM
    /// samples a fabric), so both ends of a link report the same step.
    pub fn in_fabric(mut self, fabric: Option<Arc<Fabric>>) -> Self {
        self.fabric = fabric;
        self
    }

    fn sample(&mut self) {
        let now = now_unix_ms();
        let mut sample = self.model.next_sample(self.interval.as_secs_f64(), now);
        if let Some(fabric) = &self.fabric {
            let k = fabric.model.step(now);
            let (rx, tx, errors) = fabric.switch_totals(sample.switch.0, k);
            sample.bandwidth_in_mbps = (rx * 1000.0).round() / 1000.0;
            sample.bandwidth_out_mbps = (tx * 1000.0).round() / 1000.0;
            sample.packet_errors = errors;
        }
        if let Some(kafka) = &self.writers.kafka {
            kafka.do_send(Produced(sample));
        }
        self.writers.redis.do_send(Produced(sample));
    }
}

impl Actor for SwitchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.sample();
        if let Some(fabric) = &self.fabric {
            self.phase = fabric.model.until_next_step(now_unix_ms());
        }
        ctx.run_later(self.phase, |act, ctx| {
            act.sample();
            ctx.run_interval(act.interval, |act, _| act.sample());
        });
    }
}

/// Phases are whole multiples of this. Switches whose phases fall in the same step sample
/// together, so the switches' thread and the writer wake once per step rather than once per
/// switch: at 1,000 switches every 1 s, 100 wake-ups a second instead of 1,000.
pub const PHASE_STEP: Duration = Duration::from_millis(10);

/// The phase of switch `index` of `count`: evenly spaced over one interval, rounded down to
/// a whole `PHASE_STEP`.
pub fn phase(index: u32, count: u32, interval: Duration) -> Duration {
    let even = interval.mul_f64(f64::from(index) / f64::from(count.max(1)));
    let steps = even.as_nanos() / PHASE_STEP.as_nanos();
    PHASE_STEP * u32::try_from(steps).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_spread_evenly_over_one_interval() {
        let i = Duration::from_secs(10);
        assert_eq!(phase(0, 4, i), Duration::ZERO);
        assert_eq!(phase(1, 4, i), Duration::from_millis(2500));
        assert_eq!(phase(3, 4, i), Duration::from_millis(7500));
    }

    #[test]
    fn phases_are_whole_steps_so_switches_sample_in_groups() {
        let second = Duration::from_secs(1);
        let phases: Vec<Duration> = (0..1000).map(|n| phase(n, 1000, second)).collect();
        assert!(
            phases
                .iter()
                .all(|p| p.as_nanos() % PHASE_STEP.as_nanos() == 0)
        );
        assert!(phases.iter().all(|p| *p < second));
        assert_eq!(
            (phase(9, 1000, second), phase(10, 1000, second)),
            (Duration::ZERO, PHASE_STEP)
        );
        let mut distinct = phases.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 100, "one group per 10 ms step");
    }
}
