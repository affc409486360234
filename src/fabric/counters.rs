//! The per-port counter model: every counter of every port as a closed-form function of
//! the fabric, the seed and the sample's step (`updated_at` in whole intervals since
//! [`EPOCH_MS`]), with no state.
//!
//! That is what keeps the two ends of a link in agreement: the words port A transmits in
//! step k are one function of (A, k), which A reports as `PortXmitData` and its peer as
//! `PortRcvData`, whichever of them samples first and whichever instance renders them.
//! Each traffic counter is `base + k * rate + jitter(k)` with `0 <= jitter < rate / 2`:
//! it grows by between half and one and a half times its mean each step, so it never
//! decreases, and its mean follows the transmitting switch's load. Error counters grow in
//! bursts: a port's bursts by minute b are `floor(b * q + q * u(b))`, mostly 0.

use super::mix;
use super::topology::{Peer, Port};

/// UFM Telemetry's high-frequency port counters, in its CSV column order.
pub const COUNTERS: [&str; 16] = [
    "PortXmitDataExtended",
    "PortRcvDataExtended",
    "PortXmitPktsExtended",
    "PortRcvPktsExtended",
    "SymbolErrorCounterExtended",
    "LinkErrorRecoveryCounterExtended",
    "LinkDownedCounterExtended",
    "PortRcvErrorsExtended",
    "PortRcvRemotePhysicalErrorsExtended",
    "PortRcvSwitchRelayErrorsExtended",
    "PortXmitDiscardsExtended",
    "PortXmitConstraintErrorsExtended",
    "PortRcvConstraintErrorsExtended",
    "ExcessiveBufferOverrunErrorsExtended",
    "VL15DroppedExtended",
    "PortXmitWaitExtended",
];

/// Indices into a port's counters.
pub const XMIT_DATA: usize = 0;
pub const RCV_DATA: usize = 1;
pub const RCV_ERRORS: usize = 7;
pub const XMIT_DISCARDS: usize = 10;
pub const XMIT_WAIT: usize = 15;

/// Counters count from here (2026-01-01T00:00:00Z), like a fabric booted then: far enough
/// back to look lived-in, near enough that a year at 400 Gbit/s stays far below 2^64.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// Error bursts are decided per minute: an error counter moves at most once a minute.
const BLOCK_MS: u128 = 60_000;

/// `PortXmitWait` ticks a fully congested port adds per second.
const WAIT_TICKS_PER_S: f64 = 1.0e6;

/// One port's 16 counters, in [`COUNTERS`] order.
pub type PortCounters = [u64; 16];

/// Who transmits on a link direction: a switch port or a host. Each has its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    Switch(u32, u16),
    Host(u32),
}

impl Sender {
    /// The two senders of `port`'s link: the port itself, and what is at its far end.
    pub fn of(switch: u32, port: &Port) -> (Sender, Sender) {
        let peer = match port.peer {
            Peer::Switch { switch, port } => Sender::Switch(switch, port),
            Peer::Host { host } => Sender::Host(host),
        };
        (Sender::Switch(switch, port.num), peer)
    }

    fn key(self) -> u64 {
        match self {
            Sender::Switch(s, p) => (1 << 62) | (u64::from(s) << 16) | u64::from(p),
            Sender::Host(h) => (2 << 62) | u64::from(h),
        }
    }
}

/// A uniform fraction in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The counter model of one fabric at one update interval.
#[derive(Clone, Debug)]
pub struct Model {
    seed: u64,
    interval_ms: u64,
    /// Words (4 bytes) a link carries per step at full speed.
    words_per_step: f64,
    wait_ticks_per_step: f64,
}

impl Model {
    pub fn new(seed: u64, link_gbps: u32, interval_ms: u64) -> Model {
        let seconds = interval_ms.max(1) as f64 / 1000.0;
        Model {
            seed,
            interval_ms: interval_ms.max(1),
            words_per_step: f64::from(link_gbps) * 1e9 / 32.0 * seconds,
            wait_ticks_per_step: WAIT_TICKS_PER_S * seconds,
        }
    }

    /// The update interval, the length of a step.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// The step of a sample taken at `at_ms`: whole intervals since [`EPOCH_MS`].
    pub fn step(&self, at_ms: u64) -> u64 {
        at_ms.saturating_sub(EPOCH_MS) / self.interval_ms
    }

    /// The wait from `at_ms` to the start of the next step (a few ms late is still that
    /// step; early would be the one before).
    pub fn until_next_step(&self, at_ms: u64) -> std::time::Duration {
        let into = at_ms.saturating_sub(EPOCH_MS) % self.interval_ms;
        std::time::Duration::from_millis(self.interval_ms - into)
    }

    fn hash(&self, parts: &[u64]) -> u64 {
        parts
            .iter()
            .fold(mix(self.seed ^ 0xc0ff_ee00), |h, &p| mix(h ^ p))
    }

    /// A sender's mean share of its link, in [0.02, 0.95]: most links run light, a few hot.
    fn load(&self, sender: Sender) -> f64 {
        let level = match sender {
            // A switch's ports follow the switch's own load level.
            Sender::Switch(s, _) => 0.05 + 0.6 * unit(self.hash(&[1, u64::from(s)])).powi(2),
            Sender::Host(h) => 0.05 + 0.7 * unit(self.hash(&[2, u64::from(h)])).powi(2),
        };
        let spread = 0.5 + unit(self.hash(&[3, sender.key()]));
        (level * spread).clamp(0.02, 0.95)
    }

    /// Words `sender` has transmitted by step `k`.
    pub(super) fn words(&self, sender: Sender, k: u64) -> u64 {
        let key = sender.key();
        let rate = (self.words_per_step * self.load(sender)) as u64;
        let base = self.hash(&[4, key]) >> 24;
        grow(base, rate, self.hash(&[5, key, k]), k)
    }

    /// Words per packet of `sender` (its MTU use): 64 to 1024.
    fn packet_words(&self, sender: Sender) -> u64 {
        64 << (self.hash(&[6, sender.key()]) % 5)
    }

    /// `PortXmitWait` of `sender` by step `k`: 0 below 40 % load, then climbing steeply.
    pub(super) fn wait(&self, sender: Sender, k: u64) -> u64 {
        let congestion = (self.load(sender) - 0.4).max(0.0);
        let rate = (self.wait_ticks_per_step * 4.0 * congestion * congestion) as u64;
        grow(0, rate, self.hash(&[7, sender.key(), k]), k)
    }

    /// Bursts of error kind `kind` on the receiving side of `port_key` by step `k`, with
    /// `per_minute` bursts a minute on the flakiest ports.
    fn bursts(&self, port_key: u64, kind: u64, per_minute: f64, k: u64) -> u64 {
        // Four ports in five never see one; the rest are flaky to a degree, a few very.
        let u = unit(self.hash(&[8, port_key]));
        let flaky = ((u - 0.8) / 0.2).max(0.0).powi(3);
        let q = ((per_minute * flaky).min(1.0) * 4_294_967_296.0) as u128;
        // Blocks of wall time, so the rate does not depend on the update interval.
        let block = u128::from(k) * u128::from(self.interval_ms) / BLOCK_MS;
        let u = u128::from(self.hash(&[9, port_key, kind, block as u64]) >> 32);
        ((block * q + ((q * u) >> 32)) >> 32) as u64
    }

    /// The counters of `port` of switch `switch` at step `k`, with no fault.
    pub fn port(&self, switch: u32, port: &Port, k: u64) -> PortCounters {
        self.port_with(switch, port, k, &Unfaulted(self))
    }

    /// The counters of `port` at step `k`, its link's traffic and wait as `traffic` has them.
    pub(super) fn port_with(
        &self,
        switch: u32,
        port: &Port,
        k: u64,
        traffic: &impl Traffic,
    ) -> PortCounters {
        let (me, peer) = Sender::of(switch, port);
        let sent = traffic.words(me, k);
        let received = traffic.words(peer, k);
        let rx = me.key();
        let burst = 1 + self.hash(&[10, rx]) % 64;
        let symbol = self.bursts(rx, 4, 1.0e-4, k);
        let mut c = [0u64; 16];
        c[XMIT_DATA] = sent;
        c[RCV_DATA] = received;
        c[2] = sent / self.packet_words(me);
        c[3] = received / self.packet_words(peer);
        c[4] = symbol * burst;
        c[5] = self.bursts(rx, 5, 2.0e-5, k);
        c[6] = self.bursts(rx, 6, 2.0e-6, k);
        c[RCV_ERRORS] = symbol * burst.div_ceil(4);
        c[8] = self.bursts(rx, 8, 2.0e-5, k);
        c[XMIT_DISCARDS] = self.bursts(rx, 10, 5.0e-5, k) * burst;
        c[XMIT_WAIT] = traffic.wait(me, k);
        c
    }
}

/// What a sender has transmitted, and waited, by a step: the model's own functions, or
/// those with faults applied (`faults.rs`).
pub(super) trait Traffic {
    fn words(&self, sender: Sender, k: u64) -> u64;
    fn wait(&self, sender: Sender, k: u64) -> u64;
}

/// The model with no fault.
struct Unfaulted<'a>(&'a Model);

impl Traffic for Unfaulted<'_> {
    fn words(&self, sender: Sender, k: u64) -> u64 {
        self.0.words(sender, k)
    }
    fn wait(&self, sender: Sender, k: u64) -> u64 {
        self.0.wait(sender, k)
    }
}

/// `base + k * rate + jitter`, the jitter in [0, rate / 2) drawn from `h`: between steps it
/// grows by `rate` plus or minus at most half of it, so it never decreases.
fn grow(base: u64, rate: u64, h: u64, k: u64) -> u64 {
    let jitter = ((u128::from(rate / 2) * u128::from(h >> 32)) >> 32) as u64;
    base.saturating_add(k.saturating_mul(rate))
        .saturating_add(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::topology::Shape;
    use crate::fabric::topology::Topology;
    use proptest::prelude::*;

    fn fabric(seed: u64) -> (Topology, Model) {
        let f = whole(seed);
        (f.topology, f.model)
    }

    fn whole(seed: u64) -> crate::fabric::Fabric {
        let config = Shape {
            leaves: 6,
            spines: 3,
            ports_per_switch: 8,
            hosts_per_leaf: 4,
            link_gbps: 200,
        };
        crate::fabric::Fabric::new(&config, seed, std::time::Duration::from_secs(1))
    }

    /// Steps from now into the next ten years.
    fn step() -> impl Strategy<Value = u64> {
        1u64..(3_650u64 * 86_400)
    }

    proptest! {
        #[test]
        fn every_counter_of_every_port_never_decreases(seed in any::<u64>(), k in step(), gap in 1u64..5_000) {
            let (t, m) = fabric(seed);
            for (s, port) in t.ports() {
                let a = m.port(s, port, k);
                let b = m.port(s, port, k + gap);
                for i in 0..16 {
                    prop_assert!(b[i] >= a[i], "{} of switch {s} port {} fell: {} -> {}", COUNTERS[i], port.num, a[i], b[i]);
                }
            }
        }

        #[test]
        fn what_one_end_transmits_the_other_receives_in_the_same_step(seed in any::<u64>(), k in step()) {
            let (t, m) = fabric(seed);
            for (s, port) in t.ports() {
                if let Peer::Switch { switch, port: far } = port.peer {
                    let far_port = t.switches[switch as usize].ports.iter().find(|p| p.num == far).unwrap();
                    let here = m.port(s, port, k);
                    let there = m.port(switch, far_port, k);
                    prop_assert_eq!(here[XMIT_DATA], there[RCV_DATA]);
                    prop_assert_eq!(here[RCV_DATA], there[XMIT_DATA]);
                    prop_assert_eq!(here[2], there[3]);
                    prop_assert_eq!(here[3], there[2]);
                }
            }
        }

        #[test]
        fn a_switch_bandwidth_is_the_sum_over_its_ports(seed in any::<u64>(), k in step()) {
            let f = whole(seed);
            let (t, m) = (&f.topology, &f.model);
            for s in 0..t.switches.len() as u32 {
                let (rx, tx, _) = f.switch_totals(s, k);
                let mut words = (0u64, 0u64);
                for port in &t.switches[s as usize].ports {
                    let (a, b) = (m.port(s, port, k - 1), m.port(s, port, k));
                    words.0 += b[RCV_DATA] - a[RCV_DATA];
                    words.1 += b[XMIT_DATA] - a[XMIT_DATA];
                }
                // Words of 4 bytes over a 1 s step, in Mbit/s.
                prop_assert_eq!(rx, words.0 as f64 * 32.0 / 1e6);
                prop_assert_eq!(tx, words.1 as f64 * 32.0 / 1e6);
                // A link carries at most its speed, and ports carry some traffic.
                let ports = t.switches[s as usize].ports.len() as f64;
                prop_assert!(tx > 0.0 && tx <= ports * 200_000.0 * 1.5);
            }
        }
    }

    #[test]
    fn error_counters_stay_near_zero_with_bursts_on_a_few_ports() {
        let (t, m) = fabric(42);
        let k = m.step(EPOCH_MS + 340 * 86_400_000);
        let symbol: Vec<u64> = t.ports().map(|(s, p)| m.port(s, p, k)[4]).collect();
        let zero = symbol.iter().filter(|&&v| v == 0).count();
        assert!(zero * 2 > symbol.len(), "most ports clean: {symbol:?}");
        assert!(zero < symbol.len(), "some port flaky: {symbol:?}");
        // Four counters nothing but a fault moves.
        for (s, p) in t.ports() {
            let c = m.port(s, p, k);
            assert_eq!([c[9], c[11], c[12], c[13], c[14]], [0; 5]);
        }
    }

    #[test]
    fn the_step_counts_whole_intervals_since_the_epoch() {
        let m = Model::new(1, 200, 1000);
        assert_eq!(m.step(EPOCH_MS), 0);
        assert_eq!(m.step(EPOCH_MS + 999), 0);
        assert_eq!(m.step(EPOCH_MS + 1000), 1);
        assert_eq!(m.step(0), 0);
    }
}
