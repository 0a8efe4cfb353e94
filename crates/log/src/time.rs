//! Wall-clock times as text, without a time zone database (the device keeps UTC).

/// A Unix time as date(1) prints it in UTC (`Thu Jan  1 00:00:00 UTC 1970`): timed's and the
/// console's `date`, and the kernel build timestamp xtask sets.
pub fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize;
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {} {:2} {:02}:{:02}:{:02} UTC {year}", WD[weekday], MO[(month - 1) as usize], day, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_like_date() {
        assert_eq!(super::format_utc(0), "Thu Jan  1 00:00:00 UTC 1970");
        // date -u -d @1764086400 -> Tue Nov 25 16:00:00 UTC 2025
        assert_eq!(super::format_utc(1_764_086_400), "Tue Nov 25 16:00:00 UTC 2025");
        assert_eq!(super::format_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }
}
