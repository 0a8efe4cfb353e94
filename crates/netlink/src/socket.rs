//! An `AF_NETLINK` socket (the crate's only `unsafe`: libc calls, each with its SAFETY
//! note). Requests are numbered from a per-socket sequence; replies are read into one
//! bounded buffer (32 KiB by default: the kernel caps a dump's datagrams at 32 KiB when
//! the reader offers that much) with `MSG_TRUNC`, so a reply that did not fit is an error
//! and never half-parsed; datagrams whose sender is not the kernel (port id 0) are
//! dropped unread.
//!
//! Blocking by default, with an optional receive timeout; a socket bound to multicast
//! groups for notifications is made nonblocking and read with [`Socket::drain`] from a
//! poll loop ([`AsFd`]/[`AsRawFd`]).

use crate::error::Error;
use crate::msg::Request;
use crate::reply::{Exchange, Progress};
use crate::{NLM_F_ACK, NLM_F_DUMP};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The (type, payload) of each message of a reply or a dump.
pub type Parts = Vec<(u16, Vec<u8>)>;

/// The receive buffer of [`Socket::open`].
pub const DEFAULT_BUFFER: usize = 32 * 1024;

/// Socket options of SOL_NETLINK (linux/netlink.h).
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// How many times a dump interrupted by changes (NLM_F_DUMP_INTR) is tried.
const DUMP_TRIES: usize = 3;

/// A netlink socket of one protocol ([`crate::NETLINK_ROUTE`], ...).
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    port: u32,
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

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn sockaddr(groups: u32) -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid (port 0: the kernel, or
    // "assign one" for bind).
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = groups;
    sa
}

const SOCKADDR_NL_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;

impl Socket {
    /// A socket of `protocol`, bound to the multicast `groups` (a bit mask, 0: none; a
    /// socket with groups is nonblocking), with a [`DEFAULT_BUFFER`] receive buffer.
    pub fn open(protocol: i32, groups: u32) -> Result<Socket, Error> {
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if groups != 0 {
            ty |= libc::SOCK_NONBLOCK;
        }
        // SAFETY: plain syscall; the fd is owned right away.
        let fd = check(unsafe { libc::socket(libc::AF_NETLINK, ty, protocol) }).map_err(Error::io("socket"))?;
        // SAFETY: fd was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sa = sockaddr(groups);
        // SAFETY: sa is a sockaddr_nl of the length given.
        check(unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_nl).cast(), SOCKADDR_NL_LEN) }).map_err(Error::io("bind"))?;
        let mut bound = sockaddr(0);
        let mut len = SOCKADDR_NL_LEN;
        // SAFETY: bound and len are valid for writing a sockaddr_nl.
        check(unsafe { libc::getsockname(fd.as_raw_fd(), (&mut bound as *mut libc::sockaddr_nl).cast(), &mut len) }).map_err(Error::io("getsockname"))?;
        let seq = std::process::id().wrapping_mul(7919) ^ bound.nl_pid.rotate_left(16);
        Ok(Socket { fd, seq, port: bound.nl_pid, buf: vec![0; DEFAULT_BUFFER] })
    }

    /// Changes the receive buffer (the largest datagram read whole).
    pub fn set_buffer_size(&mut self, bytes: usize) {
        self.buf = vec![0; bytes.max(4096)];
    }

    /// The port id the kernel assigned (the `nlmsg_pid` of replies to us).
    pub fn port_id(&self) -> u32 {
        self.port
    }

    fn setsockopt<T>(&self, level: libc::c_int, opt: libc::c_int, v: &T) -> io::Result<()> {
        // SAFETY: v points to a T of the size given.
        let ret = unsafe { libc::setsockopt(self.fd.as_raw_fd(), level, opt, (v as *const T).cast(), std::mem::size_of::<T>() as libc::socklen_t) };
        check(ret).map(drop)
    }

    pub fn set_nonblocking(&self, on: bool) -> Result<(), Error> {
        // SAFETY: fcntl on an fd we own.
        let flags = check(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_GETFL) }).map_err(Error::io("fcntl"))?;
        let flags = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        // SAFETY: as above.
        check(unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_SETFL, flags) }).map_err(Error::io("fcntl")).map(drop)
    }

    /// How long a blocking receive waits (None: for ever); a timeout is an
    /// [`Error::Io`] of kind WouldBlock.
    pub fn set_recv_timeout(&self, t: Option<Duration>) -> Result<(), Error> {
        let t = t.unwrap_or_default();
        let tv = libc::timeval { tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t, tv_usec: t.subsec_micros() as libc::suseconds_t };
        self.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv).map_err(Error::io("setsockopt SO_RCVTIMEO"))
    }

    /// Asks for acks without the request echoed (NETLINK_CAP_ACK) and with the kernel's
    /// error text (NETLINK_EXT_ACK). Both are optional (older kernels); returns whether
    /// both took.
    pub fn set_ext_ack(&self) -> bool {
        let cap = self.setsockopt(libc::SOL_NETLINK, NETLINK_CAP_ACK, &1 as &libc::c_int).is_ok();
        let ext = self.setsockopt(libc::SOL_NETLINK, NETLINK_EXT_ACK, &1 as &libc::c_int).is_ok();
        cap && ext
    }

    /// Joins a multicast group by number (generic netlink's groups have numbers above 31).
    pub fn add_membership(&self, group: u32) -> Result<(), Error> {
        self.setsockopt(libc::SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group).map_err(Error::io("setsockopt NETLINK_ADD_MEMBERSHIP"))
    }

    /// The sequence number of the next message.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Reserves `n` consecutive sequence numbers; returns the first.
    pub(crate) fn reserve_seqs(&mut self, n: u32) -> u32 {
        if self.seq.checked_add(n).is_none() {
            self.seq = 0; // keep the range from wrapping
        }
        let first = self.seq.wrapping_add(1);
        self.seq = self.seq.wrapping_add(n);
        first
    }

    /// Sends `req` with the next sequence number; returns it.
    pub fn send(&mut self, req: &mut Request) -> Result<u32, Error> {
        if req.is_oversize() {
            return Err(Error::TooLong { what: req.what() });
        }
        let seq = self.next_seq();
        self.send_bytes(req.finish(seq))?;
        Ok(seq)
    }

    /// The sequence number of the last message sent.
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Sends one datagram to the kernel, growing the send buffer first when it is over
    /// 64 KiB (a large nfnetlink batch: the kernel takes a batch only within one datagram).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        self.send_to(0, bytes)
    }

    /// Sends one datagram to the socket with port id `port` (0: the kernel).
    pub fn send_to(&self, port: u32, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() > 64 * 1024 {
            let want = (bytes.len() + 64 * 1024).min(i32::MAX as usize) as libc::c_int;
            // FORCE (CAP_NET_ADMIN) goes past net.core.wmem_max.
            if self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &want).is_err() {
                self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &want).map_err(Error::io("setsockopt SO_SNDBUF"))?;
            }
        }
        let mut sa = sockaddr(0);
        sa.nl_pid = port;
        loop {
            // SAFETY: bytes and sa are valid for the lengths given.
            let sent =
                unsafe { libc::sendto(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0, (&sa as *const libc::sockaddr_nl).cast(), SOCKADDR_NL_LEN) };
            if sent < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Io { op: "send", error: e });
            }
            if sent as usize != bytes.len() {
                return Err(Error::Io { op: "send", error: io::Error::new(io::ErrorKind::WriteZero, format!("sent {sent} of {} bytes", bytes.len())) });
            }
            return Ok(());
        }
    }

    /// Receives the next datagram from the kernel into the buffer; returns its real
    /// length (more than the buffer when it was cut). Datagrams from other senders than
    /// the kernel are dropped.
    fn recv_kernel(&mut self, flags: libc::c_int) -> io::Result<usize> {
        loop {
            let mut from = sockaddr(0);
            let mut len = SOCKADDR_NL_LEN;
            // SAFETY: buf, from and len are valid for writing the sizes given.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    flags | libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if from.nl_pid != 0 {
                continue; // another process (spoofed replies): not ours to read
            }
            return Ok(n as usize);
        }
    }

    /// Receives the next datagram of the exchange `x`; feeds it.
    fn recv_into(&mut self, x: &mut Exchange, out: &mut Parts) -> Result<Progress, Error> {
        let datagram = self.recv_datagram(&x.what)?;
        x.feed(datagram, |m| out.push((m.msg_type, m.payload.to_vec())))
    }

    fn exchange(&mut self, req: &mut Request) -> Result<(Parts, bool), Error> {
        let seq = self.send(req)?;
        let mut x = Exchange::new(seq, req.msg_type(), req.what());
        let mut out = Vec::new();
        while self.recv_into(&mut x, &mut out)? == Progress::More {}
        Ok((out, x.interrupted))
    }

    /// Sends a change request and waits for its ack; a refusal is [`Error::Kernel`]
    /// naming the request.
    pub fn request(&mut self, mut req: Request) -> Result<(), Error> {
        req.add_flags(NLM_F_ACK);
        self.exchange(&mut req).map(drop)
    }

    /// Sends a request that the kernel answers with messages, then the ack (a "get" of
    /// one object, CTRL_CMD_GETFAMILY): returns the (type, payload) of each.
    pub fn get(&mut self, mut req: Request) -> Result<Parts, Error> {
        req.add_flags(NLM_F_ACK);
        self.exchange(&mut req).map(|(out, _)| out)
    }

    /// Sends a dump request (NLM_F_DUMP added) and returns each part's (type, payload).
    /// A dump the kernel marks interrupted (its state changed meanwhile) is tried again,
    /// up to 3 times.
    pub fn dump(&mut self, mut req: Request) -> Result<Parts, Error> {
        req.add_flags(NLM_F_DUMP);
        for _ in 0..DUMP_TRIES {
            let (out, interrupted) = self.exchange(&mut req)?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(Error::DumpInterrupted { what: req.what() })
    }

    /// The notifications waiting (a socket bound to groups), (type, payload) of each,
    /// without blocking. An overrun (ENOBUFS: the kernel dropped some) ends the read
    /// quietly: callers re-read the state they care about anyway.
    pub fn drain(&mut self) -> io::Result<Parts> {
        let mut out = Vec::new();
        loop {
            match self.recv_kernel(libc::MSG_DONTWAIT) {
                Ok(0) => return Ok(out),
                Ok(n) => {
                    let n = n.min(self.buf.len());
                    out.extend(crate::msg::messages(&self.buf[..n]).map(|m| (m.msg_type, m.payload.to_vec())));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// The receive buffer and a datagram read into it (for the batch's acks).
    pub(crate) fn recv_datagram(&mut self, what: &str) -> Result<&[u8], Error> {
        let n = self.recv_kernel(0).map_err(Error::io("recv"))?;
        if n > self.buf.len() {
            return Err(Error::Truncated { what: what.to_string(), len: n, buf: self.buf.len() });
        }
        if n == 0 {
            return Err(Error::Io { op: "recv", error: io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed") });
        }
        Ok(&self.buf[..n])
    }
}
