//! DHCPv4 messages (RFC 2131 over the BOOTP layout of RFC 951): [`Message::parse`] and
//! [`Message::encode`].
//!
//! ```text
//!  0      op, htype, hlen, hops       4  xid          8  secs, flags
//! 12      ciaddr   16 yiaddr   20 siaddr   24 giaddr
//! 28      chaddr (16)   44 sname (64)   108 file (128)
//! 236     magic cookie 99.130.83.99   240 options ... END
//! ```
//!
//! Parsing accepts: bytes after END ignored (padding); a missing END at the end of an
//! overloaded `file` or `sname` area (never in the options field: that is how a packet
//! cut at an option boundary shows); option overload (52) with its areas read in RFC 2131
//! order (options, file, sname); a code repeated anywhere concatenated (RFC 3396). It
//! rejects, with the reason: a packet shorter than its fields, op not 1 or 2, a hardware
//! address length over 16 (or not 6 for Ethernet), a wrong magic cookie, an option whose
//! length runs past its area, no END in the options field, overload inside an overloaded
//! area, and a known option whose length (or value) is impossible.
//! Every allocation is bounded by the packet's size.
//!
//! Encoding writes fields and options in order, splits values over 255 bytes (RFC 3396),
//! ends with END and pads to the 300 bytes of a BOOTP message (RFC 1542: some relays and
//! clients drop shorter ones). It never overloads: a reply must fit
//! [`Message::max_reply_len`] of its request, which the caller checks.

mod options;

pub use options::{code, MessageType, Options};

use crate::wire::{Reader, Truncated};
use std::fmt;
use std::net::Ipv4Addr;

/// UDP port of DHCP servers.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;
/// 99.130.83.99, at byte 236.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// `flags`: the client cannot receive unicast before it is configured.
pub const FLAG_BROADCAST: u16 = 0x8000;
/// Hardware type of Ethernet (`htype`).
pub const HTYPE_ETHERNET: u8 = 1;
/// Bytes before the options.
pub const HEADER_LEN: usize = 240;
/// Encoded messages are padded to this length (RFC 1542, BOOTP's minimum).
pub const MIN_LEN: usize = 300;

const SNAME_AT: usize = 44;
const FILE_AT: usize = 108;
const SNAME_LEN: usize = 64;
const FILE_LEN: usize = 128;

/// `op`: who sent the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// BOOTREQUEST (1): client to server.
    Request,
    /// BOOTREPLY (2): server to client.
    Reply,
}

/// A client hardware address: `hlen` bytes of `chaddr`, at most 16.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HwAddr {
    len: u8,
    bytes: [u8; 16],
}

impl HwAddr {
    pub fn ethernet(mac: [u8; 6]) -> HwAddr {
        let mut bytes = [0; 16];
        bytes[..6].copy_from_slice(&mac);
        HwAddr { len: 6, bytes }
    }

    /// None when longer than 16 bytes.
    pub fn new(addr: &[u8]) -> Option<HwAddr> {
        let mut bytes = [0; 16];
        bytes.get_mut(..addr.len())?.copy_from_slice(addr);
        Some(HwAddr { len: addr.len() as u8, bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Display for HwAddr {
    /// `aa:bb:cc:dd:ee:ff`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.as_bytes().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HwAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HwAddr({self})")
    }
}

/// A DHCP message. `sname` and `file` hold the text before their first NUL (empty when
/// the field carried overloaded options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub op: Op,
    pub htype: u8,
    pub hops: u8,
    pub xid: u32,
    pub secs: u16,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub chaddr: HwAddr,
    pub sname: Vec<u8>,
    pub file: Vec<u8>,
    pub options: Options,
}

/// Why a packet is not a DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpError {
    Truncated(Truncated),
    /// `op` is neither 1 (request) nor 2 (reply).
    BadOp(u8),
    /// `hlen` over 16, or not 6 for Ethernet.
    BadHlen {
        htype: u8,
        hlen: u8,
    },
    BadMagicCookie([u8; 4]),
    /// The option at byte `at` claims `len` bytes but its area has `left`.
    OptionPastEnd {
        at: usize,
        code: u8,
        len: u8,
        left: usize,
    },
    /// A known option whose length or value is impossible (`expected` says what it must be).
    BadOption {
        code: u8,
        len: usize,
        expected: &'static str,
    },
    /// Option 52 inside the `file` or `sname` area it overloads.
    NestedOverload {
        at: usize,
    },
    /// The options field has no END: the packet (`len` bytes) was likely cut short.
    MissingEnd {
        len: usize,
    },
}

impl From<Truncated> for DhcpError {
    fn from(t: Truncated) -> Self {
        DhcpError::Truncated(t)
    }
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhcpError::Truncated(t) => t.fmt(f),
            DhcpError::BadOp(op) => write!(f, "op is {op}, not 1 (request) or 2 (reply)"),
            DhcpError::BadHlen { htype, hlen } if *htype == HTYPE_ETHERNET => {
                write!(f, "hardware address length {hlen} for Ethernet, not 6")
            }
            DhcpError::BadHlen { htype, hlen } => write!(f, "hardware address length {hlen} (type {htype}) is over 16"),
            DhcpError::BadMagicCookie(c) => {
                write!(f, "bad magic cookie {}.{}.{}.{} at byte 236 (not 99.130.83.99)", c[0], c[1], c[2], c[3])
            }
            DhcpError::OptionPastEnd { at, code, len, left } => {
                write!(f, "option {code} at byte {at} has length {len}, past the end of its area ({left} bytes left)")
            }
            DhcpError::BadOption { code, len, expected } => write!(f, "option {code} has {len} bytes, must be {expected}"),
            DhcpError::NestedOverload { at } => write!(f, "option overload (52) at byte {at}, inside an overloaded area"),
            DhcpError::MissingEnd { len } => write!(f, "no END option (255) in the options field ({len} bytes in all): cut short?"),
        }
    }
}

impl std::error::Error for DhcpError {}

/// Why a [`Message`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// `sname` over 64 bytes or `file` over 128 (room for the NUL is not required).
    FieldTooLong { field: &'static str, len: usize, max: usize },
    /// A NUL inside `sname` or `file` would end it early.
    NulInField { field: &'static str },
    /// Ethernet (`htype` 1) with a `chaddr` that is not 6 bytes long.
    BadHlen { htype: u8, hlen: u8 },
    /// A value [`Message::parse`] would reject: see [`DhcpError::BadOption`]. Pad (0), end
    /// (255) and overload (52) cannot be set.
    BadOption { code: u8, len: usize, expected: &'static str },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong { field, len, max } => write!(f, "{field} is {len} bytes, at most {max}"),
            EncodeError::NulInField { field } => write!(f, "{field} contains a NUL byte"),
            EncodeError::BadHlen { htype, hlen } => write!(f, "hardware address length {hlen} for Ethernet (type {htype}), not 6"),
            EncodeError::BadOption { code, len, expected } => write!(f, "option {code} has {len} bytes, must be {expected}"),
        }
    }
}

impl std::error::Error for EncodeError {}

fn ip(r: &mut Reader<'_>, field: &'static str) -> Result<Ipv4Addr, Truncated> {
    Ok(Ipv4Addr::from(r.array::<4>(field)?))
}

/// The text of a fixed NUL-padded field.
fn text(field: &[u8]) -> Vec<u8> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..end].to_vec()
}

impl Message {
    /// A client's message (op request, Ethernet), with option 53 set. The caller adds
    /// the options (requested IP, server id, parameter request list, ...).
    pub fn request(msg_type: MessageType, xid: u32, mac: [u8; 6]) -> Message {
        let mut options = Options::new();
        options.set_message_type(msg_type);
        Message {
            op: Op::Request,
            htype: HTYPE_ETHERNET,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: HwAddr::ethernet(mac),
            sname: Vec::new(),
            file: Vec::new(),
            options,
        }
    }

    /// A server's reply to `self` (RFC 2131 table 3): xid, flags, giaddr, htype and chaddr
    /// copied, option 53 set, the rest zero. The caller sets yiaddr (and ciaddr for an ACK
    /// to an INFORM or renewal) and the options (server id, lease time, ...).
    pub fn reply(&self, msg_type: MessageType) -> Message {
        let mut options = Options::new();
        options.set_message_type(msg_type);
        Message {
            op: Op::Reply,
            htype: self.htype,
            hops: 0,
            xid: self.xid,
            secs: 0,
            flags: self.flags,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: self.giaddr,
            chaddr: self.chaddr,
            sname: Vec::new(),
            file: Vec::new(),
            options,
        }
    }

    /// Option 53; None for a plain BOOTP message.
    pub fn message_type(&self) -> Option<MessageType> {
        self.options.message_type()
    }

    /// The longest reply the sender of `self` accepts, in bytes of DHCP message: its
    /// option 57 (which counts the IP and UDP headers, 28 bytes) or, without it, the 576
    /// bytes every client takes (RFC 2131 2): 548.
    pub fn max_reply_len(&self) -> usize {
        usize::from(self.options.max_message_size().unwrap_or(576)).saturating_sub(28)
    }

    /// The broadcast bit of `flags`.
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    pub fn parse(buf: &[u8]) -> Result<Message, DhcpError> {
        let mut r = Reader::new(buf);
        let op = match r.u8("op")? {
            1 => Op::Request,
            2 => Op::Reply,
            n => return Err(DhcpError::BadOp(n)),
        };
        let htype = r.u8("htype")?;
        let hlen = r.u8("hlen")?;
        if hlen > 16 || (htype == HTYPE_ETHERNET && hlen != 6) {
            return Err(DhcpError::BadHlen { htype, hlen });
        }
        let hops = r.u8("hops")?;
        let xid = r.u32("xid")?;
        let secs = r.u16("secs")?;
        let flags = r.u16("flags")?;
        let ciaddr = ip(&mut r, "ciaddr")?;
        let yiaddr = ip(&mut r, "yiaddr")?;
        let siaddr = ip(&mut r, "siaddr")?;
        let giaddr = ip(&mut r, "giaddr")?;
        let chaddr_field = r.take(16, "chaddr")?;
        let chaddr = HwAddr::new(&chaddr_field[..hlen as usize]).ok_or(DhcpError::BadHlen { htype, hlen })?;
        let sname_field = r.take(SNAME_LEN, "sname")?;
        let file_field = r.take(FILE_LEN, "file")?;
        let cookie = r.array::<4>("magic cookie")?;
        if cookie != MAGIC_COOKIE {
            return Err(DhcpError::BadMagicCookie(cookie));
        }
        let mut options = Options::new();
        if !options.read_area(buf, HEADER_LEN, buf.len(), true)? {
            return Err(DhcpError::MissingEnd { len: buf.len() });
        }
        let overload = match options.take_overload() {
            None => 0,
            Some(v) => {
                let bad = |expected| DhcpError::BadOption { code: code::OVERLOAD, len: v.len(), expected };
                options::check(code::OVERLOAD, &v).map_err(bad)?;
                v[0]
            }
        };
        let (mut sname, mut file) = (text(sname_field), text(file_field));
        if overload & 1 != 0 {
            options.read_area(buf, FILE_AT, FILE_AT + FILE_LEN, false)?;
            file.clear();
        }
        if overload & 2 != 0 {
            options.read_area(buf, SNAME_AT, SNAME_AT + SNAME_LEN, false)?;
            sname.clear();
        }
        options.validate()?;
        Ok(Message { op, htype, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options })
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        for (field, v, max) in [("sname", &self.sname, SNAME_LEN), ("file", &self.file, FILE_LEN)] {
            if v.len() > max {
                return Err(EncodeError::FieldTooLong { field, len: v.len(), max });
            }
            if v.contains(&0) {
                return Err(EncodeError::NulInField { field });
            }
        }
        if self.htype == HTYPE_ETHERNET && self.chaddr.len != 6 {
            return Err(EncodeError::BadHlen { htype: self.htype, hlen: self.chaddr.len });
        }
        for (c, v) in self.options.iter() {
            if c == code::OVERLOAD {
                return Err(EncodeError::BadOption { code: c, len: v.len(), expected: "not set (the encoder never overloads)" });
            }
            options::check(c, v).map_err(|expected| EncodeError::BadOption { code: c, len: v.len(), expected })?;
        }
        let mut out = Vec::with_capacity(MIN_LEN.max(HEADER_LEN + 64));
        out.push(match self.op {
            Op::Request => 1,
            Op::Reply => 2,
        });
        out.extend_from_slice(&[self.htype, self.chaddr.len, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr.bytes);
        for (v, len) in [(&self.sname, SNAME_LEN), (&self.file, FILE_LEN)] {
            out.extend_from_slice(v);
            out.resize(out.len() + len - v.len(), 0);
        }
        out.extend_from_slice(&MAGIC_COOKIE);
        self.options.write(&mut out);
        if out.len() < MIN_LEN {
            out.resize(MIN_LEN, 0);
        }
        Ok(out)
    }
}
