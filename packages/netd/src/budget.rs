//! netd's memory budget: how much of the router's RAM the tables that clients and the
//! network can grow may hold, derived from the RAM (MemTotal of /proc/meminfo) once at
//! start, and split between them. A 16 MiB WRT54G (MemTotal about 11.5 MiB with oxwrt's
//! kernel) and a 1 GiB x86 box get the same code and different numbers.
//!
//! | table | share | holds, per item (worst case) |
//! |---|---|---|
//! | DNS over TCP clients | 40 % | [`TCP_IN`] of queries read + [`TCP_OUT`] of answers not yet taken + one answer (64 KiB) |
//! | DNS queries upstream | 15 % | the query (at most 4 KiB) and its bookkeeping: [`PENDING_BYTES`] |
//! | DNS answer cache | 35 % | the answers' bytes (each at most 4 KiB) |
//! | DHCP leases | 10 % | an entry with its hostname: [`LEASE_BYTES`] |
//!
//! The whole budget is MemTotal / 16, at least [`MIN_TOTAL`] and at most [`MAX_TOTAL`]:
//! 721 KiB on the 16 MiB board (2 TCP clients, 27 queries in flight, 252 KiB of cached
//! answers, 288 leases), 8 MiB from 128 MiB up (where the fixed limits netd had
//! before are reached: 8 TCP clients, 128 queries in flight). Each count has a floor that
//! keeps a home LAN working (2 TCP clients, 16 queries in flight, 64 leases). Numbers for
//! each board: docs/network-config.md "Limits".

/// The budget of a router with unknown RAM (no /proc/meminfo): the smallest board's.
pub const FALLBACK_MEM_KIB: u64 = 11_500;
pub const MIN_TOTAL: usize = 512 << 10;
pub const MAX_TOTAL: usize = 8 << 20;
/// Bytes read from one TCP client before the rest waits in the kernel.
pub const TCP_IN: usize = 16 << 10;
/// Answers waiting for a TCP client that does not read (past it, the client is closed).
pub const TCP_OUT: usize = 64 << 10;
/// The largest DNS answer over TCP (the 2-byte length prefix allows 64 KiB): one may be
/// appended past [`TCP_OUT`] before the client is closed.
pub const TCP_ANSWER: usize = 64 << 10;
/// One query upstream at worst: a 4 KiB query and its bookkeeping.
pub const PENDING_BYTES: usize = 4 << 10;
/// One lease: the entry, its hostname (at most 63 bytes) and the table's overhead.
pub const LEASE_BYTES: usize = 256;

/// What netd may hold; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub mem_total_kib: u64,
    /// The sum of the parts below, in bytes.
    pub total: usize,
    pub tcp_clients: usize,
    pub pending: usize,
    pub cache_bytes: usize,
    pub leases: usize,
}

impl Budget {
    /// The budget for `mem_total_kib` of RAM (MemTotal).
    pub fn for_memory(mem_total_kib: u64) -> Budget {
        let total = usize::try_from(mem_total_kib.saturating_mul(1024) / 16).unwrap_or(MAX_TOTAL).clamp(MIN_TOTAL, MAX_TOTAL);
        let share = |pct: usize| total / 100 * pct;
        let per_client = TCP_IN + TCP_OUT + TCP_ANSWER;
        Budget {
            mem_total_kib,
            total,
            tcp_clients: (share(40) / per_client).clamp(2, 8),
            pending: (share(15) / PENDING_BYTES).clamp(16, 128),
            cache_bytes: share(35),
            leases: (share(10) / LEASE_BYTES).max(64),
        }
    }

    /// This router's, from /proc/meminfo (the smallest board's when it cannot be read).
    pub fn of_this_router() -> Budget {
        let mem = std::fs::read_to_string("/proc/meminfo").ok().as_deref().and_then(crate::sysctl::mem_total_kib);
        Budget::for_memory(mem.unwrap_or(FALLBACK_MEM_KIB))
    }

    /// The most these tables can hold, in bytes: what the budget promises.
    pub fn worst_case_bytes(&self) -> usize {
        self.tcp_clients * (TCP_IN + TCP_OUT + TCP_ANSWER) + self.pending * PENDING_BYTES + self.cache_bytes + self.leases * LEASE_BYTES
    }

    /// The forwarder's part.
    pub fn dns(&self) -> crate::dns::Limits {
        crate::dns::Limits { tcp_clients: self.tcp_clients, tcp_in: TCP_IN, tcp_out: TCP_OUT, pending: self.pending, cache_bytes: self.cache_bytes }
    }
}

/// netd's budget, computed once.
pub fn current() -> &'static Budget {
    static B: std::sync::OnceLock<Budget> = std::sync::OnceLock::new();
    B.get_or_init(Budget::of_this_router)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_16_mib_router_and_a_pc() {
        // Malta at -m 16M with oxwrt's kernel: MemTotal 11540 kB.
        let small = Budget::for_memory(11_540);
        assert_eq!(small.total, 738_560, "MemTotal / 16");
        assert_eq!((small.tcp_clients, small.pending, small.leases), (2, 27, 288));
        assert_eq!(small.cache_bytes, 258_475);
        assert!(small.worst_case_bytes() <= small.total, "{small:?}: {}", small.worst_case_bytes());
        let pc = Budget::for_memory(24 << 20);
        assert_eq!(pc.total, MAX_TOTAL);
        assert_eq!((pc.tcp_clients, pc.pending), (8, 128));
        assert!(pc.leases >= 3000 && pc.worst_case_bytes() <= pc.total, "{pc:?}");
        let tiny = Budget::for_memory(1024);
        assert_eq!(tiny.total, MIN_TOTAL);
        assert_eq!((tiny.tcp_clients, tiny.pending, tiny.leases), (2, 19, 204));
    }
}
