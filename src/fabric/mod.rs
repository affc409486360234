//! The UFM-compatible fabric (`fabric.enabled`): a fat tree ([`topology`]), every port's
//! counters as a function of the seed and the sample's step ([`counters`]), and UFM
//! Telemetry's output formats ([`ufm`]). Pure: the switches take their per-switch totals
//! from it, and the cache renders the per-port bodies from it at each switch's sample.

pub mod counters;
pub mod topology;
pub mod ufm;

use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

use crate::config::FabricConfig;
use crate::model::SwitchId;

pub use counters::{COUNTERS, Model, PortCounters};
pub use topology::{Level, Peer, Port, Topology, guid_text};

/// The fabric one daemon simulates and serves.
#[derive(Clone, Debug)]
pub struct Fabric {
    pub topology: Topology,
    pub model: Model,
    /// `/fabric`'s body, made by the first request: the topology never changes.
    topology_json: OnceLock<bytes::Bytes>,
}

impl Fabric {
    /// The fabric of `config`, seeded with `seed`, sampled every `interval`.
    pub fn new(config: &FabricConfig, seed: u64, interval: Duration) -> Fabric {
        Fabric {
            topology: Topology::new(config, seed),
            model: Model::new(seed, config.link_gbps, interval.as_millis() as u64),
            topology_json: OnceLock::new(),
        }
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
