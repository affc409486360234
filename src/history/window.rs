//! The in-memory history: the latest `history.window` samples of each switch, a ring per
//! switch, 40 bytes a sample (`WINDOW_BYTES_PER_SAMPLE`). The cache records every new
//! sample it shows; HTTP workers read a switch's ring under its own lock, so a query of one
//! switch never waits for another.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::model::{Metric, Sample, SwitchId};

/// One remembered sample, without its switch (the ring is the switch's).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Remembered {
    updated_at_ms: u64,
    bandwidth_in_mbps: f64,
    bandwidth_out_mbps: f64,
    latency_ms: f64,
    packet_errors: u64,
}

const _: () = assert!(std::mem::size_of::<Remembered>() == crate::config::WINDOW_BYTES_PER_SAMPLE);

impl Remembered {
    fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::BandwidthInMbps => self.bandwidth_in_mbps,
            Metric::BandwidthOutMbps => self.bandwidth_out_mbps,
            Metric::LatencyMs => self.latency_ms,
            Metric::PacketErrors => self.packet_errors as f64,
            Metric::UpdatedAt => self.updated_at_ms as f64 / 1000.0,
        }
    }
}

/// Every switch's recent samples.
pub struct Window {
    rings: Vec<Mutex<VecDeque<Remembered>>>,
    capacity: usize,
    max_points: usize,
}

impl Window {
    /// Rings for `switches` switches of `capacity` samples each, allocated as they fill.
    pub fn new(switches: u32, capacity: usize, max_points: usize) -> Window {
        Window {
            rings: (0..switches).map(|_| Mutex::new(VecDeque::new())).collect(),
            capacity,
            max_points,
        }
    }

    /// Most points one answer may hold.
    pub fn max_points(&self) -> usize {
        self.max_points
    }

    /// Samples kept per switch.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Remembers `sample` if it is newer than the switch's newest; the oldest goes when the
    /// ring is full.
    pub fn record(&self, sample: &Sample) {
        if self.capacity == 0 {
            return;
        }
        let Some(ring) = self.rings.get(sample.switch.index()) else {
            return;
        };
        let Ok(mut ring) = ring.lock() else { return };
        if ring
            .back()
            .is_some_and(|r| r.updated_at_ms >= sample.updated_at_ms)
        {
            return;
        }
        if ring.capacity() == 0 {
            ring.reserve_exact(self.capacity);
        }
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(Remembered {
            updated_at_ms: sample.updated_at_ms,
            bandwidth_in_mbps: sample.bandwidth_in_mbps,
            bandwidth_out_mbps: sample.bandwidth_out_mbps,
            latency_ms: sample.latency_ms,
            packet_errors: sample.packet_errors,
        });
    }

    /// `(updated_at_ms, value)` of `metric` for every remembered sample of `switch` with
    /// `from_ms <= updated_at_ms < to_ms`, oldest first.
    pub fn series(
        &self,
        switch: SwitchId,
        metric: Metric,
        from_ms: u64,
        to_ms: u64,
    ) -> Vec<(u64, f64)> {
        let Some(Ok(ring)) = self.rings.get(switch.index()).map(Mutex::lock) else {
            return Vec::new();
        };
        ring.iter()
            .filter(|r| (from_ms..to_ms).contains(&r.updated_at_ms))
            .map(|r| (r.updated_at_ms, r.value(metric)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(switch: u32, ms: u64, latency: f64) -> Sample {
        Sample {
            switch: SwitchId(switch),
            bandwidth_in_mbps: 1.0,
            bandwidth_out_mbps: 2.0,
            latency_ms: latency,
            packet_errors: ms / 1000,
            updated_at_ms: ms,
        }
    }

    #[test]
    fn a_window_keeps_the_newest_samples_of_each_switch_in_order() {
        let w = Window::new(2, 3, 10);
        for (n, ms) in [1_000, 2_000, 3_000, 4_000].into_iter().enumerate() {
            w.record(&sample(0, ms, n as f64));
        }
        // Older or repeated stamps (a re-read of Redis) are not remembered twice.
        w.record(&sample(0, 3_000, 9.0));
        w.record(&sample(0, 4_000, 9.0));
        w.record(&sample(1, 5_000, 7.0));
        w.record(&sample(5, 5_000, 7.0)); // not a switch of this fabric
        assert_eq!(
            w.series(SwitchId(0), Metric::LatencyMs, 0, u64::MAX),
            [(2_000, 1.0), (3_000, 2.0), (4_000, 3.0)]
        );
        assert_eq!(
            w.series(SwitchId(0), Metric::PacketErrors, 3_000, 4_000),
            [(3_000, 3.0)]
        );
        assert_eq!(
            w.series(SwitchId(1), Metric::LatencyMs, 0, u64::MAX),
            [(5_000, 7.0)]
        );
        assert!(
            w.series(SwitchId(9), Metric::LatencyMs, 0, u64::MAX)
                .is_empty()
        );
        let none = Window::new(1, 0, 10);
        none.record(&sample(0, 1, 1.0));
        assert!(
            none.series(SwitchId(0), Metric::LatencyMs, 0, u64::MAX)
                .is_empty()
        );
    }
}
