//! The delay probes of [`crate::autorate`]: ICMP timestamp requests (RFC 792 types 13/14),
//! which give the one-way delay of each direction, to every reflector that answers them,
//! ICMP echo (types 8/0, the round trip) to the others. One raw ICMP socket (NET_RAW) for
//! all reflectors, nonblocking, passed only the two reply types (ICMP_FILTER), read when
//! the loop wakes to send the next probe, each reply timed by the kernel's arrival stamp.
//!
//! A reflector starts with timestamp requests; one that has answered none of the first
//! [`TIMESTAMP_TRIES`] gets echo from then on (a router or a host may ignore timestamp
//! requests: they are optional, and some firewalls drop them). A probe carries this
//! process's identifier and a sequence number; the send times of the last [`IN_FLIGHT`]
//! probes are kept, so memory is bounded and a reply that comes too late to be matched is
//! ignored.
//!
//! Timestamps are milliseconds since midnight UTC (RFC 792). Ours come from the monotonic
//! clock, set to the wall clock once when the socket opens, so that a step of the router's
//! clock (NTP) does not move the one-way delays; the offset to the reflector's clock is a
//! constant in each direction, which the per-direction baselines absorb.

use nix::sys::socket::{sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Probes whose send time is remembered.
pub const IN_FLIGHT: usize = 64;
/// Timestamp requests a reflector may leave unanswered before it gets echo instead.
pub const TIMESTAMP_TRIES: u8 = 4;
/// Reflectors whose kind of probe is remembered (the autorate pool's bound).
const KINDS: usize = 32;
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
const TIMESTAMP_REQUEST: u8 = 13;
const TIMESTAMP_REPLY: u8 = 14;
/// Milliseconds in a day: RFC 792's timestamps count from midnight UTC.
pub const DAY_MS: u32 = 86_400_000;

/// The Internet checksum (RFC 1071).
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request: type 8, code 0, checksum, identifier, sequence, 8 bytes of data.
pub fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = ECHO_REQUEST;
    m[4..6].copy_from_slice(&id.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    m[8..16].copy_from_slice(b"oxwrtsqm");
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMP timestamp request (RFC 792): type 13, code 0, checksum, identifier, sequence,
/// originate timestamp (ours, ms since midnight UTC), receive and transmit timestamps 0.
pub fn timestamp_request(id: u16, seq: u16, originate_ms: u32) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0] = TIMESTAMP_REQUEST;
    m[4..6].copy_from_slice(&id.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    m[8..12].copy_from_slice(&originate_ms.to_be_bytes());
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// A reply as a raw socket receives it (IPv4 header first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Echo {
        id: u16,
        seq: u16,
    },
    /// The request's originate timestamp, and the reflector's receive and transmit ones.
    Timestamp {
        id: u16,
        seq: u16,
        originate: u32,
        receive: u32,
        transmit: u32,
    },
}

/// Parses an echo or timestamp reply; None for anything else, a timestamp reply shorter
/// than RFC 792's 20 bytes, or one whose reflector has no standard time (the high bit of
/// its timestamps set, RFC 792).
pub fn parse_reply(datagram: &[u8]) -> Option<Reply> {
    let ihl = usize::from(datagram.first()? & 0x0f) * 4;
    let icmp = datagram.get(ihl..)?;
    if icmp.len() < 8 || icmp[1] != 0 {
        return None;
    }
    let (id, seq) = (u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]]));
    let word = |at: usize| -> Option<u32> { Some(u32::from_be_bytes(icmp.get(at..at + 4)?.try_into().ok()?)) };
    match icmp[0] {
        ECHO_REPLY => Some(Reply::Echo { id, seq }),
        TIMESTAMP_REPLY => {
            let (originate, receive, transmit) = (word(8)?, word(12)?, word(16)?);
            if receive & 0x8000_0000 != 0 || transmit & 0x8000_0000 != 0 {
                return None;
            }
            Some(Reply::Timestamp { id, seq, originate, receive, transmit })
        }
        _ => None,
    }
}

/// `a - b` of two times of day in ms, as the shortest signed distance around midnight.
pub fn day_diff_ms(a: u32, b: u32) -> i64 {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(i64::from(DAY_MS));
    if d > i64::from(DAY_MS / 2) {
        d - i64::from(DAY_MS)
    } else {
        d
    }
}

/// One-way delays (down, up) in ms of a timestamp reply: the reflector's receive time
/// minus our originate time (up), our receive time minus the reflector's transmit time
/// (down). Each holds the clocks' offset (with opposite signs).
pub fn one_way_ms(originate: u32, receive: u32, transmit: u32, arrived: u32) -> (i64, i64) {
    (day_diff_ms(arrived, transmit), day_diff_ms(receive, originate))
}

/// How a reflector is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Timestamp requests sent, none answered yet (how many).
    Trying(u8),
    Timestamp,
    Echo,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trying(_) => "trying timestamp",
            Kind::Timestamp => "timestamp",
            Kind::Echo => "echo",
        }
    }
}

/// A delay sample of a reflector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// ICMP echo: the round trip, ms.
    RoundTrip(f64),
    /// ICMP timestamp: the one-way delays, ms (clock offsets included), and the round trip.
    OneWay { down_ms: f64, up_ms: f64, rtt_ms: f64 },
}

/// The ICMP types a raw socket passes to sqmd (Linux's ICMP_FILTER, raw(7)): the two
/// replies only, not every ICMP message the router receives.
const ICMP_FILTER: libc::c_int = 1;

pub struct Prober {
    fd: OwnedFd,
    id: u16,
    seq: u16,
    /// (sequence, reflector, send time).
    sent: [Option<(u16, Ipv4Addr, Instant)>; IN_FLIGHT],
    kinds: Vec<(Ipv4Addr, Kind)>,
    /// Our clock for timestamps: the monotonic time since `epoch`, plus the wall clock's
    /// time of day (ms) at `epoch`.
    epoch: Instant,
    day_ms_at_epoch: u32,
}

impl AsRawFd for Prober {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The wall clock now (CLOCK_REALTIME, the clock of SO_TIMESTAMPNS), since the epoch.
fn wall() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

impl Prober {
    /// The socket: nonblocking, replies stamped by the kernel when they arrive
    /// (SO_TIMESTAMPNS), so that they can be read whenever the loop wakes anyway (with the
    /// next probe) instead of waking it once more per reply.
    pub fn open() -> io::Result<Prober> {
        let fd = socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp)?;
        set_int(fd.as_raw_fd(), libc::SOL_SOCKET, SO_TIMESTAMPNS_OLD, 1)?;
        // Bit n set: type n blocked.
        let filter: u32 = !((1u32 << ECHO_REPLY) | (1u32 << TIMESTAMP_REPLY));
        set_int(fd.as_raw_fd(), libc::SOL_RAW, ICMP_FILTER, filter as libc::c_int)?;
        let day_ms_at_epoch = (wall().as_millis() % u128::from(DAY_MS)) as u32;
        Ok(Prober { fd, id: (std::process::id() & 0xffff) as u16, seq: 0, sent: [None; IN_FLIGHT], kinds: Vec::new(), epoch: Instant::now(), day_ms_at_epoch })
    }

    /// Our time of day (ms since midnight UTC, RFC 792) at `t`.
    fn day_ms(&self, t: Instant) -> u32 {
        ((t.saturating_duration_since(self.epoch).as_millis() + u128::from(self.day_ms_at_epoch)) % u128::from(DAY_MS)) as u32
    }

    /// How `to` is probed now.
    pub fn kind(&self, to: Ipv4Addr) -> Kind {
        self.kinds.iter().find(|(a, _)| *a == to).map_or(Kind::Trying(0), |(_, k)| *k)
    }

    fn set_kind(&mut self, to: Ipv4Addr, kind: Kind) {
        match self.kinds.iter_mut().find(|(a, _)| *a == to) {
            Some(e) => e.1 = kind,
            None => {
                if self.kinds.len() >= KINDS {
                    self.kinds.remove(0);
                }
                self.kinds.push((to, kind));
            }
        }
    }

    pub fn send(&mut self, to: Ipv4Addr) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let now = Instant::now();
        let dest = SockaddrIn::from(SocketAddrV4::new(to, 0));
        match self.kind(to) {
            Kind::Echo => sendto(self.fd.as_raw_fd(), &echo_request(self.id, self.seq), &dest, MsgFlags::empty())?,
            kind => {
                if let Kind::Trying(n) = kind {
                    self.set_kind(to, if n >= TIMESTAMP_TRIES { Kind::Echo } else { Kind::Trying(n + 1) });
                }
                sendto(self.fd.as_raw_fd(), &timestamp_request(self.id, self.seq, self.day_ms(now)), &dest, MsgFlags::empty())?
            }
        };
        self.sent[usize::from(self.seq) % IN_FLIGHT] = Some((self.seq, to, now));
        Ok(())
    }

    /// The replies waiting, each given to `f` as (reflector, sample), timed by the kernel's
    /// arrival stamp (a reply without one, or whose round trip is longer than [`MAX_RTT`],
    /// is not a sample).
    pub fn receive(&mut self, mut f: impl FnMut(Ipv4Addr, Sample)) {
        let mut buf = [0u8; 256];
        for _ in 0..256 {
            let Some((n, from, stamp)) = recv_stamped(self.fd.as_raw_fd(), &mut buf) else { break };
            let Some(reply) = parse_reply(&buf[..n.min(buf.len())]) else { continue };
            let (id, seq) = match reply {
                Reply::Echo { id, seq } | Reply::Timestamp { id, seq, .. } => (id, seq),
            };
            if id != self.id {
                continue; // another process's ping
            }
            let slot = &mut self.sent[usize::from(seq) % IN_FLIGHT];
            let (Some((s, to, at)), Some(from), Some(stamp)) = (*slot, from, stamp) else { continue };
            if s != seq || from != to {
                continue;
            }
            *slot = None;
            // The arrival on the monotonic clock: now, less how long ago the kernel
            // stamped it on the wall clock.
            let now = Instant::now();
            let arrived = now.checked_sub(wall().saturating_sub(stamp)).unwrap_or(now).max(at);
            let rtt = arrived.saturating_duration_since(at);
            if rtt > MAX_RTT {
                continue;
            }
            let rtt_ms = rtt.as_secs_f64() * 1000.0;
            match reply {
                Reply::Echo { .. } => f(to, Sample::RoundTrip(rtt_ms)),
                Reply::Timestamp { originate, receive, transmit, .. } => {
                    self.set_kind(to, Kind::Timestamp);
                    let (down, up) = one_way_ms(originate, receive, transmit, self.day_ms(arrived));
                    f(to, Sample::OneWay { down_ms: down as f64, up_ms: up as f64, rtt_ms });
                }
            }
        }
    }
}

/// SO_TIMESTAMPNS as the kernel has it since 5.1: the `_OLD` option (the same number on
/// x86, ARM and MIPS: include/uapi/asm-generic/socket.h, arch/mips/include/uapi/asm/socket.h)
/// stamps with the kernel's own `timespec` (two 32-bit fields on a 32-bit kernel, two
/// 64-bit ones on a 64-bit kernel), the `_NEW` one with two 64-bit fields. sqmd asks for
/// `_OLD` and reads either by the payload's length, whatever the C library's `time_t`.
const SO_TIMESTAMPNS_OLD: libc::c_int = 35;
const SO_TIMESTAMPNS_NEW: libc::c_int = 64;

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: an int option value that outlives the call, on a socket the caller owns.
    let r = unsafe { libc::setsockopt(fd, level, name, (&value as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A kernel timestamp's payload: seconds and nanoseconds, 32 or 64 bits each.
fn parse_stamp(data: &[u8]) -> Option<Duration> {
    let (sec, nsec) = match data.len() {
        16 => (i64::from_ne_bytes(data[..8].try_into().ok()?), i64::from_ne_bytes(data[8..].try_into().ok()?)),
        8 => (i64::from(i32::from_ne_bytes(data[..4].try_into().ok()?)), i64::from(i32::from_ne_bytes(data[4..].try_into().ok()?))),
        _ => return None,
    };
    Some(Duration::new(u64::try_from(sec).ok()?, u32::try_from(nsec).ok().filter(|n| *n < 1_000_000_000)?))
}

/// One datagram (nonblocking): its length, sender and the kernel's arrival stamp (wall
/// clock). None: nothing waiting, or an error.
fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> Option<(usize, Option<Ipv4Addr>, Option<Duration>)> {
    // SAFETY: plain C structs, zero is a valid value of each.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // u64s: aligned for the control messages' headers.
    let mut control = [0u64; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` points into locals that outlive the call, with the
    // lengths given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    let n = usize::try_from(n).ok()?;
    let from = (msg.msg_namelen as usize >= std::mem::size_of::<libc::sockaddr_in>() && libc::c_int::from(addr.sin_family) == libc::AF_INET)
        .then(|| Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)));
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays within `msg.msg_control`/`msg_controllen` as the
    // kernel filled them; each header's data is read within its `cmsg_len`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::SOL_SOCKET && (h.cmsg_type == SO_TIMESTAMPNS_OLD || h.cmsg_type == SO_TIMESTAMPNS_NEW) {
                let data = libc::CMSG_DATA(c);
                let len = (h.cmsg_len as usize).saturating_sub(data as usize - c as usize);
                stamp = parse_stamp(std::slice::from_raw_parts(data, len));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((n.min(buf.len()), from, stamp))
}

/// The longest round trip taken as a sample.
pub const MAX_RTT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero_and_replies_parse_past_the_ip_header() {
        let m = echo_request(0x1234, 7);
        assert_eq!(checksum(&m), 0, "a packet with its checksum sums to zero");
        assert_eq!((m[0], m[1], &m[4..8]), (8, 0, &[0x12, 0x34, 0, 7][..]));
        // RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2, checksum 220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
        let mut reply = vec![0x45u8; 1];
        reply.resize(20, 0);
        let mut icmp = m.to_vec();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        assert_eq!(parse_reply(&reply), Some(Reply::Echo { id: 0x1234, seq: 7 }));
        reply[20] = 3; // destination unreachable
        assert_eq!(parse_reply(&reply), None);
        assert_eq!(parse_reply(&[0x4f]), None);
        assert_eq!(parse_reply(&[]), None);
    }

    #[test]
    fn timestamp_requests_and_replies_give_one_way_delays_across_midnight() {
        let m = timestamp_request(0xbeef, 9, 1_000);
        assert_eq!(checksum(&m), 0);
        assert_eq!((m[0], m[1], &m[4..8], &m[8..12], &m[12..20]), (13, 0, &[0xbe, 0xef, 0, 9][..], &1000u32.to_be_bytes()[..], &[0u8; 8][..]));
        // The reflector's reply: type 14, its receive and transmit times filled in.
        let mut icmp = m.to_vec();
        icmp[0] = 14;
        icmp[12..16].copy_from_slice(&1_012u32.to_be_bytes());
        icmp[16..20].copy_from_slice(&1_013u32.to_be_bytes());
        let mut d = vec![0x46u8]; // IHL 6: a 24-byte IPv4 header with options
        d.resize(24, 0);
        d.extend_from_slice(&icmp);
        assert_eq!(parse_reply(&d), Some(Reply::Timestamp { id: 0xbeef, seq: 9, originate: 1000, receive: 1012, transmit: 1013 }));
        // 12 ms up, 7 ms down (arrived at 1020 on our clock).
        assert_eq!(one_way_ms(1000, 1012, 1013, 1020), (7, 12));
        // A reflector without standard time (high bit set, RFC 792): not a sample.
        d[24 + 12] |= 0x80;
        assert_eq!(parse_reply(&d), None);
        // Too short for its three timestamps.
        assert_eq!(parse_reply(&d[..24 + 16]), None);
        // Midnight between our send and the reflector's receive, and a clock 5 s behind.
        assert_eq!(day_diff_ms(3, DAY_MS - 2), 5);
        assert_eq!(day_diff_ms(DAY_MS - 2, 3), -5);
        // Sent 10 ms before midnight on our clock, to a reflector 5 s behind: 12 ms up,
        // 1 ms in the reflector, 6 ms down; arrived 9 ms after midnight. Each one-way delay
        // holds the offset; their sum is the round trip less the reflector's time.
        let (down, up) = one_way_ms(DAY_MS - 10, DAY_MS - 4_998, DAY_MS - 4_997, 9);
        assert_eq!((down, up, down + up), (5_006, -4_988, 18));
        assert_eq!(Kind::Trying(0).name(), "trying timestamp");
    }

    #[test]
    fn kernel_stamps_of_either_width_parse() {
        let mut b16 = 1_765_000_000i64.to_ne_bytes().to_vec();
        b16.extend_from_slice(&250_000_000i64.to_ne_bytes());
        assert_eq!(parse_stamp(&b16), Some(Duration::new(1_765_000_000, 250_000_000)));
        let mut b8 = 1_765_000_000i32.to_ne_bytes().to_vec();
        b8.extend_from_slice(&5i32.to_ne_bytes());
        assert_eq!(parse_stamp(&b8), Some(Duration::new(1_765_000_000, 5)));
        assert_eq!(parse_stamp(&b8[..7]), None);
        b8[4..].copy_from_slice(&2_000_000_000i32.to_ne_bytes());
        assert_eq!(parse_stamp(&b8), None, "nanoseconds out of range");
    }
}
