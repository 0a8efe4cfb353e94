//! A bounded, deterministic stand-in for the fuzzers that runs with every `cargo test`:
//! seeded mutations of a crate's fuzz seed corpus fed to the same checks its fuzz targets
//! run, and the check that the committed seed files are what the tests build.

use std::path::Path;

/// xorshift64*: fixed seed, the same mutations on every run and machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// What a format adds to the generic edits: its interesting byte values and one edit of
/// its own weak spot (a length field, a compression pointer).
pub struct Format {
    pub interesting: &'static [u8],
    pub edit: fn(&mut Rng, &mut Vec<u8>),
}

/// One to four edits, the kinds libFuzzer favours: flip a bit, set a byte to an
/// interesting value, insert or erase bytes, copy a span over another, truncate, and the
/// format's own edit.
pub fn mutate(rng: &mut Rng, seed: &[u8], format: &Format) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 && !format.interesting.is_empty() => {
                let i = rng.below(len);
                d[i] = format.interesting[rng.below(format.interesting.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                for _ in 0..1 + rng.below(8) {
                    d.insert(i, rng.next_u64() as u8);
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
            6 => (format.edit)(rng, &mut d),
            _ => {}
        }
    }
    d
}

/// `rounds` mutations of `seeds` (round robin) through `check`, which must not panic.
pub fn hammer(target: &str, seeds: &[&[u8]], check: fn(&[u8]), format: &Format, seed: u64, rounds: usize) {
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let mut rng = Rng(seed ^ target.len() as u64);
    for round in 0..rounds {
        let input = mutate(&mut rng, seeds[round % seeds.len()], format);
        let r = std::panic::catch_unwind(|| check(&input));
        assert!(r.is_ok(), "{target} round {round}: input {input:02x?}");
    }
}

/// The committed seed files (`corpus/<target>/<name>`) equal what the tests build; with
/// the environment variable `bless` set, they are rewritten first.
pub fn corpus_is_up_to_date(corpus: &Path, seeds: &[(&str, &str, Vec<u8>)], bless: &str) {
    let blessing = std::env::var_os(bless).is_some();
    for (target, name, bytes) in seeds {
        let path = corpus.join(target).join(name);
        if blessing {
            std::fs::create_dir_all(path.parent().expect("a corpus file has a directory")).expect("cannot create the corpus directory");
            std::fs::write(&path, bytes).expect("cannot write the corpus file");
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} ({bless}=1 writes it)", path.display()));
        assert_eq!(&on_disk, bytes, "{} is stale: {bless}=1 rewrites it", path.display());
    }
}

/// `len` deterministic pseudo-random bytes (so that content mix-ups in a transfer show).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}
