//! The sample model: what one switch reports, drawn from seeded `rand_distr` distributions.
//!
//! Pure: no clock, no actor. Each switch owns a `SwitchModel` whose random stream depends
//! only on the fabric seed and the switch number, so a seeded run is reproducible and
//! switches do not move in lockstep.

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, LogNormal, Normal, Poisson, Uniform};
use rand_pcg::Pcg64Mcg;

use crate::model::{Sample, SwitchId};

/// Port capacity of every simulated switch (100 Gbit/s), so bandwidth stays in `[0, this]`.
pub const CAPACITY_MBPS: f64 = 100_000.0;
/// Latency never leaves `[LATENCY_MIN_MS, LATENCY_MAX_MS]`, spikes included.
pub const LATENCY_MIN_MS: f64 = 0.001;
pub const LATENCY_MAX_MS: f64 = 1_000.0;
/// How strongly a switch's load is pulled back to its own level each sample.
const LOAD_REVERSION: f64 = 0.3;
/// Chance that a sample carries a latency spike (a congested queue, a reroute).
const SPIKE_PROBABILITY: f64 = 0.005;

/// The state of one simulated switch between samples.
#[derive(Clone, Debug)]
pub struct SwitchModel {
    switch: SwitchId,
    rng: Pcg64Mcg,
    /// The utilisation this switch hovers around, in `[0, 1]`: most switches are lightly
    /// loaded, a few run hot, as in a real fabric.
    base_load: f64,
    load_in: f64,
    load_out: f64,
    /// Mean packet errors per second at low load; heavy-tailed across switches so a few
    /// switches are visibly flaky.
    error_rate_per_s: f64,
    packet_errors: u64,
}

impl SwitchModel {
    /// A switch of a fabric seeded with `seed`.
    pub fn new(seed: u64, switch: SwitchId) -> SwitchModel {
        // Spread switch numbers over the seed space (the golden-ratio increment of
        // SplitMix64) so neighbouring switches get unrelated streams.
        let stream =
            seed.wrapping_add((u64::from(switch.0) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = Pcg64Mcg::seed_from_u64(stream);
        let base_load = Beta::new(2.0, 5.0)
            .expect("constant parameters")
            .sample(&mut rng);
        let error_rate_per_s = LogNormal::new((0.02f64).ln(), 1.0)
            .expect("constant parameters")
            .sample(&mut rng);
        let packet_errors = rng.random_range(0..10_000);
        SwitchModel {
            switch,
            rng,
            base_load,
            load_in: base_load,
            load_out: base_load,
            error_rate_per_s,
            packet_errors,
        }
    }

    /// The switch this model simulates.
    pub fn switch(&self) -> SwitchId {
        self.switch
    }

    /// Draws the next sample, `interval_s` seconds after the previous one, stamped `now_ms`.
    pub fn next_sample(&mut self, interval_s: f64, now_ms: u64) -> Sample {
        self.load_in = self.step_load(self.load_in);
        self.load_out = self.step_load(self.load_out);
        let load = self.load_in.max(self.load_out);

        // Latency is log-normal around a fraction of a millisecond, grows steeply as queues
        // fill, and now and then spikes by one to two orders of magnitude.
        let mut latency = LogNormal::new((0.2f64).ln(), 0.35)
            .expect("constant parameters")
            .sample(&mut self.rng)
            * (1.0 + 4.0 * load.powi(4));
        if self.rng.random_bool(SPIKE_PROBABILITY) {
            latency *= Uniform::new(20.0, 100.0)
                .expect("constant parameters")
                .sample(&mut self.rng);
        }

        // Errors arrive as a Poisson process whose rate climbs with load.
        let lambda = interval_s * self.error_rate_per_s * (1.0 + 20.0 * load.powi(6));
        let new_errors = Poisson::new(lambda)
            .map(|p| p.sample(&mut self.rng))
            .unwrap_or(0.0);
        self.packet_errors = self.packet_errors.saturating_add(new_errors as u64);

        Sample {
            switch: self.switch,
            bandwidth_in_mbps: round3(CAPACITY_MBPS * self.load_in),
            bandwidth_out_mbps: round3(CAPACITY_MBPS * self.load_out),
            latency_ms: round3(latency.clamp(LATENCY_MIN_MS, LATENCY_MAX_MS)),
            packet_errors: self.packet_errors,
            updated_at_ms: now_ms,
        }
    }

    /// A mean-reverting random walk: noise is bounded by the clamp and pulled back to the
    /// switch's own level, so traffic wanders without drifting off.
    fn step_load(&mut self, load: f64) -> f64 {
        let noise = Normal::new(0.0, 0.05)
            .expect("constant parameters")
            .sample(&mut self.rng);
        (load + LOAD_REVERSION * (self.base_load - load) + noise).clamp(0.0, 1.0)
    }
}

/// Rounds to three decimals: kbit/s and microseconds are as fine as a fabric reports.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_in_their_ranges_and_counters_never_decrease() {
        for switch in 0..50 {
            let mut model = SwitchModel::new(42, SwitchId(switch));
            let mut last_errors = 0;
            for tick in 0..2_000u64 {
                let s = model.next_sample(1.0, 1_000 * tick);
                assert!(
                    (0.0..=CAPACITY_MBPS).contains(&s.bandwidth_in_mbps),
                    "{s:?}"
                );
                assert!(
                    (0.0..=CAPACITY_MBPS).contains(&s.bandwidth_out_mbps),
                    "{s:?}"
                );
                assert!(
                    (LATENCY_MIN_MS..=LATENCY_MAX_MS).contains(&s.latency_ms),
                    "{s:?}"
                );
                assert!(s.packet_errors >= last_errors, "{s:?}");
                assert_eq!(s.switch, SwitchId(switch));
                assert_eq!(s.updated_at_ms, 1_000 * tick);
                last_errors = s.packet_errors;
            }
        }
    }

    #[test]
    fn same_seed_gives_the_same_samples_and_another_seed_does_not() {
        let run = |seed| {
            let mut m = SwitchModel::new(seed, SwitchId(3));
            (0..20).map(|t| m.next_sample(0.5, t)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn switches_of_one_fabric_differ() {
        let mut a = SwitchModel::new(7, SwitchId(0));
        let mut b = SwitchModel::new(7, SwitchId(1));
        assert_ne!(
            a.next_sample(1.0, 0).latency_ms,
            b.next_sample(1.0, 0).latency_ms
        );
    }

    #[test]
    fn values_move_across_intervals_and_errors_accumulate() {
        let mut model = SwitchModel::new(1, SwitchId(0));
        let samples: Vec<_> = (0..100).map(|t| model.next_sample(10.0, t)).collect();
        let distinct_bw = samples
            .windows(2)
            .filter(|w| w[0].bandwidth_in_mbps != w[1].bandwidth_in_mbps)
            .count();
        assert!(distinct_bw > 90, "bandwidth barely moves: {distinct_bw}");
        assert!(samples[99].packet_errors > samples[0].packet_errors);
    }

    #[test]
    fn fabric_load_looks_like_a_real_fabric() {
        // Mean utilisation of Beta(2, 5) is about 0.29: most switches lightly loaded.
        let n = 2_000;
        let mean_bw: f64 = (0..n)
            .map(|i| {
                SwitchModel::new(9, SwitchId(i))
                    .next_sample(1.0, 0)
                    .bandwidth_in_mbps
            })
            .sum::<f64>()
            / f64::from(n);
        let utilisation = mean_bw / CAPACITY_MBPS;
        assert!((0.22..0.36).contains(&utilisation), "{utilisation}");
    }
}
