//! Random bytes from the kernel: getrandom(2); on kernels without it (before 3.17: ENOSYS)
//! /dev/urandom; if both fail, std's per-process random hash keys mixed with the clock, the
//! pid and a counter (never a panic, never an endless wait). For DHCP transaction ids and
//! DNS query ids: unpredictable to an off-path attacker, not key material.
//!
//! getrandom(2) without flags waits until the kernel's generator is seeded, which on the
//! kernels oxwrt ships (6.1: jitter entropy at boot) is done before init starts anything.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU32, Ordering};

/// Fills `buf` with random bytes (see the module docs for the sources).
pub fn fill(buf: &mut [u8]) {
    if kernel(buf) {
        return;
    }
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).is_ok() {
        return;
    }
    fallback(buf);
}

pub fn u16() -> u16 {
    let mut b = [0u8; 2];
    fill(&mut b);
    u16::from_ne_bytes(b)
}

pub fn u32() -> u32 {
    let mut b = [0u8; 4];
    fill(&mut b);
    u32::from_ne_bytes(b)
}

pub fn u64() -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    u64::from_ne_bytes(b)
}

/// getrandom(2) until `buf` is full; false if the kernel cannot (ENOSYS, ...).
fn kernel(buf: &mut [u8]) -> bool {
    let mut done = 0;
    let mut interrupted = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: rest is valid for rest.len() bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        let e = std::io::Error::last_os_error().raw_os_error();
        if n < 0 && e == Some(libc::EINTR) && interrupted < 16 {
            interrupted += 1;
            continue;
        }
        return false;
    }
    true
}

/// The last resort: std seeds each RandomState from its own random keys.
fn fallback(buf: &mut [u8]) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    for chunk in buf.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos() as u64));
        h.write_u32(std::process::id());
        h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
        let v = h.finish().to_ne_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| u16()).collect();
        assert!(ids.len() > 40, "{ids:?}");
        assert_ne!(u64(), u64());
        let mut big = [0u8; 300];
        fill(&mut big);
        assert!(big.iter().filter(|&&b| b == 0).count() < 20);
    }

    #[test]
    fn the_fallback_fills_odd_lengths() {
        let mut a = [0u8; 13];
        let mut b = [0u8; 13];
        fallback(&mut a);
        fallback(&mut b);
        assert_ne!(a, b);
    }
}
