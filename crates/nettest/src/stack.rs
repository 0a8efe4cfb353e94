//! One smoltcp host without a thread ([`Stack`]): an interface on a wire, its sockets and
//! the services (DHCP, DNS, HTTP servers, the DHCP client) that answer on them, all
//! advanced by [`Stack::poll`] with an explicit time. [`crate::Host`] runs one on a thread
//! with the real clock; simulations drive it with a virtual one.

use crate::wire::{Wire, WireDevice};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};
use std::os::fd::RawFd;

/// How a host is addressed.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Shown in traces and errors.
    pub name: String,
    pub mac: EthernetAddress,
    /// Static addresses (none for a host that will use DHCP).
    pub addresses: Vec<Ipv4Cidr>,
    pub gateway: Option<Ipv4Address>,
}

impl HostConfig {
    /// A host with no address yet (it gets one with [`crate::Host::dhcp`]).
    pub fn new(name: &str, mac: EthernetAddress) -> HostConfig {
        HostConfig { name: name.to_string(), mac, addresses: Vec::new(), gateway: None }
    }

    /// A host with one static address, e.g. `("10.0.2.2", 24)`.
    pub fn with_address(mut self, address: Ipv4Address, prefix_len: u8) -> HostConfig {
        self.addresses.push(Ipv4Cidr::new(address, prefix_len));
        self
    }

    pub fn with_gateway(mut self, gateway: Ipv4Address) -> HostConfig {
        self.gateway = Some(gateway);
        self
    }
}

/// Something that answers on a host's sockets each time the host is polled.
pub trait Service: Send {
    fn poll(&mut self, now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>);
}

pub struct Stack {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    device: WireDevice<Box<dyn Wire>>,
    services: Vec<Box<dyn Service>>,
    next_port: u16,
    /// TCP sockets closing: removed once closed.
    retiring: Vec<SocketHandle>,
    pub config: HostConfig,
}

const EPHEMERAL_FIRST: u16 = 49152;

impl Stack {
    pub fn new(wire: impl Wire + 'static, config: HostConfig, now: Instant) -> Stack {
        let mut device = WireDevice::new(Box::new(wire) as Box<dyn Wire>);
        if std::env::var_os("OXWRT_NETTEST_TRACE").is_some() {
            device.trace = Some(config.name.clone());
        }
        let mut iface_config = Config::new(HardwareAddress::Ethernet(config.mac));
        // Deterministic per host: TCP initial sequence numbers and the like.
        iface_config.random_seed = config.mac.as_bytes().iter().fold(0x006f_7877_7274_u64, |h, b| h.rotate_left(8) ^ u64::from(*b));
        let mut iface = Interface::new(iface_config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            for a in &config.addresses {
                addrs.push(IpCidr::Ipv4(*a)).expect("at most 8 addresses per host");
            }
        });
        if let Some(gw) = config.gateway {
            iface.routes_mut().add_default_ipv4_route(gw).expect("room for a default route");
        }
        Stack { iface, sockets: SocketSet::new(Vec::new()), device, services: Vec::new(), next_port: EPHEMERAL_FIRST, retiring: Vec::new(), config }
    }

    pub fn add_service(&mut self, service: impl Service + 'static) {
        self.services.push(Box::new(service));
    }

    /// Receives, lets the services answer, transmits. True when a socket may have changed.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut changed = self.iface.poll(now, &mut self.device, &mut self.sockets) == smoltcp::iface::PollResult::SocketStateChanged;
        for service in &mut self.services {
            service.poll(now, &mut self.iface, &mut self.sockets);
        }
        changed |= self.iface.poll(now, &mut self.device, &mut self.sockets) == smoltcp::iface::PollResult::SocketStateChanged;
        let sockets = &mut self.sockets;
        self.retiring.retain(|&h| {
            let done = matches!(sockets.get::<tcp::Socket>(h).state(), tcp::State::Closed | tcp::State::TimeWait);
            if done {
                sockets.remove(h);
            }
            !done
        });
        changed
    }

    /// Closes a TCP socket (FIN after what is queued) and removes it once it is closed.
    pub fn retire_tcp(&mut self, handle: SocketHandle) {
        self.sockets.get_mut::<tcp::Socket>(handle).close();
        self.retiring.push(handle);
    }

    /// When [`Stack::poll`] should next be called (sooner if a frame arrives).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let iface = self.iface.poll_at(now, &self.sockets);
        let wire = self.device.wire.poll_at(now);
        [iface, wire].into_iter().flatten().min()
    }

    /// The wire's descriptor to sleep on, if it has one.
    pub fn fd(&self) -> Option<RawFd> {
        self.device.wire.fd()
    }

    /// A local port for an outgoing connection or query (49152..=65535, in turn).
    pub fn ephemeral_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port == u16::MAX { EPHEMERAL_FIRST } else { port + 1 };
        port
    }

    /// The host's first IPv4 address, if it has one.
    pub fn ipv4(&self) -> Option<Ipv4Cidr> {
        // IPv4 is the only protocol the harness is built with.
        self.iface.ip_addrs().first().map(|a| match a {
            IpCidr::Ipv4(c) => *c,
        })
    }
}
