//! Peer status: what the kernel reports (endpoint, last handshake, bytes), named by
//! vpn.toml, as JSON (the unix socket /run/vpnd/status.sock, for the web interface and
//! `vpn status --json`) and as text (`vpn status`).

use netlink::wireguard::Device;
use oxwrt_config::vpn::{Key, Vpn};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// A peer is online when its last handshake is younger than this: WireGuard renews a
/// session's handshake every 2 minutes while it carries traffic (REKEY_AFTER_TIME), so an
/// active peer never gets past it.
pub const ONLINE_SECS: u64 = 180;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub interfaces: Vec<InterfaceStatus>,
    /// Why the configuration is not (fully) applied, if so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    pub name: String,
    /// None: the device is not in the kernel.
    pub public_key: Option<String>,
    pub listen_port: u16,
    pub peers: Vec<PeerStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// vpn.toml's name; "(unknown)" for a kernel peer vpn.toml does not have.
    pub name: String,
    pub public_key: String,
    pub enabled: bool,
    pub endpoint: Option<String>,
    /// Seconds since the last handshake; None: never.
    pub handshake_age: Option<u64>,
    pub online: bool,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub allowed_ips: Vec<String>,
}

/// The status of `vpn`'s interfaces from the kernel's `devices` (same order; None: not
/// there), at wall-clock time `now` (seconds since the epoch).
pub fn build(vpn: &Vpn, devices: &[Option<Device>], now: i64, problems: Vec<String>) -> Status {
    let mut interfaces = Vec::new();
    for (iface, dev) in vpn.interfaces.iter().zip(devices) {
        let mut peers = Vec::new();
        for p in vpn.peers_of(&iface.name) {
            let k = dev.as_ref().and_then(|d| d.peers.iter().find(|k| k.public_key == p.public_key.0));
            let age = k.and_then(|k| k.last_handshake).map(|(s, _)| now.saturating_sub(s).max(0) as u64);
            peers.push(PeerStatus {
                name: p.name.clone(),
                public_key: p.public_key.to_string(),
                enabled: p.enabled,
                endpoint: k.and_then(|k| k.endpoint).map(|e| e.to_string()),
                handshake_age: age,
                online: age.is_some_and(|a| a < ONLINE_SECS),
                rx_bytes: k.map_or(0, |k| k.rx_bytes),
                tx_bytes: k.map_or(0, |k| k.tx_bytes),
                allowed_ips: p.allowed_ips.iter().map(|n| n.to_string()).collect(),
            });
        }
        for k in dev.iter().flat_map(|d| d.peers.iter()) {
            if !vpn.peers_of(&iface.name).any(|p| p.public_key.0 == k.public_key) {
                let age = k.last_handshake.map(|(s, _)| now.saturating_sub(s).max(0) as u64);
                peers.push(PeerStatus {
                    name: "(unknown)".into(),
                    public_key: Key(k.public_key).to_string(),
                    enabled: true,
                    endpoint: k.endpoint.map(|e| e.to_string()),
                    handshake_age: age,
                    online: age.is_some_and(|a| a < ONLINE_SECS),
                    rx_bytes: k.rx_bytes,
                    tx_bytes: k.tx_bytes,
                    allowed_ips: k.allowed_ips.iter().map(|a| format!("{}/{}", a.addr, a.cidr)).collect(),
                });
            }
        }
        interfaces.push(InterfaceStatus {
            name: iface.name.clone(),
            public_key: dev.as_ref().and_then(|d| d.public_key).map(|k| Key(k).to_string()),
            listen_port: dev.as_ref().map_or(0, |d| d.listen_port),
            peers,
        });
    }
    Status { interfaces, problems }
}

/// "3m 12s", "2h 5m", "4d 1h".
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// "1.2 MiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The console's view: one block per interface, one line per peer.
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    for p in &s.problems {
        let _ = writeln!(out, "problem: {p}");
    }
    if s.interfaces.is_empty() {
        out.push_str("no VPN interfaces (/etc/oxwrt/vpn.toml has none; see docs/vpn.md)\n");
    }
    for i in &s.interfaces {
        let _ = writeln!(
            out,
            "interface {}: {} port {}",
            i.name,
            i.public_key.as_deref().map_or("not in the kernel".to_string(), |k| format!("public key {k},")),
            i.listen_port
        );
        for p in &i.peers {
            let state = if !p.enabled {
                "disabled".to_string()
            } else if p.online {
                "online".to_string()
            } else {
                "offline".to_string()
            };
            let hs = p.handshake_age.map_or("never".to_string(), |a| format!("{} ago", age(a)));
            let _ = writeln!(
                out,
                "  {:<16} {:<8} handshake {:<12} endpoint {:<22} rx {} tx {}  [{}]",
                p.name,
                state,
                hs,
                p.endpoint.as_deref().unwrap_or("-"),
                bytes(p.rx_bytes),
                bytes(p.tx_bytes),
                p.allowed_ips.join(", ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink::wireguard::Peer;

    #[test]
    fn status_names_peers_and_says_online() {
        let vpn = Vpn::parse(
            "[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\"]\n\
             [[peer]]\nname = \"phone\"\npublic_key = \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"\nallowed_ips = [\"10.8.0.2/32\"]\n\
             [[peer]]\nname = \"old\"\npublic_key = \"TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\"\nallowed_ips = [\"10.8.0.3/32\"]\n",
        )
        .unwrap();
        let k1 = vpn.peers[0].public_key.0;
        let k2 = vpn.peers[1].public_key.0;
        let dev = Device {
            ifname: "wg0".into(),
            public_key: Some([5; 32]),
            listen_port: 51820,
            peers: vec![
                Peer {
                    public_key: k1,
                    last_handshake: Some((1000, 0)),
                    rx_bytes: 2048,
                    tx_bytes: 10,
                    endpoint: Some("198.51.100.2:4000".parse().unwrap()),
                    ..Default::default()
                },
                Peer { public_key: k2, last_handshake: Some((700, 0)), ..Default::default() },
                Peer { public_key: [9; 32], ..Default::default() },
            ],
            ..Default::default()
        };
        let s = build(&vpn, &[Some(dev)], 1030, vec![]);
        let p = &s.interfaces[0].peers;
        assert_eq!((p[0].name.as_str(), p[0].online, p[0].handshake_age), ("phone", true, Some(30)));
        assert_eq!((p[1].name.as_str(), p[1].online, p[1].handshake_age), ("old", false, Some(330)));
        assert_eq!((p[2].name.as_str(), p[2].handshake_age), ("(unknown)", None));
        let t = text(&s);
        assert!(t.contains("phone") && t.contains("online") && t.contains("30s ago") && t.contains("2.0 KiB") && t.contains("198.51.100.2:4000"), "{t}");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), s);
        assert!(!json.contains("private"));
        assert_eq!(build(&vpn, &[None], 0, vec![]).interfaces[0].public_key, None);
    }

    #[test]
    fn ages_and_sizes() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(192), "3m 12s");
        assert_eq!(age(7500), "2h 5m");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
    }
}
