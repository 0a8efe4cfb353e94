//! `/api/status`: [`Status`] as JSON (schema in the crate docs).

use crate::status::Status;

/// One JSON object and a newline. Serializing these plain structs cannot fail; a
/// non-finite float (impossible from the parsers) would be written as `null`.
pub fn render(st: &Status) -> String {
    let mut s = serde_json::to_string(st).unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Address, Interface, Kernel, Memory, Oxwrt};

    /// The exact output: field names and nesting are the API, so a rename must fail here.
    #[test]
    fn schema_is_stable() {
        let st = Status {
            hostname: "gw\"1".into(),
            oxwrt: Oxwrt { version: "0.1.0".into(), build_id: "unknown".into() },
            kernel: Kernel { release: "6.1.192".into(), version: "#1 Tue".into(), machine: "mips".into() },
            uptime_seconds: 12.5,
            load: [0.5, 0.0, 1.25],
            memory: Memory { total_kib: 13224, available_kib: 5876, used_kib: 7348 },
            interfaces: vec![
                Interface {
                    name: "lo".into(),
                    up: true,
                    operstate: "unknown".into(),
                    mac: Some("00:00:00:00:00:00".into()),
                    addresses: vec![Address { family: "ipv4", address: "127.0.0.1".into(), prefix: 8 }],
                },
                Interface { name: "wg0".into(), up: false, operstate: "down".into(), mac: None, addresses: vec![] },
            ],
        };
        let expected = concat!(
            r#"{"hostname":"gw\"1","oxwrt":{"version":"0.1.0","build_id":"unknown"},"#,
            r##""kernel":{"release":"6.1.192","version":"#1 Tue","machine":"mips"},"##,
            r#""uptime_seconds":12.5,"load":[0.5,0.0,1.25],"#,
            r#""memory":{"total_kib":13224,"available_kib":5876,"used_kib":7348},"#,
            r#""interfaces":[{"name":"lo","up":true,"operstate":"unknown","mac":"00:00:00:00:00:00","#,
            r#""addresses":[{"family":"ipv4","address":"127.0.0.1","prefix":8}]},"#,
            r#"{"name":"wg0","up":false,"operstate":"down","mac":null,"addresses":[]}]}"#,
            "\n"
        );
        assert_eq!(render(&st), expected);
    }
}
