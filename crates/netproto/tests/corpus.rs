//! The fuzz seed corpus (fuzz/corpus/<target>/) and a bounded, deterministic stand-in for
//! the fuzzers that runs with every `cargo test`: seeded mutations of that corpus through
//! the same checks the fuzz targets run (`netproto::checks`).
//!
//! The corpus files are what `tests/common` builds; after changing a packet there,
//! rewrite them with `NETPROTO_BLESS=1 cargo test -p oxwrt-netproto --test corpus`.

mod common;

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn seed_corpus_is_up_to_date() {
    let bless = std::env::var_os("NETPROTO_BLESS").is_some();
    for (target, name, bytes) in common::seeds() {
        let path = corpus_dir().join(target).join(name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (NETPROTO_BLESS=1 writes it)", path.display()));
        assert_eq!(on_disk, bytes, "{} is stale: NETPROTO_BLESS=1 rewrites it", path.display());
    }
}

/// xorshift64*: fixed seed, same mutations on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four edits, the kinds libFuzzer favours: flip a bit, set a byte to an
/// interesting value, insert or erase bytes, copy a span over another, truncate.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff, 12, 255][rng.below(10)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    d.insert(i, rng.next() as u8);
                }
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(len - i);
                d.drain(i..i + n.min(16));
            }
            4 if len > 1 => {
                let (from, to) = (rng.below(len), rng.below(len));
                let n = (1 + rng.below(32)).min(len - from).min(len - to);
                let span = d[from..from + n].to_vec();
                d[to..to + n].copy_from_slice(&span);
            }
            5 if len > 0 => d.truncate(rng.below(len)),
            // A compression pointer somewhere (DNS) / an option length (DHCP).
            _ if len > 1 => {
                let i = rng.below(len - 1);
                d[i] = 0xc0 | rng.below(4) as u8;
                d[i + 1] = rng.next() as u8;
            }
            _ => {}
        }
    }
    d
}

/// Iterations per target: enough to reach every error path of the seeds, small enough
/// for a debug-build `cargo test` on 2 cores (about a second).
const ROUNDS: usize = 20_000;

#[test]
fn seeded_mutations_never_break_the_checks() {
    let seeds = common::seeds();
    for target in ["dhcp_parse", "dns_parse", "dns_roundtrip"] {
        let check: fn(&[u8]) = match target {
            "dhcp_parse" => netproto::checks::dhcp_parse,
            "dns_parse" => netproto::checks::dns_parse,
            _ => netproto::checks::dns_roundtrip,
        };
        let mine: Vec<&[u8]> = seeds.iter().filter(|s| s.0 == target).map(|s| s.2.as_slice()).collect();
        let mut rng = Rng(0x6f78_7772_7400_0001 ^ target.len() as u64);
        for round in 0..ROUNDS {
            let input = mutate(&mut rng, mine[round % mine.len()]);
            let r = std::panic::catch_unwind(|| check(&input));
            assert!(r.is_ok(), "{target} round {round}: input {input:02x?}");
        }
    }
}
