//! The Linksys/CyberTAN "code pattern" header: 32 bytes in front of a TRX image
//! ([`crate::trx`]) that make the factory `.bin` the stock Linksys firmware accepts in its
//! web upgrade page (and CFE over TFTP). The stock firmware checks the model pattern (it
//! answers "wrong code pattern" otherwise), the `U2ND` id and, on later hardware, the
//! flags; it refuses some low versions. The header has no checksum: integrity is the TRX
//! CRC that follows.
//!
//! Layout (docs/image-formats.md, confirmed against OpenWrt's `addpattern` and its bcm47xx
//! image rules, with the details noted):
//!
//! | offset | size | field                                                           |
//! |--------|------|-----------------------------------------------------------------|
//! | 0      | 4    | model pattern, e.g. `W54G` (WRT54G/GL)                          |
//! | 4      | 4    | zeros, or `PBOT` (boot-loader variant)                          |
//! | 8      | 3    | date: year % 100, month, day                                    |
//! | 11     | 3    | version X, Y, Z of "vX.Y.Z"                                     |
//! | 14     | 4    | `U2ND`                                                          |
//! | 18     | 1    | hardware version                                                |
//! | 19     | 1    | serial byte                                                     |
//! | 20     | 2    | flags (board support bits), byte 20 the low one                 |
//! | 22     | 8    | stable, try1, try2, try3 (2 bytes each): dual-image boot counters|
//! | 30     | 2    | reserved                                                        |
//!
//! Details from `addpattern` and OpenWrt's bcm47xx image rules:
//! - The flags are two bytes in which `addpattern` sets only byte 20, so as a
//!   little-endian u16 they are the bits below. OpenWrt builds every Linksys bcm47xx
//!   factory image with `addpattern -4`: hardware version 0, flags 0x1f ([`FLAGS_V4`]).
//! - The date is that of SOURCE_DATE_EPOCH in UTC (OpenWrt's `addpattern` uses `gmtime`);
//!   [`date_from_unix`] computes it without a date library.
//! - Versions OpenWrt uses: W54G v4.71.1 (what oxwrt's WRT54GL board uses), W54S v4.80.1,
//!   W54s v1.09.1, W54U v2.08.1.
//! - Bytes 4..8 may instead continue an 8-character pattern on some later models; the
//!   parser keeps them as [`Header::pattern_ext`].
//! - In a TRX version 2 image, a copy of this header is the 4th TRX partition, and its
//!   boot counters are outside the TRX CRC (see [`crate::trx`]).

use crate::bytes::{array, le_u16, show};
use crate::trx;

/// Size of the header.
pub const HEADER_LEN: usize = 32;
/// The id at bytes 14..18.
pub const CODE_ID: [u8; 4] = *b"U2ND";
/// The boot-loader variant's bytes 4..8.
pub const PBOT: [u8; 4] = *b"PBOT";

/// Flag bit: BCM4712 chip.
pub const SUPPORT_4712_CHIP: u16 = 0x0001;
/// Flag bit: Intel flash.
pub const SUPPORT_INTEL_FLASH: u16 = 0x0002;
/// Flag bit: BCM5325E switch.
pub const SUPPORT_5325E_SWITCH: u16 = 0x0004;
/// Flag bit: BCM4704 chip.
pub const SUPPORT_4704_CHIP: u16 = 0x0008;
/// Flag bit: BCM5352E chip (the WRT54GL's).
pub const SUPPORT_5352E_CHIP: u16 = 0x0010;
/// Flag bit: BCM4703 chip.
pub const SUPPORT_4703_CHIP: u16 = 0x0020;
/// The flags of WRT54G v4-era firmware (`addpattern -4`), which OpenWrt writes for every
/// Linksys bcm47xx factory image: the first five bits.
pub const FLAGS_V4: u16 = 0x1f;

/// Model patterns known to belong to a Linksys model (as OpenWrt's bcm47xx images use
/// them). Any other 4 printable ASCII characters followed by `U2ND` still parse, as an
/// unknown model.
pub const KNOWN_PATTERNS: &[([u8; 4], &str)] = &[
    (*b"W54G", "WRT54G / WRT54GL"),
    (*b"W54S", "WRT54GS v1-v3"),
    (*b"W54s", "WRT54GS v4"),
    (*b"W54U", "WRTSL54GS"),
    (*b"W54F", "WRT54G3G"),
    (*b"W3GN", "WRT54G3G-EM"),
    (*b"3G2V", "WRT54G3GV2-VF"),
    (*b"N150", "WRT150N / WRT160N v1"),
    (*b"EWCB", "WRT300N v1"),
    (*b"EWC2", "WRT300N v1.1"),
    (*b"EWCG", "WRT350N v1"),
    (*b"310N", "WRT310N v1"),
    (*b"610N", "WRT610N"),
    (*b"61XN", "E3000 v1"),
];

/// Bytes that are not a Linksys factory image, or a version that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not a Linksys factory image: it is {available} bytes long, but the code pattern header{} needs {needed}", if *needed > HEADER_LEN { " and the TRX magic after it" } else { "" })]
    TooShort { available: usize, needed: usize },
    #[error("not a Linksys code pattern header: bytes 14..18 hold \"{}\" instead of \"U2ND\"", show(found))]
    NoCodeId { found: [u8; 4] },
    #[error("not a Linksys code pattern header: the model pattern at bytes 0..4, \"{}\", is not 4 printable ASCII characters", show(found))]
    BadPattern { found: [u8; 4] },
    #[error("Linksys code pattern header \"{}\" is not followed by a TRX image: bytes 32..36 hold \"{}\" instead of \"HDR0\"", show(pattern), show(found))]
    NoTrx { pattern: [u8; 4], found: [u8; 4] },
    #[error("version {text:?} is not of the form vX.Y.Z with each number 0-255 (e.g. v4.71.1)")]
    BadVersion { text: String },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The 32-byte code pattern header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Model pattern, e.g. `*b"W54G"`.
    pub pattern: [u8; 4],
    /// Bytes 4..8: zeros, [`PBOT`], or the rest of an 8-character pattern.
    pub pattern_ext: [u8; 4],
    /// (year % 100, month, day).
    pub date: (u8, u8, u8),
    /// (X, Y, Z) of "vX.Y.Z".
    pub version: (u8, u8, u8),
    /// 0 for BCM4702, 1 for BCM4712 boards; 0 with [`FLAGS_V4`].
    pub hw_version: u8,
    pub serial: u8,
    /// Board support bits: [`SUPPORT_4712_CHIP`] ... ([`FLAGS_V4`] for WRT54G v4 and GL).
    pub flags: u16,
    /// stable, try1, try2, try3: rewritten by dual-image firmware; zeros in a factory image.
    pub boot_counters: [u8; 8],
    /// Bytes 30..32.
    pub reserved: [u8; 2],
}

impl Header {
    /// A header for `pattern` dated `date` with `version`, everything else zero. Set
    /// [`Header::flags`] and [`Header::hw_version`] as the model needs (WRT54G v4/GL:
    /// [`FLAGS_V4`], hardware version 0).
    pub fn new(pattern: [u8; 4], date: (u8, u8, u8), version: (u8, u8, u8)) -> Header {
        Header { pattern, pattern_ext: [0; 4], date, version, hw_version: 0, serial: 0, flags: 0, boot_counters: [0; 8], reserved: [0; 2] }
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.pattern);
        b[4..8].copy_from_slice(&self.pattern_ext);
        b[8..11].copy_from_slice(&[self.date.0, self.date.1, self.date.2]);
        b[11..14].copy_from_slice(&[self.version.0, self.version.1, self.version.2]);
        b[14..18].copy_from_slice(&CODE_ID);
        b[18] = self.hw_version;
        b[19] = self.serial;
        b[20..22].copy_from_slice(&self.flags.to_le_bytes());
        b[22..30].copy_from_slice(&self.boot_counters);
        b[30..32].copy_from_slice(&self.reserved);
        b
    }

    /// Decodes the 32-byte header at the start of `bytes` (which may go on): checks the
    /// `U2ND` id and that the pattern is printable. Does not look past byte 32.
    pub fn decode(bytes: &[u8]) -> Result<Header> {
        let b: [u8; HEADER_LEN] = array(bytes, 0).ok_or(Error::TooShort { available: bytes.len(), needed: HEADER_LEN })?;
        let id: [u8; 4] = [b[14], b[15], b[16], b[17]];
        if id != CODE_ID {
            return Err(Error::NoCodeId { found: id });
        }
        let pattern = [b[0], b[1], b[2], b[3]];
        if !pattern.iter().all(u8::is_ascii_graphic) {
            return Err(Error::BadPattern { found: pattern });
        }
        Ok(Header {
            pattern,
            pattern_ext: [b[4], b[5], b[6], b[7]],
            date: (b[8], b[9], b[10]),
            version: (b[11], b[12], b[13]),
            hw_version: b[18],
            serial: b[19],
            flags: le_u16(&b, 20).unwrap_or(0),
            boot_counters: [b[22], b[23], b[24], b[25], b[26], b[27], b[28], b[29]],
            reserved: [b[30], b[31]],
        })
    }

    /// Parses a factory image: the header ([`Header::decode`]) and the TRX magic right
    /// after it. The TRX itself is for [`trx::Trx::parse`] on `file[32..]`.
    pub fn parse(file: &[u8]) -> Result<Header> {
        let header = Header::decode(file)?;
        let found: [u8; 4] = array(file, HEADER_LEN).ok_or(Error::TooShort { available: file.len(), needed: HEADER_LEN + 4 })?;
        if found != trx::MAGIC {
            return Err(Error::NoTrx { pattern: header.pattern, found });
        }
        Ok(header)
    }

    /// The model the pattern belongs to, if known.
    pub fn model(&self) -> Option<&'static str> {
        model_of(&self.pattern)
    }

    /// The pattern as text (it is printable ASCII once parsed).
    pub fn pattern_str(&self) -> String {
        show(&self.pattern)
    }

    /// "vX.Y.Z".
    pub fn version_string(&self) -> String {
        let (x, y, z) = self.version;
        format!("v{x}.{y}.{z}")
    }

    /// The date as "20YY-MM-DD".
    pub fn date_string(&self) -> String {
        let (y, m, d) = self.date;
        format!("{}-{m:02}-{d:02}", 2000 + y as u32)
    }

    /// Whether bytes 4..8 are [`PBOT`].
    pub fn is_pbot(&self) -> bool {
        self.pattern_ext == PBOT
    }
}

/// The model a pattern belongs to, if known.
pub fn model_of(pattern: &[u8; 4]) -> Option<&'static str> {
    KNOWN_PATTERNS.iter().find(|(p, _)| p == pattern).map(|&(_, name)| name)
}

/// A factory image: `header` followed by `trx`.
pub fn wrap(header: &Header, trx: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + trx.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(trx);
    out
}

/// Parses "vX.Y.Z" (or "X.Y.Z") into the header's version bytes.
pub fn parse_version(text: &str) -> Result<(u8, u8, u8)> {
    let bad = || Error::BadVersion { text: text.into() };
    let digits = text.strip_prefix('v').unwrap_or(text);
    let mut parts = digits.split('.').map(|p| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u8>().ok()
    });
    let (Some(Some(x)), Some(Some(y)), Some(Some(z)), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok((x, y, z))
}

/// The header date (year % 100, month, day) of a Unix time in UTC, e.g. of
/// SOURCE_DATE_EPOCH. Days are converted to a civil date with the proleptic Gregorian
/// calendar (400-year eras of 146097 days, years counted from March so the leap day is
/// last), without a date library.
pub fn date_from_unix(epoch_seconds: i64) -> (u8, u8, u8) {
    let (y, m, d) = civil_from_days(epoch_seconds.div_euclid(86_400));
    (y.rem_euclid(100) as u8, m, d)
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    // Shift the epoch to 0000-03-01, the start of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrt54gl() -> Header {
        let mut h = Header::new(*b"W54G", (25, 1, 31), (4, 71, 1));
        h.flags = FLAGS_V4;
        h
    }

    #[test]
    fn header_byte_by_byte() {
        let mut h = wrt54gl();
        h.serial = 6;
        h.hw_version = 0x44;
        #[rustfmt::skip]
        let expected: [u8; 32] = [
            b'W', b'5', b'4', b'G',   // pattern
            0, 0, 0, 0,               // not PBOT
            25, 1, 31,                // 2025-01-31
            4, 71, 1,                 // v4.71.1
            b'U', b'2', b'N', b'D',   // code id
            0x44,                     // hardware version
            6,                        // serial
            0x1f, 0x00,               // flags, low byte first
            0, 0, 0, 0, 0, 0, 0, 0,   // boot counters
            0, 0,                     // reserved
        ];
        assert_eq!(h.to_bytes(), expected);
    }

    fn factory() -> Vec<u8> {
        let image = trx::Builder::new(1).partition(b"kernel", 4).build().unwrap();
        wrap(&wrt54gl(), &image)
    }

    #[test]
    fn round_trip_and_trx_follows() {
        let file = factory();
        let h = Header::parse(&file).unwrap();
        assert_eq!(h, wrt54gl());
        assert_eq!(h.model(), Some("WRT54G / WRT54GL"));
        assert_eq!(h.version_string(), "v4.71.1");
        assert_eq!(h.date_string(), "2025-01-31");
        assert!(!h.is_pbot());
        assert!(trx::Trx::parse(&file[HEADER_LEN..]).unwrap().crc_ok());
        let mut every = Header::new(*b"W54s", (0, 12, 1), (1, 9, 1));
        every.pattern_ext = PBOT;
        every.boot_counters = [1, 2, 3, 4, 5, 6, 7, 8];
        every.reserved = [9, 10];
        every.flags = 0xBEEF;
        assert_eq!(Header::decode(&every.to_bytes()), Ok(every));
        assert!(every.is_pbot());
    }

    #[test]
    fn known_and_unknown_patterns() {
        for (pattern, model) in [(*b"W54G", true), (*b"W54S", true), (*b"W54s", true), (*b"W54U", true), (*b"ZZ9a", false)] {
            let h = Header::new(pattern, (1, 1, 1), (1, 0, 0));
            let parsed = Header::decode(&h.to_bytes()).unwrap();
            assert_eq!(parsed.model().is_some(), model, "{}", parsed.pattern_str());
        }
    }

    #[test]
    fn errors_name_what_is_wrong_and_where() {
        let file = factory();
        assert_eq!(Header::parse(&file[..20]), Err(Error::TooShort { available: 20, needed: 32 }));
        assert_eq!(Header::parse(&file[..34]), Err(Error::TooShort { available: 34, needed: 36 }));
        let mut bad = file.clone();
        bad[15] = b'3';
        let e = Header::parse(&bad).unwrap_err();
        assert_eq!(e, Error::NoCodeId { found: *b"U3ND" });
        assert!(e.to_string().contains("bytes 14..18"), "{e}");
        let mut bad = file.clone();
        bad[2] = 0;
        assert_eq!(Header::parse(&bad), Err(Error::BadPattern { found: *b"W5\0G" }));
        let mut bad = file.clone();
        bad[32] = b'h';
        let e = Header::parse(&bad).unwrap_err();
        assert_eq!(e, Error::NoTrx { pattern: *b"W54G", found: *b"hDR0" });
        assert!(e.to_string().contains("bytes 32..36"), "{e}");
        // A bare header (a TRX v2 pattern partition) decodes without a TRX after it.
        assert!(Header::decode(&file[..32]).is_ok());
    }

    #[test]
    fn never_panics_on_truncation_or_flips() {
        let file = factory();
        for cut in 0..file.len() {
            let r = Header::parse(&file[..cut]);
            assert_eq!(r.is_ok(), cut >= 36, "cut {cut}");
        }
        for i in 0..64 {
            for bit in 0..8 {
                let mut bad = file.clone();
                bad[i] ^= 1 << bit;
                let r = Header::parse(&bad);
                let critical = (0..4).contains(&i) || (14..18).contains(&i) || (32..36).contains(&i);
                if !critical {
                    assert!(r.is_ok(), "flip {i}/{bit}");
                }
            }
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("v4.71.1"), Ok((4, 71, 1)));
        assert_eq!(parse_version("1.09.1"), Ok((1, 9, 1)));
        for bad in ["", "v4.71", "v4.71.1.2", "v4.256.1", "v4.-1.1", "v4..1", "x4.71.1", "v+4.7.1"] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_from_unix_time() {
        assert_eq!(date_from_unix(0), (70, 1, 1));
        assert_eq!(date_from_unix(86_399), (70, 1, 1));
        assert_eq!(date_from_unix(-1), (69, 12, 31));
        assert_eq!(date_from_unix(951_782_400), (0, 2, 29)); // 2000-02-29
        assert_eq!(date_from_unix(1_709_164_800), (24, 2, 29)); // 2024-02-29
        assert_eq!(date_from_unix(1_738_367_999), (25, 1, 31)); // 2025-01-31 23:59:59
        assert_eq!(date_from_unix(4_107_542_400), (100 % 100, 3, 1)); // 2100-03-01
        assert_eq!(date_from_unix(4_107_456_000), (0, 2, 28)); // 2100-02-28, no leap day
                                                               // Every day for 200 years: consecutive, valid, months and years roll over.
        let mut prev = civil_from_days(-1);
        for day in 0..73_000 {
            let cur = civil_from_days(day);
            let (y, m, d) = cur;
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            if d == 1 {
                assert!(prev.2 >= 28);
                assert!(m == prev.1 % 12 + 1);
                assert_eq!(y, if m == 1 { prev.0 + 1 } else { prev.0 });
            } else {
                assert_eq!((y, m, d - 1), prev);
            }
            prev = cur;
        }
    }
}
