//! The DHCP sockets: UDP on 0.0.0.0:67 (server) or :68 (client), bound to one device
//! (SO_BINDTODEVICE) with SO_BROADCAST, so no raw socket is needed; and the ARP entry the
//! server sets before it unicasts an offer to a client that has no address yet.

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
use std::ffi::OsString;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// A non-blocking UDP socket on 0.0.0.0:`port` that sends and receives on `device` only.
pub fn bind_dhcp(port: u16, device: &str) -> io::Result<UdpSocket> {
    let fd = socket::socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::Broadcast, &true)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)))?;
    Ok(UdpSocket::from(fd))
}

/// Tells the kernel that `ip` is at `mac` on `device` (SIOCSARP), so that a unicast to a
/// client without an address needs no ARP answer from it.
pub fn set_arp(sock: &UdpSocket, device: &str, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
    // SAFETY: arpreq is plain old data; all-zero is a valid value.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    req.arp_pa.sa_family = libc::AF_INET as libc::sa_family_t;
    for (i, b) in ip.octets().into_iter().enumerate() {
        req.arp_pa.sa_data[2 + i] = b as libc::c_char;
    }
    req.arp_ha.sa_family = libc::ARPHRD_ETHER;
    for (i, b) in mac.into_iter().enumerate() {
        req.arp_ha.sa_data[i] = b as libc::c_char;
    }
    req.arp_flags = libc::ATF_COM;
    for (i, b) in device.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
        req.arp_dev[i] = b as libc::c_char;
    }
    // SAFETY: SIOCSARP reads one arpreq, which lives for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSARP as _, &req as *const libc::arpreq) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
