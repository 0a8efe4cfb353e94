//! Byte sizes as written in board files: `65536`, `"64KiB"`, `"4MiB"`, `"0x40000"`.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// A size or offset in bytes. Deserializes from an integer or a string with a binary unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

const UNITS: [(&str, u64); 4] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];

impl Size {
    pub fn parse(text: &str) -> Result<Size, String> {
        let t = text.trim();
        let bad = || format!("`{text}` is not a size: write bytes (65536), hex (\"0x10000\") or a number with KiB, MiB or GiB (\"64KiB\")");
        if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            return u64::from_str_radix(hex, 16).map(Size).map_err(|_| bad());
        }
        for (unit, mult) in UNITS {
            if let Some(num) = t.strip_suffix(unit) {
                let num = num.trim();
                if let Ok(n) = num.parse::<u64>() {
                    return n.checked_mul(mult).map(Size).ok_or_else(bad);
                }
                // "3.6MiB": a decimal, rounded down to whole bytes.
                let f: f64 = num.parse().map_err(|_| bad())?;
                if !(f.is_finite() && f >= 0.0 && num.chars().all(|c| c.is_ascii_digit() || c == '.')) {
                    return Err(bad());
                }
                return Ok(Size((f * mult as f64).floor() as u64));
            }
        }
        t.parse().map(Size).map_err(|_| bad())
    }
}

impl fmt::Display for Size {
    /// Exact when a whole number of a unit, else bytes with a one-decimal approximation
    /// (both from [`oxwrt_images::size`], the workspace's one byte-count formatter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match oxwrt_images::size::exact(self.0) {
            Some(exact) => f.write_str(&exact),
            None if self.0 < 1024 => f.write_str(&oxwrt_images::size::human(self.0)),
            None => write!(f, "{} bytes ({})", self.0, oxwrt_images::size::human(self.0)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: bytes as an integer, or a string like \"64KiB\", \"4MiB\" or \"0x10000\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size).map_err(|_| E::custom(format!("size {v} is negative")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Size::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_hex() {
        assert_eq!(Size::parse("64KiB").unwrap(), Size(65536));
        assert_eq!(Size::parse("4MiB").unwrap(), Size(4 << 20));
        assert_eq!(Size::parse("0x40000").unwrap(), Size(0x40000));
        assert_eq!(Size::parse("512").unwrap(), Size(512));
        assert_eq!(Size::parse("3.6MiB").unwrap(), Size(3_774_873));
        assert!(Size::parse("-1KiB").is_err());
        assert!(Size::parse("4MB").unwrap_err().contains("MiB"));
    }

    #[test]
    fn displays_exact_units() {
        assert_eq!(Size(65536).to_string(), "64 KiB");
        assert_eq!(Size(4 << 20).to_string(), "4 MiB");
        assert_eq!(Size(1536).to_string(), "1536 bytes (1.5 KiB)");
    }
}
