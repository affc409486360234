//! The fat tree: which port of which switch is cabled to what, and every node's GUID.
//! Pure and deterministic: the same config and seed give the same fabric, so any
//! instance (and a replayed run) agrees on it.

use serde::Serialize;

use super::mix;
use crate::model::SwitchId;

/// What the fat tree is made of (`fabric.*` in the config, checked there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub leaves: u32,
    pub spines: u32,
    /// Every switch's radix.
    pub ports_per_switch: u16,
    /// Ports of a leaf cabled to hosts; the others go up.
    pub hosts_per_leaf: u16,
    pub link_gbps: u32,
}

impl Shape {
    /// Ports of each leaf that go up to the spines.
    pub fn uplinks(&self) -> u16 {
        self.ports_per_switch.saturating_sub(self.hosts_per_leaf)
    }
}

/// The top 24 bits of every switch's node GUID (an OUI), and of every host's.
const SWITCH_OUI: u64 = 0x00b8_cef6;
const HOST_OUI: u64 = 0x0010_70fd;

/// Where a switch sits in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Leaf,
    Spine,
}

/// What a port is cabled to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Port `port` of switch `switch`.
    Switch { switch: u32, port: u16 },
    /// Host number `host` (its HCA).
    Host { host: u32 },
}

/// One cabled port of a switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    /// Port number, from 1.
    pub num: u16,
    pub peer: Peer,
}

/// One switch: its GUID, level and cabled ports (in port order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    pub guid: u64,
    pub level: Level,
    pub ports: Vec<Port>,
}

/// The whole fabric. Switch `n` of the tree is `switch-n` of the per-switch API: leaves
/// first, then spines.
#[derive(Clone, Debug)]
pub struct Topology {
    pub switches: Vec<Switch>,
    /// Hosts in the fabric (`hosts_per_leaf` per leaf).
    pub hosts: u32,
    /// Link speed in Gbit/s.
    pub link_gbps: u32,
    hosts_per_leaf: u32,
    host_mask: u64,
}

impl Topology {
    /// The fat tree `config` describes (valid: checked by the config), seeded with `seed`.
    ///
    /// Leaf `l`'s ports 1..=hosts_per_leaf go to its hosts; its uplink `u` goes to spine
    /// `(l * uplinks + u) % spines`, so each leaf spreads over every spine and the spines
    /// fill evenly, each taking the next free port.
    pub fn new(config: &Shape, seed: u64) -> Topology {
        let (leaves, spines) = (config.leaves, config.spines);
        let uplinks = u32::from(config.uplinks());
        let hosts = u32::from(config.hosts_per_leaf);
        // A bijection on 32 bits (XOR with a seeded mask): distinct ids, distinct GUIDs.
        let switch_mask = mix(seed ^ 0x5717_c4e5) & 0xffff_ffff;
        let host_mask = mix(seed ^ 0x4057_5eed) & 0xffff_ffff;
        let guid = |n: u32| (SWITCH_OUI << 40) | (u64::from(n) ^ switch_mask);
        let mut switches: Vec<Switch> = (0..leaves + spines)
            .map(|n| Switch {
                guid: guid(n),
                level: if n < leaves {
                    Level::Leaf
                } else {
                    Level::Spine
                },
                ports: Vec::new(),
            })
            .collect();
        let mut spine_next = vec![1u16; spines as usize];
        for l in 0..leaves {
            for h in 0..hosts {
                switches[l as usize].ports.push(Port {
                    num: (h + 1) as u16,
                    peer: Peer::Host {
                        host: l * hosts + h,
                    },
                });
            }
            for u in 0..uplinks {
                let s = (l * uplinks + u) % spines;
                let spine = leaves + s;
                let spine_port = spine_next[s as usize];
                spine_next[s as usize] += 1;
                let leaf_port = (hosts + u + 1) as u16;
                switches[l as usize].ports.push(Port {
                    num: leaf_port,
                    peer: Peer::Switch {
                        switch: spine,
                        port: spine_port,
                    },
                });
                switches[spine as usize].ports.push(Port {
                    num: spine_port,
                    peer: Peer::Switch {
                        switch: l,
                        port: leaf_port,
                    },
                });
            }
        }
        Topology {
            switches,
            hosts: leaves * hosts,
            link_gbps: config.link_gbps,
            hosts_per_leaf: hosts,
            host_mask,
        }
    }

    /// The switch `id`, if it is one of this fabric's.
    pub fn switch(&self, id: SwitchId) -> Option<&Switch> {
        self.switches.get(id.0 as usize)
    }

    /// The leaf port host `n` is cabled to: (leaf, port).
    pub fn host_port(&self, host: u32) -> Option<(u32, u16)> {
        (host < self.hosts).then(|| {
            (
                host / self.hosts_per_leaf,
                (host % self.hosts_per_leaf + 1) as u16,
            )
        })
    }

    /// Host `n`'s node GUID.
    pub fn host_guid(&self, host: u32) -> u64 {
        (HOST_OUI << 40) | (u64::from(host) ^ self.host_mask)
    }

    /// Every cabled switch port, in (switch, port) order.
    pub fn ports(&self) -> impl Iterator<Item = (u32, &Port)> {
        self.switches
            .iter()
            .enumerate()
            .flat_map(|(n, s)| s.ports.iter().map(move |p| (n as u32, p)))
    }
}

/// A GUID as UFM writes it: `0x` and 16 lowercase hex digits.
pub fn guid_text(guid: u64) -> String {
    format!("0x{guid:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fabric(leaves: u32, spines: u32, ports: u16, hosts: u16) -> Topology {
        let config = Shape {
            leaves,
            spines,
            ports_per_switch: ports,
            hosts_per_leaf: hosts,
            link_gbps: 200,
        };
        Topology::new(&config, 7)
    }

    #[test]
    fn every_switch_link_is_cabled_both_ways() {
        for t in [
            fabric(3, 2, 8, 4),
            fabric(40, 20, 64, 32),
            fabric(5, 3, 6, 1),
        ] {
            for (n, port) in t.ports() {
                if let Peer::Switch { switch, port: far } = port.peer {
                    let back = t.switches[switch as usize]
                        .ports
                        .iter()
                        .find(|p| p.num == far)
                        .expect("the far port exists");
                    assert_eq!(
                        back.peer,
                        Peer::Switch {
                            switch: n,
                            port: port.num
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn leaves_carry_their_hosts_and_spread_their_uplinks_over_every_spine() {
        let t = fabric(3, 2, 8, 4);
        assert_eq!(t.switches.len(), 5);
        assert_eq!(t.hosts, 12);
        let leaf = &t.switches[1];
        assert_eq!(leaf.level, Level::Leaf);
        let nums: Vec<u16> = leaf.ports.iter().map(|p| p.num).collect();
        assert_eq!(nums, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(leaf.ports[0].peer, Peer::Host { host: 4 });
        let spines: Vec<u32> = leaf.ports[4..]
            .iter()
            .map(|p| match p.peer {
                Peer::Switch { switch, .. } => switch,
                Peer::Host { .. } => panic!("an uplink to a host"),
            })
            .collect();
        assert_eq!(spines, [3, 4, 3, 4]);
        // 12 uplinks over 2 spines: 6 ports each, numbered from 1 with no gap.
        for spine in &t.switches[3..] {
            assert_eq!(spine.level, Level::Spine);
            let mut nums: Vec<u16> = spine.ports.iter().map(|p| p.num).collect();
            nums.sort();
            assert_eq!(nums, [1, 2, 3, 4, 5, 6]);
        }
    }

    #[test]
    fn guids_are_distinct_formatted_as_ufm_and_fixed_by_the_seed() {
        let t = fabric(40, 20, 64, 32);
        let mut guids: Vec<u64> = t.switches.iter().map(|s| s.guid).collect();
        guids.extend((0..t.hosts).map(|h| t.host_guid(h)));
        let all = guids.len();
        guids.sort();
        guids.dedup();
        assert_eq!(guids.len(), all);
        let text = guid_text(t.switches[0].guid);
        assert_eq!(text.len(), 18);
        assert!(text.starts_with("0xb8cef6"));
        assert!(
            text[2..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(fabric(40, 20, 64, 32).switches[9].guid, t.switches[9].guid);
        let other = Topology::new(
            &Shape {
                leaves: 40,
                spines: 20,
                ports_per_switch: 64,
                hosts_per_leaf: 32,
                link_gbps: 200,
            },
            8,
        );
        assert_ne!(other.switches[9].guid, t.switches[9].guid);
    }
}
