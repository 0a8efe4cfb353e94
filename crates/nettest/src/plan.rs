//! The addressing plan of the network tests: the ISP's side of the WAN, the router's LAN,
//! the MACs of the harness hosts and of the router's NICs. The router's netd leases its WAN
//! address from the ISP (DHCP on eth0) and serves the LAN (address, DHCP, DNS) on br-lan;
//! the kernel `ip=` plan at the end is only for images without netd.

use smoltcp::wire::EthernetAddress;
use std::net::Ipv4Addr;

/// WAN: 203.0.113.0/24 (TEST-NET-3). The ISP is the gateway, hands out addresses from
/// .10 (the router gets .10 first), answers DNS on .53 and HTTP on .80.
pub const WAN_PREFIX_LEN: u8 = 24;
pub const ISP_GATEWAY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const WAN_POOL_FIRST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
pub const ISP_DNS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const ISP_HTTP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// A name only the ISP's DNS knows; it resolves to [`ISP_HTTP`].
pub const EXAMPLE_NAME: &str = "example.test";

/// LAN: 192.168.1.0/24, the router on .1 (oxwrt's default), clients by DHCP from it.
pub const LAN_PREFIX_LEN: u8 = 24;
pub const LAN_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

/// The harness hosts' MACs (locally administered).
pub const ISP_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0xcb, 0x00, 0x71, 0x01]);
pub const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0xc0, 0xa8, 0x01, 0x64]);
/// The router's NICs (QEMU's OUI), for [`crate::Link::qemu_args`].
pub const ROUTER_WAN_MAC: &str = "52:54:00:cb:00:0a";
pub const ROUTER_LAN_MAC: &str = "52:54:00:c0:a8:01";

/// For images without netd only: the kernel configures eth0 from
/// `ip=10.0.2.15::10.0.2.2:255.255.255.0` (`xtask::qemu::Launch::append`, -kernel boots) and a
/// harness host plays the gateway. With netd, eth0 takes its address from the ISP by DHCP.
pub const PNP_GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const PNP_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const PNP_PREFIX_LEN: u8 = 24;
