//! Collecting the device status: the data model and the parsers for its sources.
//!
//! Every parser takes the text of its source and is pure, so tests feed them fixtures;
//! [`collect`] reads the real files and calls them. A source that cannot be read gives an
//! "unknown"/zero value rather than an error: a status page that shows what it can is more
//! useful than a 500.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;

use serde::Serialize;

/// Everything the status page and `/api/status` show. Field names are the JSON schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub hostname: String,
    pub oxwrt: Oxwrt,
    pub kernel: Kernel,
    /// Seconds since boot, from /proc/uptime (two decimals there).
    pub uptime_seconds: f64,
    /// 1, 5 and 15 minute load averages, from /proc/loadavg.
    pub load: [f64; 3],
    pub memory: Memory,
    pub interfaces: Vec<Interface>,
}

/// The firmware's identity, from /etc/os-release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Oxwrt {
    pub version: String,
    pub build_id: String,
}

/// From uname(2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    pub release: String,
    pub version: String,
    pub machine: String,
}

/// From /proc/meminfo, in KiB (the kernel's "kB").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Memory {
    pub total_kib: u64,
    pub available_kib: u64,
    pub used_kib: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    /// Administratively up (IFF_UP) with a link (IFF_RUNNING).
    pub up: bool,
    /// The kernel's operstate (/sys/class/net/NAME/operstate): "up", "down", "unknown"
    /// (loopback and drivers that do not report it), "dormant", ...
    pub operstate: String,
    /// "aa:bb:cc:dd:ee:ff", or null for interfaces without one (loopback reports zeros,
    /// shown as such; tunnels have none).
    pub mac: Option<String>,
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    pub address: String,
    /// Prefix length (netmask bits).
    pub prefix: u8,
}

/// Firmware version and build id when /etc/os-release has none.
pub const UNKNOWN: &str = "unknown";

/// A small text file of the system (/proc, the lease file): at most 256 KiB of it, None
/// when it cannot be read.
pub fn read(path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = String::new();
    fs::File::open(path).ok()?.take(256 * 1024).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Read every source now.
pub fn collect() -> Status {
    let (hostname, kernel) = match nix::sys::utsname::uname() {
        Ok(u) => (
            u.nodename().to_string_lossy().into_owned(),
            Kernel {
                release: u.release().to_string_lossy().into_owned(),
                version: u.version().to_string_lossy().into_owned(),
                machine: u.machine().to_string_lossy().into_owned(),
            },
        ),
        Err(_) => (UNKNOWN.to_owned(), Kernel { release: UNKNOWN.to_owned(), version: UNKNOWN.to_owned(), machine: UNKNOWN.to_owned() }),
    };
    let read = |path: &str| read(path).unwrap_or_default();
    // os-release(5): /etc/os-release, else /usr/lib/os-release.
    let os_release = fs::read_to_string("/etc/os-release").or_else(|_| fs::read_to_string("/usr/lib/os-release")).unwrap_or_default();
    Status {
        hostname,
        oxwrt: oxwrt_from_os_release(&os_release),
        kernel,
        uptime_seconds: parse_uptime(&read("/proc/uptime")).unwrap_or(0.0),
        load: parse_loadavg(&read("/proc/loadavg")).unwrap_or([0.0; 3]),
        memory: parse_meminfo(&read("/proc/meminfo")),
        interfaces: interfaces(),
    }
}

/// /proc/uptime: "350735.47 234388.90\n" (uptime, idle time); gives the first number.
pub fn parse_uptime(text: &str) -> Option<f64> {
    let v: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// /proc/loadavg: "0.20 0.18 0.12 1/80 11206\n"; gives the three averages.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_ascii_whitespace().map(|f| f.parse::<f64>().ok().filter(|v| v.is_finite()));
    Some([it.next()??, it.next()??, it.next()??])
}

/// /proc/meminfo: "MemTotal:  124340 kB" lines. Available is MemAvailable, or on kernels
/// before 3.14 (which lack it) MemFree + Buffers + Cached. Missing fields count as 0.
pub fn parse_meminfo(text: &str) -> Memory {
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        if let Some(v) = rest.split_ascii_whitespace().next().and_then(|v| v.parse::<u64>().ok()) {
            fields.insert(key.trim(), v);
        }
    }
    let get = |k: &str| fields.get(k).copied().unwrap_or(0);
    let total_kib = get("MemTotal");
    let available_kib = match fields.get("MemAvailable") {
        Some(&v) => v,
        None => get("MemFree") + get("Buffers") + get("Cached"),
    }
    .min(total_kib);
    Memory { total_kib, available_kib, used_kib: total_kib - available_kib }
}

/// os-release(5): `KEY=value` lines, values optionally in double or single quotes, with
/// backslash escapes (`\"`, `\\`, `\$`, `` \` ``) inside double quotes; `#` comments and
/// blank lines ignored. Later assignments win, as in the shell.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(key.to_owned(), unquote(raw.trim()));
    }
    out
}

fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            // Unquoted, a backslash takes the next character literally.
            (None, '\\') => out.push(chars.next().unwrap_or('\\')),
            // In double quotes, only these four are escapes.
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            // Unquoted whitespace ends the value (the shell would split the word).
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

/// The oxwrt version (VERSION_ID) and build id (OXWRT_BUILD_ID, else BUILD_ID) from the
/// text of os-release; "unknown" for what is missing or empty.
pub fn oxwrt_from_os_release(text: &str) -> Oxwrt {
    let f = parse_os_release(text);
    let pick = |keys: &[&str]| keys.iter().find_map(|k| f.get(*k).filter(|v| !v.is_empty()).cloned()).unwrap_or_else(|| UNKNOWN.to_owned());
    Oxwrt { version: pick(&["VERSION_ID"]), build_id: pick(&["OXWRT_BUILD_ID", "BUILD_ID"]) }
}

/// Prefix length of a netmask (its leading one bits).
pub fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    };
    ones as u8
}

/// "aa:bb:cc:dd:ee:ff".
pub fn format_mac(mac: [u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The interfaces from getifaddrs(3), in the kernel's order, each with its addresses.
pub fn interfaces() -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    let mut out: Vec<Interface> = Vec::new();
    for ifa in addrs {
        let idx = match out.iter().position(|i| i.name == ifa.interface_name) {
            Some(i) => i,
            None => {
                let up = ifa.flags.contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
                let operstate = fs::read_to_string(format!("/sys/class/net/{}/operstate", ifa.interface_name))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_else(|_| if up { "up" } else { "down" }.to_owned());
                out.push(Interface { name: ifa.interface_name.clone(), up, operstate, mac: None, addresses: Vec::new() });
                out.len() - 1
            }
        };
        let iface = &mut out[idx];
        let Some(addr) = ifa.address else { continue };
        if let Some(link) = addr.as_link_addr() {
            if link.halen() == 6 {
                iface.mac = link.addr().map(format_mac);
            }
            continue;
        }
        let (family, ip) = if let Some(a) = addr.as_sockaddr_in() {
            ("ipv4", IpAddr::V4(a.ip()))
        } else if let Some(a) = addr.as_sockaddr_in6() {
            ("ipv6", IpAddr::V6(a.ip()))
        } else {
            continue;
        };
        let mask = ifa.netmask.and_then(|m| m.as_sockaddr_in().map(|m| IpAddr::V4(m.ip())).or_else(|| m.as_sockaddr_in6().map(|m| IpAddr::V6(m.ip()))));
        let prefix = match mask {
            Some(m) => prefix_len(m),
            None if ip.is_ipv4() => 32,
            None => 128,
        };
        iface.addresses.push(Address { family, address: ip.to_string(), prefix });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // A WRT54GL-sized machine (16 MiB) on a current kernel.
    const MEMINFO: &str = "MemTotal:          13224 kB
MemFree:            2508 kB
MemAvailable:       5876 kB
Buffers:             612 kB
Cached:             3236 kB
SwapCached:            0 kB
Active:             3444 kB
Inactive:           2204 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    // A 3.10 kernel: no MemAvailable.
    const MEMINFO_OLD: &str = "MemTotal:         125452 kB
MemFree:           91220 kB
Buffers:            4024 kB
Cached:            12660 kB
SwapCached:            0 kB
";

    #[test]
    fn meminfo_uses_memavailable() {
        let m = parse_meminfo(MEMINFO);
        assert_eq!(m, Memory { total_kib: 13224, available_kib: 5876, used_kib: 13224 - 5876 });
    }

    #[test]
    fn meminfo_without_memavailable_adds_free_buffers_cached() {
        let m = parse_meminfo(MEMINFO_OLD);
        assert_eq!(m.total_kib, 125452);
        assert_eq!(m.available_kib, 91220 + 4024 + 12660);
        assert_eq!(m.used_kib, 125452 - (91220 + 4024 + 12660));
    }

    #[test]
    fn meminfo_garbage_is_zero_not_a_panic() {
        assert_eq!(parse_meminfo(""), Memory::default());
        assert_eq!(parse_meminfo("MemTotal: lots\nMemAvailable: 9 kB\n"), Memory::default());
    }

    #[test]
    fn loadavg() {
        assert_eq!(parse_loadavg("0.20 0.18 1.12 1/80 11206\n"), Some([0.20, 0.18, 1.12]));
        assert_eq!(parse_loadavg("12.50 3.00 0.00 4/123 999"), Some([12.5, 3.0, 0.0]));
        assert_eq!(parse_loadavg("0.20 0.18\n"), None);
        assert_eq!(parse_loadavg("a b c 1/2 3\n"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn uptime() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350735.47));
        assert_eq!(parse_uptime("5.01 1.20"), Some(5.01));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("x 1.0"), None);
        assert_eq!(parse_uptime("-3 1.0"), None);
    }

    const OS_RELEASE: &str = r#"# oxwrt
NAME="oxwrt"
ID=oxwrt
VERSION_ID="0.1.0"
PRETTY_NAME="oxwrt 0.1.0 (\"tiny\" build)"
OXWRT_BUILD_ID='20250101-abc123'
BUILD_ID=ignored-because-oxwrt-build-id-wins
HOME_URL="https://example.invalid/oxwrt"
COST="\$5 \\ \`x\`"

BROKEN LINE
"#;

    #[test]
    fn os_release_quotes_and_escapes() {
        let f = parse_os_release(OS_RELEASE);
        assert_eq!(f["NAME"], "oxwrt");
        assert_eq!(f["ID"], "oxwrt");
        assert_eq!(f["VERSION_ID"], "0.1.0");
        assert_eq!(f["PRETTY_NAME"], r#"oxwrt 0.1.0 ("tiny" build)"#);
        assert_eq!(f["OXWRT_BUILD_ID"], "20250101-abc123");
        assert_eq!(f["COST"], r"$5 \ `x`");
        assert!(!f.contains_key("BROKEN LINE"));
        assert!(!f.keys().any(|k| k.starts_with('#')));
    }

    #[test]
    fn os_release_backslashes_follow_the_shell() {
        let f = parse_os_release("A=a\\ b\nB=\"keep\\n\"\nC='no\\escape'\nD=x y\n");
        assert_eq!(f["A"], "a b");
        assert_eq!(f["B"], "keep\\n");
        assert_eq!(f["C"], "no\\escape");
        assert_eq!(f["D"], "x");
    }

    #[test]
    fn oxwrt_build_id_preferred_then_build_id_then_unknown() {
        let o = oxwrt_from_os_release(OS_RELEASE);
        assert_eq!(o, Oxwrt { version: "0.1.0".into(), build_id: "20250101-abc123".into() });
        let o = oxwrt_from_os_release("VERSION_ID=1.2\nBUILD_ID=\"b7\"\n");
        assert_eq!(o, Oxwrt { version: "1.2".into(), build_id: "b7".into() });
        let o = oxwrt_from_os_release("VERSION_ID=\nOXWRT_BUILD_ID=\"\"\nBUILD_ID=b9\n");
        assert_eq!(o, Oxwrt { version: UNKNOWN.into(), build_id: "b9".into() });
    }

    #[test]
    fn missing_os_release_is_unknown() {
        let o = oxwrt_from_os_release("");
        assert_eq!(o, Oxwrt { version: UNKNOWN.into(), build_id: UNKNOWN.into() });
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("255.0.0.0".parse().unwrap()), 8);
        assert_eq!(prefix_len("255.255.255.255".parse().unwrap()), 32);
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), 0);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()), 128);
    }

    #[test]
    fn mac_format() {
        assert_eq!(format_mac([0x00, 0x1a, 0x2b, 0xc3, 0xd4, 0xff]), "00:1a:2b:c3:d4:ff");
    }

    #[test]
    fn real_interfaces_include_loopback() {
        let ifs = interfaces();
        let lo = ifs.iter().find(|i| i.name == "lo").expect("lo in getifaddrs");
        assert!(lo.up);
        assert!(lo.addresses.contains(&Address { family: "ipv4", address: "127.0.0.1".into(), prefix: 8 }), "{lo:?}");
    }
}
