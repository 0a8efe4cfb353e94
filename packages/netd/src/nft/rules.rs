//! The ruleset as data: oxwrt's fixed policy plus the port forwards of firewall.toml,
//! as chains, port maps and rules made of nf_tables expressions; and its encoding into
//! one netlink batch that replaces the `inet oxwrt` table atomically.

use netlink::nfnetlink::{nft as msg, Batch, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6};
use netlink::{Attrs, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL};
use oxwrt_config::{Firewall, PortRange};

/// The one table oxwrt owns (family inet: IPv4 and IPv6 in one place).
pub const TABLE: &str = "oxwrt";

/// Registers (NFT_REG_*: the 16-byte ones; 0 is the verdict).
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;

// Verdicts (netfilter.h).
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

// Hooks (netfilter.h NF_INET_*).
const HOOK_PREROUTING: u32 = 0;
const HOOK_INPUT: u32 = 1;
const HOOK_FORWARD: u32 = 2;
const HOOK_POSTROUTING: u32 = 4;

// Conntrack bits as the kernel stores them (host byte order).
const CT_STATE_INVALID: u32 = 1 << 0;
const CT_STATE_ESTABLISHED: u32 = 1 << 1;
const CT_STATE_RELATED: u32 = 1 << 2;
const CT_STATUS_DNAT: u32 = 1 << 5; // IPS_DST_NAT

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_ECHO_REQUEST: u8 = 128;
/// MLDv2 report (RFC 3810), outside the 130-136 block.
const ICMPV6_MLD2_REPORT: u8 = 143;
const ICMP_ECHO_REQUEST: u8 = 8;
const IFNAMSIZ: usize = 16;
/// nft's datatype number of inet_service (a port), for `nft list` to show the maps.
const TYPE_INET_SERVICE: u32 = 13;
/// Elements per NEWSETELEM message (a forwarded range can have 65535).
const ELEMENTS_PER_MESSAGE: usize = 1024;

/// A base chain: attached to a netfilter hook.
pub struct Chain {
    pub name: &'static str,
    kind: &'static str,
    hook: u32,
    priority: i32,
    policy: u32,
}

pub const CHAINS: [Chain; 4] = [
    Chain { name: "input", kind: "filter", hook: HOOK_INPUT, priority: 0, policy: NF_DROP },
    Chain { name: "forward", kind: "filter", hook: HOOK_FORWARD, priority: 0, policy: NF_DROP },
    Chain { name: "prerouting", kind: "nat", hook: HOOK_PREROUTING, priority: -100, policy: NF_ACCEPT },
    Chain { name: "postrouting", kind: "nat", hook: HOOK_POSTROUTING, priority: 100, policy: NF_ACCEPT },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
    Gte = 5,
    Lte = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    IifName = 6,
    OifName = 7,
    NfProto = 15,
    L4Proto = 16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtKey {
    State = 0,
    Status = 2,
}

/// The nf_tables expressions oxwrt uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Meta {
        key: MetaKey,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: CmpOp,
        data: Vec<u8>,
    },
    /// `len` bytes at `offset` of the transport header.
    Transport {
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
    },
    Ct {
        key: CtKey,
        dreg: u32,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
    Verdict(u32),
    Counter,
    /// Looks the key in `sreg` up in the map, its value into `dreg`.
    Lookup {
        map: String,
        map_id: u32,
        sreg: u32,
        dreg: u32,
    },
    /// DNAT (IPv4) to the address in `addr`, the port in `port` when given.
    Dnat {
        addr: u32,
        port: Option<u32>,
    },
    Masquerade,
}

/// A map from WAN port to LAN port, for a forward whose port range moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub name: String,
    pub id: u32,
    pub pairs: Vec<(u16, u16)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: &'static str,
    /// Shown by `nft list` (rule comment), and names the rule in errors.
    pub comment: String,
    pub exprs: Vec<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub maps: Vec<PortMap>,
    pub rules: Vec<Rule>,
}

/// Why an interface name cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInterface {
    pub role: &'static str,
    pub name: String,
}

fn ifname(role: &'static str, name: &str) -> Result<Vec<u8>, BadInterface> {
    if name.is_empty() || name.len() >= IFNAMSIZ || name.contains('\0') {
        return Err(BadInterface { role, name: name.to_string() });
    }
    let mut data = name.as_bytes().to_vec();
    data.resize(IFNAMSIZ, 0);
    Ok(data)
}

fn meta_eq(key: MetaKey, data: Vec<u8>) -> [Expr; 2] {
    [Expr::Meta { key, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data }]
}

/// `ct state|status & bits != 0`.
fn ct_any(key: CtKey, bits: u32) -> [Expr; 3] {
    [
        Expr::Ct { key, dreg: REG_1 },
        Expr::Bitwise { reg: REG_1, mask: bits.to_ne_bytes().to_vec() },
        Expr::Cmp { sreg: REG_1, op: CmpOp::Neq, data: vec![0; 4] },
    ]
}

fn dport(range: PortRange) -> Vec<Expr> {
    let mut e = vec![Expr::Transport { offset: 2, len: 2, dreg: REG_1 }];
    if range.start() == range.end() {
        e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: range.start().to_be_bytes().to_vec() });
    } else {
        e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Gte, data: range.start().to_be_bytes().to_vec() });
        e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Lte, data: range.end().to_be_bytes().to_vec() });
    }
    e
}

fn rule(chain: &'static str, comment: impl Into<String>, parts: &[&[Expr]]) -> Rule {
    Rule { chain, comment: comment.into(), exprs: parts.concat() }
}

const ACCEPT: [Expr; 1] = [Expr::Verdict(NF_ACCEPT)];
const COUNT_DROP: [Expr; 2] = [Expr::Counter, Expr::Verdict(NF_DROP)];

/// The whole ruleset for a firewall.toml with the LAN on `lan_if` and the WAN on `wan_if`.
pub fn build(fw: &Firewall, lan_if: &str, wan_if: &str) -> Result<Ruleset, BadInterface> {
    let lan = ifname("LAN", lan_if)?;
    let wan = ifname("WAN", wan_if)?;
    let lo = ifname("loopback", "lo")?;
    let from_lan = meta_eq(MetaKey::IifName, lan.clone());
    let from_wan = meta_eq(MetaKey::IifName, wan.clone());
    let to_wan = meta_eq(MetaKey::OifName, wan);
    let to_lan = meta_eq(MetaKey::OifName, lan);
    let ipv4 = meta_eq(MetaKey::NfProto, vec![NFPROTO_IPV4]);
    let ipv6 = meta_eq(MetaKey::NfProto, vec![NFPROTO_IPV6]);
    let icmpv6 = meta_eq(MetaKey::L4Proto, vec![IPPROTO_ICMPV6]);
    let established = ct_any(CtKey::State, CT_STATE_ESTABLISHED | CT_STATE_RELATED);
    let invalid = ct_any(CtKey::State, CT_STATE_INVALID);
    let udp = meta_eq(MetaKey::L4Proto, vec![IPPROTO_UDP]);

    let mut rs = Ruleset::default();
    let r = &mut rs.rules;
    // input: to the router itself.
    r.push(rule("input", "replies and related ICMP errors", &[&established, &ACCEPT]));
    r.push(rule("input", "invalid", &[&invalid, &COUNT_DROP]));
    r.push(rule("input", "loopback", &[&meta_eq(MetaKey::IifName, lo), &ACCEPT]));
    r.push(rule("input", "LAN to the router: web UI, DNS, DHCP", &[&from_lan, &ACCEPT]));
    let dhcp_reply = [Expr::Transport { offset: 0, len: 4, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![0, 67, 0, 68] }];
    r.push(rule("input", "WAN DHCP client: server replies (udp 67 to 68)", &[&from_wan, &udp, &dhcp_reply, &ACCEPT]));
    if fw.wan_ping {
        let echo = [Expr::Transport { offset: 0, len: 1, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![ICMP_ECHO_REQUEST] }];
        let icmp = meta_eq(MetaKey::L4Proto, vec![IPPROTO_ICMP]);
        r.push(rule("input", "WAN ping (wan_ping = true)", &[&from_wan, &ipv4, &icmp, &echo, &ACCEPT]));
        let echo6 = [Expr::Transport { offset: 0, len: 1, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![ICMPV6_ECHO_REQUEST] }];
        r.push(rule("input", "WAN IPv6 ping (wan_ping = true)", &[&from_wan, &ipv6, &icmpv6, &echo6, &ACCEPT]));
    }
    // IPv6 (RFC 4890 4.4.1): what the router's own links need from any interface.
    let icmpv6_types = |lo: u8, hi: u8| {
        let mut e = vec![Expr::Transport { offset: 0, len: 1, dreg: REG_1 }];
        if lo == hi {
            e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![lo] });
        } else {
            e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Gte, data: vec![lo] });
            e.push(Expr::Cmp { sreg: REG_1, op: CmpOp::Lte, data: vec![hi] });
        }
        e
    };
    r.push(rule("input", "ICMPv6 errors: unreachable, too big, time exceeded, parameter problem (RFC 4890)", &[&ipv6, &icmpv6, &icmpv6_types(1, 4), &ACCEPT]));
    r.push(rule("input", "ICMPv6 MLD and neighbour discovery: RS, RA, NS, NA; no redirects (RFC 4890)", &[&ipv6, &icmpv6, &icmpv6_types(130, 136), &ACCEPT]));
    r.push(rule("input", "ICMPv6 MLDv2 reports (RFC 4890)", &[&ipv6, &icmpv6, &icmpv6_types(ICMPV6_MLD2_REPORT, ICMPV6_MLD2_REPORT), &ACCEPT]));
    let dhcpv6_reply = [Expr::Transport { offset: 0, len: 4, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![2, 0x23, 2, 0x22] }];
    r.push(rule("input", "WAN DHCPv6 client: server replies (udp 547 to 546)", &[&from_wan, &ipv6, &udp, &dhcpv6_reply, &ACCEPT]));
    r.push(rule("input", "everything else", &[&COUNT_DROP]));

    // forward: through the router.
    r.push(rule("forward", "replies and related ICMP errors", &[&established, &ACCEPT]));
    r.push(rule("forward", "invalid", &[&invalid, &COUNT_DROP]));
    r.push(rule("forward", "LAN to WAN", &[&from_lan, &to_wan, &ACCEPT]));
    let dnat = ct_any(CtKey::Status, CT_STATUS_DNAT);
    r.push(rule("forward", "port forwards (DNAT'd connections)", &[&from_wan, &to_lan, &dnat, &ACCEPT]));
    r.push(rule("forward", "everything else", &[&COUNT_DROP]));

    // prerouting: port forwards.
    for f in &fw.forwards {
        let to = f.target_ports();
        let nat = target_port(&mut rs.maps, f.wan_port, to);
        // Comments are shown between double quotes by nft, which does not escape them.
        let name = f.name.replace('"', "'");
        let protos = [(f.proto.tcp(), IPPROTO_TCP, "tcp"), (f.proto.udp(), IPPROTO_UDP, "udp")];
        for (_, proto, pname) in protos.into_iter().filter(|p| p.0) {
            let mut e = vec![];
            e.extend(from_wan.clone());
            e.extend(ipv4.clone());
            e.extend(meta_eq(MetaKey::L4Proto, vec![proto]));
            e.extend(dport(f.wan_port));
            e.push(Expr::Immediate { dreg: REG_1, data: f.to.octets().to_vec() });
            e.extend(nat.iter().cloned());
            let comment = format!("forward '{name}' {pname} {} to {}:{}", f.wan_port, f.to, to);
            rs.rules.push(Rule { chain: "prerouting", comment, exprs: e });
        }
    }
    // postrouting: NAT of everything leaving by the WAN.
    rs.rules.push(rule("postrouting", "masquerade to the WAN address", &[&to_wan, &ipv4, &[Expr::Masquerade]]));
    Ok(rs)
}

/// The DNAT of a forward: the same port(s) (no port given to NAT), one port, or a
/// shifted range through a map (nf_tables NAT cannot add an offset to a port).
fn target_port(maps: &mut Vec<PortMap>, wan: PortRange, to: PortRange) -> Vec<Expr> {
    if wan == to {
        return vec![Expr::Dnat { addr: REG_1, port: None }];
    }
    if to.start() == to.end() {
        return vec![Expr::Immediate { dreg: REG_2, data: to.start().to_be_bytes().to_vec() }, Expr::Dnat { addr: REG_1, port: Some(REG_2) }];
    }
    let id = maps.len() as u32 + 1;
    let name = format!("fwd{id}");
    let pairs = (wan.start()..=wan.end()).zip(to.start()..=to.end()).collect();
    maps.push(PortMap { name: name.clone(), id, pairs });
    vec![
        Expr::Transport { offset: 2, len: 2, dreg: REG_2 },
        Expr::Lookup { map: name, map_id: id, sreg: REG_2, dreg: REG_2 },
        Expr::Dnat { addr: REG_1, port: Some(REG_2) },
    ]
}

impl Ruleset {
    /// Appends the messages that replace the table with this ruleset to `b`: create the
    /// table if missing, delete it, create it anew with everything in it. The kernel
    /// applies the batch as one transaction: the old rules hold until the new ones do.
    pub fn encode(&self, b: &mut Batch) {
        table_msg(b, msg::NEWTABLE, NLM_F_CREATE, "create the table if missing");
        table_msg(b, msg::DELTABLE, 0, "delete the old table");
        table_msg(b, msg::NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "create the table");
        for c in &CHAINS {
            b.message(msg::NEWCHAIN, NLM_F_CREATE, NFPROTO_INET, format!("chain {} ({} hook)", c.name, c.kind), |a| {
                a.str(1, TABLE); // NFTA_CHAIN_TABLE
                a.str(3, c.name); // NFTA_CHAIN_NAME
                a.nested(4, |h| {
                    h.be32(1, c.hook); // NFTA_HOOK_HOOKNUM
                    h.be32(2, c.priority as u32); // NFTA_HOOK_PRIORITY
                });
                a.be32(5, c.policy); // NFTA_CHAIN_POLICY
                a.str(7, c.kind); // NFTA_CHAIN_TYPE
            });
        }
        for m in &self.maps {
            b.message(msg::NEWSET, NLM_F_CREATE, NFPROTO_INET, format!("port map {}", m.name), |a| {
                a.str(1, TABLE); // NFTA_SET_TABLE
                a.str(2, &m.name); // NFTA_SET_NAME
                a.be32(3, 0x2 | 0x8); // NFTA_SET_FLAGS: CONSTANT | MAP
                a.be32(4, TYPE_INET_SERVICE); // NFTA_SET_KEY_TYPE
                a.be32(5, 2); // NFTA_SET_KEY_LEN
                a.be32(6, TYPE_INET_SERVICE); // NFTA_SET_DATA_TYPE
                a.be32(7, 2); // NFTA_SET_DATA_LEN
                a.be32(10, m.id); // NFTA_SET_ID
            });
            for chunk in m.pairs.chunks(ELEMENTS_PER_MESSAGE) {
                let what = format!("port map {}: {} elements", m.name, chunk.len());
                b.message(msg::NEWSETELEM, NLM_F_CREATE, NFPROTO_INET, what, |a| {
                    a.str(1, TABLE); // NFTA_SET_ELEM_LIST_TABLE
                    a.str(2, &m.name); // NFTA_SET_ELEM_LIST_SET
                    a.nested(3, |list| {
                        for (from, to) in chunk {
                            list.nested(1, |el| {
                                el.nested(1, |k| {
                                    k.bytes(1, &from.to_be_bytes()); // KEY: VALUE
                                });
                                el.nested(2, |d| {
                                    d.bytes(1, &to.to_be_bytes());
                                });
                                // DATA: VALUE
                            });
                        }
                    });
                    a.be32(4, m.id); // NFTA_SET_ELEM_LIST_SET_ID
                });
            }
        }
        for r in &self.rules {
            b.message(msg::NEWRULE, NLM_F_CREATE | NLM_F_APPEND, NFPROTO_INET, format!("{} rule \"{}\"", r.chain, r.comment), |a| {
                a.str(1, TABLE); // NFTA_RULE_TABLE
                a.str(2, r.chain); // NFTA_RULE_CHAIN
                a.nested(4, |list| {
                    for e in &r.exprs {
                        list.nested(1, |el| encode_expr(el, e)); // NFTA_LIST_ELEM
                    }
                });
                a.bytes(7, &comment_udata(&r.comment)); // NFTA_RULE_USERDATA
            });
        }
    }
}

fn table_msg(b: &mut Batch, ty: u16, flags: u16, what: &str) {
    b.message(ty, flags, NFPROTO_INET, format!("{what} (inet {TABLE})"), |a| {
        a.str(1, TABLE);
    });
}

/// The rule comment as nft stores it: a TLV (type 0 = comment, length, NUL-terminated text).
fn comment_udata(comment: &str) -> Vec<u8> {
    let text: Vec<u8> = comment.bytes().take(127).collect();
    let mut out = vec![0, text.len() as u8 + 1];
    out.extend_from_slice(&text);
    out.push(0);
    out
}

fn data_value(a: &mut Attrs, ty: u16, data: &[u8]) {
    a.nested(ty, |d| {
        d.bytes(1, data); // NFTA_DATA_VALUE
    });
}

fn encode_expr(el: &mut Attrs, e: &Expr) {
    let name = match e {
        Expr::Meta { .. } => "meta",
        Expr::Cmp { .. } => "cmp",
        Expr::Transport { .. } => "payload",
        Expr::Bitwise { .. } => "bitwise",
        Expr::Ct { .. } => "ct",
        Expr::Immediate { .. } | Expr::Verdict(_) => "immediate",
        Expr::Counter => "counter",
        Expr::Lookup { .. } => "lookup",
        Expr::Dnat { .. } => "nat",
        Expr::Masquerade => "masq",
    };
    el.str(1, name); // NFTA_EXPR_NAME
    if *e == Expr::Masquerade {
        return;
    }
    el.nested(2, |a| match e {
        // NFTA_EXPR_DATA
        Expr::Meta { key, dreg } => {
            a.be32(1, *dreg);
            a.be32(2, *key as u32);
        }
        Expr::Cmp { sreg, op, data } => {
            a.be32(1, *sreg);
            a.be32(2, *op as u32);
            data_value(a, 3, data);
        }
        Expr::Transport { offset, len, dreg } => {
            a.be32(1, *dreg);
            a.be32(2, 2); // NFT_PAYLOAD_TRANSPORT_HEADER
            a.be32(3, *offset);
            a.be32(4, *len);
        }
        Expr::Bitwise { reg, mask } => {
            a.be32(1, *reg);
            a.be32(2, *reg);
            a.be32(3, mask.len() as u32);
            data_value(a, 4, mask);
            data_value(a, 5, &vec![0; mask.len()]);
        }
        Expr::Ct { key, dreg } => {
            a.be32(1, *dreg);
            a.be32(2, *key as u32);
        }
        Expr::Immediate { dreg, data } => {
            a.be32(1, *dreg);
            data_value(a, 2, data);
        }
        Expr::Verdict(code) => {
            a.be32(1, REG_VERDICT);
            a.nested(2, |d| {
                // DATA: VERDICT: CODE
                d.nested(2, |v| {
                    v.be32(1, *code);
                });
            });
        }
        Expr::Counter => {
            a.be64(1, 0);
            a.be64(2, 0);
        }
        Expr::Lookup { map, map_id, sreg, dreg } => {
            a.str(1, map);
            a.be32(2, *sreg);
            a.be32(3, *dreg);
            a.be32(4, *map_id);
        }
        Expr::Dnat { addr, port } => {
            a.be32(1, 1); // NFT_NAT_DNAT
            a.be32(2, u32::from(NFPROTO_IPV4));
            a.be32(3, *addr);
            if let Some(p) = port {
                a.be32(5, *p);
            }
        }
        Expr::Masquerade => {}
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(text: &str) -> Firewall {
        oxwrt_config::Config::parse("", text).unwrap().firewall
    }

    fn comments(rs: &Ruleset, chain: &str) -> Vec<String> {
        rs.rules.iter().filter(|r| r.chain == chain).map(|r| r.comment.clone()).collect()
    }

    #[test]
    fn fixed_policy_without_forwards() {
        let rs = build(&Firewall::default(), "br-lan", "eth0").unwrap();
        assert_eq!(
            comments(&rs, "input"),
            [
                "replies and related ICMP errors",
                "invalid",
                "loopback",
                "LAN to the router: web UI, DNS, DHCP",
                "WAN DHCP client: server replies (udp 67 to 68)",
                "ICMPv6 errors: unreachable, too big, time exceeded, parameter problem (RFC 4890)",
                "ICMPv6 MLD and neighbour discovery: RS, RA, NS, NA; no redirects (RFC 4890)",
                "ICMPv6 MLDv2 reports (RFC 4890)",
                "WAN DHCPv6 client: server replies (udp 547 to 546)",
                "everything else"
            ]
        );
        assert_eq!(comments(&rs, "forward").len(), 5);
        assert!(comments(&rs, "prerouting").is_empty());
        assert_eq!(comments(&rs, "postrouting"), ["masquerade to the WAN address"]);
        assert!(rs.maps.is_empty());
        // The LAN name is matched as 16 bytes, NUL-padded, like nft does.
        let lan_rule = &rs.rules[3];
        assert_eq!(lan_rule.exprs[1], Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: b"br-lan\0\0\0\0\0\0\0\0\0\0".to_vec() });
    }

    #[test]
    fn wan_ping_adds_one_rule_per_family() {
        let rs = build(&fw("wan_ping = true"), "br-lan", "eth0").unwrap();
        let input = comments(&rs, "input");
        assert_eq!(input[5], "WAN ping (wan_ping = true)");
        assert_eq!(input[6], "WAN IPv6 ping (wan_ping = true)");
        assert_eq!(input.last().map(String::as_str), Some("everything else"));
    }

    #[test]
    fn forwards_become_dnat_rules_and_maps() {
        let text = r#"
            [[forward]]
            name = "web"
            wan_port = 8080
            to = "192.168.1.10"
            to_port = 80
            [[forward]]
            name = "game"
            proto = "both"
            wan_port = "27015-27016"
            to = "192.168.1.11"
            [[forward]]
            name = "moved"
            proto = "udp"
            wan_port = "5000-5002"
            to = "192.168.1.12"
            to_port = "6000-6002"
        "#;
        let rs = build(&fw(text), "br-lan", "eth0").unwrap();
        let pre: Vec<&Rule> = rs.rules.iter().filter(|r| r.chain == "prerouting").collect();
        assert_eq!(pre.len(), 4, "web tcp, game tcp + udp, moved udp");
        assert_eq!(pre[0].comment, "forward 'web' tcp 8080 to 192.168.1.10:80");
        assert_eq!(pre[0].exprs[pre[0].exprs.len() - 2..], [Expr::Immediate { dreg: REG_2, data: vec![0, 80] }, Expr::Dnat { addr: REG_1, port: Some(REG_2) }]);
        assert_eq!(pre[1].exprs.last(), Some(&Expr::Dnat { addr: REG_1, port: None }), "same ports: address only");
        assert!(pre[1].exprs.contains(&Expr::Cmp { sreg: REG_1, op: CmpOp::Gte, data: 27015u16.to_be_bytes().to_vec() }));
        assert!(pre[2].comment.contains("udp"));
        assert_eq!(rs.maps, [PortMap { name: "fwd1".into(), id: 1, pairs: vec![(5000, 6000), (5001, 6001), (5002, 6002)] }]);
        assert!(pre[3].exprs.contains(&Expr::Lookup { map: "fwd1".into(), map_id: 1, sreg: REG_2, dreg: REG_2 }));
    }

    #[test]
    fn interface_names_are_checked() {
        assert_eq!(build(&Firewall::default(), "", "eth0"), Err(BadInterface { role: "LAN", name: String::new() }));
        let long = "a-very-long-name0";
        assert_eq!(build(&Firewall::default(), "br-lan", long), Err(BadInterface { role: "WAN", name: long.into() }));
        assert!(build(&Firewall::default(), "br-lan", "abcdefghijklmno").is_ok(), "15 bytes fit");
    }

    #[test]
    fn comments_are_nft_udata() {
        assert_eq!(comment_udata("ab"), [0, 3, b'a', b'b', 0]);
        assert_eq!(comment_udata(&"x".repeat(300)).len(), 2 + 128);
    }
}
