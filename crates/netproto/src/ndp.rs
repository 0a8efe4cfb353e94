//! Router solicitations and advertisements (RFC 4861 4.1, 4.2) with the options a router
//! sends: source link-layer address, MTU, prefix information (RFC 4861 4.6), recursive
//! DNS servers (RDNSS, RFC 8106 5.1) and the DNS search list (DNSSL, RFC 8106 5.2). The ICMPv6 checksum is left zero: the kernel fills
//! it in on a raw ICMPv6 socket (RFC 3542 3.1), and checks it on the way in.

use crate::dns::Name;
use crate::wire::{Reader, Truncated};
use std::fmt;
use std::net::Ipv6Addr;

pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
/// All-nodes and all-routers, link-scoped.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

const OPT_SOURCE_LLADDR: u8 = 1;
const OPT_PREFIX_INFO: u8 = 3;
const OPT_MTU: u8 = 5;
const OPT_RDNSS: u8 = 25;
const OPT_DNSSL: u8 = 31;

/// One prefix information option: L (on-link) and A (autonomous: SLAAC) set by
/// [`RouterAdvert::encode`] as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub len: u8,
    pub on_link: bool,
    pub autonomous: bool,
    pub valid: u32,
    pub preferred: u32,
}

/// A router advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterAdvert {
    pub cur_hop_limit: u8,
    /// M: addresses from DHCPv6.
    pub managed: bool,
    /// O: other configuration from DHCPv6.
    pub other: bool,
    /// Seconds; 0: not a default router.
    pub router_lifetime: u16,
    pub reachable_ms: u32,
    pub retrans_ms: u32,
    pub source_lladdr: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub prefixes: Vec<PrefixInfo>,
    /// (lifetime seconds, servers): one RDNSS option each.
    pub rdnss: Vec<(u32, Vec<Ipv6Addr>)>,
    /// (lifetime seconds, domains): one DNSSL option each.
    pub dnssl: Vec<(u32, Vec<Name>)>,
}

/// Why bytes are not a router advertisement or solicitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdpError {
    Truncated(Truncated),
    /// Another ICMPv6 type, or code not 0.
    NotThis {
        icmp_type: u8,
        code: u8,
    },
    /// An option with length 0 (RFC 4861 4.6: such a packet is discarded) or past the end.
    BadOption {
        at: usize,
        kind: u8,
        len_units: u8,
    },
}

impl From<Truncated> for NdpError {
    fn from(t: Truncated) -> Self {
        NdpError::Truncated(t)
    }
}

impl fmt::Display for NdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NdpError::Truncated(t) => t.fmt(f),
            NdpError::NotThis { icmp_type, code } => write!(f, "ICMPv6 type {icmp_type} code {code} is not the expected message"),
            NdpError::BadOption { at, kind, len_units } => write!(f, "option {kind} at byte {at} has length {len_units} (x8 bytes): zero or past the end"),
        }
    }
}

impl std::error::Error for NdpError {}

/// (type, offset, body) of each option in `buf` from `start`.
fn options(buf: &[u8], start: usize) -> Result<Vec<(u8, &[u8])>, NdpError> {
    let mut r = Reader::at(buf, start);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let at = r.pos();
        let kind = r.u8("option type")?;
        let units = r.u8("option length")?;
        let total = usize::from(units) * 8;
        if units == 0 || total - 2 > r.remaining() {
            return Err(NdpError::BadOption { at, kind, len_units: units });
        }
        out.push((kind, r.take(total - 2, "option body")?));
    }
    Ok(out)
}

fn header(buf: &[u8], want: u8) -> Result<(), NdpError> {
    let mut r = Reader::new(buf);
    let (t, c) = (r.u8("type")?, r.u8("code")?);
    if t != want || c != 0 {
        return Err(NdpError::NotThis { icmp_type: t, code: c });
    }
    Ok(())
}

/// A router solicitation's source link-layer address, if it has one (RFC 4861 4.1);
/// Err when `buf` is not a valid solicitation.
pub fn parse_solicit(buf: &[u8]) -> Result<Option<[u8; 6]>, NdpError> {
    header(buf, ROUTER_SOLICIT)?;
    Reader::new(buf).take(8, "router solicitation header")?;
    let opts = options(buf, 8)?;
    Ok(opts.iter().find(|(k, b)| *k == OPT_SOURCE_LLADDR && b.len() == 6).map(|(_, b)| <[u8; 6]>::try_from(*b).unwrap_or_default()))
}

impl RouterAdvert {
    /// The ICMPv6 message (checksum zero).
    pub fn encode(&self) -> Vec<u8> {
        let mut o = vec![ROUTER_ADVERT, 0, 0, 0, self.cur_hop_limit, (u8::from(self.managed) << 7) | (u8::from(self.other) << 6)];
        o.extend_from_slice(&self.router_lifetime.to_be_bytes());
        o.extend_from_slice(&self.reachable_ms.to_be_bytes());
        o.extend_from_slice(&self.retrans_ms.to_be_bytes());
        if let Some(mac) = self.source_lladdr {
            o.extend_from_slice(&[OPT_SOURCE_LLADDR, 1]);
            o.extend_from_slice(&mac);
        }
        if let Some(mtu) = self.mtu {
            o.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
            o.extend_from_slice(&mtu.to_be_bytes());
        }
        for p in &self.prefixes {
            o.extend_from_slice(&[OPT_PREFIX_INFO, 4, p.len, (u8::from(p.on_link) << 7) | (u8::from(p.autonomous) << 6)]);
            o.extend_from_slice(&p.valid.to_be_bytes());
            o.extend_from_slice(&p.preferred.to_be_bytes());
            o.extend_from_slice(&[0; 4]);
            o.extend_from_slice(&p.prefix.octets());
        }
        for (lifetime, servers) in self.rdnss.iter().filter(|(_, s)| !s.is_empty()) {
            // At most 127 servers fit the length byte; a router announces one or two.
            let servers = &servers[..servers.len().min(127)];
            o.extend_from_slice(&[OPT_RDNSS, (1 + 2 * servers.len()) as u8, 0, 0]);
            o.extend_from_slice(&lifetime.to_be_bytes());
            servers.iter().for_each(|s| o.extend_from_slice(&s.octets()));
        }
        for (lifetime, domains) in self.dnssl.iter().filter(|(_, d)| !d.is_empty()) {
            // The names in wire format, uncompressed, zero-padded to 8 bytes (RFC 8106
            // 5.2); a name is at most 255 bytes, so a few always fit the length byte.
            let mut names: Vec<u8> = Vec::new();
            for d in domains.iter().take(4) {
                names.extend_from_slice(d.wire());
            }
            names.resize((8 + names.len()).div_ceil(8) * 8 - 8, 0);
            o.extend_from_slice(&[OPT_DNSSL, (1 + names.len() / 8) as u8, 0, 0]);
            o.extend_from_slice(&lifetime.to_be_bytes());
            o.extend_from_slice(&names);
        }
        o
    }

    /// Parses an advertisement; options other than those above are skipped.
    pub fn parse(buf: &[u8]) -> Result<RouterAdvert, NdpError> {
        header(buf, ROUTER_ADVERT)?;
        let mut r = Reader::at(buf, 4);
        let cur_hop_limit = r.u8("cur hop limit")?;
        let flags = r.u8("flags")?;
        let mut ra = RouterAdvert {
            cur_hop_limit,
            managed: flags & 0x80 != 0,
            other: flags & 0x40 != 0,
            router_lifetime: r.u16("router lifetime")?,
            reachable_ms: r.u32("reachable time")?,
            retrans_ms: r.u32("retrans timer")?,
            ..RouterAdvert::default()
        };
        for (kind, body) in options(buf, 16)? {
            let mut b = Reader::new(body);
            match kind {
                OPT_SOURCE_LLADDR if body.len() == 6 => ra.source_lladdr = Some(b.array("source link-layer address")?),
                OPT_MTU if body.len() == 6 => {
                    b.take(2, "reserved")?;
                    ra.mtu = Some(b.u32("MTU")?);
                }
                OPT_PREFIX_INFO if body.len() == 30 => {
                    let len = b.u8("prefix length")?;
                    let f = b.u8("prefix flags")?;
                    let valid = b.u32("valid lifetime")?;
                    let preferred = b.u32("preferred lifetime")?;
                    b.take(4, "reserved")?;
                    let prefix = Ipv6Addr::from(b.array::<16>("prefix")?);
                    ra.prefixes.push(PrefixInfo { prefix, len, on_link: f & 0x80 != 0, autonomous: f & 0x40 != 0, valid, preferred });
                }
                OPT_RDNSS if body.len() >= 22 && (body.len() - 6).is_multiple_of(16) => {
                    b.take(2, "reserved")?;
                    let lifetime = b.u32("RDNSS lifetime")?;
                    let mut servers = Vec::new();
                    while b.remaining() >= 16 {
                        servers.push(Ipv6Addr::from(b.array::<16>("RDNSS address")?));
                    }
                    ra.rdnss.push((lifetime, servers));
                }
                OPT_DNSSL if body.len() >= 14 => {
                    b.take(2, "reserved")?;
                    let lifetime = b.u32("DNSSL lifetime")?;
                    ra.dnssl.push((lifetime, search_list(&body[6..])));
                }
                _ => {}
            }
        }
        Ok(ra)
    }
}

/// The names of a DNSSL option's body: wire-format names one after the other, then zero
/// padding; a name that does not parse ends the list.
fn search_list(mut b: &[u8]) -> Vec<Name> {
    let mut out = Vec::new();
    while b.first().is_some_and(|l| *l != 0) {
        let mut labels = Vec::new();
        let mut at = 0;
        loop {
            let Some(&len) = b.get(at) else { return out };
            at += 1;
            if len == 0 {
                break;
            }
            let Some(label) = b.get(at..at + usize::from(len)) else { return out };
            labels.push(label);
            at += usize::from(len);
        }
        match Name::from_labels(labels) {
            Ok(n) => out.push(n),
            Err(_) => return out,
        }
        b = &b[at..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advertisement_round_trips() {
        let ra = RouterAdvert {
            cur_hop_limit: 64,
            router_lifetime: 1800,
            source_lladdr: Some([2, 0, 0, 0, 0, 1]),
            mtu: Some(1500),
            prefixes: vec![PrefixInfo { prefix: "2001:db8:0:10::".parse().unwrap(), len: 64, on_link: true, autonomous: true, valid: 7200, preferred: 3600 }],
            rdnss: vec![(1800, vec!["fd00:1:2::1".parse().unwrap()])],
            dnssl: vec![(1800, vec![Name::from_ascii("lan").unwrap(), Name::from_ascii("home.example").unwrap()])],
            ..RouterAdvert::default()
        };
        let b = ra.encode();
        // DNSSL: 8 bytes of header, `3lan0` and `4home7example0` (19 bytes) padded to 24.
        assert_eq!(b.len(), 16 + 8 + 8 + 32 + 24 + 32);
        assert_eq!(RouterAdvert::parse(&b).unwrap(), ra);
        for n in 0..b.len() {
            let _ = RouterAdvert::parse(&b[..n]);
        }
        assert_eq!(RouterAdvert::parse(&b[..20]).unwrap_err().to_string(), "option 1 at byte 16 has length 1 (x8 bytes): zero or past the end");
    }

    #[test]
    fn solicitations_parse_and_zero_length_options_are_refused() {
        let rs = [133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 7];
        assert_eq!(parse_solicit(&rs).unwrap(), Some([2, 0, 0, 0, 0, 7]));
        assert_eq!(parse_solicit(&rs[..8]).unwrap(), None);
        let zero = [133, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(parse_solicit(&zero).unwrap_err(), NdpError::BadOption { at: 8, kind: 1, len_units: 0 });
        assert!(matches!(parse_solicit(&[134, 0, 0, 0, 0, 0, 0, 0]), Err(NdpError::NotThis { icmp_type: 134, .. })));
    }
}
