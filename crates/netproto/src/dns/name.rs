//! Domain names: [`Name`] (uncompressed wire form, at most 255 bytes, labels at most 63),
//! reading with compression pointers (guarded against loops and over-long names) and
//! writing with optional compression.

use super::{DnsError, HEADER_LEN};
use crate::wire::Truncated;
use std::collections::HashMap;
use std::fmt;

/// Longest name in wire form, root label included (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// Compression pointers followed in one name. A real name has at most 127 labels, and a
/// pointer only makes sense before a label. (Pointers must also point backwards, so they
/// cannot loop; this bounds the work of a long backward chain.)
pub const MAX_POINTERS: usize = 127;

/// A domain name in uncompressed wire form: length-prefixed labels, then the root (0).
/// Equality is exact (case-sensitive, as DNS 0x20 needs); see [`Name::eq_ignore_case`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    wire: Vec<u8>,
}

/// Why text or labels are not a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Two dots in a row, or a leading dot (the root alone is "." or "").
    EmptyLabel,
    LabelTooLong {
        len: usize,
    },
    /// `len` bytes in wire form, over 255.
    NameTooLong {
        len: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::EmptyLabel => f.write_str("empty label"),
            NameError::LabelTooLong { len } => write!(f, "label of {len} bytes, at most 63"),
            NameError::NameTooLong { len } => write!(f, "name of {len} bytes in wire form, at most 255"),
        }
    }
}

impl std::error::Error for NameError {}

impl Name {
    /// The root name ".".
    pub fn root() -> Name {
        Name { wire: vec![0] }
    }

    /// From dotted text ("host.lan", "host.lan." and "." for the root). Labels are taken
    /// byte for byte: no escapes.
    pub fn from_ascii(s: &str) -> Result<Name, NameError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Ok(Name::root());
        }
        Name::from_labels(s.split('.').map(str::as_bytes))
    }

    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Name, NameError> {
        let mut wire = Vec::new();
        for l in labels {
            if l.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if l.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong { len: l.len() });
            }
            wire.push(l.len() as u8);
            wire.extend_from_slice(l);
            if wire.len() + 1 > MAX_NAME_LEN {
                return Err(NameError::NameTooLong { len: wire.len() + 1 });
            }
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// `label` prepended: `host` + `lan.` = `host.lan.`.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        Name::from_labels(std::iter::once(label).chain(self.labels()))
    }

    /// The uncompressed wire form, root label included.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels, leftmost first, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.wire }
    }

    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }

    pub fn to_lowercase(&self) -> Name {
        Name { wire: self.wire.to_ascii_lowercase() }
    }

    /// Whether `self` is `zone` or below it, ignoring case: `a.b.lan` is in `lan`.
    pub fn is_in(&self, zone: &Name) -> bool {
        // Try the suffix at each label boundary (length bytes are < 64: case folding
        // leaves them alone).
        let mut o = 0;
        while let Some(&len) = self.wire.get(o) {
            if self.wire[o..].eq_ignore_ascii_case(&zone.wire) {
                return true;
            }
            o += 1 + len as usize;
        }
        false
    }
}

/// Iterator over a [`Name`]'s labels.
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        if len == 0 {
            return None;
        }
        let (label, rest) = tail.split_at_checked(len as usize)?;
        self.rest = rest;
        Some(label)
    }
}

impl fmt::Display for Name {
    /// Dotted, without the trailing dot; the root is "."; bytes other than letters,
    /// digits, '-' and '_' are written `\DDD` (a dot in a label: `\046`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, l) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in l {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Walks the name at `msg[pos..]`, following compression pointers, calling `label` with
/// each label. Returns the offset just past the name's bytes at `pos` (after its first
/// pointer, or its root label) and the wire length of the whole name.
///
/// A pointer must point to a prior occurrence (RFC 1035 4.1.4): the name it points to
/// must lie wholly before the labels that end with the pointer, and past the 12-byte
/// header. Each jump then reads a region of the message that ends where the last one
/// began, so no loop is possible, and a name never reads bytes after itself (which
/// [`super::cache`] may rewrite or cut: TTLs, a trailing OPT record).
pub(crate) fn walk(msg: &[u8], pos: usize, mut label: impl FnMut(&[u8])) -> Result<(usize, usize), DnsError> {
    let mut p = pos;
    let mut chunk_start = pos; // where the labels being read began
    let mut limit = msg.len(); // and where they must end
    let mut last_pointer = None; // (at, target) of the pointer that led here
    let mut end = None;
    let mut len = 1; // the root label
    let mut pointers = 0;
    // Bytes [at, at + need) must be in the current region.
    let check = |at: usize, need: usize, limit: usize, field, last_pointer: Option<(usize, usize)>| {
        if at + need <= limit {
            return Ok(());
        }
        Err(match last_pointer {
            Some((at, target)) => DnsError::PointerOverlap { at, target },
            None => Truncated { at, field, need, have: msg.len().saturating_sub(at) }.into(),
        })
    };
    loop {
        check(p, 1, limit, "name", last_pointer)?;
        let b = msg[p];
        match b >> 6 {
            0b00 if b == 0 => return Ok((end.unwrap_or(p + 1), len)),
            0b00 => {
                let l = b as usize;
                check(p + 1, l, limit, "label", last_pointer)?;
                len += 1 + l;
                if len > MAX_NAME_LEN {
                    return Err(DnsError::NameTooLong { at: pos });
                }
                label(&msg[p + 1..p + 1 + l]);
                p += 1 + l;
            }
            0b11 => {
                check(p, 2, limit, "compression pointer", last_pointer)?;
                let target = usize::from(b & 0x3f) << 8 | usize::from(msg[p + 1]);
                if target >= chunk_start {
                    return Err(DnsError::ForwardPointer { at: p, target });
                }
                if target < HEADER_LEN {
                    return Err(DnsError::PointerIntoHeader { at: p, target });
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DnsError::TooManyPointers { at: pos });
                }
                end.get_or_insert(p + 2);
                last_pointer = Some((p, target));
                limit = chunk_start;
                chunk_start = target;
                p = target;
            }
            _ => return Err(DnsError::BadLabelType { at: p, byte: b }),
        }
    }
}

/// The offset after the name's own bytes at `msg[pos..]` (its labels up to the root or
/// its first pointer), without following pointers: for walking a message already
/// validated by [`walk`].
pub(crate) fn skip(msg: &[u8], pos: usize) -> Result<usize, DnsError> {
    let mut p = pos;
    loop {
        let Some(&b) = msg.get(p) else {
            return Err(Truncated { at: p, field: "name", need: 1, have: 0 }.into());
        };
        match b >> 6 {
            0b00 if b == 0 => return Ok(p + 1),
            0b00 => p += 1 + b as usize,
            0b11 if p + 2 <= msg.len() => return Ok(p + 2),
            0b11 => return Err(Truncated { at: p, field: "compression pointer", need: 2, have: 1 }.into()),
            _ => return Err(DnsError::BadLabelType { at: p, byte: b }),
        }
    }
}

/// Reads the (possibly compressed) name at `msg[pos..]`; returns it and the offset after it.
pub(crate) fn read(msg: &[u8], pos: usize) -> Result<(Name, usize), DnsError> {
    let mut wire = Vec::with_capacity(32);
    let (end, _) = walk(msg, pos, |l| {
        wire.push(l.len() as u8);
        wire.extend_from_slice(l);
    })?;
    wire.push(0);
    Ok((Name { wire }, end))
}

/// Offsets of names already written to a message, to point back at (RFC 1035 4.1.4),
/// keyed by their uncompressed wire form. Matching is byte-exact, so a name's case
/// survives (DNS 0x20).
pub(crate) struct Compressor {
    enabled: bool,
    seen: HashMap<Vec<u8>, u16>,
}

/// Suffixes remembered per message: bounds the encoder's memory on big messages (each
/// key is at most 255 bytes).
const MAX_REMEMBERED: usize = 256;

impl Compressor {
    pub(crate) fn new(enabled: bool) -> Self {
        Compressor { enabled, seen: HashMap::new() }
    }

    pub(crate) fn write(&mut self, out: &mut Vec<u8>, name: &Name) {
        let w = &name.wire;
        let mut i = 0;
        while w[i] != 0 {
            if self.enabled {
                if let Some(&at) = self.seen.get(&w[i..]) {
                    out.extend_from_slice(&(0xc000 | at).to_be_bytes());
                    return;
                }
                if out.len() < 0x4000 && self.seen.len() < MAX_REMEMBERED {
                    self.seen.insert(w[i..].to_vec(), out.len() as u16);
                }
            }
            let l = w[i] as usize;
            out.extend_from_slice(&w[i..i + 1 + l]);
            i += 1 + l;
        }
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_limits() {
        let n = Name::from_ascii("www.Example.com.").unwrap();
        assert_eq!(n.wire(), b"\x03www\x07Example\x03com\x00");
        assert_eq!(n.to_string(), "www.Example.com");
        assert_eq!(Name::from_ascii("www.Example.com").unwrap(), n);
        assert!(n.eq_ignore_case(&Name::from_ascii("WWW.example.COM").unwrap()));
        assert_ne!(n, Name::from_ascii("WWW.example.COM").unwrap());
        assert_eq!(Name::from_ascii(".").unwrap(), Name::root());
        assert_eq!(Name::root().to_string(), ".");
        assert_eq!(Name::from_ascii("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(Name::from_ascii(&"a".repeat(64)), Err(NameError::LabelTooLong { len: 64 }));
        assert!(Name::from_ascii(&"a".repeat(63)).is_ok());
        // 4 labels of 63 = 256 bytes, + root = 257: too long; 3 of 63 + 1 of 61 = 255: fits.
        let long = [&"a".repeat(63)[..]; 4].join(".");
        assert_eq!(Name::from_ascii(&long), Err(NameError::NameTooLong { len: 257 }));
        let fits = format!("{}.{}", [&"a".repeat(63)[..]; 3].join("."), "b".repeat(61));
        assert_eq!(Name::from_ascii(&fits).unwrap().wire().len(), 255);
        assert_eq!(Name::from_labels([&b"a.b"[..], b"c d"]).unwrap().to_string(), "a\\046b.c\\032d");
    }

    #[test]
    fn zones() {
        let lan = Name::from_ascii("lan").unwrap();
        assert!(Name::from_ascii("pc.LAN").unwrap().is_in(&lan));
        assert!(lan.is_in(&lan));
        assert!(Name::from_ascii("pc.lan").unwrap().is_in(&Name::root()));
        assert!(!Name::from_ascii("pc.plan").unwrap().is_in(&lan), "not label-aligned");
        assert!(!Name::from_ascii("x\u{3}lan").unwrap().is_in(&lan), "a label that contains \\3lan");
        assert!(!lan.is_in(&Name::from_ascii("pc.lan").unwrap()));
        assert_eq!(lan.prepend(b"pc").unwrap().to_string(), "pc.lan");
    }

    /// `body` after a 12-byte header: `body[i]` is at offset 12 + i.
    fn msg(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn reads_pointers_and_rejects_loops() {
        use DnsError::{BadLabelType, ForwardPointer, NameTooLong, PointerIntoHeader, PointerOverlap, TooManyPointers};
        // "example.com" at 12, "www" + pointer to 12 at 25.
        let m = msg(b"\x07example\x03com\x00\x03www\xc0\x0c");
        let (n, end) = read(&m, 25).unwrap();
        assert_eq!((n.to_string().as_str(), end), ("www.example.com", 31));
        assert_eq!(read(&msg(b"\xc0\x0c"), 12), Err(ForwardPointer { at: 12, target: 12 }));
        assert_eq!(read(&msg(b"\x01a\xc0\x0c"), 12), Err(ForwardPointer { at: 14, target: 12 }));
        assert_eq!(read(&msg(b"\xc0\x11"), 12), Err(ForwardPointer { at: 12, target: 17 }));
        // 14 -> 12 is backwards, then the name at 12 points to 14 again: forward of 12.
        assert_eq!(read(&msg(b"\xc0\x0e\xc0\x0c"), 14), Err(ForwardPointer { at: 12, target: 14 }));
        assert_eq!(read(&msg(b"\xc0\x02"), 12), Err(PointerIntoHeader { at: 12, target: 2 }));
        // Backwards, but the 3-byte label at 12 runs over the pointer at 14 itself.
        assert_eq!(read(&msg(b"\x03x\xc0\x0c\x00"), 14), Err(PointerOverlap { at: 14, target: 12 }));
        // Backwards, and the name at 12 ends right where the pointing name starts: fine.
        assert_eq!(read(&msg(b"\x01x\x00\xc0\x0c"), 15).unwrap().0.to_string(), "x");
        // A backward chain: the root at 12, then pointers each to the one before.
        let mut chain = msg(b"\x00");
        for k in 0..=MAX_POINTERS as u16 {
            let target = if k == 0 { 12 } else { 11 + 2 * k };
            chain.extend_from_slice(&(0xc000 | target).to_be_bytes());
        }
        assert_eq!(read(&chain, chain.len() - 4).unwrap().0, Name::root(), "MAX_POINTERS is fine");
        let last = chain.len() - 2;
        assert_eq!(read(&chain, last), Err(TooManyPointers { at: last }));
        let mut long = Vec::new();
        for i in 0..128u8 {
            long.extend_from_slice(&[1, b'a' + i % 26]);
        }
        long.push(0);
        assert_eq!(read(&msg(&long), 12), Err(NameTooLong { at: 12 }));
        assert_eq!(read(&msg(b"\x41"), 12), Err(BadLabelType { at: 12, byte: 0x41 }));
        assert_eq!(read(&msg(b"\x03ab"), 12), Err(Truncated { at: 13, field: "label", need: 3, have: 2 }.into()));
        let short = Truncated { at: 12, field: "compression pointer", need: 2, have: 1 };
        assert_eq!(read(&msg(b"\xc0"), 12), Err(short.into()));
        assert_eq!(skip(&msg(b"\x01a\xc0\x0c\xff"), 12), Ok(16), "skip stops at the pointer");
        assert_eq!(skip(&msg(b"\x01a\x00"), 12), Ok(15));
        assert!(skip(&msg(b"\x05a"), 12).is_err());
    }

    #[test]
    fn compresses_exact_suffixes_only() {
        let mut out = vec![0u8; 12];
        let mut c = Compressor::new(true);
        c.write(&mut out, &Name::from_ascii("www.example.com").unwrap());
        c.write(&mut out, &Name::from_ascii("mail.example.com").unwrap());
        c.write(&mut out, &Name::from_ascii("mail.EXAMPLE.com").unwrap());
        assert_eq!(&out[29..], b"\x04mail\xc0\x10\x04mail\x07EXAMPLE\xc0\x18");
        assert_eq!(read(&out, 29).unwrap().0.to_string(), "mail.example.com");
        assert_eq!(read(&out, 36).unwrap().0.to_string(), "mail.EXAMPLE.com");
    }
}
