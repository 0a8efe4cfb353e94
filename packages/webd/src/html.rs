//! How values are shown on the pages: uptimes and memory sizes.

/// Whole seconds as "3d 4h 5m 6s", leading zero units left out ("59s", "1h 0m 0s").
pub fn format_uptime(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 { seconds as u64 } else { 0 };
    let (d, h, m, s) = (total / 86400, total / 3600 % 24, total / 60 % 60, total % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// KiB as "512 KiB", "12.3 MiB" or "1.5 GiB".
pub fn format_kib(kib: u64) -> String {
    if kib < 1024 {
        format!("{kib} KiB")
    } else if kib < 1024 * 1024 {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    } else {
        format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_formats() {
        assert_eq!(format_uptime(0.0), "0s");
        assert_eq!(format_uptime(59.99), "59s");
        assert_eq!(format_uptime(60.0), "1m 0s");
        assert_eq!(format_uptime(3600.0), "1h 0m 0s");
        assert_eq!(format_uptime(93784.5), "1d 2h 3m 4s");
        assert_eq!(format_uptime(400.0 * 86400.0 + 5.0), "400d 0h 0m 5s");
        assert_eq!(format_uptime(-1.0), "0s");
        assert_eq!(format_uptime(f64::NAN), "0s");
    }

    #[test]
    fn kib_formats() {
        assert_eq!(format_kib(0), "0 KiB");
        assert_eq!(format_kib(1023), "1023 KiB");
        assert_eq!(format_kib(13224), "12.9 MiB");
        assert_eq!(format_kib(24683656), "23.5 GiB");
    }
}
