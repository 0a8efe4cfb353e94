//! A smoltcp host on its own thread ([`Host`]): the thread polls the [`Stack`] whenever a
//! frame arrives or a timer falls due; the test thread reaches into the stack under a lock
//! ([`Host::with`]) and waits for a condition with a deadline ([`Host::wait_until`]). The
//! blocking client operations (ping, DHCP, DNS, HTTP, TCP connect) are in `client.rs`.

use crate::dhcp::DhcpClientState;
use crate::stack::{HostConfig, Stack};
use crate::wire::Wire;
use smoltcp::time::Instant;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Microseconds since the host started, as smoltcp's clock (monotonic).
#[derive(Debug, Clone, Copy)]
pub struct Clock(std::time::Instant);

impl Clock {
    pub fn new() -> Clock {
        Clock(std::time::Instant::now())
    }
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as i64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// The longest a host's thread sleeps without looking at its stack (it is also woken by
/// frames on a socket wire and by the test thread).
const MAX_SLEEP: Duration = Duration::from_millis(20);
/// For wires without a descriptor (in-memory cables).
const POLL_SLEEP: Duration = Duration::from_millis(1);

struct Shared {
    stack: Mutex<Stack>,
    /// Notified after every poll of the stack.
    polled: Condvar,
    stop: AtomicBool,
    wake: UnixStream,
    /// When the thread polls next by itself (microseconds on the host's clock).
    sleeps_until: AtomicI64,
}

pub struct Host {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    pub(crate) clock: Clock,
    name: String,
    /// The DHCP client, once started ([`Host::dhcp`]).
    pub(crate) dhcp: Mutex<Option<Arc<Mutex<DhcpClientState>>>>,
}

impl Host {
    /// Starts a host on `wire` with its own thread (named after the host).
    pub fn spawn(wire: impl Wire + 'static, config: HostConfig) -> Host {
        let clock = Clock::new();
        let name = config.name.clone();
        let stack = Stack::new(wire, config, clock.now());
        let (wake, wake_rx) = UnixStream::pair().expect("a socket pair");
        wake.set_nonblocking(true).expect("non-blocking");
        wake_rx.set_nonblocking(true).expect("non-blocking");
        let shared = Arc::new(Shared { stack: Mutex::new(stack), polled: Condvar::new(), stop: AtomicBool::new(false), wake, sleeps_until: AtomicI64::new(0) });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new().name(format!("nettest-{name}")).spawn(move || run(&shared, clock, wake_rx)).expect("a thread")
        };
        Host { shared, thread: Some(thread), clock, name, dhcp: Mutex::new(None) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on the stack (the host's thread waits); the thread polls at once if `f`
    /// left something to send. `f` must not call back into this host (it holds its lock).
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let mut stack = self.shared.stack.lock().unwrap();
        let r = f(&mut stack);
        self.kick(&mut stack);
        r
    }

    /// Calls `f` on the stack after every poll until it returns Some, or `timeout` passes
    /// (None). Like [`Host::with`], `f` must not call back into this host.
    pub fn wait_until<T>(&self, timeout: Duration, mut f: impl FnMut(&mut Stack) -> Option<T>) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        let mut stack = self.shared.stack.lock().unwrap();
        loop {
            let done = f(&mut stack);
            self.kick(&mut stack);
            if done.is_some() {
                return done;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            stack = self.shared.polled.wait_timeout(stack, left.min(MAX_SLEEP)).unwrap().0;
        }
    }

    /// Wakes the thread if the stack now wants a poll before the thread planned one (data
    /// queued, a window to update, a new timer).
    fn kick(&self, stack: &mut Stack) {
        let now = self.clock.now();
        if stack.poll_at(now).is_some_and(|at| at.total_micros() < self.shared.sleeps_until.load(Ordering::SeqCst)) {
            self.wake();
        }
    }

    /// Adds a route: `network` is reached through the on-link `via` (e.g. the ISP sending
    /// to a router's LAN prefix through the router's WAN address, as an unsolicited
    /// connection from the Internet would). Unreachable when the host's route table is full.
    pub fn add_route(&self, network: smoltcp::wire::Ipv4Cidr, via: smoltcp::wire::Ipv4Address) -> Result<(), crate::NetError> {
        let route = smoltcp::iface::Route { cidr: smoltcp::wire::IpCidr::Ipv4(network), via_router: via.into(), preferred_until: None, expires_at: None };
        self.with(|s| {
            let mut full = false;
            s.iface.routes_mut().update(|routes| full = routes.push(route).is_err());
            if full {
                Err(crate::NetError::Unreachable(format!("no room in the route table of {} for {network} via {via}", self.name)))
            } else {
                Ok(())
            }
        })
    }

    /// smoltcp's time on this host's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    fn wake(&self) {
        let _ = (&self.shared.wake).write(&[1]);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, clock: Clock, mut wake_rx: UnixStream) {
    while !shared.stop.load(Ordering::SeqCst) {
        let (sleep, fd) = {
            let mut stack = shared.stack.lock().unwrap();
            let now = clock.now();
            stack.poll(now);
            let fd = stack.fd();
            let max = if fd.is_some() { MAX_SLEEP } else { POLL_SLEEP };
            let sleep = match stack.poll_at(now) {
                Some(at) if at <= now => Duration::ZERO,
                Some(at) => Duration::from(at - now).min(max),
                None => max,
            };
            shared.sleeps_until.store((now + sleep.into()).total_micros(), Ordering::SeqCst);
            shared.polled.notify_all();
            (sleep, fd)
        };
        if !sleep.is_zero() {
            wait_readable(&[fd, Some(wake_rx.as_raw_fd())], sleep);
        }
        // Empty the wake-up socket (non-blocking: stops at WouldBlock).
        let mut buf = [0u8; 64];
        while matches!(wake_rx.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Sleeps until one of the descriptors is readable or `timeout` passes (to the
/// microsecond: frames the link model holds fall due between milliseconds).
fn wait_readable(fds: &[Option<RawFd>], timeout: Duration) {
    let mut pollfds: Vec<libc::pollfd> = fds.iter().flatten().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: `pollfds` is a valid array of `pollfd` of the given length and `ts` a valid
    // timespec, both live for the call; a null signal mask leaves the mask unchanged.
    unsafe {
        libc::ppoll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, &ts, std::ptr::null());
    }
}
