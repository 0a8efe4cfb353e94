//! nfnetlink for nf_tables, written by hand: netlink messages and attributes, the
//! transaction batch (NFNL_MSG_BATCH_BEGIN ... END, committed or aborted as a whole by
//! the kernel), and the socket that sends a batch and collects the kernel's acks.
//!
//! Numbers are from the kernel's uapi headers (linux/netlink.h, netfilter/nfnetlink.h,
//! netfilter/nf_tables.h, netfilter/nf_nat.h); they are ABI and never change.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// netlink.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLA_F_NESTED: u16 = 0x8000;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLMSGERR_ATTR_MSG: u16 = 1;

// nfnetlink.h
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;

/// nf_tables message types (NFT_MSG_*), without the subsystem byte.
pub mod msg {
    pub const NEWTABLE: u16 = 0;
    pub const DELTABLE: u16 = 2;
    pub const NEWCHAIN: u16 = 3;
    pub const NEWRULE: u16 = 6;
    pub const NEWSET: u16 = 9;
    pub const NEWSETELEM: u16 = 12;
}

/// Protocol families (NFPROTO_*).
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;

/// One netlink batch under construction: every message numbered, with a description of
/// what it does for error messages.
pub struct Batch {
    buf: Vec<u8>,
    seq: u32,
    /// (sequence number, what the message does) of every message that asks for an ack.
    pub acked: Vec<(u32, String)>,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        let mut b = Batch { buf: Vec::with_capacity(8192), seq: 0, acked: Vec::new() };
        b.control(NFNL_MSG_BATCH_BEGIN);
        b
    }

    fn control(&mut self, ty: u16) {
        let start = self.header(ty, NLM_F_REQUEST, 0);
        self.buf[start + NLMSG_HDRLEN + 2..start + NLMSG_HDRLEN + 4].copy_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
        self.close(start);
    }

    /// Writes nlmsghdr + nfgenmsg; returns where the message starts.
    fn header(&mut self, ty: u16, flags: u16, family: u8) -> usize {
        self.seq += 1;
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by close()
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        self.buf.extend_from_slice(&[family, 0, 0, 0]); // nfgenmsg: family, version 0, res_id
        start
    }

    fn close(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// Appends one nf_tables message (NLM_F_REQUEST and NLM_F_ACK added to `flags`),
    /// its attributes written by `attrs`.
    pub fn message(&mut self, ty: u16, flags: u16, family: u8, what: String, attrs: impl FnOnce(&mut Attrs)) {
        let start = self.header((NFNL_SUBSYS_NFTABLES << 8) | ty, flags | NLM_F_REQUEST | NLM_F_ACK, family);
        attrs(&mut Attrs(&mut self.buf));
        self.close(start);
        self.acked.push((self.seq, what));
    }

    /// The bytes to send, BATCH_END included.
    pub fn finish(mut self) -> (Vec<u8>, Vec<(u32, String)>) {
        self.control(NFNL_MSG_BATCH_END);
        (self.buf, self.acked)
    }
}

/// Attributes (type-length-value, 4-byte aligned) appended to a message.
pub struct Attrs<'a>(&'a mut Vec<u8>);

impl Attrs<'_> {
    pub fn bytes(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, ty: u16, s: &str) {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.bytes(ty, &data);
    }

    /// A big-endian u32 (netlink attributes of nf_tables are in network order).
    pub fn u32(&mut self, ty: u16, v: u32) {
        self.bytes(ty, &v.to_be_bytes());
    }

    pub fn u64(&mut self, ty: u16, v: u64) {
        self.bytes(ty, &v.to_be_bytes());
    }

    pub fn nested(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) {
        let start = self.0.len();
        self.0.extend_from_slice(&[0, 0]);
        self.0.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        inner(&mut Attrs(self.0));
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

/// The kernel refused a message of the batch (so it applied none of it).
#[derive(Debug)]
pub struct Refused {
    pub what: String,
    pub error: io::Error,
    /// The kernel's extended ack text, when it gave one.
    pub detail: Option<String>,
}

/// A NETLINK_NETFILTER socket.
pub struct Socket(OwnedFd);

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt_int(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a c_int of the size given.
    let ret = unsafe { libc::setsockopt(fd.as_raw_fd(), level, opt, (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as u32) };
    check(ret).map(drop)
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // SAFETY: plain syscall; the fd is owned right away.
        let fd = check(unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_NETFILTER) })?;
        // SAFETY: fd was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all-zero is "the kernel assigns the port id".
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: sa is a sockaddr_nl of the length given.
        check(unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_nl).cast(), std::mem::size_of::<libc::sockaddr_nl>() as u32) })?;
        // Acks without the request echoed; error text from the kernel. Both optional.
        let _ = setsockopt_int(&fd, libc::SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let _ = setsockopt_int(&fd, libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        // Never hang netd: the kernel answers a batch at once or not at all.
        let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
        // SAFETY: a timeval of the size given.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        })?;
        Ok(Socket(fd))
    }

    /// Sends a whole batch in one datagram (the kernel handles a batch only within one),
    /// growing the send buffer first when the batch is large (forwarded port ranges).
    fn send(&self, buf: &[u8]) -> io::Result<()> {
        if buf.len() > 64 * 1024 {
            let want = (buf.len() + 64 * 1024).min(i32::MAX as usize) as libc::c_int;
            // FORCE (CAP_NET_ADMIN, which netd has anyway) goes past net.core.wmem_max.
            if setsockopt_int(&self.0, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want).is_err() {
                setsockopt_int(&self.0, libc::SOL_SOCKET, libc::SO_SNDBUF, want)?;
            }
        }
        // SAFETY: sockaddr_nl zeroed = the kernel (port id 0).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buf and sa are valid for the lengths given.
        let sent = check(unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) as libc::c_int
        })?;
        if sent as usize != buf.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, format!("sent {sent} of {} bytes", buf.len())));
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Sends the batch and waits for the ack of every message. `Ok(Err(..))`: the kernel
    /// refused a message, and with it the whole transaction.
    pub fn transact(&self, batch: Batch) -> io::Result<Result<(), Refused>> {
        let (bytes, acked) = batch.finish();
        self.send(&bytes)?;
        let mut waiting: Vec<u32> = acked.iter().map(|(seq, _)| *seq).collect();
        let mut buf = vec![0u8; 64 * 1024];
        while !waiting.is_empty() {
            let n = self.recv(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed"));
            }
            for reply in Replies(&buf[..n]) {
                let (ty, flags, seq, payload) = reply?;
                match ty {
                    NLMSG_ERROR => {
                        let (errno, detail) = parse_error(flags, payload)?;
                        if errno == 0 {
                            waiting.retain(|s| *s != seq);
                        } else {
                            let what = acked.iter().find(|(s, _)| *s == seq).map_or_else(|| format!("message {seq} of the batch"), |(_, w)| w.clone());
                            return Ok(Err(Refused { what, error: io::Error::from_raw_os_error(-errno), detail }));
                        }
                    }
                    NLMSG_DONE => {}
                    _ => {} // nothing else is sent to us unasked
                }
            }
        }
        Ok(Ok(()))
    }
}

/// The messages of one datagram: (type, flags, seq, payload).
struct Replies<'a>(&'a [u8]);

impl<'a> Iterator for Replies<'a> {
    type Item = io::Result<(u16, u16, u32, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(self.0[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > self.0.len() {
            self.0 = &[];
            return Some(Err(io::Error::new(io::ErrorKind::InvalidData, format!("netlink reply with length {len}"))));
        }
        let ty = u16::from_ne_bytes([self.0[4], self.0[5]]);
        let flags = u16::from_ne_bytes([self.0[6], self.0[7]]);
        let seq = u32::from_ne_bytes(self.0[8..12].try_into().ok()?);
        let payload = &self.0[NLMSG_HDRLEN..len];
        let aligned = (len + 3) & !3;
        self.0 = self.0.get(aligned..).unwrap_or(&[]);
        Some(Ok((ty, flags, seq, payload)))
    }
}

/// NLMSG_ERROR: errno (0 = ack) and the extended-ack message, if any.
fn parse_error(flags: u16, payload: &[u8]) -> io::Result<(i32, Option<String>)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short netlink error message");
    let errno = i32::from_ne_bytes(payload.get(0..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    if flags & NLM_F_ACK_TLVS == 0 {
        return Ok((errno, None));
    }
    // The request's header (and its payload, unless capped), then TLVs.
    let req_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let l = payload.get(4..8).ok_or_else(bad)?;
        u32::from_ne_bytes(l.try_into().map_err(|_| bad())?) as usize
    };
    let mut tlvs = payload.get(4 + ((req_len + 3) & !3)..).unwrap_or(&[]);
    let mut detail = None;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let ty = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            break;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or(&[]);
            detail = Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok((errno, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_layout() {
        let mut b = Batch::new();
        b.message(msg::NEWTABLE, NLM_F_CREATE, NFPROTO_INET, "table".into(), |a| a.str(1, "oxwrt"));
        let (bytes, acked) = b.finish();
        assert_eq!(acked, vec![(2, "table".to_string())]);
        // BEGIN: 20 bytes, res_id = NFNL_SUBSYS_NFTABLES big-endian.
        assert_eq!(&bytes[0..4], &20u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &0x10u16.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[0, 0, 0, 10]);
        // NEWTABLE: header, nfgenmsg inet, "oxwrt\0" padded to 8.
        let m = &bytes[20..];
        assert_eq!(&m[0..4], &(16 + 4 + 4 + 8u32).to_ne_bytes());
        assert_eq!(&m[4..6], &0x0a00u16.to_ne_bytes());
        assert_eq!(&m[6..8], &(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE).to_ne_bytes());
        assert_eq!(m[16], NFPROTO_INET);
        assert_eq!(&m[20..22], &10u16.to_ne_bytes());
        assert_eq!(&m[24..32], b"oxwrt\0\0\0");
        // END.
        assert_eq!(&bytes[52..56], &20u32.to_ne_bytes());
        assert_eq!(&bytes[56..58], &0x11u16.to_ne_bytes());
        assert_eq!(bytes.len(), 72);
    }

    #[test]
    fn nested_attributes_carry_their_length_and_flag() {
        let mut v = Vec::new();
        Attrs(&mut v).nested(4, |a| {
            a.u32(1, 0x01020304);
            a.bytes(2, &[9]);
        });
        assert_eq!(v.len(), 4 + 8 + 8);
        assert_eq!(&v[0..2], &20u16.to_ne_bytes());
        assert_eq!(&v[2..4], &(4 | NLA_F_NESTED).to_ne_bytes());
        assert_eq!(&v[8..12], &[1, 2, 3, 4]);
        assert_eq!(&v[12..14], &5u16.to_ne_bytes(), "length without padding");
        assert_eq!(&v[16..20], &[9, 0, 0, 0]);
    }

    #[test]
    fn error_replies_give_errno_and_text() {
        // errno -22, capped request header, then NLMSGERR_ATTR_MSG "bad".
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        p.extend_from_slice(&[0u8; 16]);
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(b"bad\0");
        let (errno, detail) = parse_error(NLM_F_CAPPED | NLM_F_ACK_TLVS, &p).unwrap();
        assert_eq!((errno, detail.as_deref()), (-22, Some("bad")));
        assert_eq!(parse_error(0, &0i32.to_ne_bytes()).unwrap(), (0, None));
        assert!(parse_error(0, &[1, 2]).is_err());
    }
}
