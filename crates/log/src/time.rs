//! Wall-clock times as text, without a time zone database (the device keeps UTC).

/// The image's build time (SOURCE_DATE_EPOCH, which xtask sets for every device build);
/// 0 in a build without it. timed never lets the clock fall below it; vpnd takes a clock
/// before it as not set.
pub fn build_time() -> u64 {
    option_env!("SOURCE_DATE_EPOCH").and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// A Unix time broken down into the proleptic Gregorian calendar, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

/// `epoch` (seconds since 1970, UTC) as a calendar date and time (Howard Hinnant's
/// days-to-civil algorithm: exact for every i64 day count that fits).
pub fn civil(epoch: i64) -> Civil {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as u32,
        day: day as u32,
        hour: (secs / 3600) as u32,
        minute: (secs % 3600 / 60) as u32,
        second: (secs % 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// A Unix time as date(1) prints it in UTC (`Thu Jan  1 00:00:00 UTC 1970`): timed's and the
/// console's `date`, and the kernel build timestamp xtask sets.
pub fn format_utc(epoch: i64) -> String {
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = civil(epoch);
    format!("{} {} {:2} {:02}:{:02}:{:02} UTC {}", WD[c.weekday as usize], MO[(c.month - 1) as usize], c.day, c.hour, c.minute, c.second, c.year)
}

/// ISO 8601 without a zone (`2026-12-07T19:40:58`): what QEMU's `-rtc base=` takes.
pub fn format_iso(epoch: i64) -> String {
    let c = civil(epoch);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_like_date() {
        assert_eq!(super::format_utc(0), "Thu Jan  1 00:00:00 UTC 1970");
        // date -u -d @1764086400 -> Tue Nov 25 16:00:00 UTC 2025
        assert_eq!(super::format_utc(1_764_086_400), "Tue Nov 25 16:00:00 UTC 2025");
        assert_eq!(super::format_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
        // date -u -d @951782400 +%FT%T -> 2000-02-29T00:00:00 (a leap day)
        assert_eq!(super::format_iso(951_782_400), "2000-02-29T00:00:00");
    }
}
