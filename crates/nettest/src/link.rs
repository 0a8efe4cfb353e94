//! A QEMU NIC on a unix socket ([`Link`]): the harness listens, QEMU connects with
//! `-netdev stream,server=off,addr.type=unix` and both sides exchange frames as a 4-byte
//! big-endian length followed by the Ethernet frame (no FCS, no virtio-net header). Also
//! a connected pair with the same framing ([`StreamWire`]) to join two harness hosts.

use crate::wire::Wire;
use smoltcp::time::Instant;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A frame longer than this on the stream means the framing is lost: the connection is
/// dropped (QEMU never sends more than 64 KiB + headers).
const MAX_STREAM_FRAME: usize = 70_000;
/// Frames waiting to be written beyond this many bytes are dropped (QEMU not reading).
const MAX_TX_BACKLOG: usize = 1 << 20;

/// The shortest Ethernet frame without its FCS (IEEE 802.3: 64 bytes with it).
const MIN_FRAME: usize = 60;

/// Counters of a link, readable while a host owns it.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Connections accepted (a QEMU started; a reboot with -no-reboot is a new QEMU).
    pub connections: AtomicU64,
    pub rx_frames: AtomicU64,
    pub tx_frames: AtomicU64,
    /// Frames sent while no QEMU was connected or while it did not read.
    pub tx_dropped: AtomicU64,
}

/// Frames over a connected byte stream: 4-byte big-endian length, then the frame.
struct Framed {
    stream: UnixStream,
    rx: Vec<u8>,
    rx_start: usize,
    tx: Vec<u8>,
}

enum Status {
    Open,
    Closed,
}

impl Framed {
    fn new(stream: UnixStream) -> io::Result<Framed> {
        stream.set_nonblocking(true)?;
        Ok(Framed { stream, rx: Vec::new(), rx_start: 0, tx: Vec::new() })
    }

    /// Reads what is there; Closed on end of stream, an error or a broken framing.
    fn fill(&mut self) -> Status {
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Status::Closed,
                Ok(n) => {
                    if self.rx_start > 0 && self.rx_start * 2 > self.rx.len() {
                        self.rx.drain(..self.rx_start);
                        self.rx_start = 0;
                    }
                    self.rx.extend_from_slice(&buf[..n]);
                    if n < buf.len() {
                        return Status::Open;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Status::Open,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Status::Closed,
            }
        }
    }

    /// The next complete frame in the receive buffer; Err when the length is absurd.
    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, ()> {
        let pending = &self.rx[self.rx_start..];
        if pending.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]) as usize;
        if len > MAX_STREAM_FRAME {
            return Err(());
        }
        if pending.len() < 4 + len {
            return Ok(None);
        }
        let frame = pending[4..4 + len].to_vec();
        self.rx_start += 4 + len;
        if self.rx_start == self.rx.len() {
            self.rx.clear();
            self.rx_start = 0;
        }
        Ok(Some(frame))
    }

    /// Queues a frame; false when it was dropped (backlog full).
    fn queue(&mut self, frame: &[u8]) -> bool {
        if self.tx.len() + frame.len() > MAX_TX_BACKLOG {
            return false;
        }
        self.tx.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        self.tx.extend_from_slice(frame);
        true
    }

    fn flush(&mut self) -> Status {
        while !self.tx.is_empty() {
            match self.stream.write(&self.tx) {
                Ok(0) => return Status::Closed,
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Status::Closed,
            }
        }
        Status::Open
    }

    /// Flushes, reads, and returns the next frame.
    fn recv(&mut self) -> Result<Option<Vec<u8>>, ()> {
        if let Status::Closed = self.flush() {
            return Err(());
        }
        if let Some(frame) = self.next_frame()? {
            return Ok(Some(frame));
        }
        let status = self.fill();
        match self.next_frame()? {
            Some(frame) => Ok(Some(frame)),
            None if matches!(status, Status::Closed) => Err(()),
            None => Ok(None),
        }
    }
}

/// A listening unix socket that one QEMU NIC connects to. Frames sent while no QEMU is
/// connected are dropped; when QEMU exits, the link listens again (the next QEMU, e.g.
/// after a reboot with `-no-reboot`, reconnects to the same path).
pub struct Link {
    listener: UnixListener,
    path: PathBuf,
    /// The directory made for the socket by [`Link::new`], removed on drop.
    own_dir: Option<PathBuf>,
    conn: Option<Framed>,
    counters: Arc<LinkCounters>,
}

impl Link {
    /// A link listening on `<temp dir>/oxwrt-nettest-<pid>-<n>/<name>.sock` (a fresh
    /// directory, removed with the link).
    pub fn new(name: &str) -> io::Result<Link> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!("oxwrt-nettest-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir)?;
        let mut link = Link::bind(dir.join(format!("{name}.sock")))?;
        link.own_dir = Some(dir);
        Ok(link)
    }

    /// A link listening on `path` (which must not exist; unix socket paths are limited to
    /// 107 bytes).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Link> {
        let path = path.as_ref().to_path_buf();
        let listener = UnixListener::bind(&path).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", path.display())))?;
        listener.set_nonblocking(true)?;
        Ok(Link { listener, path, own_dir: None, conn: None, counters: Arc::default() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The QEMU arguments that attach one NIC of device model `model` (the board's
    /// `qemu.nic`: `virtio-net-pci`, `pcnet`, ...) with this MAC (`52:54:00:..`) to this
    /// link: `-netdev stream,id=<id>,server=off,addr.type=unix,addr.path=<path>
    /// -device <model>,netdev=<id>,mac=<mac>`. NICs appear in the guest in the order of
    /// their arguments (eth0, eth1, ...).
    pub fn qemu_args(&self, id: &str, mac: &str, model: &str) -> Vec<String> {
        // QEMU's option syntax: a comma inside a value is doubled.
        let path = self.path.display().to_string().replace(',', ",,");
        vec!["-netdev".into(), format!("stream,id={id},server=off,addr.type=unix,addr.path={path}"), "-device".into(), format!("{model},netdev={id},mac={mac}")]
    }

    /// Counters, shared: keep this before handing the link to a host.
    pub fn counters(&self) -> Arc<LinkCounters> {
        self.counters.clone()
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn accept(&mut self) {
        if self.conn.is_some() {
            return;
        }
        if let Ok((stream, _)) = self.listener.accept() {
            if let Ok(framed) = Framed::new(stream) {
                self.conn = Some(framed);
                self.counters.connections.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Wire for Link {
    fn recv(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.accept();
        let conn = self.conn.as_mut()?;
        match conn.recv() {
            Ok(Some(frame)) => {
                self.counters.rx_frames.fetch_add(1, Ordering::Relaxed);
                Some(frame)
            }
            Ok(None) => None,
            Err(()) => {
                self.conn = None;
                None
            }
        }
    }

    fn send(&mut self, _now: Instant, frame: &[u8]) {
        self.accept();
        let Some(conn) = self.conn.as_mut() else {
            self.counters.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // An Ethernet MAC pads a short frame (an ARP reply is 42 bytes) to the 60-byte
        // minimum before it goes on the wire. QEMU's slirp and tap backends do that for the
        // NIC models, its stream backend does not, and some models drop runts (the
        // Malta's pcnet never saw the ISP's ARP replies).
        let padded;
        let frame = if frame.len() < MIN_FRAME {
            padded = [frame, &[0; MIN_FRAME][..MIN_FRAME - frame.len()]].concat();
            &padded[..]
        } else {
            frame
        };
        if !conn.queue(frame) {
            self.counters.tx_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters.tx_frames.fetch_add(1, Ordering::Relaxed);
        if let Status::Closed = conn.flush() {
            self.conn = None;
        }
    }

    fn poll_at(&self, now: Instant) -> Option<Instant> {
        // A backlog QEMU has not taken yet: try again soon.
        let backlog = self.conn.as_ref().is_some_and(|c| !c.tx.is_empty());
        backlog.then(|| now + smoltcp::time::Duration::from_millis(1))
    }

    fn fd(&self) -> Option<RawFd> {
        Some(match &self.conn {
            Some(conn) => conn.stream.as_raw_fd(),
            None => self.listener.as_raw_fd(),
        })
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(dir) = &self.own_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One end of a connected socket pair speaking the link framing: joins two harness hosts
/// (each on its own thread) without QEMU.
pub struct StreamWire(Option<Framed>);

impl StreamWire {
    pub fn pair() -> io::Result<(StreamWire, StreamWire)> {
        let (a, b) = UnixStream::pair()?;
        Ok((StreamWire(Some(Framed::new(a)?)), StreamWire(Some(Framed::new(b)?))))
    }
}

impl Wire for StreamWire {
    fn recv(&mut self, _now: Instant) -> Option<Vec<u8>> {
        match self.0.as_mut()?.recv() {
            Ok(frame) => frame,
            Err(()) => {
                self.0 = None;
                None
            }
        }
    }

    fn send(&mut self, _now: Instant, frame: &[u8]) {
        if let Some(conn) = self.0.as_mut() {
            if conn.queue(frame) {
                if let Status::Closed = conn.flush() {
                    self.0 = None;
                }
            }
        }
    }

    fn poll_at(&self, now: Instant) -> Option<Instant> {
        let backlog = self.0.as_ref().is_some_and(|c| !c.tx.is_empty());
        backlog.then(|| now + smoltcp::time::Duration::from_millis(1))
    }

    fn fd(&self) -> Option<RawFd> {
        self.0.as_ref().map(|c| c.stream.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        Instant::from_millis(0)
    }

    #[test]
    fn frames_keep_their_boundaries_across_the_stream() {
        let (mut a, mut b) = StreamWire::pair().unwrap();
        a.send(now(), &[1, 2, 3]);
        a.send(now(), &[]);
        a.send(now(), &vec![7; 1514]);
        assert_eq!(b.recv(now()), Some(vec![1, 2, 3]));
        assert_eq!(b.recv(now()), Some(vec![]));
        assert_eq!(b.recv(now()), Some(vec![7; 1514]));
        assert_eq!(b.recv(now()), None);
    }

    #[test]
    fn link_writes_big_endian_length_then_frame_and_reads_them_back() {
        let mut link = Link::new("t").unwrap();
        let mut qemu = UnixStream::connect(link.path()).unwrap();
        // A frame split across two writes arrives whole.
        qemu.write_all(&[0, 0, 0, 5, b'h', b'e']).unwrap();
        assert_eq!(link.recv(now()), None);
        assert_eq!(link.counters().connections.load(Ordering::Relaxed), 1);
        qemu.write_all(b"llo").unwrap();
        assert_eq!(link.recv(now()), Some(b"hello".to_vec()));
        // A short frame goes out padded to the Ethernet minimum, a full one as it is.
        link.send(now(), b"abc");
        let mut got = [0u8; 64];
        qemu.read_exact(&mut got).unwrap();
        assert_eq!(&got[..7], b"\0\0\0\x3cabc");
        assert!(got[7..].iter().all(|&b| b == 0), "{got:?}");
        link.send(now(), &[7; 61]);
        let mut got = [0u8; 65];
        qemu.read_exact(&mut got).unwrap();
        assert_eq!((&got[..4], &got[4..]), (&[0, 0, 0, 61][..], &[7; 61][..]));
        // QEMU goes away: the link listens again and the next one connects.
        drop(qemu);
        assert_eq!(link.recv(now()), None);
        assert!(!link.is_connected());
        let mut qemu = UnixStream::connect(link.path()).unwrap();
        qemu.write_all(&[0, 0, 0, 1, 9]).unwrap();
        assert_eq!(link.recv(now()), Some(vec![9]));
        assert_eq!(link.counters().connections.load(Ordering::Relaxed), 2);
        let path = link.path().to_path_buf();
        drop(link);
        assert!(!path.exists());
    }

    #[test]
    fn qemu_args_name_the_socket_and_the_mac() {
        let link = Link::new("wan").unwrap();
        let args = link.qemu_args("wan", "52:54:00:00:00:01", "virtio-net-pci");
        assert_eq!(args[0], "-netdev");
        assert_eq!(args[1], format!("stream,id=wan,server=off,addr.type=unix,addr.path={}", link.path().display()));
        assert_eq!(args[2..], ["-device", "virtio-net-pci,netdev=wan,mac=52:54:00:00:00:01"]);
        assert_eq!(link.qemu_args("lan", "52:54:00:00:00:02", "pcnet")[3], "pcnet,netdev=lan,mac=52:54:00:00:00:02");
    }
}
