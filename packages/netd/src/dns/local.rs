//! What the forwarder answers itself, never asking upstream: LAN hosts by name (from the
//! DHCP leases: A; AAAA for the router's own name at its LAN addresses and for clients at
//! the addresses the kernel's neighbour table holds for their MACs, [`client_addrs6`];
//! NODATA for a LAN name without an address of the asked family), their addresses'
//! reverse names (PTR), and NXDOMAIN for names that can only be local (anything under the
//! local domain, bare host names, reverse names of private addresses: RFC 6303, so they
//! never leak to the ISP).

use netlink::rtnetlink::{NUD_FAILED, NUD_INCOMPLETE};
use netproto::dns::{class, parse_reverse_name, rtype, Message, Name, RData, Record, Soa};
use std::net::{Ipv4Addr, Ipv6Addr};

/// TTL of local answers, positive and negative: leases change, so short.
pub const LOCAL_TTL: u32 = 60;

/// The most IPv6 addresses answered for one LAN client (a host with privacy addresses
/// keeps several; the answer, and the memory it takes, stays small).
pub const MAX_ADDRS6: usize = 8;

/// The DHCP server's view of the LAN, as the forwarder needs it. netd implements it on its
/// lease table (static leases included, and the router's own name if it wants that name
/// answered).
pub trait Leases {
    /// The address of the LAN host `name`: one label, lowercase ASCII (`"nas"` for both
    /// `nas` and `NAS.lan`).
    fn lookup(&self, name: &str) -> Option<Ipv4Addr>;
    /// The IPv6 addresses of the LAN host `name` (as for [`Leases::lookup`]). Asked only
    /// for AAAA or ANY queries, or when `lookup` has no address.
    fn lookup6(&self, _name: &str) -> Vec<Ipv6Addr> {
        Vec::new()
    }
    /// The TTL of the LAN host `name`'s records: at most [`LOCAL_TTL`] is used (a lease
    /// that ends sooner may lower it).
    fn ttl(&self, _name: &str) -> u32 {
        LOCAL_TTL
    }
    /// The host name (one label, no domain) of the LAN host at `ip`.
    fn reverse(&self, ip: Ipv4Addr) -> Option<String>;
}

/// No LAN hosts (DHCP server off, or tests).
pub struct NoLeases;

impl Leases for NoLeases {
    fn lookup(&self, _: &str) -> Option<Ipv4Addr> {
        None
    }

    fn reverse(&self, _: Ipv4Addr) -> Option<String> {
        None
    }
}

/// Lists of (host name, address), as netd's `state::lan_hosts` and `state::lan_hosts6`
/// give them; names are compared without case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTable(pub Vec<(String, Ipv4Addr)>, pub Vec<(String, Ipv6Addr)>);

impl Leases for HostTable {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, ip)| *ip)
    }

    fn lookup6(&self, name: &str) -> Vec<Ipv6Addr> {
        self.1.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, ip)| *ip).collect()
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.0.iter().find(|(_, a)| *a == ip).map(|(n, _)| n.to_ascii_lowercase())
    }
}

/// The global and ULA addresses (not link-local, multicast, loopback or unspecified) that
/// `neighbours` (address, NUD state, link-layer address; one device's IPv6 neighbour
/// table) holds for `mac`, leaving out entries that are not (or no longer) resolved
/// (INCOMPLETE, FAILED); at most [`MAX_ADDRS6`], in table order, without duplicates.
pub fn client_addrs6(neighbours: &[(Ipv6Addr, u16, Vec<u8>)], mac: &[u8; 6]) -> Vec<Ipv6Addr> {
    let mut v: Vec<Ipv6Addr> = Vec::new();
    for (a, state, ll) in neighbours {
        let usable = *state != 0 && state & (NUD_INCOMPLETE | NUD_FAILED) == 0;
        let scoped = a.is_unicast_link_local() || a.is_multicast() || a.is_loopback() || a.is_unspecified();
        if usable && !scoped && ll.as_slice() == mac.as_slice() && !v.contains(a) {
            v.push(*a);
            if v.len() == MAX_ADDRS6 {
                break;
            }
        }
    }
    v
}

/// 10/8, 172.16/12, 192.168/16 (RFC 1918), 169.254/16 (link local) and 100.64/10 (RFC 6598).
fn private(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b))
}

/// The local zone's SOA, so that clients may cache a negative answer (RFC 2308).
fn soa(domain: &Name) -> Record {
    let rname = domain.prepend(b"hostmaster").unwrap_or_else(|_| domain.clone());
    let soa = Soa { mname: domain.clone(), rname, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: LOCAL_TTL };
    Record::new(domain.clone(), LOCAL_TTL, RData::Soa(Box::new(soa)))
}

fn nodata(q: &Message, soa: Option<Record>) -> Message {
    let mut m = q.answer(LOCAL_TTL, []);
    m.authority.extend(soa);
    m
}

fn host_label(label: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(label).ok()?;
    Some(s.to_ascii_lowercase())
}

/// The local answer to `q` (one question), or None: forward it.
pub fn answer(q: &Message, domain: &Name, leases: &dyn Leases) -> Option<Message> {
    let question = q.questions.first()?;
    if question.qclass != class::IN {
        return None;
    }
    let name = &question.name;
    let qtype = question.qtype;
    let wants_a = matches!(qtype, rtype::A | rtype::ANY);
    let wants_aaaa = matches!(qtype, rtype::AAAA | rtype::ANY);
    // The host's records of the asked type; None: no such host.
    // (TTL, the records): the TTL is the host's, at most LOCAL_TTL.
    let records = |label: &[u8]| -> Option<(u32, Vec<RData>)> {
        let h = host_label(label)?;
        let v4 = leases.lookup(&h);
        // lookup6 may ask the kernel (netd): only when the answer needs it.
        let v6 = if wants_aaaa || v4.is_none() { leases.lookup6(&h) } else { Vec::new() };
        if v4.is_none() && v6.is_empty() {
            return None;
        }
        let a = v4.filter(|_| wants_a).map(RData::A);
        let ttl = leases.ttl(&h).min(LOCAL_TTL);
        Some((ttl, a.into_iter().chain(v6.into_iter().filter(|_| wants_aaaa).map(RData::Aaaa)).collect()))
    };
    let labels: Vec<&[u8]> = name.labels().collect();
    let in_domain = !domain.is_root() && name.is_in(domain);

    if in_domain {
        let depth = labels.len() - domain.labels().count();
        if depth == 0 {
            return Some(nodata(q, Some(soa(domain))));
        }
        let found = if depth == 1 { records(labels[0]) } else { None };
        return Some(match found {
            Some((ttl, r)) if !r.is_empty() => q.answer(ttl, r),
            Some(_) => nodata(q, Some(soa(domain))),
            None => q.nxdomain(Some(soa(domain))),
        });
    }
    if labels.len() == 1 && matches!(qtype, rtype::A | rtype::AAAA | rtype::ANY) {
        // A bare host name: the LAN's, or nobody's (never sent to the ISP).
        return Some(match records(labels[0]) {
            Some((ttl, r)) if !r.is_empty() => q.answer(ttl, r),
            Some(_) => nodata(q, None),
            None => q.nxdomain(None),
        });
    }
    let ip = parse_reverse_name(name)?;
    let host = leases.reverse(ip).and_then(|h| if domain.is_root() { Name::from_ascii(&h).ok() } else { domain.prepend(h.as_bytes()).ok() });
    match host {
        Some(h) if matches!(qtype, rtype::PTR | rtype::ANY) => Some(q.answer_ptr(&h, LOCAL_TTL)),
        Some(_) => Some(nodata(q, None)),
        None if private(ip) => Some(q.nxdomain(None)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netproto::dns::rcode;
    use std::collections::HashMap;

    pub struct Hosts(pub HashMap<&'static str, Ipv4Addr>);

    impl Leases for Hosts {
        fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
            self.0.get(name).copied()
        }

        fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
            self.0.iter().find(|(_, a)| **a == ip).map(|(n, _)| n.to_string())
        }

        fn lookup6(&self, name: &str) -> Vec<Ipv6Addr> {
            if name == "gw" {
                vec!["fd00:1:2::1".parse().unwrap(), "2001:db8:0:10::1".parse().unwrap()]
            } else {
                Vec::new()
            }
        }
    }

    fn ask(name: &str, qtype: u16) -> Option<Message> {
        let hosts = Hosts(HashMap::from([("nas", Ipv4Addr::new(192, 168, 1, 10)), ("gw", Ipv4Addr::new(192, 168, 1, 1))]));
        let q = Message::query(1, Name::from_ascii(name).unwrap(), qtype);
        answer(&q, &Name::from_ascii("lan").unwrap(), &hosts)
    }

    fn a_records(m: &Message) -> Vec<RData> {
        m.answers.iter().map(|r| r.data.clone()).collect()
    }

    #[test]
    fn lan_names() {
        let nas = RData::A(Ipv4Addr::new(192, 168, 1, 10));
        for name in ["nas.lan", "NAS.Lan", "nas"] {
            let m = ask(name, rtype::A).unwrap();
            assert_eq!(a_records(&m), std::slice::from_ref(&nas), "{name}");
            assert_eq!(m.answers[0].name.to_string(), name, "owner as asked (case kept)");
            assert_eq!(m.answers[0].ttl, LOCAL_TTL);
        }
        let aaaa = ask("nas.lan", rtype::AAAA).unwrap();
        assert_eq!((aaaa.header.rcode(), aaaa.answers.len(), aaaa.authority.len()), (rcode::NOERROR, 0, 1), "NODATA + SOA");
        let gw6: Vec<RData> = ["fd00:1:2::1", "2001:db8:0:10::1"].iter().map(|a| RData::Aaaa(a.parse().unwrap())).collect();
        for name in ["gw.lan", "gw"] {
            assert_eq!(a_records(&ask(name, rtype::AAAA).unwrap()), gw6, "{name}: the router's IPv6 addresses");
        }
        assert_eq!(a_records(&ask("gw.lan", rtype::A).unwrap()), [RData::A(Ipv4Addr::new(192, 168, 1, 1))]);
        assert_eq!(a_records(&ask("gw.lan", rtype::ANY).unwrap()).len(), 3);
        let bare = ask("nas", rtype::AAAA).unwrap();
        assert_eq!((bare.header.rcode(), bare.answers.len()), (rcode::NOERROR, 0), "NODATA for a bare LAN name without IPv6 too");
        let none = ask("printer.lan", rtype::A).unwrap();
        assert_eq!(none.header.rcode(), rcode::NXDOMAIN);
        assert_eq!(none.authority[0].rtype(), rtype::SOA);
        assert_eq!(ask("printer", rtype::A).unwrap().header.rcode(), rcode::NXDOMAIN, "bare names stay here");
        assert_eq!(ask("a.b.lan", rtype::A).unwrap().header.rcode(), rcode::NXDOMAIN);
        assert_eq!(ask("lan", rtype::SOA).unwrap().header.rcode(), rcode::NOERROR);
    }

    #[test]
    fn client_addresses_from_the_neighbour_table() {
        use netlink::rtnetlink::{NUD_REACHABLE, NUD_STALE};
        let mac = [2, 0, 0, 0, 0, 7];
        let other = vec![2, 0, 0, 0, 0, 8];
        let a = |s: &str| -> Ipv6Addr { s.parse().unwrap() };
        let table = vec![
            (a("fe80::7"), NUD_REACHABLE, mac.to_vec()),
            (a("fd00:1:2::7"), NUD_STALE, mac.to_vec()),
            (a("2001:db8:0:10::7"), NUD_REACHABLE, mac.to_vec()),
            (a("2001:db8:0:10::8"), NUD_REACHABLE, other),
            (a("2001:db8:0:10::9"), NUD_INCOMPLETE, mac.to_vec()),
            (a("2001:db8:0:10::a"), NUD_FAILED, mac.to_vec()),
            (a("2001:db8:0:10::7"), NUD_REACHABLE, mac.to_vec()),
        ];
        assert_eq!(client_addrs6(&table, &mac), [a("fd00:1:2::7"), a("2001:db8:0:10::7")]);
        let many: Vec<_> = (1..=20u16).map(|i| (Ipv6Addr::new(0x2001, 0xdb8, 0, 0x10, 0, 0, 0, i), NUD_STALE, mac.to_vec())).collect();
        assert_eq!(client_addrs6(&many, &mac).len(), MAX_ADDRS6);
        assert!(client_addrs6(&table, &[2, 0, 0, 0, 0, 9]).is_empty());
    }

    #[test]
    fn reverse_names() {
        let m = ask("10.1.168.192.in-addr.arpa", rtype::PTR).unwrap();
        assert_eq!(a_records(&m), [RData::Ptr(Name::from_ascii("nas.lan").unwrap())]);
        assert_eq!(ask("11.1.168.192.in-addr.arpa", rtype::PTR).unwrap().header.rcode(), rcode::NXDOMAIN, "private: local");
        assert!(ask("8.8.8.8.in-addr.arpa", rtype::PTR).is_none(), "public: forwarded");
    }

    #[test]
    fn everything_else_is_forwarded() {
        assert!(ask("example.com", rtype::A).is_none());
        assert!(ask("com", rtype::NS).is_none(), "a bare name with another type (a TLD's NS)");
        assert!(ask(".", rtype::NS).is_none());
        let mut chaos = Message::query(1, Name::from_ascii("nas.lan").unwrap(), rtype::A);
        chaos.questions[0].qclass = 3;
        assert!(answer(&chaos, &Name::from_ascii("lan").unwrap(), &NoLeases).is_none());
    }
}
