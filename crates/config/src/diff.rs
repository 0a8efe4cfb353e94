//! What changed between two configurations, at the granularity netd applies: the LAN, the
//! WAN, the DHCP server, the DNS forwarder, the firewall.

use crate::network::Network;
use crate::Config;
use std::fmt;

/// Which parts netd must apply again. A part is marked when its own section changed or when
/// something it is built from changed:
/// - `lan`: `[lan]`.
/// - `wan`: `[wan]`.
/// - `dhcp`: `[dhcp]`, the LAN address or bridge it serves on, or `dns.enabled` (which DNS
///   server it hands out: the router, or the upstream servers).
/// - `dns`: `[dns]`, the LAN address or bridge it listens on, `dhcp.domain` (the default
///   local domain), the static leases (their hostnames resolve), or, without
///   `dns.upstream`, the WAN's protocol or DNS servers.
/// - `firewall`: firewall.toml, or the interfaces and LAN subnet its rules name (`lan.bridge`,
///   `lan.address`, `wan.device`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub lan: bool,
    pub wan: bool,
    pub dhcp: bool,
    pub dns: bool,
    pub firewall: bool,
}

impl Changes {
    /// Nothing to apply.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

impl fmt::Display for Changes {
    /// "lan, dhcp" or "nothing".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [(self.lan, "lan"), (self.wan, "wan"), (self.dhcp, "dhcp"), (self.dns, "dns"), (self.firewall, "firewall")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// What netd must apply to go from `old` to `new`.
pub fn diff(old: &Config, new: &Config) -> Changes {
    let (o, n) = (&old.network, &new.network);
    let lan_link = |c: &Network| (c.lan.address, c.lan.bridge.clone());
    Changes {
        lan: o.lan != n.lan,
        wan: o.wan != n.wan,
        dhcp: o.dhcp != n.dhcp || lan_link(o) != lan_link(n) || o.dns.enabled != n.dns.enabled,
        dns: o.dns != n.dns
            || lan_link(o) != lan_link(n)
            || o.local_domain() != n.local_domain()
            || o.dhcp.static_leases != n.dhcp.static_leases
            || o.dns_upstream() != n.dns_upstream(),
        firewall: old.firewall != new.firewall || lan_link(o) != lan_link(n) || o.wan.device != n.wan.device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{Forward, Proto};
    use crate::network::{StaticLease, WanProto};

    fn changed(edit: impl FnOnce(&mut Config)) -> String {
        let old = Config::default();
        let mut new = old.clone();
        edit(&mut new);
        diff(&old, &new).to_string()
    }

    #[test]
    fn the_same_configuration_changes_nothing() {
        assert!(diff(&Config::default(), &Config::default()).is_empty());
        assert_eq!(changed(|_| {}), "nothing");
    }

    #[test]
    fn each_section_marks_its_part_and_what_depends_on_it() {
        assert_eq!(changed(|c| c.network.lan.ports.push("eth2".into())), "lan");
        assert_eq!(changed(|c| c.network.lan.address = "10.0.0.1/24".parse().unwrap()), "lan, dhcp, dns, firewall");
        assert_eq!(changed(|c| c.network.lan.bridge = "br0".into()), "lan, dhcp, dns, firewall");
        assert_eq!(changed(|c| c.network.wan.mtu = Some(1492)), "wan");
        assert_eq!(changed(|c| c.network.wan.device = "eth2".into()), "wan, firewall");
        assert_eq!(
            changed(|c| {
                c.network.wan.proto = WanProto::Static;
                c.network.wan.address = Some("203.0.113.2/24".parse().unwrap());
                c.network.wan.gateway = Some("203.0.113.1".parse().unwrap());
            }),
            "wan, dns"
        );
        assert_eq!(changed(|c| c.network.dhcp.lease_time = crate::Seconds(3600)), "dhcp");
        assert_eq!(changed(|c| c.network.dhcp.domain = "home".into()), "dhcp, dns");
        assert_eq!(
            changed(|c| c.network.dhcp.static_leases.push(StaticLease {
                mac: "02:00:00:00:00:10".parse().unwrap(),
                ip: "192.168.1.10".parse().unwrap(),
                hostname: Some("nas".into()),
            })),
            "dhcp, dns"
        );
        assert_eq!(changed(|c| c.network.dns.cache_size = 500), "dns");
        assert_eq!(changed(|c| c.network.dns.enabled = false), "dhcp, dns");
        assert_eq!(changed(|c| c.firewall.wan_ping = true), "firewall");
        assert_eq!(
            changed(|c| c.firewall.forwards.push(Forward {
                name: "web".into(),
                proto: Proto::Tcp,
                wan_port: "8080".parse().unwrap(),
                to: "192.168.1.10".parse().unwrap(),
                to_port: None,
            })),
            "firewall"
        );
    }

    #[test]
    fn a_wan_dns_change_does_not_touch_dns_when_upstream_is_set() {
        let mut old = Config::default();
        old.network.dns.upstream = vec!["9.9.9.9".parse().unwrap()];
        old.network.wan.proto = WanProto::Static;
        let mut new = old.clone();
        new.network.wan.dns = vec!["203.0.113.53".parse().unwrap()];
        assert_eq!(diff(&old, &new).to_string(), "wan");
    }
}
