//! Netlink attributes (`struct nlattr`: 2-byte length, 2-byte type, value, padding to 4
//! bytes): the iterator over a list, readers for their values, and [`Attrs`], the writer
//! (nesting with lengths filled in when the nest closes).
//!
//! Lengths count the 4-byte header and the value, not the padding; the type's top two
//! bits are flags ([`crate::NLA_F_NESTED`], [`crate::NLA_F_NET_BYTEORDER`]), which the
//! iterator strips from [`Attr::kind`] and keeps in [`Attr::nested`].

use crate::{align, NLA_F_NESTED, NLA_TYPE_MASK};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One attribute read from a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type without the flag bits.
    pub kind: u16,
    /// Whether NLA_F_NESTED was set (informational: older families nest without it).
    pub nested: bool,
    pub value: &'a [u8],
}

/// The attributes of `buf` (what follows a message's fixed header, or a nested
/// attribute's value). A length that is too short or runs past the end ends the list.
pub fn attrs(buf: &[u8]) -> AttrIter<'_> {
    AttrIter { rest: buf }
}

/// See [`attrs`]; [`AttrIter::rest`] says whether the list ended cleanly.
#[derive(Debug, Clone)]
pub struct AttrIter<'a> {
    rest: &'a [u8],
}

impl<'a> AttrIter<'a> {
    /// What is left unread: empty (or under 4 bytes of padding) after a well-formed list.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let buf = self.rest;
        let (len, ty) = match buf {
            [l0, l1, t0, t1, ..] => (u16::from_ne_bytes([*l0, *l1]) as usize, u16::from_ne_bytes([*t0, *t1])),
            _ => return None,
        };
        let Some(value) = buf.get(4..len) else {
            // len < 4 or past the end: stop here, leaving the bad bytes in `rest`.
            return None;
        };
        self.rest = buf.get(align(len)..).unwrap_or(&[]);
        Some(Attr { kind: ty & NLA_TYPE_MASK, nested: ty & NLA_F_NESTED != 0, value })
    }
}

/// The value of the first attribute of type `kind` in `buf`.
pub fn find(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(buf).find(|a| a.kind == kind).map(|a| a.value)
}

pub fn u8_of(v: &[u8]) -> Option<u8> {
    v.first().copied()
}

/// A host-order u16 (rtnetlink, generic netlink).
pub fn u16_of(v: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?))
}

/// A host-order u32.
pub fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// A big-endian u32 (nf_tables' attributes).
pub fn be32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// A string attribute up to its NUL (or the end), invalid UTF-8 replaced.
pub fn str_of(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// An address of 4 (IPv4) or 16 (IPv6) bytes; anything else is None.
pub fn ip_of(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}

/// Writes attributes at the end of a message buffer. Nested attributes get
/// [`crate::NLA_F_NESTED`] when the message asks for it ([`crate::Request::with_nested_flag`];
/// nfnetlink and generic netlink validate it, rtnetlink's old families do not and
/// iproute2 leaves it out there).
///
/// A value too long for the 16-bit length (over 65,531 bytes) is not written: the
/// message is marked oversize and the socket refuses to send it ([`crate::Error::TooLong`]),
/// so no attribute is ever silently cut.
pub struct Attrs<'a> {
    pub(crate) buf: &'a mut Vec<u8>,
    pub(crate) nested_flag: u16,
    pub(crate) oversize: &'a mut bool,
}

impl<'a> Attrs<'a> {
    /// A writer appending to `buf`, for callers that frame messages themselves.
    pub fn new(buf: &'a mut Vec<u8>, nested_flag: bool, oversize: &'a mut bool) -> Attrs<'a> {
        Attrs { buf, nested_flag: if nested_flag { NLA_F_NESTED } else { 0 }, oversize }
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    /// An attribute with `data` as its value.
    pub fn bytes(&mut self, kind: u16, data: &[u8]) {
        let Ok(len) = u16::try_from(4 + data.len()) else {
            *self.oversize = true;
            return;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A NUL-terminated string (names, kinds).
    pub fn str(&mut self, kind: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.bytes(kind, &v);
    }

    pub fn u8(&mut self, kind: u16, v: u8) {
        self.bytes(kind, &[v]);
    }

    /// Host byte order (rtnetlink, generic netlink).
    pub fn u16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_ne_bytes());
    }

    /// Host byte order.
    pub fn u32(&mut self, kind: u16, v: u32) {
        self.bytes(kind, &v.to_ne_bytes());
    }

    /// Big-endian (network order: nf_tables' attributes).
    pub fn be16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_be_bytes());
    }

    pub fn be32(&mut self, kind: u16, v: u32) {
        self.bytes(kind, &v.to_be_bytes());
    }

    pub fn be64(&mut self, kind: u16, v: u64) {
        self.bytes(kind, &v.to_be_bytes());
    }

    /// Appends bytes that are not an attribute, padded: a fixed header inside a nest
    /// (veth's peer is an ifinfomsg followed by attributes).
    pub fn fixed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.pad();
    }

    /// A nested attribute whose value is what `inner` writes.
    pub fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Attrs)) {
        let at = self.begin_nested(kind);
        inner(self);
        self.end_nested(at);
    }

    /// Opens a nested attribute; returns where its header is, for [`Attrs::end_nested`].
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(kind | self.nested_flag).to_ne_bytes());
        at
    }

    /// Closes the nest opened at `at`: writes its length (the values in it are aligned
    /// already, so it is a multiple of 4).
    pub fn end_nested(&mut self, at: usize) {
        let Some(len) = self.buf.len().checked_sub(at) else { return };
        match u16::try_from(len) {
            Ok(len) => {
                if let Some(h) = self.buf.get_mut(at..at + 2) {
                    h.copy_from_slice(&len.to_ne_bytes());
                }
            }
            Err(_) => *self.oversize = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(nested_flag: bool, f: impl FnOnce(&mut Attrs)) -> (Vec<u8>, bool) {
        let (mut v, mut over) = (Vec::new(), false);
        f(&mut Attrs::new(&mut v, nested_flag, &mut over));
        (v, over)
    }

    #[test]
    fn layout_matches_the_kernel() {
        // IFLA_IFNAME "br-lan": len 11 (4 + 7), type 3, value, padded to 12.
        let (v, _) = write(false, |a| {
            a.str(3, "br-lan");
        });
        let want = [&11u16.to_ne_bytes()[..], &3u16.to_ne_bytes(), b"br-lan\0\0"].concat();
        assert_eq!(v, want);
        assert_eq!(&v[0..2], &11u16.to_ne_bytes());
        let (v, _) = write(true, |a| {
            a.nested(4, |a| {
                a.be32(1, 0x01020304);
                a.u8(2, 9);
            });
        });
        assert_eq!(v.len(), 4 + 8 + 8);
        assert_eq!(&v[0..2], &20u16.to_ne_bytes());
        assert_eq!(&v[2..4], &(4 | NLA_F_NESTED).to_ne_bytes());
        assert_eq!(&v[8..12], &[1, 2, 3, 4]);
        assert_eq!(&v[12..14], &5u16.to_ne_bytes(), "length without padding");
        assert_eq!(&v[16..20], &[9, 0, 0, 0]);
        let (v, _) = write(false, |a| {
            a.nested(18, |_| {});
        });
        assert_eq!(v, [4u16.to_ne_bytes(), 18u16.to_ne_bytes()].concat(), "no flag for rtnetlink");
    }

    #[test]
    fn read_back_with_flags_stripped() {
        let (v, _) = write(true, |a| {
            a.nested(7, |a| {
                a.str(1, "eth0");
                a.u32(2, 1500);
            });
            a.u16(3, 0x1234);
        });
        let list: Vec<_> = attrs(&v).collect();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].kind, list[0].nested), (7, true));
        let inner: Vec<_> = attrs(list[0].value).collect();
        assert_eq!(str_of(inner[0].value), "eth0");
        assert_eq!(u32_of(inner[1].value), Some(1500));
        assert_eq!(u16_of(find(&v, 3).unwrap()), Some(0x1234));
        assert!(attrs(&v).rest().len() == v.len());
    }

    #[test]
    fn oversize_values_are_refused_not_cut() {
        let big = vec![0u8; 70_000];
        let (v, over) = write(false, |a| {
            a.bytes(1, &big);
        });
        assert!(over && v.is_empty());
        let (_, over) = write(false, |a| {
            a.nested(1, |a| {
                a.bytes(2, &big[..40_000]);
                a.bytes(3, &big[..40_000]);
            });
        });
        assert!(over);
    }

    #[test]
    fn lying_lengths_end_the_list() {
        assert_eq!(attrs(&[8, 0, 1, 0, 1]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(attrs(&[]).count(), 0);
        assert_eq!(attrs(&[4, 0, 1, 0, 255, 255]).count(), 1, "a good one, then a header fragment");
        let mut it = attrs(&[5, 0, 1, 0, 7, 0, 0, 0, 3, 0, 2, 0]);
        assert_eq!(it.next().map(|a| a.value), Some(&[7u8][..]));
        assert!(it.next().is_none());
        assert_eq!(it.rest(), &[3, 0, 2, 0]);
        assert_eq!(ip_of(&[1, 2, 3]), None);
        assert_eq!(u32_of(&[1, 2]), None);
        assert_eq!(str_of(&[b'a', 0, b'b']), "a");
    }
}
