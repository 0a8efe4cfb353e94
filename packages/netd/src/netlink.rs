//! A NETLINK_ROUTE socket and the netlink message format (`nlmsghdr`, the fixed headers of
//! links, addresses and routes, `rtattr` attributes), written by hand: see the size
//! measurements in lib.rs. [`crate::rtnl`] builds the typed requests on top.
//!
//! Every parser is bounds-checked: a short or lying length ends the message (or the
//! attribute list) instead of panicking.

use nix::sys::socket::{self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;

/// Multicast group of link changes (bit mask for `bind`, the old RTMGRP_LINK).
pub const RTMGRP_LINK: u32 = 1;

const NLMSG_HDRLEN: usize = 16;

/// Rounds up to the 4-byte alignment of netlink messages and attributes.
pub fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A request being built: header, fixed part, attributes (nested ones with
/// [`Request::begin_nested`] / [`Request::end_nested`]).
#[derive(Debug, Clone)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// `fixed` is the message type's fixed header (ifinfomsg, ifaddrmsg, rtmsg).
    pub fn new(msg_type: u16, flags: u16, fixed: &[u8]) -> Request {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(fixed);
        buf.resize(align(buf.len()), 0);
        Request { buf }
    }

    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    pub fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Request {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    pub fn attr_u32(&mut self, kind: u16, v: u32) -> &mut Request {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute (interface names, link kinds).
    pub fn attr_str(&mut self, kind: u16, s: &str) -> &mut Request {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v)
    }

    /// Starts a nested attribute; returns where its header is, for [`Request::end_nested`].
    pub fn begin_nested(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.attr(kind, &[]);
        at
    }

    pub fn end_nested(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// The message with its length and sequence number filled in.
    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// One message received: its type, flags, sequence number and payload (fixed header and
/// attributes).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages; a length that does not fit ends the list.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            buf = &[];
            return None;
        }
        let m = Message {
            msg_type: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().ok()?),
            payload: &buf[NLMSG_HDRLEN..len],
        };
        buf = &buf[align(len).min(buf.len())..];
        Some(m)
    })
}

/// The attributes of `buf` (after the fixed header): (type without the nested/byte-order
/// bits, value). A bad length ends the list.
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            buf = &[];
            return None;
        }
        let value = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((kind, value))
    })
}

pub fn attr_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// A string attribute without its NUL terminator.
pub fn attr_str(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// A kernel error for a request: errno and which request it answered.
#[derive(Debug)]
pub struct KernelError {
    pub errno: i32,
}

/// A NETLINK_ROUTE socket: requests with acknowledgement, dumps, and (when bound to
/// groups) change notifications.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Socket {
    /// A socket for requests (`groups` 0) or for notifications (e.g. [`RTMGRP_LINK`]).
    pub fn open(groups: u32) -> io::Result<Socket> {
        let flags = if groups != 0 { SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK } else { SockFlag::SOCK_CLOEXEC };
        let fd = socket::socket(AddressFamily::Netlink, SockType::Raw, flags, SockProtocol::NetlinkRoute)?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
        // Dumps of a router's few links, addresses and routes fit in a page each; 32 KiB
        // takes the largest message a kernel sends by default.
        Ok(Socket { fd, seq: std::process::id().wrapping_mul(7919), buf: vec![0; 32 * 1024] })
    }

    fn send(&mut self, req: &mut Request) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = req.finish(seq);
        socket::sendto(self.fd.as_raw_fd(), bytes, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
        Ok(seq)
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => return other.map_err(io::Error::from),
            }
        }
    }

    /// Sends a change request and waits for its acknowledgement; the kernel's refusal is
    /// an `io::Error` with its errno.
    pub fn request(&mut self, mut req: Request) -> io::Result<()> {
        let flags = u16::from_ne_bytes([req.buf[6], req.buf[7]]);
        req.buf[6..8].copy_from_slice(&(flags | NLM_F_ACK).to_ne_bytes());
        let seq = self.send(&mut req)?;
        loop {
            let n = self.recv()?;
            for m in messages(&self.buf[..n]) {
                if m.seq != seq || m.msg_type != NLMSG_ERROR {
                    continue;
                }
                let errno = m.payload.get(..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap_or([0; 4]))).unwrap_or(0);
                return if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-errno)) };
            }
        }
    }

    /// Sends a dump request and returns each answer's (type, payload).
    pub fn dump(&mut self, mut req: Request) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let flags = u16::from_ne_bytes([req.buf[6], req.buf[7]]);
        req.buf[6..8].copy_from_slice(&(flags | NLM_F_DUMP).to_ne_bytes());
        let seq = self.send(&mut req)?;
        let mut out = Vec::new();
        loop {
            let n = self.recv()?;
            for m in messages(&self.buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                match m.msg_type {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = attr_u32(m.payload).map(|e| e as i32).unwrap_or(0);
                        return Err(io::Error::from_raw_os_error(-errno));
                    }
                    t => out.push((t, m.payload.to_vec())),
                }
            }
        }
    }

    /// Notifications waiting on a group socket: (type, payload) of each, without blocking.
    pub fn drain(&mut self) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let mut out = Vec::new();
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend(messages(&self.buf[..n]).map(|m| (m.msg_type, m.payload.to_vec()))),
                Err(nix::errno::Errno::EAGAIN) => return Ok(out),
                Err(nix::errno::Errno::EINTR) => continue,
                // Overrun: notifications were lost; the caller re-reads the state anyway.
                Err(nix::errno::Errno::ENOBUFS) => return Ok(out),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_is_aligned_with_lengths_filled_in() {
        let mut r = Request::new(RTM_NEWLINK, NLM_F_CREATE, &[0u8; 16]);
        r.attr_str(3, "br-lan");
        let at = r.begin_nested(18);
        r.attr_str(1, "bridge");
        r.end_nested(at);
        let bytes = r.finish(9).to_vec();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 9);
        let msgs: Vec<_> = messages(&bytes).collect();
        assert_eq!(msgs.len(), 1);
        let a: Vec<_> = attrs(&msgs[0].payload[16..]).collect();
        assert_eq!(a.len(), 2);
        assert_eq!(attr_str(a[0].1), "br-lan");
        assert_eq!(a[1].0, 18);
        let inner: Vec<_> = attrs(a[1].1).collect();
        assert_eq!((inner[0].0, attr_str(inner[0].1)), (1, "bridge".to_string()));
    }

    #[test]
    fn lying_lengths_end_the_list_without_panicking() {
        assert_eq!(messages(&[255, 255, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).count(), 0);
        assert_eq!(attrs(&[8, 0, 1, 0, 1]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
        assert_eq!(messages(&[]).count(), 0);
    }
}
