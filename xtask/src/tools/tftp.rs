//! A TFTP client (RFC 1350) for uploading firmware to a bootloader's recovery server (CFE on
//! WRT54G-class routers), with the option extension (RFC 2347: `blksize` RFC 2348, `tsize`
//! RFC 2349) only when asked: CFE does not know options, so the default is plain RFC 1350,
//! octet mode, 512-byte blocks. Downloads (RRQ) are here for tests and diagnostics.
//!
//! Protocol points that matter: the server answers from a new port (its transfer ID): the
//! client locks onto it and answers packets from any other port with ERROR 5; a lost packet
//! is retransmitted on timeout only, never on a duplicate ACK (the Sorcerer's Apprentice
//! bug); block numbers roll over from 65535 to 0; a transfer ends with a block shorter than
//! the block size (an empty one when the length is a multiple of it).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The standard block size, used when no `blksize` is negotiated.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The range RFC 2348 allows for `blksize`.
pub const BLKSIZE_RANGE: std::ops::RangeInclusive<u16> = 8..=65464;

/// Error codes of RFC 1350 (and 8 from RFC 2347).
pub mod code {
    pub const NOT_DEFINED: u16 = 0;
    pub const FILE_NOT_FOUND: u16 = 1;
    pub const ACCESS_VIOLATION: u16 = 2;
    pub const DISK_FULL: u16 = 3;
    pub const ILLEGAL_OPERATION: u16 = 4;
    pub const UNKNOWN_TID: u16 = 5;
    pub const FILE_EXISTS: u16 = 6;
    pub const NO_SUCH_USER: u16 = 7;
    pub const OPTION_REFUSED: u16 = 8;
}

/// What an error code means, in words.
pub fn code_name(code: u16) -> &'static str {
    match code {
        code::NOT_DEFINED => "error",
        code::FILE_NOT_FOUND => "file not found",
        code::ACCESS_VIOLATION => "access violation",
        code::DISK_FULL => "disk full or allocation exceeded",
        code::ILLEGAL_OPERATION => "illegal TFTP operation",
        code::UNKNOWN_TID => "unknown transfer ID",
        code::FILE_EXISTS => "file already exists",
        code::NO_SUCH_USER => "no such user",
        code::OPTION_REFUSED => "option negotiation refused",
        _ => "unknown error code",
    }
}

/// One TFTP packet. Option names are kept as sent; compare them case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq { filename: String, mode: String, options: Vec<(String, String)> },
    Wrq { filename: String, mode: String, options: Vec<(String, String)> },
    Data { block: u16, data: &'a [u8] },
    Ack { block: u16 },
    Error { code: u16, message: String },
    Oack { options: Vec<(String, String)> },
}

/// Why bytes are not a TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Packet<'a> {
    pub fn opcode(&self) -> u16 {
        match self {
            Packet::Rrq { .. } => 1,
            Packet::Wrq { .. } => 2,
            Packet::Data { .. } => 3,
            Packet::Ack { .. } => 4,
            Packet::Error { .. } => 5,
            Packet::Oack { .. } => 6,
        }
    }

    /// The packet's name in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Packet::Rrq { .. } => "RRQ",
            Packet::Wrq { .. } => "WRQ",
            Packet::Data { .. } => "DATA",
            Packet::Ack { .. } => "ACK",
            Packet::Error { .. } => "ERROR",
            Packet::Oack { .. } => "OACK",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.opcode().to_be_bytes().to_vec();
        let cstr = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        };
        match self {
            Packet::Rrq { filename, mode, options } | Packet::Wrq { filename, mode, options } => {
                cstr(&mut out, filename);
                cstr(&mut out, mode);
                for (k, v) in options {
                    cstr(&mut out, k);
                    cstr(&mut out, v);
                }
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => out.extend_from_slice(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                out.extend_from_slice(&code.to_be_bytes());
                cstr(&mut out, message);
            }
            Packet::Oack { options } => {
                for (k, v) in options {
                    cstr(&mut out, k);
                    cstr(&mut out, v);
                }
            }
        }
        out
    }

    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        if buf.len() < 2 {
            return Err(DecodeError(format!("{} byte(s): too short for a TFTP packet", buf.len())));
        }
        let body = &buf[2..];
        let block =
            || -> Result<u16, DecodeError> { body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| DecodeError("no block number".into())) };
        match u16::from_be_bytes([buf[0], buf[1]]) {
            op @ (1 | 2) => {
                let mut fields = cstrings(body)?.into_iter();
                let filename = fields.next().ok_or_else(|| DecodeError("request without a file name".into()))?;
                let mode = fields.next().ok_or_else(|| DecodeError("request without a mode".into()))?;
                let options = pairs(fields.collect())?;
                Ok(if op == 1 { Packet::Rrq { filename, mode, options } } else { Packet::Wrq { filename, mode, options } })
            }
            3 => Ok(Packet::Data { block: block()?, data: &body[2..] }),
            4 => Ok(Packet::Ack { block: block()? }),
            5 => {
                let code = block()?;
                // Some servers leave out the terminating NUL: take the text up to it or the end.
                let text = &body[2..];
                let text = text.split(|&b| b == 0).next().unwrap_or_default();
                Ok(Packet::Error { code, message: String::from_utf8_lossy(text).into_owned() })
            }
            6 => Ok(Packet::Oack { options: pairs(cstrings(body)?)? }),
            op => Err(DecodeError(format!("unknown opcode {op}"))),
        }
    }
}

/// NUL-terminated strings filling `buf` exactly.
fn cstrings(buf: &[u8]) -> Result<Vec<String>, DecodeError> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    if buf.last() != Some(&0) {
        return Err(DecodeError("a string is not NUL-terminated".into()));
    }
    Ok(buf[..buf.len() - 1].split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

fn pairs(fields: Vec<String>) -> Result<Vec<(String, String)>, DecodeError> {
    if !fields.len().is_multiple_of(2) {
        return Err(DecodeError(format!("option `{}` has no value", fields.last().map(String::as_str).unwrap_or_default())));
    }
    Ok(fields.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect())
}

/// How a transfer behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Offer the `blksize` option with this size; None: plain RFC 1350 with 512-byte blocks
    /// and no options at all (what CFE understands).
    pub blksize: Option<u16>,
    /// Offer the `tsize` option (an upload's length; a download asks for the file's).
    pub tsize: bool,
    /// First wait for an answer; it doubles on each retry, up to four times this.
    pub timeout: Duration,
    /// Retransmissions of one packet before giving up.
    pub retries: u32,
    /// Keep repeating the request every `timeout` for this long while the server does not
    /// answer or refuses (lets the upload start before the router is powered on).
    pub wait_for_server: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options { blksize: None, tsize: false, timeout: Duration::from_secs(1), retries: 5, wait_for_server: Duration::ZERO }
    }
}

impl Options {
    /// The wait before the `attempt`-th retransmission (0: the first send).
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.timeout * (1u32 << attempt.min(2))
    }

    fn offers_options(&self) -> bool {
        self.blksize.is_some() || self.tsize
    }
}

/// A finished transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The server's transfer ID (address and the port it answered from).
    pub peer: SocketAddr,
    pub bytes: u64,
    /// The block size used: negotiated, or 512.
    pub blksize: u16,
    /// DATA packets of the transfer, the last (short or empty) one included.
    pub blocks: u64,
    /// Whether the server accepted options (answered with OACK).
    pub options_accepted: bool,
    /// The size the server announced with `tsize` (downloads).
    pub tsize: Option<u64>,
    /// Packets sent again after a timeout.
    pub retransmits: u64,
    pub elapsed: Duration,
}

/// Upload or download, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

/// A failed transfer: where, what, and [`TftpError::advice`].
#[derive(Debug)]
pub struct TftpError {
    pub server: SocketAddr,
    pub direction: Direction,
    pub filename: String,
    pub kind: ErrorKind,
}

#[derive(Debug)]
pub enum ErrorKind {
    /// The request got no answer.
    NoAnswer {
        retries: u32,
        waited: Duration,
    },
    /// A packet of the transfer got no answer: `block` (counted from 1, past any rollover)
    /// starts at byte `offset`.
    Timeout {
        block: u64,
        offset: u64,
        total: Option<u64>,
        retries: u32,
    },
    /// ICMP port unreachable: nothing listens there (`during`: block and offset when the
    /// server went away in the middle of the transfer).
    Refused {
        during: Option<(u64, u64)>,
    },
    /// No route to the host or network (ICMP host/network unreachable, or no local route).
    Unreachable(io::Error),
    /// The server sent an ERROR packet.
    Server {
        code: u16,
        message: String,
    },
    /// The server broke the protocol (or the options it chose are not acceptable).
    Protocol(String),
    /// A request this client cannot send (bad block size, file name).
    Invalid(String),
    Io(io::Error),
}

impl TftpError {
    /// What happened, with the server and where in the transfer.
    pub fn what(&self) -> String {
        let op = match self.direction {
            Direction::Upload => "upload",
            Direction::Download => "download",
        };
        let req = match self.direction {
            Direction::Upload => "write request (WRQ)",
            Direction::Download => "read request (RRQ)",
        };
        let to = if self.direction == Direction::Upload { "to" } else { "from" };
        let head = format!("TFTP {op} of \"{}\" {to} {}", self.filename, self.server);
        let what = match &self.kind {
            ErrorKind::NoAnswer { retries, waited } => format!("no answer to the {req} after {} ({:.1} s)", retries_text(*retries), waited.as_secs_f64()),
            ErrorKind::Timeout { block, offset, total, retries } => {
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                let waited_for = if self.direction == Direction::Upload { format!("no ACK for block {block}") } else { format!("no DATA block {block}") };
                format!("timeout: {waited_for} (byte offset {offset}{of}) after {}", retries_text(*retries))
            }
            ErrorKind::Refused { during: None } => {
                format!("connection refused: nothing listens on UDP port {} there (ICMP port unreachable)", self.server.port())
            }
            ErrorKind::Refused { during: Some((block, offset)) } => {
                format!("connection refused at block {block} (byte offset {offset}): the server's transfer port closed in the middle of the transfer")
            }
            ErrorKind::Unreachable(e) => format!("{} is unreachable: {e}", self.server.ip()),
            ErrorKind::Server { code, message } => {
                format!("the server refused the {op}: {} (code {code}): {}", code_name(*code), if message.is_empty() { "(no message)" } else { message })
            }
            ErrorKind::Protocol(p) => format!("protocol error: {p}"),
            ErrorKind::Invalid(p) => p.clone(),
            ErrorKind::Io(e) => format!("network error: {e}"),
        };
        format!("{head}: {what}")
    }

    /// What to do about it, in general terms (callers that know the server add their own).
    pub fn advice(&self) -> &'static str {
        match &self.kind {
            ErrorKind::NoAnswer { .. } | ErrorKind::Timeout { .. } => {
                "check that the server runs and is reachable from this machine, and that no firewall drops UDP (the answers come from a new port of the server)"
            }
            ErrorKind::Refused { during: None } => "check the address and the port, and that the TFTP server is running",
            ErrorKind::Refused { during: Some(_) } => "start the transfer again",
            ErrorKind::Unreachable(_) => "check this machine's address and routes: the server must be on a network it reaches",
            ErrorKind::Server { .. } => "the message is the server's: fix what it names (file name, permissions, space)",
            ErrorKind::Protocol(_) => "try plain RFC 1350 (no --blksize); the server may not handle options",
            ErrorKind::Invalid(_) => "fix the request",
            ErrorKind::Io(_) => "check this machine's network setup",
        }
    }
}

impl fmt::Display for TftpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.what(), self.advice())
    }
}

impl std::error::Error for TftpError {}

/// Upload `data` as `filename` (write request, octet mode). `progress` is called with
/// (bytes acknowledged, total) at the start and after every acknowledged block.
pub fn put(server: SocketAddr, filename: &str, data: &[u8], opts: &Options, progress: &mut dyn FnMut(u64, u64)) -> Result<Transfer, TftpError> {
    let mut s = Session::open(server, Direction::Upload, filename, opts)?;
    let total = data.len() as u64;
    let mut options = Vec::new();
    if let Some(b) = opts.blksize {
        options.push(("blksize".to_string(), b.to_string()));
    }
    if opts.tsize {
        options.push(("tsize".to_string(), total.to_string()));
    }
    let request = Packet::Wrq { filename: filename.into(), mode: "octet".into(), options }.encode();
    progress(0, total);
    let mut buf = vec![0u8; 65536 + 4];
    let (blksize, options_accepted) = match s.request(&request, &mut buf)? {
        First::Ack(0) => (DEFAULT_BLKSIZE, false),
        First::Ack(n) => {
            return Err(s.protocol(format!("the server acknowledged block {n} in answer to the write request (expected ACK 0)"), code::ILLEGAL_OPERATION))
        }
        First::Oack(o) => (s.accept_oack(&o)?.0, true),
        First::Data(..) => return Err(s.protocol("the server sent DATA in answer to a write request".into(), code::ILLEGAL_OPERATION)),
    };
    let bs = blksize as usize;
    let mut index: u64 = 1;
    loop {
        let start = (index - 1) as usize * bs;
        let end = (start + bs).min(data.len());
        let packet = Packet::Data { block: index as u16, data: &data[start..end] }.encode();
        s.send(&packet)?;
        let mut attempt = 0;
        let mut deadline = Instant::now() + opts.backoff(0);
        loop {
            match s.recv(&mut buf, deadline).map_err(|k| s.error(s.during(k, index, start as u64)))? {
                Some(Packet::Ack { block }) if block == index as u16 => break,
                // A duplicate (or stale) ACK: the block it acknowledges was already answered.
                // Sending DATA again here would double every packet from now on (the
                // Sorcerer's Apprentice bug): only a timeout retransmits.
                Some(Packet::Ack { .. }) => continue,
                // The server repeats its OACK when DATA 1 was lost: the timeout resends it.
                Some(Packet::Oack { .. }) if index == 1 && options_accepted => continue,
                Some(Packet::Error { code, message }) => return Err(s.error(ErrorKind::Server { code, message })),
                Some(p) => return Err(s.protocol(format!("unexpected {} while sending block {index}", p.kind()), code::ILLEGAL_OPERATION)),
                None => {
                    attempt += 1;
                    if attempt > opts.retries {
                        return Err(s.error(ErrorKind::Timeout { block: index, offset: start as u64, total: Some(total), retries: opts.retries }));
                    }
                    s.send(&packet)?;
                    s.retransmits += 1;
                    deadline = Instant::now() + opts.backoff(attempt);
                }
            }
        }
        progress(end as u64, total);
        if end - start < bs {
            return Ok(s.finish(total, blksize, index, options_accepted, None));
        }
        index += 1;
    }
}

/// Download `filename` (read request, octet mode). `progress` gets (bytes received, size
/// announced by `tsize` or 0).
pub fn get(server: SocketAddr, filename: &str, opts: &Options, progress: &mut dyn FnMut(u64, u64)) -> Result<(Vec<u8>, Transfer), TftpError> {
    let mut s = Session::open(server, Direction::Download, filename, opts)?;
    let mut options = Vec::new();
    if let Some(b) = opts.blksize {
        options.push(("blksize".to_string(), b.to_string()));
    }
    if opts.tsize {
        options.push(("tsize".to_string(), "0".to_string()));
    }
    let request = Packet::Rrq { filename: filename.into(), mode: "octet".into(), options }.encode();
    let mut buf = vec![0u8; 65536 + 4];
    let mut out = Vec::new();
    let (blksize, accepted, tsize, mut pending) = match s.request(&request, &mut buf)? {
        First::Oack(o) => {
            let (b, t) = s.accept_oack(&o)?;
            (b, true, t, None)
        }
        First::Data(block, data) => (DEFAULT_BLKSIZE, false, None, Some((block, data))),
        First::Ack(_) => return Err(s.protocol("the server sent an ACK in answer to a read request".into(), code::ILLEGAL_OPERATION)),
    };
    let total = tsize.unwrap_or(0);
    progress(0, total);
    // The last packet sent: ACK 0 after an OACK, then the ACK of each block.
    let mut ack = Packet::Ack { block: 0 }.encode();
    let mut index: u64 = 1;
    if pending.is_none() {
        s.send(&ack)?;
    }
    loop {
        let data = match pending.take() {
            Some((1, data)) => data,
            Some((block, _)) => return Err(s.protocol(format!("the first DATA block is numbered {block}, not 1"), code::ILLEGAL_OPERATION)),
            None => {
                let mut attempt = 0;
                let mut deadline = Instant::now() + opts.backoff(0);
                loop {
                    let offset = out.len() as u64;
                    match s.recv(&mut buf, deadline).map_err(|k| s.error(s.during(k, index, offset)))? {
                        Some(Packet::Data { block, data }) if block == index as u16 => break data.to_vec(),
                        // Our ACK of the previous block was lost: acknowledge it again.
                        Some(Packet::Data { block, .. }) if block == (index - 1) as u16 => s.send(&ack)?,
                        Some(Packet::Data { .. }) => continue,
                        // The server repeats its OACK when our ACK 0 was lost.
                        Some(Packet::Oack { .. }) if index == 1 && accepted => s.send(&ack)?,
                        Some(Packet::Error { code, message }) => return Err(s.error(ErrorKind::Server { code, message })),
                        Some(p) => return Err(s.protocol(format!("unexpected {} while receiving block {index}", p.kind()), code::ILLEGAL_OPERATION)),
                        None => {
                            attempt += 1;
                            if attempt > opts.retries {
                                return Err(s.error(ErrorKind::Timeout { block: index, offset, total: tsize, retries: opts.retries }));
                            }
                            s.send(&ack)?;
                            s.retransmits += 1;
                            deadline = Instant::now() + opts.backoff(attempt);
                        }
                    }
                }
            }
        };
        if data.len() > blksize as usize {
            return Err(s.protocol(format!("DATA block {index} has {} bytes, more than the block size {blksize}", data.len()), code::ILLEGAL_OPERATION));
        }
        out.extend_from_slice(&data);
        ack = Packet::Ack { block: index as u16 }.encode();
        s.send(&ack)?;
        progress(out.len() as u64, total);
        if data.len() < blksize as usize {
            let t = s.finish(out.len() as u64, blksize, index, accepted, tsize);
            return Ok((out, t));
        }
        index += 1;
    }
}

/// The first answer to a request.
enum First {
    Ack(u16),
    Oack(Vec<(String, String)>),
    Data(u16, Vec<u8>),
}

/// One transfer's socket and state.
struct Session<'o> {
    sock: UdpSocket,
    server: SocketAddr,
    /// The server's transfer ID, once it answered.
    peer: Option<SocketAddr>,
    direction: Direction,
    filename: String,
    opts: &'o Options,
    started: Instant,
    retransmits: u64,
}

impl<'o> Session<'o> {
    fn open(server: SocketAddr, direction: Direction, filename: &str, opts: &'o Options) -> Result<Session<'o>, TftpError> {
        let fail = |kind| TftpError { server, direction, filename: filename.into(), kind };
        if let Some(b) = opts.blksize {
            if !BLKSIZE_RANGE.contains(&b) {
                return Err(fail(ErrorKind::Invalid(format!(
                    "block size {b} is outside the range TFTP allows ({}..={})",
                    BLKSIZE_RANGE.start(),
                    BLKSIZE_RANGE.end()
                ))));
            }
        }
        if filename.is_empty() || filename.contains('\0') {
            return Err(fail(ErrorKind::Invalid(format!("{filename:?} cannot be a TFTP file name"))));
        }
        let local: SocketAddr = match server.ip() {
            IpAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local).map_err(|e| fail(ErrorKind::Io(e)))?;
        // Connected to the server's address with port 0, Linux delivers packets from any
        // port of that host only (the transfer ID is not known yet) and reports ICMP errors
        // (port unreachable -> ECONNREFUSED), which an unconnected socket never sees.
        if cfg!(target_os = "linux") {
            if let Err(e) = sock.connect(SocketAddr::new(server.ip(), 0)) {
                return Err(fail(classify(e)));
            }
        }
        Ok(Session { sock, server, peer: None, direction, filename: filename.into(), opts, started: Instant::now(), retransmits: 0 })
    }

    fn error(&self, kind: ErrorKind) -> TftpError {
        TftpError { server: self.server, direction: self.direction, filename: self.filename.clone(), kind }
    }

    /// A protocol error: tell the server (ERROR `code`) and return it.
    fn protocol(&self, what: String, code: u16) -> TftpError {
        if let Some(peer) = self.peer {
            let _ = self.sock.send_to(&Packet::Error { code, message: what.clone() }.encode(), peer);
        }
        self.error(ErrorKind::Protocol(what))
    }

    /// A refusal in the middle of the transfer says where.
    fn during(&self, kind: ErrorKind, block: u64, offset: u64) -> ErrorKind {
        match kind {
            ErrorKind::Refused { during: None } => ErrorKind::Refused { during: Some((block, offset)) },
            k => k,
        }
    }

    fn send(&self, packet: &[u8]) -> Result<(), TftpError> {
        let to = self.peer.unwrap_or(self.server);
        match self.sock.send_to(packet, to) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(classify(e))),
        }
    }

    /// The next packet from the server's transfer ID, or None at `deadline`. Packets from
    /// other ports get ERROR 5 and are otherwise ignored; so are undecodable ones from
    /// strangers. The first packet after the request sets the transfer ID.
    fn recv<'b>(&mut self, buf: &'b mut [u8], deadline: Instant) -> Result<Option<Packet<'b>>, ErrorKind> {
        let (n, from) = loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.sock.set_read_timeout(Some(deadline - now)).map_err(ErrorKind::Io)?;
            let (n, from) = match self.sock.recv_from(buf) {
                Ok(got) => got,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => continue,
                Err(e) => return Err(classify(e)),
            };
            let ours = match self.peer {
                Some(peer) => from == peer,
                None => from.ip() == self.server.ip(),
            };
            if !ours {
                let _ = self.sock.send_to(&Packet::Error { code: code::UNKNOWN_TID, message: "unknown transfer ID".into() }.encode(), from);
                continue;
            }
            if self.peer.is_none() {
                // Garbage before the transfer started does not choose the transfer ID.
                if Packet::decode(&buf[..n]).is_err() {
                    continue;
                }
                self.peer = Some(from);
            }
            break (n, from);
        };
        let buf: &'b [u8] = buf;
        match Packet::decode(&buf[..n]) {
            Ok(p) => Ok(Some(p)),
            Err(e) => {
                let what = format!("undecodable packet from the server: {e}");
                let _ = self.sock.send_to(&Packet::Error { code: code::ILLEGAL_OPERATION, message: what.clone() }.encode(), from);
                Err(ErrorKind::Protocol(what))
            }
        }
    }

    /// Send the request until the server answers (retransmitting with backoff, and for
    /// `wait_for_server` also through refusals).
    fn request(&mut self, request: &[u8], buf: &mut [u8]) -> Result<First, TftpError> {
        let opts = self.opts;
        let wait_until = self.started + opts.wait_for_server;
        let mut attempt = 0u32;
        loop {
            let waiting = Instant::now() < wait_until;
            let deadline = Instant::now() + if waiting { opts.timeout } else { opts.backoff(attempt) };
            let sent = self.sock.send_to(request, self.server).map_err(classify);
            let answer = match sent {
                Ok(_) => self.recv(buf, deadline),
                Err(k) => Err(k),
            };
            match answer {
                Ok(Some(Packet::Ack { block })) => return Ok(First::Ack(block)),
                Ok(Some(Packet::Data { block, data })) => return Ok(First::Data(block, data.to_vec())),
                Ok(Some(Packet::Oack { options })) => {
                    if !opts.offers_options() {
                        return Err(self.protocol("the server answered with options (OACK) that were not asked for".into(), code::OPTION_REFUSED));
                    }
                    return Ok(First::Oack(options));
                }
                Ok(Some(Packet::Error { code, message })) => return Err(self.error(ErrorKind::Server { code, message })),
                Ok(Some(p)) => return Err(self.protocol(format!("unexpected {} in answer to the request", p.kind()), code::ILLEGAL_OPERATION)),
                Ok(None) => {
                    if waiting {
                        continue;
                    }
                    attempt += 1;
                    if attempt > opts.retries {
                        return Err(self.error(ErrorKind::NoAnswer { retries: opts.retries, waited: self.started.elapsed() }));
                    }
                    self.retransmits += 1;
                }
                Err(k @ (ErrorKind::Refused { .. } | ErrorKind::Unreachable(_))) => {
                    if !waiting {
                        return Err(self.error(k));
                    }
                    // The server is not up yet: try again in a moment.
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                }
                Err(k) => return Err(self.error(k)),
            }
        }
    }

    /// Check the options the server chose: only those offered, blksize within what was
    /// offered. Returns the block size and the announced tsize.
    fn accept_oack(&self, options: &[(String, String)]) -> Result<(u16, Option<u64>), TftpError> {
        let mut blksize = DEFAULT_BLKSIZE;
        let mut tsize = None;
        for (k, v) in options {
            match k.to_ascii_lowercase().as_str() {
                "blksize" if self.opts.blksize.is_some() => {
                    let offered = self.opts.blksize.unwrap_or(DEFAULT_BLKSIZE);
                    match v.parse::<u16>() {
                        Ok(b) if BLKSIZE_RANGE.contains(&b) && b <= offered => blksize = b,
                        _ => return Err(self.protocol(format!("the server chose blksize {v:?}; offered {offered}"), code::OPTION_REFUSED)),
                    }
                }
                "tsize" if self.opts.tsize => match v.parse::<u64>() {
                    Ok(t) => tsize = Some(t),
                    Err(_) => return Err(self.protocol(format!("the server's tsize {v:?} is not a number"), code::OPTION_REFUSED)),
                },
                _ => return Err(self.protocol(format!("the server acknowledged option {k:?}, which was not offered"), code::OPTION_REFUSED)),
            }
        }
        Ok((blksize, tsize))
    }

    fn finish(&self, bytes: u64, blksize: u16, blocks: u64, options_accepted: bool, tsize: Option<u64>) -> Transfer {
        Transfer {
            peer: self.peer.unwrap_or(self.server),
            bytes,
            blksize,
            blocks,
            options_accepted,
            tsize,
            retransmits: self.retransmits,
            elapsed: self.started.elapsed(),
        }
    }
}

fn retries_text(n: u32) -> String {
    format!("{n} {}", if n == 1 { "retry" } else { "retries" })
}

/// Socket errors in TFTP terms.
fn classify(e: io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::Refused { during: None },
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => ErrorKind::Unreachable(e),
        _ => ErrorKind::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::{self, JoinHandle};

    #[test]
    fn packets_encode_as_the_rfcs_say() {
        let wrq = Packet::Wrq { filename: "code.bin".into(), mode: "octet".into(), options: vec![] };
        assert_eq!(wrq.encode(), b"\x00\x02code.bin\x00octet\x00");
        let wrq = Packet::Wrq { filename: "a".into(), mode: "octet".into(), options: vec![("blksize".into(), "1468".into()), ("tsize".into(), "3".into())] };
        assert_eq!(wrq.encode(), b"\x00\x02a\x00octet\x00blksize\x001468\x00tsize\x003\x00");
        assert_eq!(Packet::Rrq { filename: "f".into(), mode: "octet".into(), options: vec![] }.encode(), b"\x00\x01f\x00octet\x00");
        assert_eq!(Packet::Data { block: 0x0102, data: b"xyz" }.encode(), b"\x00\x03\x01\x02xyz");
        assert_eq!(Packet::Data { block: 7, data: b"" }.encode(), b"\x00\x03\x00\x07");
        assert_eq!(Packet::Ack { block: 65535 }.encode(), b"\x00\x04\xff\xff");
        assert_eq!(Packet::Error { code: 2, message: "no".into() }.encode(), b"\x00\x05\x00\x02no\x00");
        assert_eq!(Packet::Oack { options: vec![("blksize".into(), "8".into())] }.encode(), b"\x00\x06blksize\x008\x00");
    }

    #[test]
    fn packets_decode_and_round_trip() {
        let all = [
            Packet::Rrq { filename: "f".into(), mode: "octet".into(), options: vec![("tsize".into(), "0".into())] },
            Packet::Wrq { filename: "code.bin".into(), mode: "octet".into(), options: vec![] },
            Packet::Data { block: 65535, data: &[1, 2, 3] },
            Packet::Data { block: 0, data: &[] },
            Packet::Ack { block: 0 },
            Packet::Error { code: 5, message: "unknown transfer ID".into() },
            Packet::Oack { options: vec![("BLKSIZE".into(), "1468".into())] },
        ];
        for p in all {
            let bytes = p.encode();
            assert_eq!(Packet::decode(&bytes), Ok(p.clone()), "{bytes:?}");
        }
        // An ERROR without its NUL (some embedded servers) still decodes.
        assert_eq!(Packet::decode(b"\x00\x05\x00\x01gone"), Ok(Packet::Error { code: 1, message: "gone".into() }));
    }

    #[test]
    fn malformed_packets_say_what_is_wrong() {
        let err = |b: &[u8]| Packet::decode(b).unwrap_err().0;
        assert_eq!(err(b"\x00"), "1 byte(s): too short for a TFTP packet");
        assert_eq!(err(b"\x00\x09"), "unknown opcode 9");
        assert_eq!(err(b"\x00\x04\x01"), "no block number");
        assert_eq!(err(b"\x00\x02file\x00octet"), "a string is not NUL-terminated");
        assert_eq!(err(b"\x00\x02file\x00"), "request without a mode");
        assert_eq!(err(b"\x00\x06blksize\x00"), "option `blksize` has no value");
    }

    #[test]
    fn backoff_doubles_up_to_four_times_the_timeout() {
        let o = Options { timeout: Duration::from_millis(100), ..Options::default() };
        let waits: Vec<u128> = (0..5).map(|a| o.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 400, 400]);
    }

    /// How the in-process server misbehaves.
    #[derive(Clone, Default)]
    struct Behaviour {
        /// Drop every n-th DATA packet received (0: none).
        drop_every: u64,
        /// Send every ACK twice.
        dup_acks: bool,
        /// Answer options with an OACK (else with a plain ACK 0, like CFE).
        accept_options: bool,
        /// Answer with this OACK instead.
        oack: Option<Vec<(String, String)>>,
        /// Answer the request with this ERROR.
        refuse: Option<(u16, String)>,
        /// When this block arrives, a stranger (another port) first sends the client an ACK
        /// for it.
        stranger_at: Option<u64>,
    }

    #[derive(Debug, Default)]
    struct Report {
        options: Vec<(String, String)>,
        data: Vec<u8>,
        data_packets: u64,
        dropped: u64,
        /// DATA that was neither the expected block nor a repeat of the previous one.
        out_of_order: u64,
        /// Block number rollovers (65535 -> 0).
        wraps: u64,
        /// What the stranger got back.
        stranger_got: Option<Vec<u8>>,
        /// An ERROR the client sent.
        client_error: Option<(u16, String)>,
    }

    fn serve(b: Behaviour) -> (SocketAddr, JoinHandle<Report>) {
        let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
        (listen.local_addr().unwrap(), thread::spawn(move || serve_on(listen, b)))
    }

    fn serve_on(listen: UdpSocket, b: Behaviour) -> Report {
        let mut r = Report::default();
        let mut buf = vec![0u8; 70000];
        listen.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (n, client) = listen.recv_from(&mut buf).unwrap();
        let Ok(Packet::Wrq { options, .. }) = Packet::decode(&buf[..n]) else { panic!("not a WRQ: {:?}", &buf[..n]) };
        r.options = options.clone();
        // The transfer runs from a new port: the server's transfer ID.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let send = |p: Packet| sock.send_to(&p.encode(), client).unwrap();
        if let Some((code, message)) = b.refuse {
            send(Packet::Error { code, message });
            return r;
        }
        let mut blksize = 512usize;
        if let Some(oack) = b.oack {
            send(Packet::Oack { options: oack });
        } else if b.accept_options && !options.is_empty() {
            if let Some((_, v)) = options.iter().find(|(k, _)| k == "blksize") {
                blksize = v.parse().unwrap();
            }
            send(Packet::Oack { options: options.clone() });
        } else {
            send(Packet::Ack { block: 0 });
        }
        let ack = |block: u16| {
            send(Packet::Ack { block });
            if b.dup_acks {
                send(Packet::Ack { block });
            }
        };
        let mut expected: u64 = 1;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { return r };
            assert_eq!(from, client, "the client changed its transfer ID");
            match Packet::decode(&buf[..n]).unwrap() {
                Packet::Data { block, data } => {
                    r.data_packets += 1;
                    if b.drop_every > 0 && r.data_packets % b.drop_every == 0 {
                        r.dropped += 1;
                        continue;
                    }
                    if block == expected as u16 {
                        if b.stranger_at == Some(expected) && r.stranger_got.is_none() {
                            let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
                            stranger.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                            stranger.send_to(&Packet::Ack { block }.encode(), client).unwrap();
                            let mut sbuf = [0u8; 600];
                            let got = stranger.recv(&mut sbuf).map(|n| sbuf[..n].to_vec()).unwrap_or_default();
                            r.stranger_got = Some(got);
                        }
                        if block == 0 {
                            r.wraps += 1;
                        }
                        r.data.extend_from_slice(data);
                        let last = data.len() < blksize;
                        ack(block);
                        expected += 1;
                        if last {
                            return r;
                        }
                    } else if block == (expected - 1) as u16 {
                        ack(block);
                    } else {
                        r.out_of_order += 1;
                    }
                }
                Packet::Error { code, message } => {
                    r.client_error = Some((code, message));
                    return r;
                }
                p => panic!("unexpected {p:?}"),
            }
        }
    }

    fn fast() -> Options {
        Options { timeout: Duration::from_millis(50), retries: 5, ..Options::default() }
    }

    #[test]
    fn lost_data_is_resent_on_timeout_and_duplicate_acks_resend_nothing() {
        let (addr, server) = serve(Behaviour { drop_every: 3, dup_acks: true, stranger_at: Some(5), ..Behaviour::default() });
        let data = oxwrt_testkit::mutation::noise(30 * 512 + 100, 1);
        let mut calls = Vec::new();
        let t = put(addr, "code.bin", &data, &fast(), &mut |sent, total| calls.push((sent, total))).unwrap();
        let r = server.join().unwrap();
        assert!(r.data == data, "the server got {} bytes, not the {} sent", r.data.len(), data.len());
        assert!(r.options.is_empty(), "options offered unasked: {:?}", r.options);
        assert_eq!((t.blocks, t.blksize, t.bytes, t.options_accepted), (31, 512, data.len() as u64, false));
        assert_eq!(r.out_of_order, 0);
        assert!(r.dropped >= 10 && t.retransmits >= r.dropped, "dropped {}, retransmitted {}", r.dropped, t.retransmits);
        // Every DATA beyond one per block was a timeout's retransmission: none answered a
        // duplicate ACK (the Sorcerer's Apprentice bug would double them).
        assert!(r.data_packets <= t.blocks + t.retransmits, "{} DATA packets for {} blocks and {} retransmissions", r.data_packets, t.blocks, t.retransmits);
        // The stranger's ACK was answered with ERROR 5 and did not advance the transfer.
        assert_eq!(r.stranger_got.as_deref(), Some(&Packet::Error { code: 5, message: "unknown transfer ID".into() }.encode()[..]));
        assert_eq!(calls.first(), Some(&(0, data.len() as u64)));
        assert_eq!(calls.last(), Some(&(data.len() as u64, data.len() as u64)));
        assert_eq!(calls.len(), 32);
    }

    #[test]
    fn block_numbers_roll_over_to_zero_past_65535() {
        let (addr, server) = serve(Behaviour { accept_options: true, ..Behaviour::default() });
        let data = oxwrt_testkit::mutation::noise(8 * 65540 + 3, 2);
        let opts = Options { blksize: Some(8), ..fast() };
        let t = put(addr, "big", &data, &opts, &mut |_, _| {}).unwrap();
        let r = server.join().unwrap();
        assert!(r.data == data, "the server got {} bytes, not the {} sent", r.data.len(), data.len());
        assert_eq!((t.blksize, t.blocks, t.options_accepted, r.wraps), (8, 65541, true, 1));
        assert_eq!(r.options, vec![("blksize".to_string(), "8".to_string())]);
    }

    #[test]
    fn a_server_that_ignores_options_gets_512_byte_blocks() {
        let (addr, server) = serve(Behaviour::default());
        let data = oxwrt_testkit::mutation::noise(2000, 3);
        let opts = Options { blksize: Some(1468), tsize: true, ..fast() };
        let t = put(addr, "code.bin", &data, &opts, &mut |_, _| {}).unwrap();
        let r = server.join().unwrap();
        assert!(r.data == data);
        assert_eq!(r.options, vec![("blksize".to_string(), "1468".to_string()), ("tsize".to_string(), "2000".to_string())]);
        assert_eq!((t.blksize, t.blocks, t.options_accepted), (512, 4, false));
    }

    #[test]
    fn a_length_that_is_a_multiple_of_the_block_size_ends_with_an_empty_block() {
        let (addr, server) = serve(Behaviour::default());
        let data = oxwrt_testkit::mutation::noise(4 * 512, 4);
        let t = put(addr, "code.bin", &data, &fast(), &mut |_, _| {}).unwrap();
        let r = server.join().unwrap();
        assert!(r.data == data);
        assert_eq!((t.blocks, r.data_packets), (5, 5));
    }

    #[test]
    fn a_block_size_larger_than_offered_is_refused_with_error_8() {
        let (addr, server) = serve(Behaviour { oack: Some(vec![("blksize".into(), "4096".into())]), ..Behaviour::default() });
        let opts = Options { blksize: Some(1024), ..fast() };
        let e = put(addr, "code.bin", &[0; 100], &opts, &mut |_, _| {}).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Protocol(_)), "{e}");
        assert!(e.to_string().contains("the server chose blksize \"4096\"; offered 1024"), "{e}");
        let r = server.join().unwrap();
        assert_eq!(r.client_error.map(|(c, _)| c), Some(code::OPTION_REFUSED));
    }

    #[test]
    fn options_nobody_asked_for_are_a_protocol_error() {
        let (addr, server) = serve(Behaviour { oack: Some(vec![("blksize".into(), "1024".into())]), ..Behaviour::default() });
        let e = put(addr, "code.bin", &[0; 100], &fast(), &mut |_, _| {}).unwrap_err();
        assert!(e.what().contains("answered with options (OACK) that were not asked for"), "{e}");
        assert_eq!(server.join().unwrap().client_error.map(|(c, _)| c), Some(code::OPTION_REFUSED));
    }

    #[test]
    fn a_server_error_is_reported_with_its_code_and_message() {
        let (addr, server) = serve(Behaviour { refuse: Some((2, "Permission denied".into())), ..Behaviour::default() });
        let e = put(addr, "code.bin", &[0; 10], &fast(), &mut |_, _| {}).unwrap_err();
        server.join().unwrap();
        assert_eq!(e.what(), format!("TFTP upload of \"code.bin\" to {addr}: the server refused the upload: access violation (code 2): Permission denied"));
    }

    #[test]
    fn a_silent_server_times_out_after_the_retries() {
        // Bound and never read: the requests vanish without an ICMP error.
        let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = hole.local_addr().unwrap();
        let opts = Options { timeout: Duration::from_millis(20), retries: 2, ..Options::default() };
        let e = put(addr, "code.bin", &[0; 10], &opts, &mut |_, _| {}).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::NoAnswer { retries: 2, .. }), "{e}");
        assert!(e.what().starts_with(&format!("TFTP upload of \"code.bin\" to {addr}: no answer to the write request (WRQ) after 2 retries (")), "{e}");
        // 20 + 40 + 80 ms.
        let ErrorKind::NoAnswer { waited, .. } = e.kind else { unreachable!() };
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
    }

    #[test]
    fn the_request_is_repeated_until_a_late_server_comes_up() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let late = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            serve_on(UdpSocket::bind(addr).unwrap(), Behaviour::default())
        });
        let opts = Options { timeout: Duration::from_millis(50), retries: 1, wait_for_server: Duration::from_secs(5), ..Options::default() };
        let data = oxwrt_testkit::mutation::noise(1000, 5);
        let t = put(addr, "code.bin", &data, &opts, &mut |_, _| {}).unwrap();
        assert!(late.join().unwrap().data == data);
        assert!(t.elapsed >= Duration::from_millis(300), "{:?}", t.elapsed);
    }

    #[test]
    fn bad_requests_are_refused_before_sending() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let e = put(addr, "code.bin", &[], &Options { blksize: Some(4), ..Options::default() }, &mut |_, _| {}).unwrap_err();
        assert!(e.what().ends_with("block size 4 is outside the range TFTP allows (8..=65464)"), "{e}");
        let e = put(addr, "", &[], &Options::default(), &mut |_, _| {}).unwrap_err();
        assert!(e.what().ends_with("\"\" cannot be a TFTP file name"), "{e}");
    }
}
