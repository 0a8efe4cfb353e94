//! One SNTP exchange with a server (sntpc does the packet and its checks): a UDP socket
//! connected to the server (so the kernel drops datagrams from anyone else, and an ICMP
//! "port unreachable" ends the wait at once), a time limit, and the clock the request's
//! timestamps come from ([`Clock`]: the system's, or a skewed one in tests).

use sntpc::{NtpContext, NtpTimestampGenerator, NtpUdpSocket};
use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime};

/// What one answer says about our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// How far our clock is behind the server's (add it to correct), microseconds.
    pub offset_us: i64,
    /// Round trip, microseconds.
    pub delay_us: u64,
    pub stratum: u8,
}

/// Where the request's and the reply's local timestamps come from.
pub trait Clock: Copy {
    /// Time since 1970.
    fn now(&self) -> Duration;
}

/// The system clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
    }
}

/// The system clock moved by `.0` microseconds (tests: a clock that is wrong by a known
/// amount, against a real server).
#[derive(Debug, Clone, Copy)]
pub struct Skewed(pub i64);

impl Clock for Skewed {
    fn now(&self) -> Duration {
        let us = i128::try_from(SystemClock.now().as_micros()).unwrap_or(0) + i128::from(self.0);
        Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0))
    }
}

#[derive(Clone, Copy)]
struct Stamps<C: Clock> {
    clock: C,
    at: Duration,
}

impl<C: Clock> NtpTimestampGenerator for Stamps<C> {
    fn init(&mut self) {
        self.at = self.clock.now();
    }
    fn timestamp_sec(&self) -> u64 {
        self.at.as_secs()
    }
    fn timestamp_subsec_micros(&self) -> u32 {
        self.at.subsec_micros()
    }
}

/// A UDP socket connected to one server; the last I/O error kept for the message.
struct Connected {
    socket: UdpSocket,
    peer: SocketAddr,
    error: RefCell<Option<io::Error>>,
}

impl Connected {
    fn failed(&self, e: io::Error) -> sntpc::Error {
        *self.error.borrow_mut() = Some(e);
        sntpc::Error::Network
    }
}

impl NtpUdpSocket for Connected {
    async fn send_to(&self, buf: &[u8], _addr: SocketAddr) -> sntpc::Result<usize> {
        self.socket.send(buf).map_err(|e| self.failed(e))
    }

    async fn recv_from(&self, buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        self.socket.recv(buf).map(|n| (n, self.peer)).map_err(|e| self.failed(e))
    }
}

/// One exchange with `server`; waits `limit` at most for the answer.
pub fn query(server: SocketAddr, limit: Duration, clock: impl Clock) -> Result<Sample, String> {
    let any: SocketAddr = if server.is_ipv4() { "0.0.0.0:0".parse().expect("literal") } else { "[::]:0".parse().expect("literal") };
    let socket = UdpSocket::bind(any).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket.connect(server).map_err(|e| format!("cannot reach {server}: {e}"))?;
    socket.set_read_timeout(Some(limit)).map_err(|e| format!("cannot set a timeout: {e}"))?;
    let conn = Connected { socket, peer: server, error: RefCell::new(None) };
    let context = NtpContext::new(Stamps { clock, at: Duration::ZERO });
    match sntpc::sync::get_time(server, &conn, context) {
        Ok(r) => Ok(Sample { offset_us: r.offset(), delay_us: r.roundtrip(), stratum: r.stratum() }),
        Err(sntpc::Error::Network) => Err(match conn.error.borrow_mut().take() {
            Some(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => format!("{server}: no answer within {} s", limit.as_secs()),
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => format!("{server}: refused (no NTP server there)"),
            Some(e) => format!("{server}: {e}"),
            None => format!("{server}: network error"),
        }),
        Err(sntpc::Error::KissOfDeath(code)) => Err(format!("{server}: refused us (kiss-o'-death {}): tried later", code.as_str())),
        Err(e) => Err(format!("{server}: unusable answer ({e:?})")),
    }
}

/// The addresses of one server in turn until one answers.
pub fn query_any(addrs: &[SocketAddr], limit: Duration, clock: impl Clock) -> Result<(SocketAddr, Sample), String> {
    let mut errors = Vec::new();
    for &a in addrs {
        match query(a, limit, clock) {
            Ok(s) => return Ok((a, s)),
            Err(e) => errors.push(e),
        }
    }
    Err(errors.join("; "))
}
