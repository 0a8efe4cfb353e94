//! The network test harness (host side only, never on the device): smoltcp hosts that
//! play the ISP on a router's WAN and the clients on its LAN, in the test process, over
//! QEMU's unix-socket NIC backends. No root, no TAP devices, no host kernel modules: the
//! host kernel never sees these frames.
//!
//! # How a test reads
//! ```no_run
//! use nettest::{plan, Host, HostConfig, Isp, IspConfig, Link};
//! use std::time::Duration;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const T: Duration = Duration::from_secs(30);
//! let wan = Link::new("wan")?;
//! let lan = Link::new("lan")?;
//! // eth0 = WAN, eth1 = LAN: give these to xtask::qemu::Launch { nics: Some(nics), .. };
//! // the model is the board's `qemu.nic`.
//! let mut nics = wan.qemu_args("wan", plan::ROUTER_WAN_MAC, "virtio-net-pci");
//! nics.extend(lan.qemu_args("lan", plan::ROUTER_LAN_MAC, "virtio-net-pci"));
//! let isp = Isp::spawn(wan, IspConfig::default());
//! let laptop = Host::spawn(lan, HostConfig::new("laptop", plan::CLIENT_MAC));
//! // ... boot the router with `nics` ...
//! let wan_lease = isp.wait_for_lease(T).expect("the router asked the ISP for an address");
//! laptop.dhcp(Some("laptop"), T)?;
//! let answer = laptop.resolve(plan::LAN_ROUTER, plan::EXAMPLE_NAME, T)?;
//! let page = laptop.http_get((answer.addresses[0], 80), "/", T)?;
//! assert_eq!(page.status, 200);
//! // The ISP saw the router's WAN address, not the laptop's: NAT.
//! assert_eq!(isp.http_connections()[0].from.addr, wan_lease.address.into());
//! // Unsolicited inbound is dropped: nothing answers, not even a reset.
//! assert!(isp.tcp_connect((wan_lease.address, 80), Duration::from_secs(5)).is_err());
//! # Ok(()) }
//! ```
//! Every blocking call takes a deadline and says what it waited for when it fails
//! ([`NetError`]): [`Host::dhcp`], [`Host::ping`], [`Host::tcp_connect`],
//! [`Host::http_get`], [`Host::http_post`] (an upload), [`Host::resolve`] (UDP, then TCP
//! when truncated); [`Host::serve_http`] makes a host a web server (the LAN end of a port
//! forward); [`Host::add_route`] sends a prefix through an on-link router (the ISP reaching
//! for the LAN behind the router's WAN address). Each [`Host`] runs its smoltcp stack on its own thread, woken by its socket;
//! the test thread reaches in under a lock ([`Host::with`], [`Host::wait_until`]).
//! [`Stack`] is the same host without a thread, for simulations on a virtual clock.
//! `OXWRT_NETTEST_TRACE=1` prints every frame the hosts see, with the host's time.
//!
//! smoltcp sends at most one ARP request per second per host: a harness host that talks
//! to several on-link neighbours (not through a router) waits up to a second for each new
//! one.
//!
//! # Framing (verified against QEMU 10.0, `-netdev stream`; same as `-netdev socket`)
//! The harness listens on a unix socket ([`Link`]); QEMU connects to it with
//! `-netdev stream,id=X,server=off,addr.type=unix,addr.path=P` and the NIC is
//! `-device <model>,netdev=X,mac=M` (virtio-net-pci on x86, the Malta's pcnet). Each frame, both ways, is a 4-byte big-endian
//! length then the Ethernet frame: destination MAC first, no FCS, no virtio-net header
//! (QEMU turns the NIC's checksum and segmentation offloads off when its backend has no
//! vnet header, so frames are at most 1514 bytes and carry real checksums). A stream keeps
//! frames in order and never drops one; when QEMU exits, the link listens again, so a
//! guest that reboots with `-no-reboot` into a new QEMU reconnects to the same harness.
//!
//! # Addressing plan ([`plan`])
//! WAN 203.0.113.0/24: the ISP is .1 (gateway, DHCP server), .53 (DNS), .80 (HTTP,
//! `example.test`) and leases from .10. The router's netd takes its WAN address from the
//! ISP by DHCP on eth0 (the first lease, .10) and serves the LAN on br-lan (eth1):
//! 192.168.1.0/24, the router on .1 as gateway, DNS forwarder and DHCP server, clients
//! leasing from its pool. The `PNP_*` constants are for images without netd, where the
//! kernel configures eth0 from `ip=10.0.2.15` and a harness host plays 10.0.2.2.
//!
//! # Link model ([`LinkModel`])
//! Between the router and the ISP, per direction: a rate limit (bits/s), a tail-drop queue
//! (packets or bytes) and a one-way delay, like a modem's buffer in front of a slower line.
//! Frame times follow from when frames were offered on smoltcp's clock, so results do not
//! depend on polling. Attach it to the ISP and read [`LinkModel::stats`] (drops, longest
//! queueing delay, longest queue) or change it while traffic flows:
//! ```no_run
//! # use nettest::{Isp, IspConfig, Link, LinkModel, PipeConfig};
//! # use std::time::Duration;
//! # let wan = Link::new("wan").unwrap();
//! // A bloated modem: 10 Mbit/s up with 500 packets of buffer, 50 Mbit/s down, 10 ms.
//! let ms = Duration::from_millis;
//! let modem = LinkModel::new(
//!     PipeConfig::rate(10_000_000).queue_packets(500).delay(ms(10)),
//!     PipeConfig::rate(50_000_000).queue_packets(1000).delay(ms(10)),
//! );
//! let isp = Isp::spawn(wan, IspConfig { model: Some(modem.clone()), ..IspConfig::default() });
//! // ... an upload through the router ...
//! let up = modem.stats().up;
//! println!("dropped {}, worst queueing delay {}", up.dropped, up.max_queue_delay);
//! ```

mod client;
pub mod dhcp;
pub mod dns;
mod dns_server;
mod host;
pub mod http;
mod isp;
mod link;
mod model;
pub mod plan;
mod stack;
mod wire;

pub use client::{DnsAnswer, NetError};
pub use dhcp::{GivenLease, Lease};
pub use dns_server::{DnsQuery, DnsServer, DnsZone};
pub use host::{Clock, Host};
pub use http::{HttpConnection, HttpResponse, HttpServer};
pub use isp::{Isp, IspConfig};
pub use link::{Link, LinkCounters, StreamWire};
pub use model::{LinkModel, ModelStats, Pipe, PipeConfig, PipeStats, QueueLimit, Shaped};
/// The smoltcp this harness is built on (its address and socket types appear in the API).
pub use smoltcp;
pub use stack::{HostConfig, Service, Stack};
pub use wire::{cable, CableEnd, Wire, WireDevice};
