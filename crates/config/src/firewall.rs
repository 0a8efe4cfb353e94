//! `/etc/oxwrt/firewall.toml`: port forwards and the few switches of the fixed policy.
//!
//! The policy netd applies (over nftables netlink) is fixed; this file only adds to it:
//! - LAN to WAN: allowed, masqueraded to the WAN address (NAT).
//! - WAN to LAN: dropped, except replies (established/related connections) and the port
//!   forwards below.
//! - WAN to the router itself: dropped, except replies, DHCP client replies on the WAN, and
//!   ICMP echo when `wan_ping = true`. The router's services (web UI, DNS, DHCP server) are
//!   never reachable from the WAN; a forward cannot target the router's own address.
//! - LAN to the router: allowed (web UI, DNS, DHCP).
//!
//! The reference, with defaults (top-level keys must come before the first `[[forward]]`):
//!
//! ```toml
//! wan_ping = false           # answer ping (ICMP echo) on the WAN address
//!
//! # [[forward]]              # one per port forward; any number of them
//! # name = "web server"      # required, unique: shown in the web UI and in logs
//! # proto = "tcp"            # "tcp" (default), "udp" or "both"
//! # wan_port = 8080          # required: a port, or a range as a string: "8000-8010"
//! # to = "192.168.1.10"      # required: a LAN host (inside the LAN subnet, not the router)
//! # to_port = 80             # default: wan_port; a range must be as long as wan_port's
//! ```
//! Two forwards may not claim the same WAN port for the same protocol.

use crate::types::PortRange;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// The whole of firewall.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Firewall {
    pub wan_ping: bool,
    #[serde(rename = "forward", skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<Forward>,
}

/// `[[forward]]`: connections to `wan_port` on the WAN address go to `to`:`to_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    pub name: String,
    #[serde(default)]
    pub proto: Proto,
    pub wan_port: PortRange,
    pub to: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<PortRange>,
}

impl Forward {
    /// The LAN host's port(s): `to_port`, else the same as `wan_port`.
    pub fn target_ports(&self) -> PortRange {
        self.to_port.unwrap_or(self.wan_port)
    }
}

/// Transport protocol of a port forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
    Both,
}

impl Proto {
    pub fn tcp(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Both)
    }

    pub fn udp(self) -> bool {
        matches!(self, Proto::Udp | Proto::Both)
    }

    /// Whether a port used by both would clash.
    pub fn overlaps(self, other: Proto) -> bool {
        (self.tcp() && other.tcp()) || (self.udp() && other.udp())
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Both => "tcp+udp",
        })
    }
}

impl Firewall {
    /// The file's text: a header comment and the keys.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("the firewall schema always serializes");
        format!("# /etc/oxwrt/firewall.toml: port forwards and WAN ping; the fixed policy and every key:\n# docs/network-config.md\n\n{body}")
    }
}
