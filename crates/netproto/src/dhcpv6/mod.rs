//! DHCPv6 (RFC 8415) messages between client and server: the 4-byte header (type,
//! 24-bit transaction id) and the options, with the ones a prefix-delegating client uses
//! typed ([`Opt`]): client and server identifiers, IA_NA with IAADDR, IA_PD with IAPREFIX,
//! status codes, the option request, preference, elapsed time, rapid commit and DNS
//! servers (RFC 3646 option 23). Everything else is kept as bytes, so a message
//! re-encodes to what was parsed.
//!
//! Options nest (IA_NA holds IAADDRs, which hold status codes); [`Message::parse`] reads
//! them to a depth of [`MAX_DEPTH`] and keeps deeper ones as bytes, so a crafted packet
//! cannot recurse without bound. Relay messages (types 12, 13) are not parsed: a client
//! never receives them.

#[cfg(test)]
mod tests;

use crate::wire::{Reader, Truncated};
use std::fmt;
use std::net::Ipv6Addr;

/// The client's UDP port.
pub const CLIENT_PORT: u16 = 546;
/// The servers' and relays' UDP port.
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 7.1), link-scoped.
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// How deep options are parsed: message options (1), IA options (2), their status (3).
pub const MAX_DEPTH: u8 = 3;

/// Message types (RFC 8415 7.3).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const RECONFIGURE: u8 = 10;
    pub const INFORMATION_REQUEST: u8 = 11;
}

/// Option codes (RFC 8415 21, RFC 3646).
pub mod code {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IA_TA: u16 = 4;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const PREFERENCE: u16 = 7;
    pub const ELAPSED_TIME: u16 = 8;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const DNS_SERVERS: u16 = 23;
    pub const DOMAIN_LIST: u16 = 24;
    /// SNTP servers (RFC 4075): IPv6 addresses.
    pub const SNTP_SERVERS: u16 = 31;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
}

/// Status codes (RFC 8415 21.13).
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// An identity association: IA_NA (addresses) or IA_PD (prefixes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    /// IAADDRs, IAPREFIXes, a status code, others.
    pub options: Vec<Opt>,
}

/// An address of an IA_NA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaAddr {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
    pub options: Vec<Opt>,
}

/// A prefix of an IA_PD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaPrefix {
    pub preferred: u32,
    pub valid: u32,
    pub len: u8,
    pub prefix: Ipv6Addr,
    pub options: Vec<Opt>,
}

/// A status code and its message (UTF-8 by the RFC, kept as bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub message: Vec<u8>,
}

/// One option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    ClientId(Vec<u8>),
    ServerId(Vec<u8>),
    IaNa(Ia),
    IaPd(Ia),
    IaAddr(IaAddr),
    IaPrefix(IaPrefix),
    Oro(Vec<u16>),
    Preference(u8),
    /// Hundredths of a second since the exchange began.
    ElapsedTime(u16),
    Status(Status),
    RapidCommit,
    DnsServers(Vec<Ipv6Addr>),
    /// Any other option, or one nested deeper than [`MAX_DEPTH`].
    Other {
        code: u16,
        data: Vec<u8>,
    },
}

/// A DHCPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub msg_type: u8,
    /// 24 bits.
    pub xid: u32,
    pub options: Vec<Opt>,
}

/// Why a packet is not a DHCPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dhcpv6Error {
    Truncated(Truncated),
    /// A relay message (12, 13), or type 0.
    NotClientServer(u8),
    /// The option at byte `at` claims `len` bytes but `left` remain.
    OptionPastEnd {
        at: usize,
        code: u16,
        len: u16,
        left: usize,
    },
    /// A known option whose length is impossible.
    BadOption {
        code: u16,
        len: usize,
        expected: &'static str,
    },
}

impl From<Truncated> for Dhcpv6Error {
    fn from(t: Truncated) -> Self {
        Dhcpv6Error::Truncated(t)
    }
}

impl fmt::Display for Dhcpv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dhcpv6Error::Truncated(t) => t.fmt(f),
            Dhcpv6Error::NotClientServer(t) => write!(f, "message type {t} is not a client/server message (1-11)"),
            Dhcpv6Error::OptionPastEnd { at, code, len, left } => write!(f, "option {code} at byte {at} has length {len}, past the end ({left} bytes left)"),
            Dhcpv6Error::BadOption { code, len, expected } => write!(f, "option {code} has {len} bytes, must be {expected}"),
        }
    }
}

impl std::error::Error for Dhcpv6Error {}

/// Why a message cannot be encoded: an option's data over 65535 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong {
    pub code: u16,
    pub len: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option {} is {} bytes, more than 65535", self.code, self.len)
    }
}

impl std::error::Error for TooLong {}

fn ip6(r: &mut Reader<'_>, field: &'static str) -> Result<Ipv6Addr, Truncated> {
    Ok(Ipv6Addr::from(r.array::<16>(field)?))
}

fn bad(code: u16, len: usize, expected: &'static str) -> Dhcpv6Error {
    Dhcpv6Error::BadOption { code, len, expected }
}

/// The options in `buf[start..end]`, parsed at `depth`.
fn parse_options(buf: &[u8], start: usize, end: usize, depth: u8) -> Result<Vec<Opt>, Dhcpv6Error> {
    let area = buf.get(..end).unwrap_or(buf);
    let mut r = Reader::at(area, start);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let at = r.pos();
        let code = r.u16("option code")?;
        let len = r.u16("option length")?;
        let left = r.remaining();
        if usize::from(len) > left {
            return Err(Dhcpv6Error::OptionPastEnd { at, code, len, left });
        }
        let from = r.pos();
        let data = r.take(usize::from(len), "option data")?;
        out.push(parse_option(area, code, data, from, depth)?);
    }
    Ok(out)
}

fn parse_option(buf: &[u8], code: u16, data: &[u8], from: usize, depth: u8) -> Result<Opt, Dhcpv6Error> {
    let len = data.len();
    let nested = depth < MAX_DEPTH;
    let mut r = Reader::new(data);
    Ok(match code {
        code::CLIENTID => Opt::ClientId(data.to_vec()),
        code::SERVERID => Opt::ServerId(data.to_vec()),
        code::IA_NA | code::IA_PD if nested => {
            if len < 12 {
                return Err(bad(code, len, "at least 12 (IAID, T1, T2)"));
            }
            let ia = Ia { iaid: r.u32("IAID")?, t1: r.u32("T1")?, t2: r.u32("T2")?, options: parse_options(buf, from + 12, from + len, depth + 1)? };
            if code == code::IA_NA {
                Opt::IaNa(ia)
            } else {
                Opt::IaPd(ia)
            }
        }
        code::IAADDR if nested => {
            if len < 24 {
                return Err(bad(code, len, "at least 24 (address, lifetimes)"));
            }
            Opt::IaAddr(IaAddr {
                addr: ip6(&mut r, "IAADDR address")?,
                preferred: r.u32("preferred lifetime")?,
                valid: r.u32("valid lifetime")?,
                options: parse_options(buf, from + 24, from + len, depth + 1)?,
            })
        }
        code::IAPREFIX if nested => {
            if len < 25 {
                return Err(bad(code, len, "at least 25 (lifetimes, length, prefix)"));
            }
            Opt::IaPrefix(IaPrefix {
                preferred: r.u32("preferred lifetime")?,
                valid: r.u32("valid lifetime")?,
                len: r.u8("prefix length")?,
                prefix: ip6(&mut r, "IAPREFIX prefix")?,
                options: parse_options(buf, from + 25, from + len, depth + 1)?,
            })
        }
        code::ORO => {
            if !len.is_multiple_of(2) {
                return Err(bad(code, len, "a multiple of 2"));
            }
            Opt::Oro(data.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
        }
        code::PREFERENCE => match data {
            [p] => Opt::Preference(*p),
            _ => return Err(bad(code, len, "1")),
        },
        code::ELAPSED_TIME => match data {
            [a, b] => Opt::ElapsedTime(u16::from_be_bytes([*a, *b])),
            _ => return Err(bad(code, len, "2")),
        },
        code::STATUS_CODE => {
            if len < 2 {
                return Err(bad(code, len, "at least 2"));
            }
            Opt::Status(Status { code: r.u16("status code")?, message: data[2..].to_vec() })
        }
        code::RAPID_COMMIT => {
            if len != 0 {
                return Err(bad(code, len, "0"));
            }
            Opt::RapidCommit
        }
        code::DNS_SERVERS => {
            if !len.is_multiple_of(16) {
                return Err(bad(code, len, "a multiple of 16"));
            }
            Opt::DnsServers(data.chunks_exact(16).map(|c| Ipv6Addr::from(<[u8; 16]>::try_from(c).unwrap_or([0; 16]))).collect())
        }
        _ => Opt::Other { code, data: data.to_vec() },
    })
}

fn put_option(out: &mut Vec<u8>, code: u16, body: impl FnOnce(&mut Vec<u8>) -> Result<(), TooLong>) -> Result<(), TooLong> {
    let at = out.len();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    body(out)?;
    let len = out.len() - at - 4;
    let len16 = u16::try_from(len).map_err(|_| TooLong { code, len })?;
    out[at + 2..at + 4].copy_from_slice(&len16.to_be_bytes());
    Ok(())
}

fn put_options(out: &mut Vec<u8>, opts: &[Opt]) -> Result<(), TooLong> {
    for o in opts {
        o.encode(out)?;
    }
    Ok(())
}

impl Opt {
    /// The option code.
    pub fn code(&self) -> u16 {
        match self {
            Opt::ClientId(_) => code::CLIENTID,
            Opt::ServerId(_) => code::SERVERID,
            Opt::IaNa(_) => code::IA_NA,
            Opt::IaPd(_) => code::IA_PD,
            Opt::IaAddr(_) => code::IAADDR,
            Opt::IaPrefix(_) => code::IAPREFIX,
            Opt::Oro(_) => code::ORO,
            Opt::Preference(_) => code::PREFERENCE,
            Opt::ElapsedTime(_) => code::ELAPSED_TIME,
            Opt::Status(_) => code::STATUS_CODE,
            Opt::RapidCommit => code::RAPID_COMMIT,
            Opt::DnsServers(_) => code::DNS_SERVERS,
            Opt::Other { code, .. } => *code,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), TooLong> {
        put_option(out, self.code(), |o| {
            match self {
                Opt::ClientId(d) | Opt::ServerId(d) | Opt::Other { data: d, .. } => o.extend_from_slice(d),
                Opt::IaNa(ia) | Opt::IaPd(ia) => {
                    for v in [ia.iaid, ia.t1, ia.t2] {
                        o.extend_from_slice(&v.to_be_bytes());
                    }
                    put_options(o, &ia.options)?;
                }
                Opt::IaAddr(a) => {
                    o.extend_from_slice(&a.addr.octets());
                    o.extend_from_slice(&a.preferred.to_be_bytes());
                    o.extend_from_slice(&a.valid.to_be_bytes());
                    put_options(o, &a.options)?;
                }
                Opt::IaPrefix(p) => {
                    o.extend_from_slice(&p.preferred.to_be_bytes());
                    o.extend_from_slice(&p.valid.to_be_bytes());
                    o.push(p.len);
                    o.extend_from_slice(&p.prefix.octets());
                    put_options(o, &p.options)?;
                }
                Opt::Oro(codes) => codes.iter().for_each(|c| o.extend_from_slice(&c.to_be_bytes())),
                Opt::Preference(p) => o.push(*p),
                Opt::ElapsedTime(t) => o.extend_from_slice(&t.to_be_bytes()),
                Opt::Status(s) => {
                    o.extend_from_slice(&s.code.to_be_bytes());
                    o.extend_from_slice(&s.message);
                }
                Opt::RapidCommit => {}
                Opt::DnsServers(v) => v.iter().for_each(|a| o.extend_from_slice(&a.octets())),
            }
            Ok(())
        })
    }
}

/// The status among `opts` (none: success, RFC 8415 21.13).
pub fn status_of(opts: &[Opt]) -> (u16, &[u8]) {
    opts.iter()
        .find_map(|o| match o {
            Opt::Status(s) => Some((s.code, s.message.as_slice())),
            _ => None,
        })
        .unwrap_or((status::SUCCESS, &[]))
}

impl Message {
    /// A message of `msg_type` with transaction id `xid` (its low 24 bits) and no options.
    pub fn new(msg_type: u8, xid: u32) -> Message {
        Message { msg_type, xid: xid & 0xff_ffff, options: Vec::new() }
    }

    /// Parses a client/server message (RFC 8415 8).
    pub fn parse(buf: &[u8]) -> Result<Message, Dhcpv6Error> {
        let mut r = Reader::new(buf);
        let msg_type = r.u8("msg-type")?;
        if !(1..=11).contains(&msg_type) {
            return Err(Dhcpv6Error::NotClientServer(msg_type));
        }
        let x = r.array::<3>("transaction-id")?;
        let xid = u32::from_be_bytes([0, x[0], x[1], x[2]]);
        let options = parse_options(buf, 4, buf.len(), 1)?;
        Ok(Message { msg_type, xid, options })
    }

    /// The wire bytes.
    pub fn encode(&self) -> Result<Vec<u8>, TooLong> {
        let mut out = vec![self.msg_type];
        out.extend_from_slice(&self.xid.to_be_bytes()[1..]);
        put_options(&mut out, &self.options)?;
        Ok(out)
    }

    pub fn client_id(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| if let Opt::ClientId(d) = o { Some(d.as_slice()) } else { None })
    }

    pub fn server_id(&self) -> Option<&[u8]> {
        self.options.iter().find_map(|o| if let Opt::ServerId(d) = o { Some(d.as_slice()) } else { None })
    }

    /// The preference (RFC 8415 21.8; none: 0).
    pub fn preference(&self) -> u8 {
        self.options.iter().find_map(|o| if let Opt::Preference(p) = o { Some(*p) } else { None }).unwrap_or(0)
    }

    /// The message-level status.
    pub fn status(&self) -> (u16, &[u8]) {
        status_of(&self.options)
    }

    /// The IA_PD with `iaid`.
    pub fn ia_pd(&self, iaid: u32) -> Option<&Ia> {
        self.options.iter().find_map(|o| if let Opt::IaPd(ia) = o { (ia.iaid == iaid).then_some(ia) } else { None })
    }

    /// The IA_NA with `iaid`.
    pub fn ia_na(&self, iaid: u32) -> Option<&Ia> {
        self.options.iter().find_map(|o| if let Opt::IaNa(ia) = o { (ia.iaid == iaid).then_some(ia) } else { None })
    }

    /// The DNS servers (option 23), all of them in order.
    pub fn dns_servers(&self) -> Vec<Ipv6Addr> {
        self.options.iter().filter_map(|o| if let Opt::DnsServers(v) = o { Some(v.as_slice()) } else { None }).flatten().copied().collect()
    }

    /// The SNTP servers of option 31 (RFC 4075), if any; a length that is not a multiple
    /// of 16 leaves the rest out.
    pub fn sntp_servers(&self) -> Vec<Ipv6Addr> {
        let data = self.options.iter().filter_map(|o| match o {
            Opt::Other { code: code::SNTP_SERVERS, data } => Some(data.as_slice()),
            _ => None,
        });
        data.flat_map(|d| d.chunks_exact(16)).filter_map(|c| <[u8; 16]>::try_from(c).ok()).map(Ipv6Addr::from).collect()
    }
}

impl Ia {
    pub fn prefixes(&self) -> impl Iterator<Item = &IaPrefix> {
        self.options.iter().filter_map(|o| if let Opt::IaPrefix(p) = o { Some(p) } else { None })
    }

    pub fn addrs(&self) -> impl Iterator<Item = &IaAddr> {
        self.options.iter().filter_map(|o| if let Opt::IaAddr(a) = o { Some(a) } else { None })
    }

    pub fn status(&self) -> (u16, &[u8]) {
        status_of(&self.options)
    }
}

/// A DUID-LL (RFC 8415 11.4): type 3, hardware type 1 (Ethernet), the MAC address.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}
