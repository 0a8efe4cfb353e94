//! What carries a host's Ethernet frames ([`Wire`]): a QEMU NIC ([`crate::Link`]), a
//! connected socket pair ([`crate::StreamWire`]), an in-memory cable ([`cable`]), or any
//! of them through the link model ([`crate::Shaped`]); and the smoltcp `phy::Device` over
//! a wire ([`WireDevice`]).

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// The largest Ethernet frame a host sends (1500 bytes of IP + the 14-byte header; no FCS).
pub const MAX_FRAME: usize = 1514;

/// A full-duplex carrier of Ethernet frames, polled (never blocking).
pub trait Wire: Send {
    /// The next frame that arrived, if any.
    fn recv(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// Sends a frame (or drops it, like a cable nobody is plugged into).
    fn send(&mut self, now: Instant, frame: &[u8]);
    /// When the wire next has something to do by itself (a delayed frame falls due).
    fn poll_at(&self, now: Instant) -> Option<Instant> {
        let _ = now;
        None
    }
    /// A descriptor that becomes readable when a frame may have arrived, so a host's thread
    /// can sleep on it; None: the thread wakes up every millisecond instead.
    fn fd(&self) -> Option<RawFd> {
        None
    }
}

impl<W: Wire + ?Sized> Wire for Box<W> {
    fn recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        (**self).recv(now)
    }
    fn send(&mut self, now: Instant, frame: &[u8]) {
        (**self).send(now, frame)
    }
    fn poll_at(&self, now: Instant) -> Option<Instant> {
        (**self).poll_at(now)
    }
    fn fd(&self) -> Option<RawFd> {
        (**self).fd()
    }
}

/// One end of an in-memory cable: what one end sends, the other receives, in order, with
/// no loss and no delay (put a [`crate::LinkModel`] on it for those). For simulations
/// driven by a virtual clock in one thread.
pub struct CableEnd {
    rx: Arc<Mutex<VecDeque<Vec<u8>>>>,
    tx: Arc<Mutex<VecDeque<Vec<u8>>>>,
}

/// A cable between two ends.
pub fn cable() -> (CableEnd, CableEnd) {
    let a = Arc::new(Mutex::new(VecDeque::new()));
    let b = Arc::new(Mutex::new(VecDeque::new()));
    (CableEnd { rx: a.clone(), tx: b.clone() }, CableEnd { rx: b, tx: a })
}

impl Wire for CableEnd {
    fn recv(&mut self, _now: Instant) -> Option<Vec<u8>> {
        self.rx.lock().unwrap().pop_front()
    }
    fn send(&mut self, _now: Instant, frame: &[u8]) {
        self.tx.lock().unwrap().push_back(frame.to_vec());
    }
}

/// smoltcp's view of a wire: an Ethernet device with a 1500-byte MTU. With a label, every
/// frame is printed to stderr (smoltcp's pretty printer): see [`crate::Host`] and
/// `OXWRT_NETTEST_TRACE`.
pub struct WireDevice<W> {
    pub wire: W,
    pub trace: Option<String>,
}

impl<W: Wire> WireDevice<W> {
    pub fn new(wire: W) -> WireDevice<W> {
        WireDevice { wire, trace: None }
    }
}

fn trace(label: &Option<String>, now: Instant, dir: &str, frame: &[u8]) {
    if let Some(label) = label {
        use smoltcp::wire::{EthernetFrame, PrettyPrinter};
        eprintln!("{now} {label} {dir} {}", PrettyPrinter::<EthernetFrame<&[u8]>>::new("", &frame));
    }
}

impl<W: Wire> Device for WireDevice<W> {
    type RxToken<'a>
        = RxFrame
    where
        Self: 'a;
    type TxToken<'a>
        = TxFrame<'a, W>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(RxFrame, TxFrame<'_, W>)> {
        let frame = self.wire.recv(now)?;
        trace(&self.trace, now, "<-", &frame);
        Some((RxFrame(frame), TxFrame { wire: &mut self.wire, trace: &self.trace, now }))
    }

    fn transmit(&mut self, now: Instant) -> Option<TxFrame<'_, W>> {
        Some(TxFrame { wire: &mut self.wire, trace: &self.trace, now })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

pub struct RxFrame(Vec<u8>);

impl phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub struct TxFrame<'a, W> {
    wire: &'a mut W,
    trace: &'a Option<String>,
    now: Instant,
}

impl<W: Wire> phy::TxToken for TxFrame<'_, W> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        trace(self.trace, self.now, "->", &frame);
        self.wire.send(self.now, &frame);
        r
    }
}
