//! The fuzz seed corpus (fuzz/corpus/<target>/) and a bounded, deterministic stand-in for
//! the fuzzers that runs with every `cargo test`: seeded mutations of that corpus through
//! the same checks the fuzz targets run (`netproto::checks`).
//!
//! The corpus files are what `tests/common` builds; after changing a packet there,
//! rewrite them with `NETPROTO_BLESS=1 cargo test -p oxwrt-netproto --test corpus`.

mod common;

use oxwrt_testkit::mutation::{self, Format};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn seed_corpus_is_up_to_date() {
    mutation::corpus_is_up_to_date(&corpus_dir(), &common::seeds(), "NETPROTO_BLESS");
}

/// A compression pointer somewhere (DNS) / an option length (DHCP).
const NETPROTO: Format = Format {
    interesting: &[0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff, 12, 255],
    edit: |rng, d| {
        let len = d.len();
        if len > 1 {
            let i = rng.below(len - 1);
            d[i] = 0xc0 | rng.below(4) as u8;
            d[i + 1] = rng.next_u64() as u8;
        }
    },
};

/// Iterations per target: enough to reach every error path of the seeds, small enough
/// for a debug-build `cargo test` on 2 cores (about a second).
const ROUNDS: usize = 20_000;

#[test]
fn seeded_mutations_never_break_the_checks() {
    let seeds = common::seeds();
    for target in ["dhcp_parse", "dns_parse", "dns_roundtrip", "dhcpv6_parse"] {
        let check: fn(&[u8]) = match target {
            "dhcp_parse" => netproto::checks::dhcp_parse,
            "dhcpv6_parse" => netproto::checks::dhcpv6_parse,
            "dns_parse" => netproto::checks::dns_parse,
            _ => netproto::checks::dns_roundtrip,
        };
        let mine: Vec<&[u8]> = seeds.iter().filter(|s| s.0 == target).map(|s| s.2.as_slice()).collect();
        mutation::hammer(target, &mine, check, &NETPROTO, 0x6f78_7772_7400_0001, ROUNDS);
    }
}
