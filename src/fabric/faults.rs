//! Faults in the fabric, from a scenario file's timed events or `POST /fabric/faults`: each
//! reshapes the counter functions of the ports it touches from its first step on, so the
//! counters stay a pure function of (seed, faults, step) and both ends of a link still agree.
//!
//! - a link down (also a flap, a run of them; a port or switch gone): no traffic either
//!   way while it lasts, `LinkDownedCounterExtended` + 1 at each end, the words carried
//!   afterwards counted from where they stopped;
//! - congestion on a port: its transmit rate scaled down, `PortXmitWait` climbing;
//! - a symbol-error burst: `SymbolErrorCounterExtended` (and receive errors) up at once;
//! - a counter reset: every counter of the port from 0 at that step, as hardware clears them.
//!
//! A gone port or switch also leaves UFM's output while it lasts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use slog::{Logger, info};

use super::counters::{Model, PortCounters, RCV_ERRORS, Sender, Traffic};
use super::topology::{Peer, Port, Topology};
use crate::metrics::DaemonMetrics;
use crate::model::SwitchId;

/// Faults were injected (`source`: the scenario file or the API): one log line, and each
/// counted by kind. The one place an injection is reported.
pub fn injected(faults: &[Fault], source: &str, log: &Logger, metrics: &DaemonMetrics) {
    let mut kinds: Vec<&str> = faults.iter().map(|f| f.kind.name()).collect();
    kinds.dedup();
    let first = faults.iter().map(|f| f.from_step).min().unwrap_or(0);
    info!(log, "Faults injected."; "source" => source, "faults" => faults.len(),
        "kinds" => kinds.join(","), "first_step" => first);
    for f in faults {
        metrics
            .fabric_faults
            .get_or_create(&[("kind", f.kind.name())])
            .inc();
    }
}

/// Most faults a fabric holds (each keeps shaping its ports' counters after it ends, so
/// none is ever dropped): a bound on memory and on the work per rendered port.
pub const MAX_FAULTS: usize = 10_000;
/// Most steps a flap may have down phases for.
const MAX_FLAPS: u64 = 1_000;

/// `PortXmitWait` ticks a congested port adds per second, at a throughput of 0.
const CONGESTED_WAIT_PER_S: f64 = 0.9e6;

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Kind {
    /// The link is down while the fault lasts.
    LinkDown,
    /// Symbol errors (and a quarter as many receive errors) at once.
    SymbolErrors { count: u64 },
    /// The port transmits at `throughput` (0 to 1) of its rate; `PortXmitWait` climbs.
    Congestion { throughput: f64 },
    /// The port (and its link) leaves the output while the fault lasts.
    PortGone,
    /// The whole switch (and its links) leaves the output while the fault lasts.
    SwitchGone,
    /// Every counter of the port (every port, without `port`) restarts from 0.
    Reset,
}

impl Kind {
    /// The name used in the API, the scenario file and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::LinkDown => "link_down",
            Kind::SymbolErrors { .. } => "symbol_errors",
            Kind::Congestion { .. } => "congestion",
            Kind::PortGone => "port_gone",
            Kind::SwitchGone => "switch_gone",
            Kind::Reset => "reset",
        }
    }

    /// Whether the link carries nothing while it lasts.
    fn downs_link(&self) -> bool {
        matches!(self, Kind::LinkDown | Kind::PortGone | Kind::SwitchGone)
    }
}

/// One fault, in steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub kind: Kind,
    pub switch: SwitchId,
    /// None: every port of the switch.
    pub port: Option<u16>,
    /// The first step it applies to.
    pub from_step: u64,
    /// The first step it no longer applies to; None: for good (or an instant: a burst, a reset).
    pub to_step: Option<u64>,
}

/// An event as a scenario file or the API gives it; `at_s` (seconds after the start; the
/// API: now) and `duration_s` (for good without one) become steps.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(default)]
    pub at_s: f64,
    /// `link_down`, `flap`, `symbol_errors`, `congestion`, `port_gone`, `switch_gone`, `reset`.
    pub kind: String,
    /// `switch-<n>`.
    pub switch: String,
    pub port: Option<u16>,
    pub duration_s: Option<f64>,
    /// `flap`: seconds of one down and up cycle.
    pub period_s: Option<f64>,
    /// `symbol_errors`: how many.
    pub count: Option<u64>,
    /// `congestion`: the share of its rate the port keeps, 0 to 1.
    pub throughput: Option<f64>,
}

/// Why an event cannot be a fault: the field at fault and what is wrong.
#[derive(Debug, PartialEq)]
pub struct BadEvent {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> BadEvent {
    BadEvent {
        field,
        message: message.into(),
    }
}

impl Event {
    /// The faults this event makes (a flap, several), its `at_s` counted from step
    /// `start`, numbered from `next_id`.
    pub fn faults(
        &self,
        topology: &Topology,
        model: &Model,
        start: u64,
        next_id: u64,
    ) -> Result<Vec<Fault>, BadEvent> {
        let switch = SwitchId::parse(&self.switch)
            .filter(|s| topology.switch(*s).is_some())
            .ok_or_else(|| {
                bad(
                    "switch",
                    format!(
                        "must be a switch of the fabric, switch-0 to switch-{}, got {:?}",
                        topology.switches.len() - 1,
                        self.switch
                    ),
                )
            })?;
        if let Some(port) = self.port
            && !topology.switches[switch.index()]
                .ports
                .iter()
                .any(|p| p.num == port)
        {
            return Err(bad("port", format!("{switch} has no cabled port {port}")));
        }
        let steps = |field: &'static str, seconds: f64| -> Result<u64, BadEvent> {
            if !(0.0..=31_536_000.0).contains(&seconds) {
                return Err(bad(
                    field,
                    format!("must be 0 to 31536000 seconds, got {seconds}"),
                ));
            }
            Ok((seconds * 1000.0 / model.interval_ms() as f64).round() as u64)
        };
        let from = start + steps("at_s", self.at_s)?;
        let to = match self.duration_s {
            Some(d) => Some(from + steps("duration_s", d)?.max(1)),
            None => None,
        };
        let needs_port = |kind: Kind| -> Result<Kind, BadEvent> {
            if self.port.is_none() {
                return Err(bad("port", format!("is needed by {}", kind.name())));
            }
            Ok(kind)
        };
        let fault = |kind: Kind, from_step: u64, to_step: Option<u64>, id: u64| Fault {
            id,
            kind,
            switch,
            port: self.port,
            from_step,
            to_step,
        };
        let kind = match self.kind.as_str() {
            "link_down" => needs_port(Kind::LinkDown)?,
            "port_gone" => needs_port(Kind::PortGone)?,
            "switch_gone" => Kind::SwitchGone,
            "reset" => Kind::Reset,
            "symbol_errors" => needs_port(Kind::SymbolErrors {
                count: self
                    .count
                    .ok_or_else(|| bad("count", "is needed by symbol_errors"))?,
            })?,
            "congestion" => {
                let throughput = self
                    .throughput
                    .ok_or_else(|| bad("throughput", "is needed by congestion"))?;
                if !(0.0..=1.0).contains(&throughput) {
                    return Err(bad(
                        "throughput",
                        format!("must be 0 to 1, got {throughput}"),
                    ));
                }
                needs_port(Kind::Congestion { throughput })?
            }
            "flap" => {
                needs_port(Kind::LinkDown)?;
                let period = steps(
                    "period_s",
                    self.period_s
                        .ok_or_else(|| bad("period_s", "is needed by flap"))?,
                )?;
                let to = to.ok_or_else(|| bad("duration_s", "is needed by flap"))?;
                if period < 2 {
                    return Err(bad("period_s", "must be at least two update intervals"));
                }
                if (to - from) / period > MAX_FLAPS {
                    return Err(bad(
                        "period_s",
                        format!("makes more than {MAX_FLAPS} flaps"),
                    ));
                }
                // Down for the first half of each period, up for the second.
                let flaps = (from..to).step_by(period as usize);
                return Ok(flaps
                    .enumerate()
                    .map(|(n, a)| {
                        fault(
                            Kind::LinkDown,
                            a,
                            Some((a + period / 2).min(to)),
                            next_id + n as u64,
                        )
                    })
                    .collect());
            }
            other => {
                return Err(bad(
                    "kind",
                    format!(
                        "must be link_down, flap, symbol_errors, congestion, port_gone, \
                         switch_gone or reset, got {other:?}"
                    ),
                ));
            }
        };
        let to = match kind {
            Kind::SymbolErrors { .. } | Kind::Reset => None,
            _ => to,
        };
        Ok(vec![fault(kind, from, to, next_id)])
    }
}

/// The scenario file: `events:`, each an [`Event`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub events: Vec<Event>,
}

/// Every fault of the fabric, indexed by the ports they touch.
#[derive(Debug, Default)]
pub struct FaultSet {
    faults: Vec<Fault>,
    /// Faults that down the link of a port (from either end), by (switch, port).
    links: HashMap<(u32, u16), Vec<usize>>,
    /// Faults on a port's own counters (bursts, resets, congestion, gone), by (switch, port).
    ports: HashMap<(u32, u16), Vec<usize>>,
}

/// A part of a sender's time with one rate factor: `[from, to)` at `factor` of its rate.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    from: u64,
    to: Option<u64>,
    factor: f64,
}

impl FaultSet {
    /// The faults, indexed for `topology`.
    pub fn new(faults: Vec<Fault>, topology: &Topology) -> FaultSet {
        let mut set = FaultSet {
            faults,
            ..FaultSet::default()
        };
        for (i, f) in set.faults.iter().enumerate() {
            let Some(switch) = topology.switch(f.switch) else {
                continue;
            };
            let ports = switch
                .ports
                .iter()
                .filter(|p| f.port.is_none_or(|n| n == p.num));
            for p in ports {
                set.ports.entry((f.switch.0, p.num)).or_default().push(i);
                if f.kind.downs_link() {
                    set.links.entry((f.switch.0, p.num)).or_default().push(i);
                    if let Peer::Switch { switch, port } = p.peer {
                        set.links.entry((switch, port)).or_default().push(i);
                    }
                }
            }
        }
        set
    }

    pub fn all(&self) -> &[Fault] {
        &self.faults
    }

    fn on(
        &self,
        map: &HashMap<(u32, u16), Vec<usize>>,
        key: (u32, u16),
    ) -> impl Iterator<Item = &Fault> {
        map.get(&key)
            .into_iter()
            .flatten()
            .map(|&i| &self.faults[i])
    }

    /// Whether the row of `port` of `switch` is out of the output at step `k`.
    pub fn hidden(&self, switch: u32, port: u16, k: u64) -> bool {
        self.on(&self.ports, (switch, port)).any(|f| {
            matches!(f.kind, Kind::PortGone | Kind::SwitchGone)
                && f.from_step <= k
                && f.to_step.is_none_or(|t| k < t)
        })
    }

    /// The counters of `port` of `switch` at step `k`, every fault applied.
    pub fn port(
        &self,
        model: &Model,
        topology: &Topology,
        switch: u32,
        port: &Port,
        k: u64,
    ) -> PortCounters {
        let key = (switch, port.num);
        if !self.links.contains_key(&key) && !self.ports.contains_key(&key) {
            let (_, peer) = Sender::of(switch, port);
            // The peer's congestion shapes what this port receives.
            if !self.sender_faulted(topology, peer) {
                return model.port(switch, port, k);
            }
        }
        let traffic = Shaped {
            model,
            set: self,
            topology,
        };
        let shaped = |k| {
            let mut c = model.port_with(switch, port, k, &traffic);
            // Each time the link went down, at either end.
            c[6] += self
                .on(&self.links, key)
                .filter(|f| f.from_step <= k)
                .count() as u64;
            for f in self.on(&self.ports, key).filter(|f| f.from_step <= k) {
                if let Kind::SymbolErrors { count } = f.kind {
                    c[4] += count;
                    c[RCV_ERRORS] += count.div_ceil(4);
                }
            }
            c
        };
        let mut c = shaped(k);
        let reset = self
            .on(&self.ports, key)
            .filter(|f| f.kind == Kind::Reset && f.from_step <= k)
            .map(|f| f.from_step)
            .max();
        if let Some(at) = reset {
            let before = shaped(at);
            for (v, b) in c.iter_mut().zip(before) {
                *v = v.saturating_sub(b);
            }
        }
        c
    }

    /// Whether any fault shapes what `sender` transmits.
    fn sender_faulted(&self, topology: &Topology, sender: Sender) -> bool {
        self.sender_port(topology, sender)
            .is_some_and(|key| self.links.contains_key(&key) || self.ports.contains_key(&key))
    }

    /// The switch port a sender transmits from, or a host's leaf port.
    fn sender_port(&self, topology: &Topology, sender: Sender) -> Option<(u32, u16)> {
        match sender {
            Sender::Switch(s, p) => Some((s, p)),
            Sender::Host(h) => topology.host_port(h),
        }
    }

    /// The sender's time cut into segments with a rate factor below 1: down links (0) and
    /// congestion on a switch port (its throughput), the lowest where they overlap.
    fn segments(&self, topology: &Topology, sender: Sender) -> Vec<Segment> {
        let Some(key) = self.sender_port(topology, sender) else {
            return Vec::new();
        };
        let mut windows: Vec<Segment> = self
            .on(&self.links, key)
            .map(|f| Segment {
                from: f.from_step,
                to: f.to_step,
                factor: 0.0,
            })
            .collect();
        if let Sender::Switch(..) = sender {
            windows.extend(self.on(&self.ports, key).filter_map(|f| match f.kind {
                Kind::Congestion { throughput } => Some(Segment {
                    from: f.from_step,
                    to: f.to_step,
                    factor: throughput,
                }),
                _ => None,
            }));
        }
        disjoint(windows)
    }
}

/// Windows made disjoint: over each stretch of time, the lowest factor of those covering it.
fn disjoint(windows: Vec<Segment>) -> Vec<Segment> {
    if windows.len() < 2 {
        return windows;
    }
    let mut bounds: Vec<u64> = windows
        .iter()
        .flat_map(|w| [Some(w.from), w.to])
        .flatten()
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut out: Vec<Segment> = Vec::new();
    for (i, &from) in bounds.iter().enumerate() {
        let to = bounds.get(i + 1).copied();
        let inside = |w: &&Segment| w.from <= from && w.to.is_none_or(|t| from < t);
        let Some(factor) = windows
            .iter()
            .filter(inside)
            .map(|w| w.factor)
            .reduce(f64::min)
        else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.to == Some(from) && last.factor == factor => last.to = to,
            _ => out.push(Segment { from, to, factor }),
        }
    }
    out
}

/// The model's traffic with the faults' segments applied: over a segment at factor f, a
/// sender's counter grows by f of what it would have.
struct Shaped<'a> {
    model: &'a Model,
    set: &'a FaultSet,
    topology: &'a Topology,
}

impl Traffic for Shaped<'_> {
    fn words(&self, sender: Sender, k: u64) -> u64 {
        let f = |k| self.model.words(sender, k);
        let mut v = f(k);
        for s in self.set.segments(self.topology, sender) {
            if k <= s.from {
                continue;
            }
            let end = s.to.map_or(k, |t| t.min(k));
            let lost = (f(end) - f(s.from)) as f64 * (1.0 - s.factor);
            v = v.saturating_sub(lost as u64);
        }
        v
    }

    fn wait(&self, sender: Sender, k: u64) -> u64 {
        let f = |k| self.model.wait(sender, k);
        let mut v = f(k);
        let per_step = CONGESTED_WAIT_PER_S * self.model.interval_ms() as f64 / 1000.0;
        for s in self.set.segments(self.topology, sender) {
            if k <= s.from {
                continue;
            }
            let end = s.to.map_or(k, |t| t.min(k));
            if s.factor == 0.0 {
                // A link that is down waits for nothing.
                v = v.saturating_sub(f(end) - f(s.from));
            } else {
                v += ((end - s.from) as f64 * per_step * (1.0 - s.factor)) as u64;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::{Fabric, Shape};
    use proptest::prelude::*;

    fn fabric_with(seed: u64, events: &[(u8, u32, u16, u64, u64)]) -> Fabric {
        let shape = Shape {
            leaves: 4,
            spines: 2,
            ports_per_switch: 6,
            hosts_per_leaf: 2,
            link_gbps: 200,
        };
        let f = Fabric::new(&shape, seed, std::time::Duration::from_secs(1));
        let events: Vec<Event> = events
            .iter()
            .map(|&(kind, switch, port, at, duration)| Event {
                at_s: at as f64,
                kind: ["link_down", "congestion", "symbol_errors", "port_gone"][kind as usize % 4]
                    .into(),
                switch: format!("switch-{}", switch % 6),
                port: Some(1 + port % 4),
                duration_s: Some(duration as f64),
                period_s: None,
                count: Some(10),
                throughput: Some(0.25),
            })
            .collect();
        f.inject(&events, 1_000).unwrap();
        f
    }

    proptest! {
        #[test]
        fn with_faults_no_counter_falls_and_link_ends_still_agree(
            seed in any::<u64>(),
            events in proptest::collection::vec((0u8..4, 0u32..6, 0u16..4, 0u64..20, 1u64..20), 0..6),
            k in 990u64..1_060,
            gap in 1u64..30,
        ) {
            let f = fabric_with(seed, &events);
            let faults = f.faults();
            for (s, port) in f.topology.ports() {
                let a = f.port(&faults, s, port, k);
                let b = f.port(&faults, s, port, k + gap);
                for i in 0..16 {
                    prop_assert!(b[i] >= a[i], "counter {i} of {s}/{} fell", port.num);
                }
                if let Peer::Switch { switch, port: far } = port.peer {
                    let far = f.topology.switches[switch as usize].ports.iter().find(|p| p.num == far).unwrap();
                    let there = f.port(&faults, switch, far, k);
                    prop_assert_eq!(a[0], there[1]);
                    prop_assert_eq!(a[2], there[3]);
                    prop_assert_eq!(a[6], there[6], "link downs seen at both ends");
                }
            }
        }
    }

    #[test]
    fn overlapping_windows_keep_the_lowest_factor_over_each_stretch() {
        let w = |from, to, factor| Segment { from, to, factor };
        assert_eq!(
            disjoint(vec![
                w(10, Some(20), 0.5),
                w(15, Some(30), 0.0),
                w(40, None, 0.2)
            ]),
            [w(10, Some(15), 0.5), w(15, Some(30), 0.0), w(40, None, 0.2)]
        );
        assert_eq!(
            disjoint(vec![w(0, Some(10), 0.0), w(5, Some(10), 0.0)]),
            [w(0, Some(10), 0.0)]
        );
    }
}
