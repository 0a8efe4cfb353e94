//! The login password: its scrypt hash in /etc/oxwrt/webd.password, the cost chosen for
//! the machine it runs on, and checking a password against it.
//!
//! # The hash
//!
//! scrypt (RFC 7914) with r = 8: memory 128 * r * N bytes (N = 2^ln), time proportional
//! to N * r * p. The parameters are chosen when a password is set, on the router itself
//! ([`Params::for_this_machine`]):
//!
//! - memory from the RAM: the largest N with 1 KiB * N <= MemTotal / 16, between 2^10
//!   (1 MiB) and 2^14 (16 MiB). A WRT54GL (13 MiB MemTotal) gets 2^9 -> 2^10 = 1 MiB (the
//!   floor; webd's other memory is ~1 MiB), a 128 MiB machine 2^12 = 4 MiB, 256 MiB and
//!   more 16 MiB;
//! - time from the CPU: a hash with p = 1 is timed (twice; the faster counts) and p is set so that a hash takes
//!   about [`TARGET`] (0.5 s), between 1 and [`MAX_P`]; so a login costs ~0.5 s on every
//!   board, measured where it matters instead of guessed per board.
//!
//! Only one hash runs at a time (a lock), so the memory is bounded by one hash's.
//! The parameters are stored with the hash, so a password set on a fast machine and
//! restored on a slow one still verifies (slowly).
//!
//! # The file
//!
//! One line, `scrypt LN R P SALT HASH` (hex; 16-byte salt, 32-byte hash), padded with
//! spaces to [`RECORD`] bytes and a newline. No file, or a file with nothing but
//! whitespace, is "no password set": the first-boot state, where every page leads to
//! setting one. The image ships the file empty, root:config 0660 (`[[files]]` of
//! packages/webd/package.toml): readable by root and webd only. webd cannot own files as
//! root, so it never replaces the file: it writes the whole record over the old one with
//! one write(2) at offset 0 and fsyncs. Records have one size, so a write never leaves
//! the tail of an older, longer one; JFFS2 stores one write as one checksummed node, so a
//! power cut keeps the old record or the new one. If the file is missing (a host test, or
//! an administrator removed it), it is created 0660.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The file's name in the configuration directory.
pub const FILE: &str = "webd.password";
/// Bytes per record, newline included.
pub const RECORD: usize = 160;
/// The time one hash should take on this machine.
pub const TARGET: Duration = Duration::from_millis(500);
pub const MIN_LN: u8 = 10;
pub const MAX_LN: u8 = 14;
pub const MAX_P: u32 = 64;
pub const R: u32 = 8;
/// Passwords shorter than this are refused when set.
pub const MIN_LEN: usize = 8;
/// Longer ones too (the form's body limit is larger; this keeps hashing bounded).
pub const MAX_LEN: usize = 256;

/// scrypt's cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub ln: u8,
    pub r: u32,
    pub p: u32,
}

/// A stored password: parameters, salt and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    pub params: Params,
    pub salt: [u8; 16],
    pub hash: [u8; 32],
}

/// One hash at a time: bounded memory.
static HASHING: Mutex<()> = Mutex::new(());

fn scrypt(password: &[u8], salt: &[u8], p: Params) -> Option<[u8; 32]> {
    let params = scrypt::Params::new(p.ln, p.r, p.p).ok()?;
    let _one = HASHING.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out).ok()?;
    Some(out)
}

impl Params {
    /// The memory part from MemTotal (KiB) alone: see the module docs.
    pub fn ln_for_ram(mem_total_kib: u64) -> u8 {
        let budget = mem_total_kib / 16; // KiB; one N costs 1 KiB with r = 8
        let mut ln = MIN_LN;
        while ln < MAX_LN && (1u64 << (ln + 1)) <= budget {
            ln += 1;
        }
        ln
    }

    /// p from the time one hash with p = 1 took: about [`TARGET`] in all.
    pub fn p_for(one: Duration) -> u32 {
        let one = one.as_secs_f64().max(1e-6);
        let p = (TARGET.as_secs_f64() / one).round();
        (p as u32).clamp(1, MAX_P)
    }

    /// Memory from this machine's RAM, p from timing one hash here.
    pub fn for_this_machine() -> Params {
        let mem = crate::status::read("/proc/meminfo").map(|m| crate::status::parse_meminfo(&m).total_kib).unwrap_or(0);
        let ln = Params::ln_for_ram(mem);
        // Twice, the faster counts: the first run pays for cold caches (and, under QEMU,
        // for translating the code), which a login does not.
        let one = (0..2)
            .map(|_| {
                let start = Instant::now();
                let _ = scrypt(b"calibration", b"calibration salt", Params { ln, r: R, p: 1 });
                start.elapsed()
            })
            .min()
            .unwrap_or(TARGET);
        Params { ln, r: R, p: Params::p_for(one) }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Hash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(password: &str, params: Params) -> Option<Hash> {
        let mut salt = [0u8; 16];
        oxwrt_log::rng::fill(&mut salt);
        let hash = scrypt(password.as_bytes(), &salt, params)?;
        Some(Hash { params, salt, hash })
    }

    /// Whether `password` is this one (the comparison takes the same time wherever the
    /// bytes differ).
    pub fn verify(&self, password: &str) -> bool {
        match scrypt(password.as_bytes(), &self.salt, self.params) {
            Some(h) => crate::session::same(&h, &self.hash),
            None => false,
        }
    }

    /// The record: one line, padded to [`RECORD`] bytes.
    pub fn to_record(&self) -> Vec<u8> {
        let p = self.params;
        let mut line = format!("scrypt {} {} {} {} {}", p.ln, p.r, p.p, hex(&self.salt), hex(&self.hash));
        while line.len() < RECORD - 1 {
            line.push(' ');
        }
        line.push('\n');
        line.into_bytes()
    }

    /// Parses a record; Ok(None) for an empty one (no password set).
    pub fn parse(text: &str) -> Result<Option<Hash>, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [kind, ln, r, p, salt, hash] = match words.as_slice() {
            [] => return Ok(None),
            [a, b, c, d, e, f] => [*a, *b, *c, *d, *e, *f],
            _ => return Err(format!("expected `scrypt LN R P SALT HASH`, found {} words", words.len())),
        };
        if kind != "scrypt" {
            return Err(format!("unknown hash kind `{}` (only scrypt)", kind.escape_debug()));
        }
        let num = |s: &str, what: &str| s.parse::<u32>().map_err(|_| format!("{what} `{}` is not a number", s.escape_debug()));
        let (ln, r, p) = (num(ln, "LN")?, num(r, "R")?, num(p, "P")?);
        if !(1..=20).contains(&ln) || !(1..=32).contains(&r) || !(1..=MAX_P).contains(&p) {
            return Err(format!("parameters LN {ln}, R {r}, P {p} out of range (LN 1-20, R 1-32, P 1-{MAX_P})"));
        }
        let salt = unhex::<16>(salt).ok_or("SALT is not 32 hex digits")?;
        let hash = unhex::<32>(hash).ok_or("HASH is not 64 hex digits")?;
        Ok(Some(Hash { params: Params { ln: ln as u8, r, p }, salt, hash }))
    }
}

/// The password file of the configuration directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The stored password: Ok(None) when none is set (no file, or an empty one); Err with
/// what is wrong with the file (webd then refuses every login and says so).
pub fn load(dir: &Path) -> Result<Option<Hash>, String> {
    let p = path(dir);
    match fs::read_to_string(&p) {
        Ok(t) => Hash::parse(&t).map_err(|e| {
            format!("{}: {e}; set it again from the console: truncate it to 0 bytes (`: > {}`) and set a new password in the web UI", p.display(), p.display())
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {}", p.display(), crate::server::describe(&e))),
    }
}

/// Writes `hash` as the password (see the module docs: in place, one write, fsync).
pub fn store(dir: &Path, hash: &Hash) -> io::Result<()> {
    let p = path(dir);
    let f = OpenOptions::new().write(true).create(true).truncate(false).mode(0o660).open(&p)?;
    // Created now: 0660 whatever the umask. The image's file is root's: its mode stays.
    if f.metadata().is_ok_and(|m| m.permissions().mode() & 0o777 != 0o660) {
        let _ = f.set_permissions(fs::Permissions::from_mode(0o660));
    }
    let rec = hash.to_record();
    f.write_all_at(&rec, 0)?;
    // An older record is never longer (one size), but a file edited by hand may be.
    if f.metadata()?.len() > rec.len() as u64 {
        f.set_len(rec.len() as u64)?;
    }
    f.sync_all()?;
    Ok(())
}

/// Why a new password is refused; None when it is acceptable.
pub fn weak(password: &str, repeat: &str) -> Option<&'static str> {
    if password != repeat {
        Some("the two passwords differ")
    } else if password.chars().count() < MIN_LEN {
        Some("at least 8 characters")
    } else if password.len() > MAX_LEN {
        Some("at most 256 bytes")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Params = Params { ln: 4, r: 8, p: 1 };

    #[test]
    fn memory_follows_ram() {
        assert_eq!(Params::ln_for_ram(13_224), 10); // WRT54GL: the 1 MiB floor
        assert_eq!(Params::ln_for_ram(0), 10);
        assert_eq!(Params::ln_for_ram(125_000), 12); // 128 MiB: 4 MiB (2^13 KiB > 7.8 MiB)
        assert_eq!(Params::ln_for_ram(262_144), 14);
        assert_eq!(Params::ln_for_ram(8 << 20), 14); // capped at 16 MiB
    }

    #[test]
    fn time_sets_p() {
        assert_eq!(Params::p_for(Duration::from_millis(500)), 1);
        assert_eq!(Params::p_for(Duration::from_secs(3)), 1);
        assert_eq!(Params::p_for(Duration::from_millis(100)), 5);
        assert_eq!(Params::p_for(Duration::from_micros(1)), MAX_P);
        assert_eq!(Params::p_for(Duration::ZERO), MAX_P);
    }

    #[test]
    fn rfc7914_vector() {
        // RFC 7914 section 12, the second vector: "password", "NaCl", N = 1024, r = 8, p = 16.
        let params = scrypt::Params::new(10, 8, 16).unwrap();
        let mut out = [0u8; 64];
        scrypt::scrypt(b"password", b"NaCl", &params, &mut out).unwrap();
        assert_eq!(hex(&out[..8]), "fdbabe1c9d347200");
    }

    #[test]
    fn verify_and_record_round_trip() {
        let h = Hash::new("correct horse", FAST).unwrap();
        assert!(h.verify("correct horse"));
        assert!(!h.verify("correct hors"));
        assert!(!h.verify(""));
        let rec = h.to_record();
        assert_eq!(rec.len(), RECORD);
        let back = Hash::parse(std::str::from_utf8(&rec).unwrap()).unwrap().unwrap();
        assert_eq!(back, h);
        assert!(back.verify("correct horse"));
        // Two hashes of one password differ (salt).
        assert_ne!(Hash::new("correct horse", FAST).unwrap().hash, h.hash);
    }

    #[test]
    fn empty_is_none_and_garbage_says_why() {
        assert_eq!(Hash::parse("").unwrap(), None);
        assert_eq!(Hash::parse("  \n").unwrap(), None);
        assert!(Hash::parse("md5 x").unwrap_err().contains("found 2 words"));
        assert!(Hash::parse("bcrypt 1 2 3 4 5").unwrap_err().contains("unknown hash kind `bcrypt`"));
        assert!(Hash::parse("scrypt 99 8 1 00 00").unwrap_err().contains("out of range"));
        assert!(Hash::parse(&format!("scrypt 10 8 1 zz {}", "0".repeat(64))).unwrap_err().contains("SALT"));
    }

    #[test]
    fn store_and_load_in_place() {
        let dir = std::env::temp_dir().join(format!("webd-pw-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir).unwrap(), None);
        fs::write(path(&dir), "").unwrap();
        assert_eq!(load(&dir).unwrap(), None);
        let a = Hash::new("first password", FAST).unwrap();
        store(&dir, &a).unwrap();
        assert_eq!(load(&dir).unwrap(), Some(a));
        let b = Hash::new("second password", FAST).unwrap();
        store(&dir, &b).unwrap();
        assert_eq!(load(&dir).unwrap(), Some(b));
        assert_eq!(fs::metadata(path(&dir)).unwrap().len(), RECORD as u64);
        fs::write(path(&dir), "garbage\n").unwrap();
        assert!(load(&dir).unwrap_err().contains("webd.password: expected"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn weak_passwords() {
        assert_eq!(weak("abc", "abc"), Some("at least 8 characters"));
        assert_eq!(weak("abcdefgh", "abcdefgX"), Some("the two passwords differ"));
        assert_eq!(weak("abcdefgh", "abcdefgh"), None);
        assert_eq!(weak(&"x".repeat(300), &"x".repeat(300)), Some("at most 256 bytes"));
    }
}
