//! Wall-clock times as text, without a time zone database: the device keeps UTC, and local
//! time comes from a POSIX TZ string ([`Tz`], as OpenWrt's `system.timezone`), which
//! carries the offsets and the daylight-saving rules of a zone in a few bytes.

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

/// A POSIX time zone (the `TZ` variable of POSIX.1-2017, 8.3): `std offset [dst [offset]
/// ,start[/time],end[/time]]`, e.g. `CET-1CEST,M3.5.0,M10.5.0/3` (Central Europe),
/// `EST5EDT,M3.2.0,M11.1.0` (US Eastern), `IST-5:30` (India), `<+08>-8` (a numeric
/// abbreviation). The offset is what is added to local time to get UTC (west positive, as
/// POSIX has it). Rules: `Mm.w.d` (day d, 0 = Sunday, of week w, 5 = last, of month m),
/// `Jn` (day 1-365, February 29 never counted), `n` (day 0-365); a rule's time is local
/// (standard time for the start, daylight time for the end), default 02:00, and may be
/// negative or beyond 24 h. A daylight-saving name needs its rules (no built-in default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tz {
    std_name: String,
    /// Seconds east of UTC.
    std_east: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    name: String,
    east: i32,
    start: (Rule, i32),
    end: (Rule, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Month { m: u32, w: u32, d: u32 },
    Julian1(u32),
    Julian0(u32),
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

impl Rule {
    /// The day (days since 1970) this rule names in `year`.
    fn day(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            Rule::Julian0(n) => jan1 + i64::from(n),
            Rule::Julian1(n) => jan1 + i64::from(n) - 1 + i64::from(leap(year) && n >= 60),
            Rule::Month { m, w, d } => {
                let first = days_from_civil(year, m, 1);
                let wd = (first + 4).rem_euclid(7); // 0 = Sunday
                let mut day = first + (i64::from(d) - wd).rem_euclid(7) + 7 * (i64::from(w) - 1);
                let next = if m == 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, m + 1, 1) };
                while day >= next {
                    day -= 7;
                }
                day
            }
        }
    }
}

/// A parser over the TZ text; errors say what was expected where.
struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let yes = self.peek() == Some(c);
        self.i += usize::from(yes);
        yes
    }

    fn num(&mut self, what: &str, max: u32) -> Result<u32, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.i - start < 4 {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<u32>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("{what} expected at character {} (a number up to {max})", start + 1)),
        }
    }

    /// `ABC` (3+ letters) or `<+0530>` (3+ letters, digits, '+', '-').
    fn name(&mut self, what: &str) -> Result<String, String> {
        let start = self.i;
        let (quoted, ok): (bool, fn(u8) -> bool) =
            if self.eat(b'<') { (true, |c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-') } else { (false, |c| c.is_ascii_alphabetic()) };
        let from = self.i;
        while self.peek().is_some_and(ok) {
            self.i += 1;
        }
        let name = String::from_utf8_lossy(&self.s[from..self.i]).into_owned();
        if name.len() < 3 || (quoted && !self.eat(b'>')) {
            return Err(format!("{what} expected at character {} (3 or more letters, or <+05> style)", start + 1));
        }
        Ok(name)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds; `max_hours` bounds hh.
    fn hms(&mut self, what: &str, max_hours: u32) -> Result<i32, String> {
        let neg = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let mut secs = self.num(what, max_hours)? * 3600;
        if self.eat(b':') {
            secs += self.num(what, 59)? * 60;
            if self.eat(b':') {
                secs += self.num(what, 59)?;
            }
        }
        let secs = secs as i32;
        Ok(if neg { -secs } else { secs })
    }

    fn rule(&mut self) -> Result<(Rule, i32), String> {
        let at = self.i + 1;
        let rule = if self.eat(b'M') {
            let m = self.num("a month (1-12)", 12)?;
            let w = if self.eat(b'.') { self.num("a week (1-5)", 5)? } else { 0 };
            let d = if self.eat(b'.') { self.num("a weekday (0-6)", 6)? } else { 7 };
            if m == 0 || w == 0 || d > 6 {
                return Err(format!("rule at character {at}: Mm.w.d with m 1-12, w 1-5, d 0-6"));
            }
            Rule::Month { m, w, d }
        } else if self.eat(b'J') {
            let n = self.num("a day (1-365)", 365)?;
            if n == 0 {
                return Err(format!("rule at character {at}: Jn counts days from 1"));
            }
            Rule::Julian1(n)
        } else {
            Rule::Julian0(self.num("a rule (Mm.w.d, Jn or n)", 365)?)
        };
        let time = if self.eat(b'/') { self.hms("a time", 167)? } else { 7200 };
        Ok((rule, time))
    }
}

impl Tz {
    /// Coordinated Universal Time (`UTC0`).
    pub fn utc() -> Tz {
        Tz { std_name: "UTC".into(), std_east: 0, dst: None }
    }

    /// Parses a POSIX TZ string; Err says what is wrong and where.
    pub fn parse(text: &str) -> Result<Tz, String> {
        let mut p = P { s: text.as_bytes(), i: 0 };
        let std_name = p.name("a zone name (e.g. CET)")?;
        let std_east = -p.hms("an offset from UTC (e.g. -1 for UTC+1)", 24)?;
        let mut dst = None;
        if p.peek().is_some() {
            let name = p.name("a daylight-saving name (e.g. CEST)")?;
            let east = if matches!(p.peek(), Some(b'+' | b'-' | b'0'..=b'9')) { -p.hms("a daylight-saving offset", 24)? } else { std_east + 3600 };
            if !p.eat(b',') {
                return Err(format!("the rules of {name} expected at character {} (e.g. ,M3.5.0,M10.5.0/3)", p.i + 1));
            }
            let start = p.rule()?;
            if !p.eat(b',') {
                return Err(format!("the end rule expected at character {} (e.g. ,M10.5.0/3)", p.i + 1));
            }
            let end = p.rule()?;
            dst = Some(Dst { name, east, start, end });
        }
        if p.i != text.len() {
            return Err(format!("unexpected `{}` at character {}", &text[p.i.min(text.len())..], p.i + 1));
        }
        Ok(Tz { std_name, std_east, dst })
    }

    /// The offset east of UTC (seconds) and the abbreviation in effect at `utc`.
    pub fn at(&self, utc: i64) -> (i32, &str) {
        let Some(d) = &self.dst else { return (self.std_east, &self.std_name) };
        let year = civil(utc + i64::from(self.std_east)).year;
        let start = d.start.0.day(year) * 86400 + i64::from(d.start.1) - i64::from(self.std_east);
        let end = d.end.0.day(year) * 86400 + i64::from(d.end.1) - i64::from(d.east);
        let in_dst = if start < end { (start..end).contains(&utc) } else { utc >= start || utc < end };
        if in_dst {
            (d.east, &d.name)
        } else {
            (self.std_east, &self.std_name)
        }
    }
}

impl std::str::FromStr for Tz {
    type Err = String;
    fn from_str(s: &str) -> Result<Tz, String> {
        Tz::parse(s)
    }
}

/// A Unix time as date(1) prints it in the zone `tz` (`Mon Dec  7 23:20:01 CET 2026`).
pub fn format_local(epoch: i64, tz: &Tz) -> String {
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (east, name) = tz.at(epoch);
    let c = civil(epoch + i64::from(east));
    format!("{} {} {:2} {:02}:{:02}:{:02} {name} {}", WD[c.weekday as usize], MO[(c.month - 1) as usize], c.day, c.hour, c.minute, c.second, c.year)
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

    use super::{format_local, Tz};

    /// Against tzdata (`TZ=... date -d @N`, glibc with the zone's POSIX string).
    #[test]
    fn posix_zones() {
        let berlin = Tz::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2026-03-29 01:00:00 UTC: the clocks go from 02:00 CET to 03:00 CEST.
        assert_eq!(format_local(1_774_745_999, &berlin), "Sun Mar 29 01:59:59 CET 2026");
        assert_eq!(format_local(1_774_746_000, &berlin), "Sun Mar 29 03:00:00 CEST 2026");
        // 2026-10-25 01:00:00 UTC: from 03:00 CEST back to 02:00 CET.
        assert_eq!(format_local(1_792_889_999, &berlin), "Sun Oct 25 02:59:59 CEST 2026");
        assert_eq!(format_local(1_792_890_000, &berlin), "Sun Oct 25 02:00:00 CET 2026");
        assert_eq!(format_local(1_764_086_400, &berlin), "Tue Nov 25 17:00:00 CET 2025");
        let ny = Tz::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2026-03-08 07:00 UTC = 02:00 EST -> 03:00 EDT; 2026-11-01 06:00 UTC = 02:00 EDT -> 01:00 EST.
        assert_eq!(format_local(1_772_953_199, &ny), "Sun Mar  8 01:59:59 EST 2026");
        assert_eq!(format_local(1_772_953_200, &ny), "Sun Mar  8 03:00:00 EDT 2026");
        assert_eq!(format_local(1_793_512_800, &ny), "Sun Nov  1 01:00:00 EST 2026");
        // Southern hemisphere: daylight saving across the new year.
        let sydney = Tz::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(format_local(1_767_225_600, &sydney), "Thu Jan  1 11:00:00 AEDT 2026");
        assert_eq!(format_local(1_783_000_000, &sydney), "Thu Jul  2 23:46:40 AEST 2026");
        let india = Tz::parse("IST-5:30").unwrap();
        assert_eq!(format_local(0, &india), "Thu Jan  1 05:30:00 IST 1970");
        let numeric = Tz::parse("<-03>3").unwrap();
        assert_eq!(format_local(0, &numeric), "Wed Dec 31 21:00:00 -03 1969");
        assert_eq!(Tz::parse("UTC0").unwrap(), Tz::utc());
        assert_eq!(format_local(0, &Tz::utc()), super::format_utc(0));
        // Jn and n rules: the same day in a leap year.
        let j = Tz::parse("AAA0BBB,J60/0,J300/0").unwrap();
        let n = Tz::parse("AAA0BBB,59/0,299/0").unwrap();
        // 2027-03-01 (not leap: J60 = n59 = March 1) 00:00 UTC.
        assert_eq!(j.at(1_803_859_200).1, "BBB");
        assert_eq!(n.at(1_803_859_200).1, "BBB");
        assert_eq!(j.at(1_803_859_199).1, "AAA");
        // 2028 is a leap year: J60 is still March 1, n59 is February 29.
        assert_eq!(j.at(1_835_481_600).1, "BBB");
        assert_eq!(j.at(1_835_395_200).1, "AAA");
        assert_eq!(n.at(1_835_395_200).1, "BBB");
    }

    #[test]
    fn bad_zones_say_where() {
        for (tz, says) in [
            ("", "a zone name"),
            ("CE-1", "a zone name"),
            ("CET", "an offset"),
            ("CET-1CEST", "the rules of CEST"),
            ("CET-1CEST,M3.5.0", "the end rule"),
            ("CET-1CEST,M13.5.0,M10.5.0", "a month"),
            ("CET-1CEST,M3.6.0,M10.5.0", "a week"),
            ("CET-1CEST,M3.5.7,M10.5.0", "a weekday"),
            ("CET-1 ", "a daylight-saving name"),
            ("CET-1CEST,M3.5.0,M10.5.0/3x", "unexpected `x`"),
            ("<+05-5", "a zone name"),
            ("CET-25", "an offset"),
        ] {
            let e = Tz::parse(tz).unwrap_err();
            assert!(e.contains(says), "{tz:?}: {e}");
        }
    }
}
