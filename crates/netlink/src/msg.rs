//! Netlink messages: the 16-byte `struct nlmsghdr` (length, type, flags, sequence
//! number, port id; host byte order), the iterator over the messages of a datagram, and
//! [`Request`], a message being built (header, the family's fixed header, attributes).

use crate::attr::Attrs;
use crate::{align, NLMSG_HDRLEN, NLM_F_REQUEST};

/// `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// The whole message, header included, padding not.
    pub len: u32,
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    /// Sender's port id (0: the kernel; in replies, the requester's).
    pub pid: u32,
}

impl Header {
    /// The header at the start of `b`, if there are 16 bytes.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let b: &[u8; NLMSG_HDRLEN] = b.get(..NLMSG_HDRLEN)?.try_into().ok()?;
        Some(Header {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            msg_type: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    pub fn encode(&self) -> [u8; NLMSG_HDRLEN] {
        let mut b = [0u8; NLMSG_HDRLEN];
        b[0..4].copy_from_slice(&self.len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.msg_type.to_ne_bytes());
        b[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        b[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        b[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        b
    }
}

/// One message of a datagram: its header fields and payload (the fixed header of its
/// family, then attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// A message length that does not fit the datagram (under 16, or past its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength(pub u32);

/// Reads the message at the start of `buf` and advances past it (and its padding).
/// None at the end (fewer than 16 bytes left); a bad length empties `buf`.
pub fn next_message<'a>(buf: &mut &'a [u8]) -> Option<Result<Message<'a>, BadLength>> {
    let h = Header::parse(buf)?;
    let Some(payload) = buf.get(NLMSG_HDRLEN..h.len as usize) else {
        *buf = &[];
        return Some(Err(BadLength(h.len)));
    };
    *buf = buf.get(align(h.len as usize)..).unwrap_or(&[]);
    Some(Ok(Message { msg_type: h.msg_type, flags: h.flags, seq: h.seq, pid: h.pid, payload }))
}

/// The messages of a datagram; a length that does not fit ends the list (see
/// [`try_messages`] to see it).
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    try_messages(buf).map_while(Result::ok)
}

/// The messages of a datagram, a bad length as the last item.
pub fn try_messages(mut buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, BadLength>> {
    std::iter::from_fn(move || next_message(&mut buf))
}

/// A request being built: header, fixed part, attributes. The socket fills in length,
/// sequence number and port id when it sends it. `what` names it in errors
/// ("RTM_NEWLINK create bridge br-lan").
#[derive(Debug, Clone)]
pub struct Request {
    buf: Vec<u8>,
    what: String,
    nested_flag: bool,
    oversize: bool,
}

impl Request {
    /// `fixed` is the family's fixed header (ifinfomsg, rtmsg, genlmsghdr, ...);
    /// NLM_F_REQUEST is added to `flags`.
    pub fn new(msg_type: u16, flags: u16, fixed: &[u8]) -> Request {
        let h = Header { len: 0, msg_type, flags: flags | NLM_F_REQUEST, seq: 0, pid: 0 };
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&h.encode());
        buf.extend_from_slice(fixed);
        buf.resize(align(buf.len()), 0);
        Request { buf, what: String::new(), nested_flag: false, oversize: false }
    }

    /// Names the request for errors.
    pub fn describe(mut self, what: impl Into<String>) -> Request {
        self.what = what.into();
        self
    }

    /// Nested attributes get NLA_F_NESTED (generic netlink, nfnetlink).
    pub fn with_nested_flag(mut self) -> Request {
        self.nested_flag = true;
        self
    }

    /// What the request is, for errors: its description, or its type number.
    pub fn what(&self) -> String {
        if self.what.is_empty() {
            format!("netlink message type {}", self.msg_type())
        } else {
            self.what.clone()
        }
    }

    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// Adds `flags` (NLM_F_ACK, NLM_F_DUMP, ...).
    pub fn add_flags(&mut self, flags: u16) {
        let f = self.flags() | flags;
        self.buf[6..8].copy_from_slice(&f.to_ne_bytes());
    }

    /// Whether an attribute was too long to encode (the socket refuses to send it).
    pub fn is_oversize(&self) -> bool {
        self.oversize || u32::try_from(self.buf.len()).is_err()
    }

    /// The attribute writer, at the end of the message.
    pub fn attrs(&mut self) -> Attrs<'_> {
        Attrs::new(&mut self.buf, self.nested_flag, &mut self.oversize)
    }

    pub fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Request {
        self.attrs().bytes(kind, data);
        self
    }

    pub fn attr_u8(&mut self, kind: u16, v: u8) -> &mut Request {
        self.attrs().u8(kind, v);
        self
    }

    pub fn attr_u16(&mut self, kind: u16, v: u16) -> &mut Request {
        self.attrs().u16(kind, v);
        self
    }

    pub fn attr_u32(&mut self, kind: u16, v: u32) -> &mut Request {
        self.attrs().u32(kind, v);
        self
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(&mut self, kind: u16, s: &str) -> &mut Request {
        self.attrs().str(kind, s);
        self
    }

    /// A nested attribute whose value is what `inner` writes.
    pub fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Attrs)) -> &mut Request {
        self.attrs().nested(kind, inner);
        self
    }

    /// Opens a nested attribute; returns where its header is, for [`Request::end_nested`].
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        self.attrs().begin_nested(kind)
    }

    pub fn end_nested(&mut self, at: usize) {
        self.attrs().end_nested(at)
    }

    /// The message with length and sequence number filled in (port id 0: the kernel
    /// knows who sent it).
    pub fn finish(&mut self, seq: u32) -> &[u8] {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{attrs, str_of};
    use crate::NLM_F_ACK;

    #[test]
    fn header_round_trip_and_layout() {
        let h = Header { len: 0x20, msg_type: 16, flags: 0x405, seq: 7, pid: 0 };
        let b = h.encode();
        assert_eq!(&b[0..4], &0x20u32.to_ne_bytes());
        assert_eq!(&b[4..6], &16u16.to_ne_bytes());
        assert_eq!(&b[6..8], &0x405u16.to_ne_bytes());
        assert_eq!(Header::parse(&b), Some(h));
        assert_eq!(Header::parse(&b[..15]), None);
    }

    #[test]
    fn request_layout_is_aligned_with_lengths_filled_in() {
        let mut r = Request::new(16, crate::NLM_F_CREATE, &[0u8; 16]);
        r.attr_str(3, "br-lan");
        let at = r.begin_nested(18);
        r.attr_str(1, "bridge");
        r.end_nested(at);
        r.add_flags(NLM_F_ACK);
        let bytes = r.finish(9).to_vec();
        // Known layout: 16 header + 16 ifinfomsg + 12 IFLA_IFNAME + 4 + 12 IFLA_LINKINFO.
        assert_eq!(bytes.len(), 60);
        assert_eq!(&bytes[0..4], &60u32.to_ne_bytes());
        assert_eq!(&bytes[6..8], &(crate::NLM_F_REQUEST | crate::NLM_F_CREATE | NLM_F_ACK).to_ne_bytes());
        assert_eq!(&bytes[8..12], &9u32.to_ne_bytes());
        assert_eq!(&bytes[44..46], &16u16.to_ne_bytes());
        assert_eq!(&bytes[46..48], &18u16.to_ne_bytes());
        let msgs: Vec<_> = messages(&bytes).collect();
        assert_eq!(msgs.len(), 1);
        let a: Vec<_> = attrs(&msgs[0].payload[16..]).collect();
        assert_eq!(a.len(), 2);
        assert_eq!(str_of(a[0].value), "br-lan");
        assert_eq!(a[1].kind, 18);
        let inner: Vec<_> = attrs(a[1].value).collect();
        assert_eq!((inner[0].kind, str_of(inner[0].value)), (1, "bridge".to_string()));
    }

    #[test]
    fn lying_lengths_end_the_list_without_panicking() {
        assert_eq!(messages(&[255, 255, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).count(), 0);
        assert_eq!(messages(&[]).count(), 0);
        let mut short = Header { len: 15, ..Header::default() }.encode().to_vec();
        assert_eq!(try_messages(&short).collect::<Vec<_>>(), vec![Err(BadLength(15))]);
        short[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(try_messages(&short).collect::<Vec<_>>(), vec![Err(BadLength(u32::MAX))]);
        // Two messages, the second 1 byte short of its length.
        let mut two = Header { len: 17, ..Header::default() }.encode().to_vec();
        two.extend_from_slice(&[1, 0, 0, 0]);
        two.extend_from_slice(&Header { len: 20, ..Header::default() }.encode());
        two.extend_from_slice(&[0, 0, 0]);
        let got: Vec<_> = try_messages(&two).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].map(|m| m.payload), Ok(&[1u8][..]));
        assert_eq!(got[1], Err(BadLength(20)));
    }

    #[test]
    fn described_requests_name_themselves() {
        assert_eq!(Request::new(18, 0, &[]).what(), "netlink message type 18");
        assert_eq!(Request::new(18, 0, &[]).describe("dump links").what(), "dump links");
    }
}
