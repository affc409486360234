//! The UFM-compatible fabric (`fabric.enabled`): a fat tree ([`topology`]), every port's
//! counters as a function of the seed and the sample's step ([`counters`]), and UFM
//! Telemetry's output formats ([`ufm`]). Pure: the switches take their per-switch totals
//! from it, and the cache renders the per-port bodies from it at each switch's sample.

pub mod counters;
pub mod faults;
pub mod topology;
pub mod ufm;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;

use serde::Serialize;

use crate::model::SwitchId;

pub use counters::{COUNTERS, Model, PortCounters};
pub use faults::{BadEvent, Event, Fault, FaultSet, Kind, MAX_FAULTS, Scenario};
pub use topology::{Level, Peer, Port, Shape, Topology, guid_text};

/// The fabric one daemon simulates and serves.
#[derive(Debug)]
pub struct Fabric {
    pub topology: Topology,
    pub model: Model,
    /// Every fault injected so far; replaced whole by each injection.
    faults: ArcSwap<FaultSet>,
    /// Serialises injections (each builds the next set from the current one).
    injecting: Mutex<()>,
    /// `/fabric`'s body, made by the first request: the topology never changes.
    topology_json: OnceLock<bytes::Bytes>,
    /// Counter sets by name (`fabric.counter_sets`): column indices into [`COUNTERS`].
    pub counter_sets: BTreeMap<String, Vec<usize>>,
}

impl Fabric {
    /// The fabric of `config`, seeded with `seed`, sampled every `interval`.
    pub fn new(config: &Shape, seed: u64, interval: Duration) -> Fabric {
        Fabric {
            topology: Topology::new(config, seed),
            model: Model::new(seed, config.link_gbps, interval.as_millis() as u64),
            faults: ArcSwap::default(),
            injecting: Mutex::new(()),
            topology_json: OnceLock::new(),
            counter_sets: BTreeMap::new(),
        }
    }

    /// The fabric, with its counter sets.
    pub fn with_counter_sets(mut self, sets: BTreeMap<String, Vec<usize>>) -> Fabric {
        self.counter_sets = sets;
        self
    }

    /// The faults as they are now.
    pub fn faults(&self) -> Arc<FaultSet> {
        self.faults.load_full()
    }

    /// Adds the faults of `events`, their `at_s` counted from step `start`; all or none.
    /// Refused past [`MAX_FAULTS`].
    pub fn inject(&self, events: &[Event], start: u64) -> Result<Vec<Fault>, BadEvent> {
        let _one_at_a_time = self.injecting.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.faults.load_full();
        let mut all = current.all().to_vec();
        let mut added = Vec::new();
        for event in events {
            let next_id = all.len() as u64 + added.len() as u64 + 1;
            added.extend(event.faults(&self.topology, &self.model, start, next_id)?);
        }
        if all.len() + added.len() > MAX_FAULTS {
            return Err(BadEvent {
                field: "kind",
                message: format!("the fabric holds at most {MAX_FAULTS} faults"),
            });
        }
        all.extend_from_slice(&added);
        self.faults
            .store(Arc::new(FaultSet::new(all, &self.topology)));
        Ok(added)
    }

    /// The counters of `port` of switch `switch` at step `k`, with `faults`.
    pub fn port(&self, faults: &FaultSet, switch: u32, port: &Port, k: u64) -> PortCounters {
        faults.port(&self.model, &self.topology, switch, port, k)
    }

    /// A switch's totals at step `k`, for its per-switch sample: (bandwidth in, bandwidth
    /// out) in Mbit/s over the step that ended at `k` (the sums over its ports), and its
    /// packet errors (receive errors plus transmit discards, summed over its ports).
    pub fn switch_totals(&self, switch: u32, k: u64) -> (f64, f64, u64) {
        let Some(s) = self.topology.switches.get(switch as usize) else {
            return (0.0, 0.0, 0);
        };
        let faults = self.faults();
        let (mut rx, mut tx, mut errors) = (0u64, 0u64, 0u64);
        for port in &s.ports {
            let now = self.port(&faults, switch, port, k);
            let before = self.port(&faults, switch, port, k.saturating_sub(1));
            // A reset in between: the step carried what the port counts since.
            rx += now[counters::RCV_DATA].saturating_sub(before[counters::RCV_DATA]);
            tx += now[counters::XMIT_DATA].saturating_sub(before[counters::XMIT_DATA]);
            errors += now[counters::RCV_ERRORS] + now[counters::XMIT_DISCARDS];
        }
        let seconds = self.model.interval_ms() as f64 / 1000.0;
        let mbps = |words: u64| words as f64 * 32.0 / seconds / 1e6;
        (mbps(rx), mbps(tx), errors)
    }

    /// The topology as JSON: every switch with its id, GUID, level and cabled ports, each
    /// port with what is at its far end.
    pub fn topology_json(&self) -> bytes::Bytes {
        self.topology_json
            .get_or_init(|| {
                let t = &self.topology;
                let switches: Vec<SwitchJson> = t
                    .switches
                    .iter()
                    .enumerate()
                    .map(|(n, s)| SwitchJson {
                        switch_id: SwitchId(n as u32),
                        node_guid: guid_text(s.guid),
                        level: s.level,
                        ports: s
                            .ports
                            .iter()
                            .map(|p| PortJson {
                                port_num: p.num,
                                peer: match p.peer {
                                    Peer::Switch { switch, port } => PeerJson::Switch {
                                        switch_id: SwitchId(switch),
                                        node_guid: guid_text(t.switches[switch as usize].guid),
                                        port_num: port,
                                    },
                                    Peer::Host { host } => PeerJson::Host {
                                        host: format!("host-{host}"),
                                        node_guid: guid_text(t.host_guid(host)),
                                    },
                                },
                            })
                            .collect(),
                    })
                    .collect();
                let body = FabricJson {
                    link_gbps: t.link_gbps,
                    hosts: t.hosts,
                    switches,
                };
                let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
                bytes.push(b'\n');
                bytes.into()
            })
            .clone()
    }

    /// Cabled ports of the whole fabric.
    pub fn port_count(&self) -> usize {
        self.topology.switches.iter().map(|s| s.ports.len()).sum()
    }
}

#[derive(Serialize)]
struct FabricJson {
    link_gbps: u32,
    hosts: u32,
    switches: Vec<SwitchJson>,
}

#[derive(Serialize)]
struct SwitchJson {
    switch_id: SwitchId,
    node_guid: String,
    level: Level,
    ports: Vec<PortJson>,
}

#[derive(Serialize)]
struct PortJson {
    port_num: u16,
    peer: PeerJson,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum PeerJson {
    Switch {
        switch_id: SwitchId,
        node_guid: String,
        port_num: u16,
    },
    Host {
        host: String,
        node_guid: String,
    },
}

/// SplitMix64's finaliser: a cheap, well-spread hash of one word, the source of every
/// seeded value of the fabric.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
