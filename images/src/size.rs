//! Human-readable byte counts ("32 MiB", "40.5 MiB", "17 KiB", "1000 bytes"): the one formatter
//! of the workspace's build side (this crate's errors, xtask's messages and `inspect`).

const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];

/// Formats `bytes` in the largest binary unit it reaches, exact when it divides evenly,
/// else with one decimal.
pub fn human(bytes: u64) -> String {
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) { format!("{} {name}", bytes / unit) } else { format!("{:.1} {name}", bytes as f64 / unit as f64) };
        }
    }
    if bytes == 1 {
        "1 byte".to_string()
    } else {
        format!("{bytes} bytes")
    }
}

/// `bytes` as a whole number of the largest binary unit that divides it ("3776 KiB" for
/// 3.6875 MiB), or None when no unit does (fewer than 1 KiB, or not a multiple of one).
pub fn exact(bytes: u64) -> Option<String> {
    UNITS.iter().find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit)).map(|(unit, name)| format!("{} {name}", bytes / unit))
}

#[cfg(test)]
mod tests {
    use super::{exact, human};

    #[test]
    fn exact_takes_the_largest_unit_that_divides() {
        assert_eq!(exact(3776 << 10).as_deref(), Some("3776 KiB"));
        assert_eq!(exact(4 << 20).as_deref(), Some("4 MiB"));
        assert_eq!(exact(1536), None);
        assert_eq!(exact(512), None);
    }

    #[test]
    fn picks_the_largest_unit_and_is_exact_when_it_can_be() {
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(3 << 30), "3 GiB");
        assert_eq!(human(40 * (1 << 20) + (1 << 19)), "40.5 MiB");
        assert_eq!(human(17 << 10), "17 KiB");
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(human(1), "1 byte");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(4096), "4 KiB");
    }
}
