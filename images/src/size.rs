//! Human-readable byte counts for error messages ("32 MiB", "40.5 MiB", "17 KiB").

/// Formats `bytes` in the largest binary unit it reaches, exact when it divides evenly,
/// else with one decimal.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
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

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn picks_the_largest_unit_and_is_exact_when_it_can_be() {
        assert_eq!(human(256 << 20), "256 MiB");
        assert_eq!(human(3 << 30), "3 GiB");
        assert_eq!(human(40 * (1 << 20) + (1 << 19)), "40.5 MiB");
        assert_eq!(human(17 << 10), "17 KiB");
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(human(1), "1 byte");
    }
}
