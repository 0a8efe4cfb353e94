//! `/etc/oxwrt/time.toml`: where the router gets the time of day (`timed`, an SNTP client).
//!
//! ```toml
//! # enabled = true     # false: never ask the network (the clock keeps its saved time)
//! # servers = ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org", "3.pool.ntp.org"]
//! #                    # NTP servers: host names or IPv4/IPv6 addresses, tried in turn (at most 8)
//! # servers_from_dhcp = true  # ask the NTP servers of the WAN's DHCP lease (option 42) first
//! # zonename = "UTC"   # the zone's name, as shown (e.g. "Europe/Berlin"; [`ZONES`])
//! # timezone = "UTC0"  # its POSIX TZ string (e.g. "CET-1CEST,M3.5.0,M10.5.0/3"), which
//! #                    # local times follow (the console's `date`, the web UI)
//! ```
//!
//! A missing or empty file means these defaults. Reference: docs/time.md.

use crate::problem::{self, File, Problem, Problems};
use crate::span::{Seg, Source};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const TIME_FILE: &str = "time.toml";
/// The most servers timed keeps (each costs a DNS lookup and a query per round).
pub const MAX_SERVERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Time {
    pub enabled: bool,
    pub servers: Vec<String>,
    /// The NTP servers the WAN's DHCP leases name (option 42, DHCPv6 option 31; as netd
    /// vetted them) come before [`Time::servers`].
    pub servers_from_dhcp: bool,
    pub zonename: String,
    pub timezone: String,
}

impl Default for Time {
    fn default() -> Time {
        Time {
            enabled: true,
            servers: (0..4).map(|i| format!("{i}.pool.ntp.org")).collect(),
            servers_from_dhcp: true,
            zonename: "UTC".into(),
            timezone: "UTC0".into(),
        }
    }
}

/// Common zones (name, POSIX TZ string as tzdata's zone files end with them, which is
/// what OpenWrt's LuCI offers): the web UI's list. Any other zone can be entered as its
/// TZ string.
pub const ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC0"),
    ("Europe/London", "GMT0BST,M3.5.0/1,M10.5.0"),
    ("Europe/Lisbon", "WET0WEST,M3.5.0/1,M10.5.0"),
    ("Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("Europe/Madrid", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("Europe/Rome", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("Europe/Warsaw", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ("Europe/Helsinki", "EET-2EEST,M3.5.0/3,M10.5.0/4"),
    ("Europe/Athens", "EET-2EEST,M3.5.0/3,M10.5.0/4"),
    ("Europe/Istanbul", "<+03>-3"),
    ("Europe/Moscow", "MSK-3"),
    ("Africa/Lagos", "WAT-1"),
    ("Africa/Johannesburg", "SAST-2"),
    ("Africa/Nairobi", "EAT-3"),
    ("Asia/Dubai", "<+04>-4"),
    ("Asia/Kolkata", "IST-5:30"),
    ("Asia/Bangkok", "<+07>-7"),
    ("Asia/Shanghai", "CST-8"),
    ("Asia/Singapore", "<+08>-8"),
    ("Asia/Tokyo", "JST-9"),
    ("Australia/Perth", "AWST-8"),
    ("Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    ("Pacific/Auckland", "NZST-12NZDT,M9.5.0,M4.1.0/3"),
    ("Pacific/Honolulu", "HST10"),
    ("America/Anchorage", "AKST9AKDT,M3.2.0,M11.1.0"),
    ("America/Los_Angeles", "PST8PDT,M3.2.0,M11.1.0"),
    ("America/Denver", "MST7MDT,M3.2.0,M11.1.0"),
    ("America/Phoenix", "MST7"),
    ("America/Chicago", "CST6CDT,M3.2.0,M11.1.0"),
    ("America/Mexico_City", "CST6"),
    ("America/New_York", "EST5EDT,M3.2.0,M11.1.0"),
    ("America/Sao_Paulo", "<-03>3"),
];

impl Time {
    /// Parses and validates time.toml's text ("" = all defaults); problems name the line
    /// and key.
    pub fn parse(text: &str) -> Result<Time, Problems> {
        problem::parse_checked(File::Time, text, |time: &Time, src| time.check(src))
    }

    /// Reads `dir`/time.toml (normally [`crate::DIR`]); a missing file means the defaults.
    pub fn load(dir: &Path) -> Result<Time, Error> {
        let text = crate::read_or_empty(&dir.join(TIME_FILE))?;
        Time::parse(&text).map_err(Error::Invalid)
    }

    /// Checks a value built in memory (the web UI): problems without line and column.
    pub fn validate(&self) -> Result<(), Problems> {
        let problems = self.check(None);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }

    /// Validates, then writes `dir`/time.toml atomically ([`crate::write_atomic`]); invalid:
    /// nothing is written.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        self.validate().map_err(Error::Invalid)?;
        let path = dir.join(TIME_FILE);
        crate::write_atomic(&path, self.to_toml().as_bytes()).map_err(|error| Error::Write { path, error })
    }

    /// The zone local times follow (a valid file's timezone always parses).
    pub fn tz(&self) -> oxwrt_log::Tz {
        oxwrt_log::Tz::parse(&self.timezone).unwrap_or_else(|_| oxwrt_log::Tz::utc())
    }

    /// The file's text for these settings.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    fn check(&self, src: Option<&Source>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut push = |path: &[Seg], message: String| {
            problems.push(Problem { file: File::Time, key: crate::span::path_string(path), line_col: src.and_then(|s| s.locate(path)), message });
        };
        if self.enabled && self.servers.is_empty() && !self.servers_from_dhcp {
            push(
                &[Seg::Key("servers")],
                "no NTP server: name at least one (e.g. \"pool.ntp.org\"), set servers_from_dhcp = true, or set enabled = false".into(),
            );
        }
        if self.servers.len() > MAX_SERVERS {
            push(&[Seg::Key("servers")], format!("{} servers; at most {MAX_SERVERS}: remove some", self.servers.len()));
        }
        for (i, server) in self.servers.iter().enumerate() {
            if let Some(why) = bad_server(server) {
                push(&[Seg::Key("servers"), Seg::Index(i)], format!("{server:?} {why}"));
            }
        }
        if let Err(e) = oxwrt_log::Tz::parse(&self.timezone) {
            push(&[Seg::Key("timezone")], format!("{:?} is not a POSIX TZ string: {e}", self.timezone));
        }
        if self.zonename.is_empty() || self.zonename.len() > 64 || !self.zonename.bytes().all(|b| b.is_ascii_graphic()) {
            push(&[Seg::Key("zonename")], format!("{:?}: 1 to 64 printable characters without spaces (e.g. \"Europe/Berlin\")", self.zonename));
        }
        for (i, server) in self.servers.iter().enumerate() {
            if self.servers[..i].contains(server) {
                push(&[Seg::Key("servers"), Seg::Index(i)], format!("{server:?} is listed twice: remove one"));
            }
        }
        problems
    }
}

/// Why `server` is neither an IP address nor a host name (RFC 1123 labels), if it is not.
fn bad_server(server: &str) -> Option<String> {
    if server.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if server.is_empty() || server.len() > 253 {
        return Some("is not a host name: 1 to 253 characters".into());
    }
    if server.contains(':') {
        return Some("is not a host name or address (no port: NTP is always port 123)".into());
    }
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !server.trim_end_matches('.').split('.').all(label_ok) {
        return Some("is not a host name: labels of letters, digits and '-' separated by dots".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Time::parse("").unwrap(), Time::default());
        assert_eq!(Time::default().servers[0], "0.pool.ntp.org");
        assert!(Time::default().servers_from_dhcp);
    }

    #[test]
    fn every_built_in_zone_parses() {
        for (name, tz) in ZONES {
            assert!(oxwrt_log::Tz::parse(tz).is_ok(), "{name}: {tz}");
        }
        let t = Time::parse("zonename = \"Europe/Berlin\"\ntimezone = \"CET-1CEST,M3.5.0,M10.5.0/3\"\n").unwrap();
        assert_eq!(oxwrt_log::format_local(1_764_086_400, &t.tz()), "Tue Nov 25 17:00:00 CET 2025");
        assert_eq!(Time::parse(&t.to_toml()).unwrap(), t);
    }

    #[test]
    fn addresses_and_names_are_servers() {
        let t = Time::parse("servers = [\"192.0.2.1\", \"2001:db8::1\", \"ntp.example.org\"]\n").unwrap();
        assert_eq!(t.servers.len(), 3);
        assert!(t.enabled);
        assert_eq!(Time::parse(&t.to_toml()).unwrap(), t);
    }

    #[test]
    fn problems_name_the_line_and_key() {
        let e = Time::parse("enabled = true\nservers = [\"ok.example\", \"bad_name!\", \"x:123\"]\n").unwrap_err().to_string();
        assert!(e.contains("time.toml:2:") && e.contains("servers[1]: \"bad_name!\" is not a host name"), "{e}");
        assert!(e.contains("servers[2]: \"x:123\"") && e.contains("no port"), "{e}");
        assert!(Time::parse("enabled = false\nservers = []\n").is_ok());
        let e = Time::parse("servers = []\nservers_from_dhcp = false\n").unwrap_err().to_string();
        assert!(e.contains("servers: no NTP server"), "{e}");
        assert!(Time::parse("servers = []\nservers_from_dhcp = true\n").unwrap().servers_from_dhcp, "the lease's servers only");
        let e = Time::parse("server = [\"a\"]\n").unwrap_err().to_string();
        assert!(e.contains("time.toml:1:1") && e.contains("unknown field"), "{e}");
        let e = Time::parse("servers = [\"a\", \"a\"]\n").unwrap_err().to_string();
        assert!(e.contains("servers[1]") && e.contains("twice"), "{e}");
        let e = Time::parse("timezone = \"CET-1CEST\"\n").unwrap_err().to_string();
        assert!(e.contains("time.toml:1:") && e.contains("timezone: \"CET-1CEST\" is not a POSIX TZ string: the rules of CEST"), "{e}");
        let e = Time::parse("zonename = \"Europe Berlin\"\n").unwrap_err().to_string();
        assert!(e.contains("zonename:"), "{e}");
        let many: Vec<String> = (0..9).map(|i| format!("\"s{i}.example\"")).collect();
        let e = Time::parse(&format!("servers = [{}]\n", many.join(", "))).unwrap_err().to_string();
        assert!(e.contains("at most 8"), "{e}");
    }
}
