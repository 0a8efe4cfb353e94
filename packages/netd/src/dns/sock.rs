//! Socket helpers std lacks: a TCP connect that does not block (netd's loop must not
//! wait on an upstream), and unpredictable query IDs.

use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::FromRawFd;

/// A random 16-bit value from the kernel (getrandom(2), via `oxwrt_log::rng`); upstream
/// query IDs, so that an off-path attacker must guess them (together with the random
/// source port).
pub fn random_u16() -> u16 {
    oxwrt_log::rng::u16()
}

/// A UDP socket connected to `server` (only its answers get through), on a port the
/// kernel picks at random, non-blocking.
pub fn udp_to(server: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let s = UdpSocket::bind(any)?;
    s.connect(server)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Starts a TCP connection to `to` without waiting for it: the socket becomes writable
/// when it is up (then `take_error()` says whether it failed).
pub fn tcp_connect_nonblocking(to: SocketAddr) -> io::Result<TcpStream> {
    // SAFETY: sockaddr_storage is plain data, filled below for the family used.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match to {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let family = if to.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain syscall; the fd is owned by the TcpStream right away.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // SAFETY: ss holds an address of `len` bytes.
    let r = unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len as libc::socklen_t) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn connects_without_blocking() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut s = tcp_connect_nonblocking(l.local_addr().unwrap()).unwrap();
        let (mut server, _) = l.accept().unwrap();
        server.write_all(b"x").unwrap();
        s.set_nonblocking(false).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
        assert!(s.take_error().unwrap().is_none());
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_u16()).collect();
        assert!(ids.len() > 32, "{ids:?}");
    }
}
