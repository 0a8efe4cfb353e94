//! The status page: HTML5, inline CSS, no JavaScript. Every value from the system goes
//! through [`escape`].

use std::fmt::Write;

use crate::status::Status;

/// Escape text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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

const STYLE: &str = "body{font-family:sans-serif;margin:1em auto;max-width:52em;padding:0 1em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f3f3f3}td.up{color:#070}td.down{color:#a00}code{font-size:.95em}";

/// The whole page.
pub fn render(st: &Status) -> String {
    let mut o = String::with_capacity(4096);
    let host = escape(&st.hostname);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{host} - oxwrt status</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{host}</h1>\n<h2>System</h2>\n<table>\n"
    );
    let row = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(&mut o, "Hostname", &host);
    row(&mut o, "oxwrt version", &escape(&st.oxwrt.version));
    row(&mut o, "Build", &escape(&st.oxwrt.build_id));
    row(&mut o, "Kernel", &format!("{} {}", escape(&st.kernel.release), escape(&st.kernel.machine)));
    row(&mut o, "Kernel build", &escape(&st.kernel.version));
    row(&mut o, "Uptime", &format_uptime(st.uptime_seconds));
    row(&mut o, "Load average", &format!("{:.2} {:.2} {:.2}", st.load[0], st.load[1], st.load[2]));
    let m = &st.memory;
    row(&mut o, "Memory", &format!("{} total, {} available, {} used", format_kib(m.total_kib), format_kib(m.available_kib), format_kib(m.used_kib)));
    o.push_str(
        "</table>\n<h2>Network interfaces</h2>\n<table>\n\
         <tr><th>Interface</th><th>State</th><th>MAC</th><th>Addresses</th></tr>\n",
    );
    for i in &st.interfaces {
        let state = if i.up { "up" } else { "down" };
        let _ = write!(o, "<tr><td>{}</td><td class=\"{state}\">{state}", escape(&i.name));
        // The kernel's own word when it says more ("unknown" for loopback, "dormant", ...).
        if i.operstate != state {
            let _ = write!(o, " ({})", escape(&i.operstate));
        }
        let _ = write!(o, "</td><td><code>{}</code></td><td>", escape(i.mac.as_deref().unwrap_or("-")));
        for (n, a) in i.addresses.iter().enumerate() {
            if n > 0 {
                o.push_str("<br>");
            }
            let _ = write!(o, "<code>{}/{}</code>", escape(&a.address), a.prefix);
        }
        o.push_str("</td></tr>\n");
    }
    o.push_str("</table>\n<p><a href=\"/api/status\">JSON</a></p>\n</body>\n</html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Address, Interface, Kernel, Memory, Oxwrt};

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(escape("plain-host_1.lan"), "plain-host_1.lan");
        assert_eq!(escape("ünïcode"), "ünïcode");
        assert_eq!(escape(""), "");
    }

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

    fn sample() -> Status {
        Status {
            hostname: "<script>alert(1)</script>".into(),
            oxwrt: Oxwrt { version: "0.1.0".into(), build_id: "b&1".into() },
            kernel: Kernel { release: "6.1.192".into(), version: "#1 SMP".into(), machine: "mips".into() },
            uptime_seconds: 93784.0,
            load: [0.5, 0.25, 0.125],
            memory: Memory { total_kib: 13224, available_kib: 5876, used_kib: 7348 },
            interfaces: vec![
                Interface {
                    name: "lo".into(),
                    up: true,
                    operstate: "unknown".into(),
                    mac: Some("00:00:00:00:00:00".into()),
                    addresses: vec![
                        Address { family: "ipv4", address: "127.0.0.1".into(), prefix: 8 },
                        Address { family: "ipv6", address: "::1".into(), prefix: 128 },
                    ],
                },
                Interface { name: "wan".into(), up: false, operstate: "down".into(), mac: None, addresses: vec![] },
            ],
        }
    }

    #[test]
    fn page_shows_the_values_escaped() {
        let page = render(&sample());
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(page.ends_with("</html>\n"));
        assert!(!page.contains("<script>"), "hostname must be escaped");
        assert!(page.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"));
        assert!(page.contains("b&amp;1"));
        assert!(page.contains("6.1.192 mips"));
        assert!(page.contains("1d 2h 3m 4s"));
        assert!(page.contains("0.50 0.25 0.12") || page.contains("0.50 0.25 0.13"));
        assert!(page.contains("12.9 MiB total, 5.7 MiB available, 7.2 MiB used"));
        assert!(page.contains("<td>lo</td><td class=\"up\">up (unknown)</td>"));
        assert!(page.contains("<code>127.0.0.1/8</code><br><code>::1/128</code>"));
        assert!(page.contains("<td>wan</td><td class=\"down\">down</td><td><code>-</code></td>"));
        assert!(!page.contains("<script"));
    }
}
