//! DNS messages (RFC 1035 4.1): header, questions, the three record sections; parsing
//! (compression pointers followed) and encoding (compression optional).

use super::name::{self, Compressor, Name};
use super::{class, flag, rtype, DnsError, EncodeError};
use crate::wire::Reader;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes of the header.
pub const HEADER_LEN: usize = 12;
/// Decompressed name bytes one message may parse into: caps the allocation a small
/// packet full of compression pointers can cause (each 2-byte pointer can stand for 255
/// bytes). Far above any answer a home forwarder sees; netd relays upstream answers as
/// bytes (see [`super::cache`]), without parsing them into a [`Message`].
pub const MAX_NAME_BYTES: usize = 64 * 1024;

/// ID and flags; the section counts are the lengths of [`Message`]'s vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    /// QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE: see [`flag`].
    pub flags: u16,
}

impl Header {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// 0 for a standard query.
    pub fn opcode(&self) -> u8 {
        (self.flags >> 11) as u8 & 0xf
    }

    /// The low 4 bits of the response code ([`super::rcode`]).
    pub fn rcode(&self) -> u8 {
        self.flags as u8 & 0xf
    }

    pub fn set_rcode(&mut self, rcode: u8) {
        self.flags = (self.flags & !0xf) | u16::from(rcode & 0xf);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// SOA data (RFC 1035 3.3.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub mname: Name,
    pub rname: Name,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// The TTL of negative answers (RFC 2308).
    pub minimum: u32,
}

/// Record data. The types whose data holds names that may be compressed (RFC 3597 4)
/// and that netd uses are decoded; everything else (TXT, SRV, OPT, HTTPS, ...) is kept
/// as the bytes received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name),
    Ns(Name),
    Ptr(Name),
    Mx {
        preference: u16,
        exchange: Name,
    },
    Soa(Box<Soa>),
    /// Any other type, its data as received. Cannot carry a type decoded above.
    Raw {
        rtype: u16,
        data: Vec<u8>,
    },
}

impl RData {
    pub fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => rtype::A,
            RData::Aaaa(_) => rtype::AAAA,
            RData::Cname(_) => rtype::CNAME,
            RData::Ns(_) => rtype::NS,
            RData::Ptr(_) => rtype::PTR,
            RData::Mx { .. } => rtype::MX,
            RData::Soa(_) => rtype::SOA,
            RData::Raw { rtype, .. } => *rtype,
        }
    }
}

fn decoded(t: u16) -> bool {
    matches!(t, rtype::A | rtype::AAAA | rtype::CNAME | rtype::NS | rtype::PTR | rtype::MX | rtype::SOA)
}

/// A resource record. For OPT (EDNS0), `class` is the UDP payload size and `ttl` the
/// extended RCODE, version and flags: see [`Edns`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

impl Record {
    /// An IN-class record.
    pub fn new(name: Name, ttl: u32, data: RData) -> Record {
        Record { name, class: class::IN, ttl, data }
    }

    pub fn rtype(&self) -> u16 {
        self.data.rtype()
    }

    /// An OPT pseudo-record advertising `udp_size`, version 0, no flags, no options.
    pub fn opt(udp_size: u16) -> Record {
        Record { name: Name::root(), class: udp_size, ttl: 0, data: RData::Raw { rtype: rtype::OPT, data: Vec::new() } }
    }
}

/// The EDNS0 OPT record's fields (RFC 6891 6.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    /// The high 8 bits of the 12-bit RCODE.
    pub ext_rcode: u8,
    pub version: u8,
    /// DO is 0x8000.
    pub flags: u16,
    /// The options, as received.
    pub options: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    /// The OPT record, if any, is here, kept as it came.
    pub additional: Vec<Record>,
}

/// Counts decompressed name bytes against [`MAX_NAME_BYTES`].
struct Parser<'a> {
    msg: &'a [u8],
    name_bytes: usize,
}

impl Parser<'_> {
    fn name(&mut self, pos: usize) -> Result<(Name, usize), DnsError> {
        let (n, end) = name::read(self.msg, pos)?;
        self.name_bytes += n.wire().len();
        if self.name_bytes > MAX_NAME_BYTES {
            return Err(DnsError::TooManyNameBytes { at: pos });
        }
        Ok((n, end))
    }

    /// A name inside rdata `[start, end)`: it must not run past `end`.
    fn rdata_name(&mut self, pos: usize, end: usize, t: u16) -> Result<(Name, usize), DnsError> {
        let (n, after) = self.name(pos)?;
        if after > end {
            return Err(DnsError::RdataOverrun { at: pos, rtype: t });
        }
        Ok((n, after))
    }

    fn record(&mut self, pos: usize) -> Result<(Record, usize), DnsError> {
        let (name, p) = self.name(pos)?;
        let mut r = Reader::at(self.msg, p);
        let t = r.u16("record type")?;
        let class = r.u16("record class")?;
        let ttl = r.u32("record TTL")?;
        let len = r.u16("RDLENGTH")? as usize;
        let start = r.pos();
        let bytes = r.take(len, "RDATA")?;
        let end = start + len;
        let fixed = |want: usize, expected: &'static str| {
            if len == want {
                Ok(())
            } else {
                Err(DnsError::BadRdataLength { at: start, rtype: t, len, expected })
            }
        };
        let data = match t {
            rtype::A => {
                fixed(4, "4 bytes")?;
                RData::A(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            }
            rtype::AAAA => {
                fixed(16, "16 bytes")?;
                let mut a = [0u8; 16];
                a.copy_from_slice(bytes);
                RData::Aaaa(Ipv6Addr::from(a))
            }
            rtype::CNAME | rtype::NS | rtype::PTR => {
                let (n, after) = self.rdata_name(start, end, t)?;
                self.exact(after, end, t)?;
                match t {
                    rtype::CNAME => RData::Cname(n),
                    rtype::NS => RData::Ns(n),
                    _ => RData::Ptr(n),
                }
            }
            rtype::MX => {
                if len < 3 {
                    return Err(DnsError::BadRdataLength { at: start, rtype: t, len, expected: "a preference and a name" });
                }
                let preference = u16::from_be_bytes([bytes[0], bytes[1]]);
                let (exchange, after) = self.rdata_name(start + 2, end, t)?;
                self.exact(after, end, t)?;
                RData::Mx { preference, exchange }
            }
            rtype::SOA => {
                let (mname, p) = self.rdata_name(start, end, t)?;
                let (rname, p) = self.rdata_name(p, end, t)?;
                let mut r = Reader::at(&self.msg[..end], p);
                let mut n = [0u32; 5];
                for v in &mut n {
                    *v = r.u32("SOA counters").map_err(|_| DnsError::RdataOverrun { at: p, rtype: t })?;
                }
                self.exact(r.pos(), end, t)?;
                let [serial, refresh, retry, expire, minimum] = n;
                RData::Soa(Box::new(Soa { mname, rname, serial, refresh, retry, expire, minimum }))
            }
            _ => RData::Raw { rtype: t, data: bytes.to_vec() },
        };
        Ok((Record { name, class, ttl, data }, end))
    }

    /// RDATA must end where its decoded fields do.
    fn exact(&self, after: usize, end: usize, t: u16) -> Result<(), DnsError> {
        if after == end {
            Ok(())
        } else {
            Err(DnsError::RdataOverrun { at: after, rtype: t })
        }
    }
}

impl Message {
    /// Parses a whole message. Bytes after the last record are ignored.
    pub fn parse(msg: &[u8]) -> Result<Message, DnsError> {
        let mut r = Reader::new(msg);
        let id = r.u16("ID")?;
        let flags = r.u16("flags")?;
        let mut counts = [0u16; 4];
        for (c, field) in counts.iter_mut().zip(["QDCOUNT", "ANCOUNT", "NSCOUNT", "ARCOUNT"]) {
            *c = r.u16(field)?;
        }
        let mut p = Parser { msg, name_bytes: 0 };
        let mut pos = HEADER_LEN;
        // No capacity from the counts: they are the sender's word, not the packet's size.
        let mut questions = Vec::new();
        for _ in 0..counts[0] {
            let (name, after) = p.name(pos)?;
            let mut r = Reader::at(msg, after);
            let qtype = r.u16("QTYPE")?;
            let qclass = r.u16("QCLASS")?;
            questions.push(Question { name, qtype, qclass });
            pos = r.pos();
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (section, &count) in sections.iter_mut().zip(&counts[1..]) {
            for _ in 0..count {
                let (rec, after) = p.record(pos)?;
                section.push(rec);
                pos = after;
            }
        }
        let [answers, authority, additional] = sections;
        Ok(Message { header: Header { id, flags }, questions, answers, authority, additional })
    }

    /// Encodes with name compression.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_with(true)
    }

    /// Encodes every name in full.
    pub fn encode_uncompressed(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_with(false)
    }

    /// Encodes (compressed) to at most `max_len` bytes for UDP (512, or the client's EDNS
    /// size): when the whole message does not fit, the header with TC set, the questions
    /// and the OPT record, so the client retries over TCP (RFC 2181 9, RFC 6891 7).
    pub fn encode_truncated(&self, max_len: usize) -> Result<Vec<u8>, EncodeError> {
        let full = self.encode()?;
        if full.len() <= max_len {
            return Ok(full);
        }
        let mut short = Message { header: self.header, questions: self.questions.clone(), ..Message::default() };
        short.header.set(flag::TC, true);
        short.additional.extend(self.additional.iter().filter(|r| r.rtype() == rtype::OPT).take(1).cloned());
        short.encode()
    }

    fn encode_with(&self, compress: bool) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.header.id.to_be_bytes());
        out.extend_from_slice(&self.header.flags.to_be_bytes());
        let lens = [self.questions.len(), self.answers.len(), self.authority.len(), self.additional.len()];
        for n in lens {
            let n = u16::try_from(n).map_err(|_| EncodeError::TooManyEntries { count: n })?;
            out.extend_from_slice(&n.to_be_bytes());
        }
        let mut c = Compressor::new(compress);
        for q in &self.questions {
            c.write(&mut out, &q.name);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in self.answers.iter().chain(&self.authority).chain(&self.additional) {
            write_record(&mut out, &mut c, r)?;
        }
        if out.len() > u16::MAX as usize {
            return Err(EncodeError::TooLong { len: out.len() });
        }
        Ok(out)
    }

    /// The EDNS0 fields of the first OPT record in the additional section.
    pub fn edns(&self) -> Option<Edns> {
        let r = self.additional.iter().find(|r| r.rtype() == rtype::OPT)?;
        let RData::Raw { data, .. } = &r.data else { return None };
        Some(Edns { udp_size: r.class, ext_rcode: (r.ttl >> 24) as u8, version: (r.ttl >> 16) as u8, flags: r.ttl as u16, options: data.clone() })
    }
}

fn write_record(out: &mut Vec<u8>, c: &mut Compressor, r: &Record) -> Result<(), EncodeError> {
    let t = r.rtype();
    if let RData::Raw { rtype, .. } = r.data {
        if decoded(rtype) {
            return Err(EncodeError::RawDecodedType { rtype });
        }
    }
    c.write(out, &r.name);
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&r.class.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &r.data {
        RData::A(a) => out.extend_from_slice(&a.octets()),
        RData::Aaaa(a) => out.extend_from_slice(&a.octets()),
        RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => c.write(out, n),
        RData::Mx { preference, exchange } => {
            out.extend_from_slice(&preference.to_be_bytes());
            c.write(out, exchange);
        }
        RData::Soa(s) => {
            c.write(out, &s.mname);
            c.write(out, &s.rname);
            for v in [s.serial, s.refresh, s.retry, s.expire, s.minimum] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        RData::Raw { data, .. } => out.extend_from_slice(data),
    }
    let len = out.len() - len_at - 2;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::RdataTooLong { len })?;
    out[len_at..len_at + 2].copy_from_slice(&len16.to_be_bytes());
    Ok(())
}
