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
    /// Run as this user (a name in the device's /etc/passwd, resolved at every start); none:
    /// root. A user that does not exist is logged and the service is not started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Primary group (a name in /etc/group); none: the user's own from /etc/passwd. The
    /// supplementary groups are the ones /etc/group lists the user in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Capabilities kept across the change to `user` (the ambient set, so they survive
    /// exec): names without `CAP_`, like "NET_ADMIN". Only with `user`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// PR_SET_NO_NEW_PRIVS: no set-uid or file-capability gains at exec. Default: true when
    /// `user` is set, false for root services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privs: Option<bool>,
    /// Directories the service owns (its state, e.g. netd's /etc/oxwrt/netd). The build
    /// puts them into the image owned by `user`:`group` (so a boot writes nothing to flash);
    /// init checks them before every start and creates (0755) or gives back only a missing
    /// or foreign-owned one. /run/<name> is always one when `user` is set (tmpfs: init).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
}

/// The group whose members may edit /etc/oxwrt (files root:config, group-writable) and
/// connect to init's control socket: the web interface's user is one (docs/device.md).
pub const CONFIG_GROUP: &str = "config";

/// `name:x:uid:gid:...` of /etc/passwd: the user's (uid, gid); None if the user is missing
/// or a number is not one.
pub fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    })
}

/// `name:x:gid:member,member` lines of /etc/group: (name, gid if it is a number, members).
pub fn group_entries(group: &str) -> impl Iterator<Item = (&str, Option<u32>, Vec<&str>)> {
    group.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3).then(|| (f[0], f[2].parse().ok(), f.get(3).map(|m| m.split(',').filter(|m| !m.is_empty()).collect()).unwrap_or_default()))
    })
}

/// The gid of group `name` in /etc/group.
pub fn group_id(group: &str, name: &str) -> Option<u32> {
    group_entries(group).find(|(n, _, _)| *n == name).and_then(|(_, id, _)| id)
}

/// Capability names (without `CAP_`) and their bit numbers, from linux/capability.h.
pub const CAPABILITIES: &[(&str, u32)] = &[
    ("CHOWN", 0),
    ("DAC_OVERRIDE", 1),
    ("DAC_READ_SEARCH", 2),
    ("FOWNER", 3),
    ("FSETID", 4),
    ("KILL", 5),
    ("SETGID", 6),
    ("SETUID", 7),
    ("SETPCAP", 8),
    ("LINUX_IMMUTABLE", 9),
    ("NET_BIND_SERVICE", 10),
    ("NET_BROADCAST", 11),
    ("NET_ADMIN", 12),
    ("NET_RAW", 13),
    ("IPC_LOCK", 14),
    ("IPC_OWNER", 15),
    ("SYS_MODULE", 16),
    ("SYS_RAWIO", 17),
    ("SYS_CHROOT", 18),
    ("SYS_PTRACE", 19),
    ("SYS_PACCT", 20),
    ("SYS_ADMIN", 21),
    ("SYS_BOOT", 22),
    ("SYS_NICE", 23),
    ("SYS_RESOURCE", 24),
    ("SYS_TIME", 25),
    ("SYS_TTY_CONFIG", 26),
    ("MKNOD", 27),
    ("LEASE", 28),
    ("AUDIT_WRITE", 29),
    ("AUDIT_CONTROL", 30),
    ("SETFCAP", 31),
    ("MAC_OVERRIDE", 32),
    ("MAC_ADMIN", 33),
    ("SYSLOG", 34),
    ("WAKE_ALARM", 35),
    ("BLOCK_SUSPEND", 36),
    ("AUDIT_READ", 37),
    ("PERFMON", 38),
    ("BPF", 39),
    ("CHECKPOINT_RESTORE", 40),
];

/// The bit of a capability name ("NET_ADMIN" or "CAP_NET_ADMIN", any case).
pub fn capability_bit(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CAPABILITIES.iter().find(|(n, _)| *n == bare).map(|&(_, b)| b)
}

impl Service {
    /// The capability set as a mask (bit n: capability n); Err names the service and the
    /// unknown name.
    pub fn capability_mask(&self) -> Result<u64, String> {
        self.capabilities.iter().try_fold(0u64, |m, c| match capability_bit(c) {
            Some(b) => Ok(m | 1 << b),
            None => Err(format!("service `{}`: unknown capability `{c}` (names like \"NET_ADMIN\", see capabilities(7))", self.name)),
        })
    }

    /// Whether PR_SET_NO_NEW_PRIVS is set for it.
    pub fn no_new_privs(&self) -> bool {
        self.no_new_privs.unwrap_or(self.user.is_some())
    }

    /// The directories init hands to the service: `dirs`, then /run/<name> with a user.
    pub fn owned_dirs(&self) -> Vec<String> {
        let mut d = self.dirs.clone();
        let run = format!("/run/{}", self.name);
        if self.user.is_some() && !d.contains(&run) {
            d.push(run);
        }
        d
    }

    /// What one service's description must satisfy on its own.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("service `{name}`: a name is letters, digits, `-` and `_`"));
        }
        match self.command.first() {
            Some(p) if p.starts_with('/') => {}
            _ => return Err(format!("service `{name}`: command must start with an absolute path")),
        }
        self.capability_mask()?;
        let account = |what: &str, v: &Option<String>| match v {
            Some(n) if n.is_empty() || n == "root" || n.contains([':', '\n']) || n.chars().all(|c| c.is_ascii_digit()) => {
                Err(format!("service `{name}`: {what} `{n}` is not a {what} name (root is the default; numbers are not accepted)"))
            }
            _ => Ok(()),
        };
        account("user", &self.user)?;
        account("group", &self.group)?;
        if self.user.is_none() {
            if self.group.is_some() {
                return Err(format!("service `{name}`: `group` needs `user` (a root service keeps root's group)"));
            }
            if !self.capabilities.is_empty() {
                return Err(format!("service `{name}`: `capabilities` need `user` (a root service has them all)"));
            }
            if !self.dirs.is_empty() {
                return Err(format!("service `{name}`: `dirs` need `user` (root owns everything already)"));
            }
        }
        if let Some(d) = self.dirs.iter().find(|d| !d.starts_with('/') || d.split('/').any(|p| p == "..") || d.trim_end_matches('/').is_empty()) {
            return Err(format!("service `{name}`: dirs: `{d}` is not an absolute directory path below /"));
        }
        if self.console && self.user.is_some() {
            return Err(format!("service `{name}`: a console service runs as root"));
        }
        Ok(())
    }
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
            s.check()?;
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
            user: None,
            group: None,
            capabilities: Vec::new(),
            no_new_privs: None,
            dirs: Vec::new(),
        }
    }

    fn netd() -> Service {
        Service {
            user: Some("netd".into()),
            capabilities: vec!["NET_ADMIN".into(), "NET_RAW".into(), "NET_BIND_SERVICE".into()],
            dirs: vec!["/etc/oxwrt/netd".into()],
            ..svc("netd", &[])
        }
    }

    #[test]
    fn capability_names_map_to_their_bits() {
        assert_eq!(capability_bit("NET_BIND_SERVICE"), Some(10));
        assert_eq!(capability_bit("NET_ADMIN"), Some(12));
        assert_eq!(capability_bit("cap_net_raw"), Some(13));
        assert_eq!(capability_bit("CHOWN"), Some(0));
        assert_eq!(capability_bit("CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_bit("NET_FROB"), None);
        for (i, (_, b)) in CAPABILITIES.iter().enumerate() {
            assert_eq!(*b as usize, i, "the table is in bit order");
        }
        assert_eq!(netd().capability_mask().unwrap(), (1 << 10) | (1 << 12) | (1 << 13));
        assert_eq!(netd().capability_mask().unwrap(), 0x3400);
    }

    #[test]
    fn privileges_are_validated() {
        let ok = InitConfig { data: None, services: vec![netd()] };
        assert_eq!(ok.check(), Ok(()));
        assert!(netd().no_new_privs() && !svc("a", &[]).no_new_privs());
        assert_eq!(netd().owned_dirs(), ["/etc/oxwrt/netd", "/run/netd"]);
        let bad = |s: Service| InitConfig { data: None, services: vec![s] }.check().unwrap_err();
        assert_eq!(
            bad(Service { capabilities: vec!["NET_ADMIN".into(), "NET_FROB".into()], ..netd() }),
            "service `netd`: unknown capability `NET_FROB` (names like \"NET_ADMIN\", see capabilities(7))"
        );
        assert!(bad(Service { capabilities: vec!["NET_ADMIN".into()], ..svc("x", &[]) }).contains("`capabilities` need `user`"));
        assert!(bad(Service { group: Some("g".into()), ..svc("x", &[]) }).contains("`group` needs `user`"));
        assert!(bad(Service { user: Some("0".into()), ..svc("x", &[]) }).contains("user `0` is not a user name"));
        assert!(bad(Service { user: Some("root".into()), ..svc("x", &[]) }).contains("user `root`"));
        assert!(bad(Service { dirs: vec!["run/x".into()], ..netd() }).contains("dirs: `run/x`"));
        assert!(bad(Service { console: true, ..netd() }).contains("console service runs as root"));
        // The keys in TOML, as package.toml and init.toml spell them.
        let text = "[[service]]\nname = \"webd\"\ncommand = [\"/usr/sbin/webd\"]\nuser = \"webd\"\ncapabilities = [\"NET_BIND_SERVICE\"]\n";
        let cfg = InitConfig::parse(text).unwrap();
        assert_eq!(cfg.services[0].capability_mask(), Ok(1 << 10));
        assert!(InitConfig::parse(&text.replace("NET_BIND_SERVICE", "BIND")).unwrap_err().contains("service `webd`: unknown capability `BIND`"));
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
            services: vec![netd(), svc("webd", &[]), Service { console: true, restart: Restart::OnFailure, ..svc("console", &["webd"]) }],
        };
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(InitConfig::parse(&text).unwrap(), cfg);
        assert!(text.contains("restart = \"on-failure\""), "{text}");
    }
}
