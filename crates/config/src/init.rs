//! `/lib/oxwrt/init.toml`: what init mounts and which services it runs.
//!
//! The build (`cargo xtask build`) writes this file from the board (where the writable data
//! lives) and the packages' `[[service]]` entries; init (packages/init) reads it. Both use
//! these types, so the two sides cannot disagree on the schema, and xtask does not depend on
//! the device binary's crate for it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where init finds the file on the device.
pub const PATH: &str = "/lib/oxwrt/init.toml";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// The writable layer of the overlay root; none: tmpfs (changes lost at reboot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataStore>,
    /// In the order the packages list them; `after` decides the start order.
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
}

/// A filesystem to mount on /overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStore {
    /// `PARTLABEL=<GPT partition name>`, `mtd:<MTD partition name>` or a /dev path.
    pub device: String,
    /// `ext4`, `jffs2`, ...
    pub fstype: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub options: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    /// argv; the first element is an absolute path.
    pub command: Vec<String>,
    /// Services started before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default)]
    pub restart: Restart,
    /// Attach stdin/stdout/stderr to the console (the console shell) instead of the log.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub console: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Restart whenever it exits (daemons).
    #[default]
    Always,
    /// Restart only after a non-zero exit or a signal.
    OnFailure,
    /// Run once.
    Never,
}

impl InitConfig {
    pub fn parse(text: &str) -> Result<Self, String> {
        let cfg: InitConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Names unique, commands absolute, `after` names known, no cycles.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.services {
            if !seen.insert(s.name.as_str()) {
                return Err(format!("service `{}` is defined twice", s.name));
            }
            match s.command.first() {
                Some(p) if p.starts_with('/') => {}
                _ => return Err(format!("service `{}`: command must start with an absolute path", s.name)),
            }
        }
        for s in &self.services {
            for a in &s.after {
                if !seen.contains(a.as_str()) {
                    return Err(format!("service `{}` is to start after `{a}`, which is not a service", s.name));
                }
            }
        }
        self.start_order().map(|_| ())
    }

    /// Indices of the services in an order where each comes after everything in its
    /// `after`; ties keep the file's order. A cycle is an error naming it.
    pub fn start_order(&self) -> Result<Vec<usize>, String> {
        let index: BTreeMap<&str, usize> = self.services.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let mut order = Vec::new();
        let mut state = vec![0u8; self.services.len()]; // 0 new, 1 visiting, 2 done
        fn visit(
            i: usize,
            cfg: &InitConfig,
            index: &BTreeMap<&str, usize>,
            state: &mut [u8],
            order: &mut Vec<usize>,
            path: &mut Vec<usize>,
        ) -> Result<(), String> {
            match state[i] {
                2 => return Ok(()),
                1 => {
                    let start = path.iter().position(|&p| p == i).unwrap_or(0);
                    let names: Vec<&str> = path[start..].iter().chain(std::iter::once(&i)).map(|&p| cfg.services[p].name.as_str()).collect();
                    return Err(format!("services wait for each other in a cycle: {}", names.join(" -> ")));
                }
                _ => {}
            }
            state[i] = 1;
            path.push(i);
            for a in &cfg.services[i].after {
                if let Some(&j) = index.get(a.as_str()) {
                    visit(j, cfg, index, state, order, path)?;
                }
            }
            path.pop();
            state[i] = 2;
            order.push(i);
            Ok(())
        }
        for i in 0..self.services.len() {
            visit(i, self, &index, &mut state, &mut order, &mut Vec::new())?;
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, after: &[&str]) -> Service {
        Service {
            name: name.into(),
            command: vec![format!("/usr/sbin/{name}")],
            after: after.iter().map(|s| s.to_string()).collect(),
            restart: Restart::Always,
            console: false,
            env: BTreeMap::new(),
        }
    }

    #[test]
    fn order_follows_after_and_keeps_file_order() {
        let cfg = InitConfig { data: None, services: vec![svc("webd", &["netd"]), svc("console", &[]), svc("netd", &[])] };
        let names: Vec<_> = cfg.start_order().unwrap().into_iter().map(|i| cfg.services[i].name.clone()).collect();
        assert_eq!(names, ["netd", "webd", "console"]);
    }

    #[test]
    fn cycle_is_named() {
        let cfg = InitConfig { data: None, services: vec![svc("a", &["b"]), svc("b", &["a"])] };
        assert_eq!(cfg.check().unwrap_err(), "services wait for each other in a cycle: a -> b -> a");
    }

    #[test]
    fn unknown_after_and_relative_command() {
        let cfg = InitConfig { data: None, services: vec![svc("a", &["zz"])] };
        assert!(cfg.check().unwrap_err().contains("after `zz`, which is not a service"));
        let mut s = svc("a", &[]);
        s.command = vec!["webd".into()];
        assert!(InitConfig { data: None, services: vec![s] }.check().unwrap_err().contains("absolute path"));
    }

    #[test]
    fn round_trip() {
        let cfg = InitConfig {
            data: Some(DataStore { device: "PARTLABEL=data".into(), fstype: "ext4".into(), options: "noatime".into() }),
            services: vec![svc("webd", &[]), Service { console: true, restart: Restart::OnFailure, ..svc("console", &["webd"]) }],
        };
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(InitConfig::parse(&text).unwrap(), cfg);
        assert!(text.contains("restart = \"on-failure\""), "{text}");
    }
}
