//! ICMP echo probes for [`crate::autorate`]: one raw ICMP socket (NET_RAW) for all
//! reflectors, nonblocking, passed only echo replies (ICMP_FILTER), read when the loop
//! wakes to send the next probe, each reply timed by the kernel's arrival stamp. A probe carries this process's identifier and a sequence
//! number; the send times of the last [`IN_FLIGHT`] probes are kept, so memory is bounded
//! and a reply that comes too late to be matched is ignored.

use nix::sys::socket::{
    recvmsg, sendto, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Probes whose send time is remembered.
pub const IN_FLIGHT: usize = 64;
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

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

/// (identifier, sequence) of an echo reply as a raw socket receives it (IPv4 header first).
pub fn parse_reply(datagram: &[u8]) -> Option<(u16, u16)> {
    let ihl = usize::from(datagram.first()? & 0x0f) * 4;
    let icmp = datagram.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != ECHO_REPLY || icmp[1] != 0 {
        return None;
    }
    Some((u16::from_be_bytes([icmp[4], icmp[5]]), u16::from_be_bytes([icmp[6], icmp[7]])))
}

/// The ICMP types a raw socket passes to sqmd (Linux's ICMP_FILTER, raw(7)): echo
/// replies only, not every ICMP message the router receives.
const ICMP_FILTER: libc::c_int = 1;

pub struct Prober {
    fd: OwnedFd,
    id: u16,
    seq: u16,
    /// (sequence, reflector, send time on the wall clock: the kernel stamps replies with it).
    sent: [Option<(u16, Ipv4Addr, Duration)>; IN_FLIGHT],
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
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true)?;
        // Bit n set: type n blocked.
        let filter: u32 = !(1u32 << ECHO_REPLY);
        // SAFETY: a 4-byte option value that outlives the call, on a socket we own.
        let r = unsafe {
            libc::setsockopt(fd.as_raw_fd(), libc::SOL_RAW, ICMP_FILTER, (&filter as *const u32).cast(), std::mem::size_of::<u32>() as libc::socklen_t)
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Prober { fd, id: (std::process::id() & 0xffff) as u16, seq: 0, sent: [None; IN_FLIGHT] })
    }

    pub fn send(&mut self, to: Ipv4Addr) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let msg = echo_request(self.id, self.seq);
        sendto(self.fd.as_raw_fd(), &msg, &SockaddrIn::from(SocketAddrV4::new(to, 0)), MsgFlags::empty())?;
        self.sent[usize::from(self.seq) % IN_FLIGHT] = Some((self.seq, to, wall()));
        Ok(())
    }

    /// The replies waiting, each given to `f` as (reflector, round trip in ms), timed by the
    /// kernel's arrival stamp (a reply without one, or across a step of the wall clock that
    /// makes it negative or longer than [`MAX_RTT`], is not a sample).
    pub fn receive(&mut self, mut f: impl FnMut(Ipv4Addr, f64)) {
        let mut buf = [0u8; 256];
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        for _ in 0..256 {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let Ok(msg) = recvmsg::<SockaddrIn>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()) else { break };
            let (n, from) = (msg.bytes, msg.address);
            let stamp = msg.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::ScmTimestampns(t) => Some(Duration::new(t.tv_sec().try_into().ok()?, t.tv_nsec().try_into().ok()?)),
                    _ => None,
                })
            });
            let Some((id, seq)) = parse_reply(&buf[..n.min(buf.len())]) else { continue };
            if id != self.id {
                continue; // another process's ping
            }
            let slot = &mut self.sent[usize::from(seq) % IN_FLIGHT];
            match (*slot, from, stamp) {
                (Some((s, to, at)), Some(from), Some(stamp)) if s == seq && from.ip() == to => {
                    *slot = None;
                    if let Some(rtt) = stamp.checked_sub(at).filter(|d| *d <= MAX_RTT) {
                        f(to, rtt.as_secs_f64() * 1000.0);
                    }
                }
                _ => {}
            }
        }
    }
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
        assert_eq!(parse_reply(&reply), Some((0x1234, 7)));
        reply[20] = 3; // destination unreachable
        assert_eq!(parse_reply(&reply), None);
        assert_eq!(parse_reply(&[0x4f]), None);
        assert_eq!(parse_reply(&[]), None);
    }
}
