//! DNS (RFC 1035) for netd's forwarder: [`Message`] parse and encode, the forwarder's
//! local answers ([`answer`]), byte-level helpers for the cache ([`cache`]) and the
//! 2-byte length framing of DNS over TCP ([`tcp`]).
//!
//! Parsing follows compression pointers only to a prior occurrence (RFC 1035 4.1.4): a
//! name wholly before the one pointing to it, past the header, at most [`MAX_POINTERS`]
//! per name; a loop cannot pass that ([`DnsError::ForwardPointer`]). It rejects a name
//! over 255 bytes, a reserved label type (0x40, 0x80), a record whose data does not match
//! its type (A not 4 bytes, a name running past RDLENGTH, ...) and a message that would
//! decompress into more than [`MAX_NAME_BYTES`] of names. The section counts are not
//! trusted for allocation. Bytes after the last record are ignored.
//!
//! Encoding compresses names (byte-exact matches only, so the case of a DNS 0x20 query
//! survives) unless asked not to; [`Message::encode_truncated`] sets TC for UDP.

pub mod answer;
pub mod cache;
mod message;
mod name;
pub mod tcp;

pub use answer::{parse_reverse_name, reverse_name};
pub use message::{Edns, Header, Message, Question, RData, Record, Soa, HEADER_LEN, MAX_NAME_BYTES};
pub use name::{Labels, Name, NameError, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_POINTERS};

use crate::wire::Truncated;
use std::fmt;

/// UDP and TCP port of DNS.
pub const PORT: u16 = 53;
/// The UDP payload every client accepts without EDNS0.
pub const UDP_LEN: usize = 512;

/// Header flag bits ([`Header::flags`]).
pub mod flag {
    /// A response.
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated: retry over TCP.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Authentic data (DNSSEC).
    pub const AD: u16 = 0x0020;
    /// Checking disabled (DNSSEC).
    pub const CD: u16 = 0x0010;
}

/// Record types.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    /// EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
    pub const HTTPS: u16 = 65;
    /// QTYPE only.
    pub const ANY: u16 = 255;
}

/// Classes.
pub mod class {
    pub const IN: u16 = 1;
}

/// Response codes (the header's 4 bits).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
}

/// Why bytes are not a DNS message. Offsets are from the start of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    Truncated(Truncated),
    /// A label length byte starting with bits 01 or 10 (extended or reserved label types).
    BadLabelType {
        at: usize,
        byte: u8,
    },
    /// The name starting at `at` is over 255 bytes once decompressed.
    NameTooLong {
        at: usize,
    },
    /// A compression pointer at `at` to `target`, not before the labels it ends: pointers
    /// go to a prior occurrence (RFC 1035 4.1.4), which is also what makes loops impossible.
    ForwardPointer {
        at: usize,
        target: usize,
    },
    /// The name that the compression pointer at `at` points to (at `target`) runs into the
    /// name that points to it, or past the end: not a prior occurrence.
    PointerOverlap {
        at: usize,
        target: usize,
    },
    /// A compression pointer at `at` into the header (`target` < 12).
    PointerIntoHeader {
        at: usize,
        target: usize,
    },
    /// The name starting at `at` follows more than [`MAX_POINTERS`] pointers.
    TooManyPointers {
        at: usize,
    },
    /// RDATA at `at` of a length its type cannot have.
    BadRdataLength {
        at: usize,
        rtype: u16,
        len: usize,
        expected: &'static str,
    },
    /// A record's decoded data does not end where RDLENGTH says (a name or field runs
    /// past it, or bytes are left over).
    RdataOverrun {
        at: usize,
        rtype: u16,
    },
    /// Names decompress past [`MAX_NAME_BYTES`] (at the name at `at`).
    TooManyNameBytes {
        at: usize,
    },
}

impl From<Truncated> for DnsError {
    fn from(t: Truncated) -> Self {
        DnsError::Truncated(t)
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Truncated(t) => t.fmt(f),
            DnsError::BadLabelType { at, byte } => write!(f, "reserved label type 0x{byte:02x} at byte {at}"),
            DnsError::NameTooLong { at } => write!(f, "name at byte {at} is over 255 bytes"),
            DnsError::ForwardPointer { at, target } => {
                write!(f, "compression pointer at byte {at} points forward, to byte {target} (a loop, or past a prior name)")
            }
            DnsError::PointerOverlap { at, target } => {
                write!(f, "the name at byte {target}, which the compression pointer at byte {at} points to, runs into the name pointing to it")
            }
            DnsError::PointerIntoHeader { at, target } => {
                write!(f, "compression pointer at byte {at} points into the header, to byte {target}")
            }
            DnsError::TooManyPointers { at } => {
                write!(f, "name at byte {at} follows more than {MAX_POINTERS} compression pointers")
            }
            DnsError::BadRdataLength { at, rtype, len, expected } => {
                write!(f, "type {rtype} RDATA at byte {at} has {len} bytes, must be {expected}")
            }
            DnsError::RdataOverrun { at, rtype } => write!(f, "type {rtype} RDATA does not end at RDLENGTH (byte {at})"),
            DnsError::TooManyNameBytes { at } => {
                write!(f, "names decompress to over {MAX_NAME_BYTES} bytes (at the name at byte {at})")
            }
        }
    }
}

impl std::error::Error for DnsError {}

/// Why a [`Message`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Over 65535 entries in a section.
    TooManyEntries { count: usize },
    /// Over 65535 bytes of RDATA in a record.
    RdataTooLong { len: usize },
    /// Over 65535 bytes in all.
    TooLong { len: usize },
    /// [`RData::Raw`] with a type that has its own variant (A, AAAA, CNAME, NS, PTR, MX,
    /// SOA): parsing it back would give that variant, or fail.
    RawDecodedType { rtype: u16 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyEntries { count } => write!(f, "{count} entries in a section, at most 65535"),
            EncodeError::RdataTooLong { len } => write!(f, "RDATA of {len} bytes, at most 65535"),
            EncodeError::TooLong { len } => write!(f, "message of {len} bytes, at most 65535"),
            EncodeError::RawDecodedType { rtype } => write!(f, "raw RDATA for type {rtype}, which has its own variant"),
        }
    }
}

impl std::error::Error for EncodeError {}
