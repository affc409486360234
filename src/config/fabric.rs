//! `fabric`: the UFM-compatible mode, a fat tree of switches with per-port counters (off
//! unless `enabled`), and its checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::problem::Problem;
use std::collections::BTreeMap;

use crate::fabric::{COUNTERS, Event, Fabric, Scenario, Shape};

/// Largest radix: the biggest InfiniBand switches have 128 ports (NDR, split).
pub const MAX_PORTS: u16 = 256;

/// A two-level fat tree: leaves carry the hosts and send everything else up to the spines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FabricConfig {
    /// Simulate the fabric's ports and serve UFM Telemetry's endpoints (`/csv/metrics`,
    /// `/metrics`, `/json/metrics`) on the generator listener; `telemetry.switches` must
    /// then be `leaves + spines`.
    pub enabled: bool,
    /// Leaf switches: `switch-0` ... `switch-{leaves-1}`.
    pub leaves: u32,
    /// Spine switches: the ids after the leaves.
    pub spines: u32,
    /// Ports of every switch (its radix), numbered from 1.
    pub ports_per_switch: u16,
    /// Ports of each leaf that go down to hosts (HCAs); the rest go up to the spines.
    pub hosts_per_leaf: u16,
    /// Speed of every link, Gbit/s (HDR: 200, NDR: 400).
    pub link_gbps: u32,
    /// A YAML file of timed fault events (`events: [{at_s, kind, switch, port, ...}]`),
    /// played from the start; the same file and seed replay the same run.
    pub scenario: Option<String>,
    /// A directory of UFM counter-set files, `NAME.cset`, one counter name a line (`#`
    /// comments): `/csv/cset/NAME` serves only those counters, `/csv/xcset/NAME` all others.
    pub counter_sets: Option<String>,
}

impl Default for FabricConfig {
    fn default() -> Self {
        // Five switches, as `telemetry.switches` defaults to.
        FabricConfig {
            enabled: false,
            leaves: 3,
            spines: 2,
            ports_per_switch: 8,
            hosts_per_leaf: 4,
            link_gbps: 200,
            scenario: None,
            counter_sets: None,
        }
    }
}

impl FabricConfig {
    /// Switches in the fabric.
    pub fn switches(&self) -> u64 {
        u64::from(self.leaves) + u64::from(self.spines)
    }

    /// Ports of each leaf that go up to the spines.
    pub fn uplinks(&self) -> u16 {
        self.shape().uplinks()
    }

    /// The tree's shape, as the fabric takes it.
    pub fn shape(&self) -> Shape {
        Shape {
            leaves: self.leaves,
            spines: self.spines,
            ports_per_switch: self.ports_per_switch,
            hosts_per_leaf: self.hosts_per_leaf,
            link_gbps: self.link_gbps,
        }
    }

    /// The counter sets of `counter_sets`, by name: each the indices of its counters in
    /// [`COUNTERS`] order as listed. The error names the file and line at fault.
    pub fn counter_set_files(&self) -> Result<BTreeMap<String, Vec<usize>>, String> {
        let mut sets = BTreeMap::new();
        let Some(dir) = &self.counter_sets else {
            return Ok(sets);
        };
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {dir}: {e}"))?;
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let (Some(name), Some("cset")) = (
                path.file_stem().and_then(|n| n.to_str()),
                path.extension().and_then(|e| e.to_str()),
            ) else {
                continue;
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "{}: a set's name is letters, digits, _ and -",
                    path.display()
                ));
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut columns = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let counter = line.split('#').next().unwrap_or("").trim();
                if counter.is_empty() {
                    continue;
                }
                let column = COUNTERS.iter().position(|c| *c == counter).ok_or_else(|| {
                    format!(
                        "{}:{}: {counter:?} is not a UFM counter",
                        path.display(),
                        n + 1
                    )
                })?;
                if !columns.contains(&column) {
                    columns.push(column);
                }
            }
            sets.insert(name.to_string(), columns);
        }
        Ok(sets)
    }

    /// The scenario file's events, each checked against the fabric: the error names the
    /// event (from 1) and what is wrong with it.
    pub fn scenario_events(&self, interval: Duration) -> Result<Vec<Event>, String> {
        let Some(path) = &self.scenario else {
            return Ok(Vec::new());
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let scenario: Scenario =
            serde_yaml::from_str(&text).map_err(|e| format!("{path} is not a scenario: {e}"))?;
        let fabric = Fabric::new(&self.shape(), 0, interval);
        for (n, event) in scenario.events.iter().enumerate() {
            event
                .faults(&fabric.topology, &fabric.model, 0, 1)
                .map_err(|e| {
                    format!(
                        "{path}: event {} ({}): {}: {}",
                        n + 1,
                        event.kind,
                        e.field,
                        e.message
                    )
                })?;
        }
        Ok(scenario.events)
    }

    /// This section's checks (only when enabled: a disabled fabric is never built); the
    /// scenario is read with steps of `interval`.
    /// (None: the interval is invalid itself, and the scenario is not read.)
    pub(super) fn validate(&self, interval: Option<Duration>, problems: &mut Vec<Problem>) {
        if !self.enabled {
            return;
        }
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(format!("fabric.{key}"), message));
        };
        if self.leaves == 0 {
            problem("leaves", "must be at least 1, got 0".into());
        }
        if self.spines == 0 {
            problem("spines", "must be at least 1, got 0".into());
        }
        if !(2..=MAX_PORTS).contains(&self.ports_per_switch) {
            problem(
                "ports_per_switch",
                format!("must be 2 to {MAX_PORTS}, got {}", self.ports_per_switch),
            );
        } else if self.hosts_per_leaf >= self.ports_per_switch {
            problem(
                "hosts_per_leaf",
                format!(
                    "must leave a leaf at least one uplink: less than ports_per_switch ({}), \
                     got {}",
                    self.ports_per_switch, self.hosts_per_leaf
                ),
            );
        } else if self.spines > 0 {
            // Every leaf uplink ends on a spine port.
            let needed = u64::from(self.leaves) * u64::from(self.uplinks());
            let have = u64::from(self.spines) * u64::from(self.ports_per_switch);
            if needed > have {
                problem(
                    "spines",
                    format!(
                        "{} spines of {} ports cannot take the {needed} leaf uplinks; needs at \
                         least {}",
                        self.spines,
                        self.ports_per_switch,
                        needed.div_ceil(u64::from(self.ports_per_switch))
                    ),
                );
            }
        }
        if !(1..=1_600).contains(&self.link_gbps) {
            problem(
                "link_gbps",
                format!("must be 1 to 1600, got {}", self.link_gbps),
            );
        }
        // The events are checked against the tree only once the tree itself is sound.
        let sound = problems.iter().all(|p| !p.key.starts_with("fabric."));
        if sound
            && let Some(interval) = interval
            && let Err(why) = self.scenario_events(interval)
        {
            problems.push(Problem::new("fabric.scenario", why));
        }
        if let Err(why) = self.counter_set_files() {
            problems.push(Problem::new("fabric.counter_sets", why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(f: &FabricConfig) -> Vec<String> {
        let mut problems = Vec::new();
        f.validate(Some(Duration::from_secs(1)), &mut problems);
        problems.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn the_default_fabric_is_valid_and_has_the_default_five_switches() {
        let f = FabricConfig {
            enabled: true,
            ..FabricConfig::default()
        };
        assert!(keys(&f).is_empty());
        assert_eq!(f.switches(), 5);
    }

    #[test]
    fn every_bad_fabric_value_is_named() {
        let f = FabricConfig {
            enabled: true,
            leaves: 0,
            spines: 0,
            ports_per_switch: 1,
            hosts_per_leaf: 0,
            link_gbps: 0,
            scenario: None,
            counter_sets: None,
        };
        assert_eq!(
            keys(&f),
            [
                "fabric.leaves",
                "fabric.spines",
                "fabric.ports_per_switch",
                "fabric.link_gbps"
            ]
        );
        let f = FabricConfig {
            enabled: true,
            hosts_per_leaf: 8,
            ..FabricConfig::default()
        };
        assert_eq!(keys(&f), ["fabric.hosts_per_leaf"]);
        // 10 leaves x 4 uplinks need 40 spine ports; 2 spines of 8 have 16.
        let f = FabricConfig {
            enabled: true,
            leaves: 10,
            ..FabricConfig::default()
        };
        assert_eq!(keys(&f), ["fabric.spines"]);
    }
}
