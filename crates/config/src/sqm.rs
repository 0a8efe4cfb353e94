//! `/etc/oxwrt/sqm.toml`: the bufferbloat shaper (sqmd). CAKE shapes the WAN's upload on
//! the WAN device itself and its download on an IFB device that the WAN's incoming
//! traffic is redirected to (docs/sqm.md explains how to choose the numbers).
//!
//! Every key has a default; a missing file, section or key means its default, and the
//! default is "off". Unknown keys are errors. The reference, with defaults:
//!
//! ```toml
//! enabled = false           # true: shape; false: sqmd removes the shaping it added
//! # interface = "eth0"      # the device to shape; default: wan.device of network.toml
//!                           # (at most 11 characters: the IFB device is "ifb4" + its name)
//! download_kbit = 0         # kbit/s towards the LAN (1000 kbit = 1 Mbit); 0: unshaped
//! upload_kbit = 0           # kbit/s towards the ISP; 0: unshaped
//!                           # (pick 95 % of what a speed test measures without shaping)
//! overhead = "ethernet"     # the link layer's framing: a preset (below) or bytes per
//!                           # packet, -64 to 256, for a line you know exactly
//! # mpu = 64                # smallest packet the line carries, bytes (0-256);
//!                           # default: the preset's (a number of bytes: 0)
//! # framing = "none"        # with a number of bytes: "none", "atm" (ADSL: 53-byte
//!                           # cells) or "ptm" (VDSL2: 64/65 encoding); presets set it
//! diffserv = "diffserv3"    # priority tins: "besteffort" (one), "diffserv3" (bulk,
//!                           # best effort, voice), "diffserv4", "diffserv8"
//! nat = true                # fairness per LAN host behind NAT (looks up conntrack)
//! wash = false              # clear the DSCP marks of downloaded traffic
//! ack_filter = false        # drop redundant TCP ACKs queued for upload (slow uplinks)
//! rtt = "internet"          # the round trip CAKE tunes for: "lan" (1 ms), "metro"
//!                           # (10 ms), "regional" (30 ms), "internet" (100 ms),
//!                           # "oceanic" (300 ms), "satellite" (1000 ms), or ms (1-10000)
//!
//! [autorate]                # adapting the rates to a variable line (LTE, busy cable):
//!                           # cake-autorate's rules and defaults (docs/sqm.md)
//! enabled = false           # true: download_kbit/upload_kbit are the base rates
//! # download_min_kbit = 0   # the floor; default: a quarter of download_kbit
//! # download_max_kbit = 0   # the ceiling; default: download_kbit
//! # upload_min_kbit = 0     # the same for the upload
//! # upload_max_kbit = 0
//! reflectors = ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4", "9.9.9.9", "9.9.9.10",
//!               "208.67.222.222", "208.67.220.220"]  # ICMP echo targets (at most 32)
//! pingers = 6               # reflectors probed at a time; a silent one is replaced
//! probe_hz = 20             # probes per second, all reflectors together (1-50)
//! dead_reflector_ms = 3000  # a reflector silent this long is replaced
//! delay_threshold_ms = 30   # a probe's delay above its reflector's baseline by more
//!                           # than this is "delayed"
//! delay_max_ms = 60         # at this delay (and above) cuts are largest
//! bloat_window = 6          # bufferbloat: bloat_count delayed probes among the last
//! bloat_count = 3           #   bloat_window
//! high_load_percent = 75    # load above this share of the shaped rate is "high"
//! cut_min_percent = 99      # the rate factor of a cut at delay_threshold_ms (x0.99)
//! cut_max_percent = 75      # ... at delay_max_ms (x0.75)
//! raise_max_percent = 104   # the factor of a raise under high load with no delay
//! raise_min_percent = 100   # ... with delay at the threshold
//! decay_down_percent = 99   # idle: steps toward the base rate, from above
//! decay_up_percent = 101    #   and from below
//! bloat_refractory_ms = 300 # no change for this long after a cut
//! decay_refractory_ms = 1000 # at most one idle step per this
//! stall_ms = 10000          # no reflector answering this long: the minimum rates
//! idle_pause_s = 60         # no load this long: probing pauses until load comes back
//! ```
//!
//! Overhead presets (bytes added to each IP packet on the wire, the smallest frame, and
//! the cell framing):
//!
//! | preset | overhead | mpu | framing | for |
//! |---|---|---|---|---|
//! | ethernet | 38 | 84 | none | an Ethernet hop (fibre ONT, cable modem in bridge mode): preamble, header, FCS, gap |
//! | docsis | 18 | 64 | none | cable (DOCSIS): the shaper of the modem counts Ethernet header and FCS |
//! | pppoe-ptm | 30 | 0 | ptm | VDSL2 with PPPoE |
//! | bridged-ptm | 22 | 0 | ptm | VDSL2 without PPPoE |
//! | pppoa-vcmux | 10 | 0 | atm | ADSL, PPP over ATM, VC multiplexed |
//! | atm | 44 | 0 | atm | ADSL when the encapsulation is unknown: the largest common one |

use crate::problem::{File, Problem, Problems};
use crate::span::{path_string, Seg, Source};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file's name in the configuration directory.
pub const FILE: &str = "sqm.toml";
/// The highest rate accepted, kbit/s (100 Gbit/s; CAKE's own limit is far above).
pub const MAX_KBIT: i64 = 100_000_000;
/// The longest interface name: the IFB device is `ifb4` + its name, and Linux names have
/// at most 15 characters.
pub const MAX_INTERFACE_LEN: usize = 11;

/// The whole of sqm.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sqm {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    pub download_kbit: i64,
    pub upload_kbit: i64,
    pub overhead: Overhead,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framing: Option<String>,
    pub diffserv: Diffserv,
    pub nat: bool,
    pub wash: bool,
    pub ack_filter: bool,
    pub rtt: Rtt,
    pub autorate: Autorate,
}

impl Default for Sqm {
    fn default() -> Self {
        Sqm {
            enabled: false,
            interface: None,
            download_kbit: 0,
            upload_kbit: 0,
            overhead: Overhead::Preset("ethernet".into()),
            mpu: None,
            framing: None,
            diffserv: Diffserv::Diffserv3,
            nat: true,
            wash: false,
            ack_filter: false,
            rtt: Rtt::Preset("internet".into()),
            autorate: Autorate::default(),
        }
    }
}

/// `overhead`: a preset's name or a number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Overhead {
    Bytes(i64),
    Preset(String),
}

/// `rtt`: a preset's name or milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rtt {
    Ms(i64),
    Preset(String),
}

/// CAKE's priority tins (`diffserv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Diffserv {
    Besteffort,
    Diffserv3,
    Diffserv4,
    Diffserv8,
}

/// `[autorate]`: every parameter, cake-autorate's defaults (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Autorate {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_min_kbit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_max_kbit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_min_kbit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_max_kbit: Option<i64>,
    pub reflectors: Vec<std::net::Ipv4Addr>,
    pub pingers: i64,
    pub probe_hz: i64,
    pub dead_reflector_ms: i64,
    pub delay_threshold_ms: i64,
    pub delay_max_ms: i64,
    pub bloat_window: i64,
    pub bloat_count: i64,
    pub high_load_percent: i64,
    pub cut_min_percent: i64,
    pub cut_max_percent: i64,
    pub raise_max_percent: i64,
    pub raise_min_percent: i64,
    pub decay_down_percent: i64,
    pub decay_up_percent: i64,
    pub bloat_refractory_ms: i64,
    pub decay_refractory_ms: i64,
    pub stall_ms: i64,
    pub idle_pause_s: i64,
}

/// The default reflectors: public anycast DNS resolvers, which answer ICMP echo from
/// everywhere and are near everyone.
pub const DEFAULT_REFLECTORS: [[u8; 4]; 8] =
    [[1, 1, 1, 1], [1, 0, 0, 1], [8, 8, 8, 8], [8, 8, 4, 4], [9, 9, 9, 9], [9, 9, 9, 10], [208, 67, 222, 222], [208, 67, 220, 220]];

/// The most reflectors `reflectors` may list.
pub const MAX_REFLECTORS: usize = 32;

impl Default for Autorate {
    fn default() -> Self {
        Autorate {
            enabled: false,
            download_min_kbit: None,
            download_max_kbit: None,
            upload_min_kbit: None,
            upload_max_kbit: None,
            reflectors: DEFAULT_REFLECTORS.iter().map(|a| std::net::Ipv4Addr::from(*a)).collect(),
            pingers: 6,
            probe_hz: 20,
            dead_reflector_ms: 3000,
            delay_threshold_ms: 30,
            delay_max_ms: 60,
            bloat_window: 6,
            bloat_count: 3,
            high_load_percent: 75,
            cut_min_percent: 99,
            cut_max_percent: 75,
            raise_max_percent: 104,
            raise_min_percent: 100,
            decay_down_percent: 99,
            decay_up_percent: 101,
            bloat_refractory_ms: 300,
            decay_refractory_ms: 1000,
            stall_ms: 10_000,
            idle_pause_s: 60,
        }
    }
}

/// One direction's autorate limits, kbit/s (from a validated file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub min_kbit: u64,
    pub base_kbit: u64,
    pub max_kbit: u64,
}

impl Autorate {
    /// (download, upload) limits around the base rates; min defaults to a quarter of the
    /// base, max to the base.
    pub fn limits(&self, download_kbit: u64, upload_kbit: u64) -> (RateLimits, RateLimits) {
        let one = |base: u64, min: Option<i64>, max: Option<i64>| {
            let min = min.and_then(|m| u64::try_from(m).ok()).unwrap_or(base / 4).max(1);
            let max = max.and_then(|m| u64::try_from(m).ok()).unwrap_or(base).max(min);
            RateLimits { min_kbit: min, base_kbit: base.clamp(min, max), max_kbit: max }
        };
        (one(download_kbit, self.download_min_kbit, self.download_max_kbit), one(upload_kbit, self.upload_min_kbit, self.upload_max_kbit))
    }

    fn problems(&self, download_kbit: i64, upload_kbit: i64, report: &mut dyn FnMut(&[Seg], String)) {
        use Seg::Key as K;
        let key = |k: &'static str| [K("autorate"), K(k)];
        for (k, v, base) in [
            ("download_min_kbit", self.download_min_kbit, download_kbit),
            ("download_max_kbit", self.download_max_kbit, download_kbit),
            ("upload_min_kbit", self.upload_min_kbit, upload_kbit),
            ("upload_max_kbit", self.upload_max_kbit, upload_kbit),
        ] {
            let Some(v) = v else { continue };
            if !(1..=MAX_KBIT).contains(&v) {
                report(&key(k), format!("{v} is out of range; write kbit/s, 1 to {MAX_KBIT}"));
            } else if k.ends_with("min_kbit") && v > base && base > 0 {
                report(&key(k), format!("{v} is above the base rate {base} (download_kbit/upload_kbit); the minimum must be at most the base"));
            } else if k.ends_with("max_kbit") && v < base {
                report(&key(k), format!("{v} is below the base rate {base} (download_kbit/upload_kbit); the maximum must be at least the base"));
            }
        }
        if self.enabled && (download_kbit == 0 || upload_kbit == 0) {
            report(&key("enabled"), "autorate adapts both directions: set download_kbit and upload_kbit (the base rates) above 0".into());
        }
        if self.reflectors.is_empty() || self.reflectors.len() > MAX_REFLECTORS {
            report(&key("reflectors"), format!("{} reflectors; list 1 to {MAX_REFLECTORS} IPv4 addresses that answer ping", self.reflectors.len()));
        }
        let ints: [(&'static str, i64, i64, i64); 17] = [
            ("pingers", self.pingers, 1, 16),
            ("probe_hz", self.probe_hz, 1, 50),
            ("dead_reflector_ms", self.dead_reflector_ms, 500, 600_000),
            ("bloat_window", self.bloat_window, 1, 64),
            ("bloat_refractory_ms", self.bloat_refractory_ms, 0, 60_000),
            ("decay_refractory_ms", self.decay_refractory_ms, 0, 600_000),
            ("stall_ms", self.stall_ms, 1000, 600_000),
            ("idle_pause_s", self.idle_pause_s, 1, 86_400),
            ("delay_threshold_ms", self.delay_threshold_ms, 1, 10_000),
            ("delay_max_ms", self.delay_max_ms, 1, 10_000),
            ("high_load_percent", self.high_load_percent, 5, 100),
            ("cut_min_percent", self.cut_min_percent, 10, 100),
            ("cut_max_percent", self.cut_max_percent, 10, 100),
            ("raise_max_percent", self.raise_max_percent, 100, 200),
            ("raise_min_percent", self.raise_min_percent, 100, 200),
            ("decay_down_percent", self.decay_down_percent, 50, 100),
            ("decay_up_percent", self.decay_up_percent, 100, 200),
        ];
        for (k, v, lo, hi) in ints {
            if !(lo..=hi).contains(&v) {
                report(&key(k), format!("{v} is out of range; use {lo} to {hi}"));
            }
        }
        if !(1..=self.bloat_window.max(1)).contains(&self.bloat_count) {
            report(&key("bloat_count"), format!("{} is out of range; use 1 to bloat_window ({})", self.bloat_count, self.bloat_window));
        }
        if self.delay_max_ms <= self.delay_threshold_ms {
            report(&key("delay_max_ms"), format!("{} must be above delay_threshold_ms ({})", self.delay_max_ms, self.delay_threshold_ms));
        }
        if self.cut_max_percent > self.cut_min_percent {
            report(
                &key("cut_max_percent"),
                format!("{} is a smaller cut than cut_min_percent ({}); the largest cut has the smallest factor", self.cut_max_percent, self.cut_min_percent),
            );
        }
        if self.raise_min_percent > self.raise_max_percent {
            report(&key("raise_min_percent"), format!("{} is above raise_max_percent ({})", self.raise_min_percent, self.raise_max_percent));
        }
    }
}

/// How the line frames packets: CAKE's ATM compensation modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    /// ATM cells (ADSL): 48 bytes of payload per 53-byte cell.
    Atm,
    /// PTM (VDSL2): 64/65 encoding.
    Ptm,
}

impl Framing {
    pub fn name(self) -> &'static str {
        match self {
            Framing::None => "none",
            Framing::Atm => "atm",
            Framing::Ptm => "ptm",
        }
    }

    fn from_name(s: &str) -> Option<Framing> {
        [Framing::None, Framing::Atm, Framing::Ptm].into_iter().find(|f| f.name() == s)
    }
}

/// The overhead presets: (name, overhead bytes, mpu, framing). See the module docs.
pub const OVERHEAD_PRESETS: &[(&str, i32, u32, Framing)] = &[
    ("ethernet", 38, 84, Framing::None),
    ("docsis", 18, 64, Framing::None),
    ("pppoe-ptm", 30, 0, Framing::Ptm),
    ("bridged-ptm", 22, 0, Framing::Ptm),
    ("pppoa-vcmux", 10, 0, Framing::Atm),
    ("atm", 44, 0, Framing::Atm),
];

/// The rtt presets: (name, milliseconds).
pub const RTT_PRESETS: &[(&str, u32)] = &[("lan", 1), ("metro", 10), ("regional", 30), ("internet", 100), ("oceanic", 300), ("satellite", 1000)];

/// A validated configuration in the units the shaper uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shaping {
    /// kbit/s; 0: that direction unshaped.
    pub download_kbit: u64,
    pub upload_kbit: u64,
    pub overhead: i32,
    pub mpu: u32,
    pub framing: Framing,
    pub diffserv: Diffserv,
    pub nat: bool,
    pub wash: bool,
    pub ack_filter: bool,
    /// Microseconds.
    pub rtt_us: u32,
}

fn names<T>(list: &[(&str, T)]) -> String {
    list.iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

impl Sqm {
    /// Parses and validates sqm.toml's text ("" for a missing file: all defaults). Every
    /// problem at once, each with the file, line and key.
    pub fn parse(text: &str) -> Result<Sqm, Problems> {
        crate::problem::parse_checked(File::Sqm, text, |sqm: &Sqm, src| sqm.problems(src))
    }

    /// Reads and validates `dir`/sqm.toml (normally [`crate::DIR`]); a missing file is the
    /// defaults (shaping off).
    pub fn load(dir: &Path) -> Result<Sqm, crate::Error> {
        let text = crate::read_or_empty(&dir.join(FILE))?;
        Sqm::parse(&text).map_err(crate::Error::Invalid)
    }

    /// Validates, then writes `dir`/sqm.toml atomically ([`crate::write_atomic`]).
    pub fn save(&self, dir: &Path) -> Result<(), crate::Error> {
        let problems = self.problems(None);
        if !problems.is_empty() {
            return Err(crate::Error::Invalid(Problems(problems)));
        }
        let path = dir.join(FILE);
        crate::write_atomic(&path, self.to_toml().as_bytes()).map_err(|error| crate::Error::Write { path, error })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The device to shape: `interface`, else the WAN device of network.toml.
    pub fn interface_or(&self, wan_device: &str) -> String {
        self.interface.clone().unwrap_or_else(|| wan_device.to_string())
    }

    /// The numbers of a configuration that [`Sqm::parse`] accepted; None if it has
    /// problems.
    pub fn shaping(&self) -> Option<Shaping> {
        let (overhead, preset_mpu, preset_framing) = match &self.overhead {
            Overhead::Preset(p) => OVERHEAD_PRESETS.iter().find(|(n, ..)| n == p).map(|&(_, o, m, f)| (o, m, Some(f)))?,
            Overhead::Bytes(b) => (i32::try_from(*b).ok().filter(|b| (-64..=256).contains(b))?, 0, None),
        };
        let mpu = match self.mpu {
            Some(m) => u32::try_from(m).ok().filter(|m| *m <= 256)?,
            None => preset_mpu,
        };
        let framing = match (&self.framing, preset_framing) {
            (Some(f), None) => Framing::from_name(f)?,
            (Some(_), Some(_)) => return None,
            (None, f) => f.unwrap_or(Framing::None),
        };
        let rtt_ms = match &self.rtt {
            Rtt::Preset(p) => RTT_PRESETS.iter().find(|(n, _)| n == p).map(|&(_, ms)| ms)?,
            Rtt::Ms(ms) => u32::try_from(*ms).ok().filter(|ms| (1..=10_000).contains(ms))?,
        };
        let rate = |k: i64| u64::try_from(k).ok().filter(|k| *k <= MAX_KBIT as u64);
        Some(Shaping {
            download_kbit: rate(self.download_kbit)?,
            upload_kbit: rate(self.upload_kbit)?,
            overhead,
            mpu,
            framing,
            diffserv: self.diffserv,
            nat: self.nat,
            wash: self.wash,
            ack_filter: self.ack_filter,
            rtt_us: rtt_ms * 1000,
        })
    }

    fn problems(&self, src: Option<&Source>) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut report = |path: &[Seg], message: String| {
            out.push(Problem { file: File::Sqm, key: path_string(path), line_col: src.and_then(|s| s.locate(path)), message });
        };
        use Seg::Key as K;
        if let Some(i) = &self.interface {
            if let Some(why) = crate::validate::bad_ifname(i) {
                report(&[K("interface")], why);
            } else if i.len() > MAX_INTERFACE_LEN {
                report(
                    &[K("interface")],
                    format!("`{i}` is {} characters long; sqmd names its IFB device \"ifb4{i}\", so at most {MAX_INTERFACE_LEN} fit", i.len()),
                );
            }
        }
        for (key, v) in [("download_kbit", self.download_kbit), ("upload_kbit", self.upload_kbit)] {
            if v < 0 {
                report(&[K(key)], format!("{v} is negative; write the rate in kbit/s (e.g. 9500 for 9.5 Mbit/s), or 0 to leave this direction unshaped"));
            } else if v > MAX_KBIT {
                report(&[K(key)], format!("{v} kbit/s is above {MAX_KBIT} (100 Gbit/s); the unit is kbit/s: 9500 is 9.5 Mbit/s"));
            }
        }
        let preset = match &self.overhead {
            Overhead::Preset(p) => match OVERHEAD_PRESETS.iter().find(|(n, ..)| n == p) {
                Some(_) => true,
                None => {
                    let list = OVERHEAD_PRESETS.iter().map(|(n, ..)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
                    report(&[K("overhead")], format!("unknown preset \"{p}\"; use one of {list}, or a number of bytes (-64 to 256)"));
                    true
                }
            },
            Overhead::Bytes(b) => {
                if !(-64..=256).contains(b) {
                    report(&[K("overhead")], format!("{b} bytes is out of range; use -64 to 256 bytes per packet, or a preset such as \"ethernet\""));
                }
                false
            }
        };
        if let Some(m) = self.mpu {
            if !(0..=256).contains(&m) {
                report(&[K("mpu")], format!("{m} is out of range; the smallest packet on the line is 0 to 256 bytes (Ethernet: 64, 84 with preamble and gap)"));
            }
        }
        if let Some(f) = &self.framing {
            if preset {
                report(&[K("framing")], "set by the overhead preset; remove it, or give overhead as a number of bytes".into());
            } else if Framing::from_name(f).is_none() {
                report(&[K("framing")], format!("unknown framing \"{f}\"; use \"none\", \"atm\" (ADSL) or \"ptm\" (VDSL2)"));
            }
        }
        match &self.rtt {
            Rtt::Preset(p) if !RTT_PRESETS.iter().any(|(n, _)| n == p) => {
                report(&[K("rtt")], format!("unknown preset \"{p}\"; use one of {}, or milliseconds (1 to 10000)", names(RTT_PRESETS)))
            }
            Rtt::Ms(ms) if !(1..=10_000).contains(ms) => {
                report(&[K("rtt")], format!("{ms} ms is out of range; use 1 to 10000 ms, or a preset such as \"internet\""))
            }
            _ => {}
        }
        self.autorate.problems(self.download_kbit, self.upload_kbit, &mut report);
        if self.enabled && self.download_kbit == 0 && self.upload_kbit == 0 {
            report(
                &[K("enabled")],
                "true, but download_kbit and upload_kbit are both 0 (unshaped); set the rates (95 % of your measured line, docs/sqm.md) or enabled = false"
                    .into(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests;
