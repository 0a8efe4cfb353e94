//! What `sqm status` and the web UI see: the configuration's state, per direction the
//! shaped rate, the rate achieved (from the interface counters), what the kernel reports
//! back for sqmd's CAKE (read with RTM_GETQDISC, not remembered) and CAKE's per-tin
//! statistics. Served on the unix socket /run/sqmd/status.sock: connect, write `json` or
//! `text` and a newline, read to the end (a client that writes nothing gets JSON after
//! half a second). sqmd renders the text itself ([`render`]), so `sqm` needs no JSON parser.

use crate::shaper::{self, State};
use netlink::rtnetlink::cake;
use serde::Serialize;

/// The whole status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// sqm.toml's `enabled` (of the configuration running).
    pub enabled: bool,
    /// The shaped device.
    pub interface: String,
    /// Problems of sqm.toml as it is on disk now (the running configuration stays).
    pub config_errors: Vec<String>,
    /// Why the last apply failed, if it did.
    pub error: Option<String>,
    /// How many times the configuration was applied, and what the last apply changed
    /// (empty: the kernel was as wanted already).
    pub applies: u32,
    pub last_changes: Vec<String>,
    pub upload: Direction,
    pub download: Direction,
    /// Rate adaptation, when `[autorate] enabled`.
    pub autorate: Option<AutorateStatus>,
}

/// Rate adaptation's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutorateStatus {
    pub download_kbit: u64,
    pub upload_kbit: u64,
    pub bufferbloat: bool,
    /// Why the rates last changed: bufferbloat, high load, decay, stall.
    pub last_reason: String,
    /// Rate changes sent to the kernel.
    pub changes: u32,
    /// Probing pauses while the link is idle.
    pub paused: bool,
    /// The EWMA of the probes' delay above their baselines, ms.
    pub delay_ewma_us: u64,
    pub reflectors: Vec<ReflectorStatus>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReflectorStatus {
    pub address: String,
    /// "timestamp" (one-way delays), "echo" (round trips) or "trying timestamp".
    pub probe: String,
    /// The round trip's baseline.
    pub baseline_us: u64,
    /// The last probe's delay above its baseline: the larger direction's, and each one's
    /// (the same with echo).
    pub last_delta_us: u64,
    pub last_delta_down_us: u64,
    pub last_delta_up_us: u64,
}

/// One direction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Direction {
    /// Where CAKE shapes it: the WAN device (upload) or its IFB (download).
    pub device: String,
    /// The configured rate, kbit/s; 0: unshaped.
    pub shaped_kbit: u64,
    /// The rate over the last second, kbit/s, from the WAN device's counters.
    pub achieved_kbit: u64,
    /// sqmd's CAKE as the kernel reports it; None: there is none.
    pub cake: Option<Cake>,
}

/// A CAKE qdisc read back from the kernel.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cake {
    pub handle: String,
    pub rate_kbit: u64,
    pub diffserv: String,
    pub overhead: i32,
    pub mpu: u32,
    pub rtt_us: u32,
    pub nat: bool,
    pub wash: bool,
    pub ingress: bool,
    pub ack_filter: bool,
    pub memory_used: u32,
    pub memory_limit: u32,
    pub tins: Vec<Tin>,
}

/// One priority tin.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tin {
    pub threshold_kbit: u64,
    pub sent_packets: u32,
    pub sent_bytes: u64,
    pub dropped: u32,
    pub ecn_marked: u32,
    pub ack_drops: u32,
    pub backlog_bytes: u32,
    pub target_us: u32,
    pub peak_delay_us: u32,
    pub avg_delay_us: u32,
    pub base_delay_us: u32,
}

fn diffserv_name(v: Option<u32>) -> String {
    match v {
        Some(cake::CAKE_DIFFSERV_BESTEFFORT) => "besteffort".into(),
        Some(cake::CAKE_DIFFSERV_DIFFSERV3) => "diffserv3".into(),
        Some(cake::CAKE_DIFFSERV_DIFFSERV4) => "diffserv4".into(),
        Some(cake::CAKE_DIFFSERV_DIFFSERV8) => "diffserv8".into(),
        Some(n) => format!("mode {n}"),
        None => "?".into(),
    }
}

/// sqmd's CAKE on link `index`, from the kernel's state.
pub fn cake_of(state: &State, index: u32) -> Option<Cake> {
    let (q, payload) = state.our_cake(index)?;
    let o = cake::Options::parse(q.options.as_deref().unwrap_or(&[]));
    let stats = cake::parse_stats(payload).unwrap_or_default();
    Some(Cake {
        handle: format!("{:x}:", q.handle >> 16),
        rate_kbit: o.rate_bytes.unwrap_or(0) / 125,
        diffserv: diffserv_name(o.diffserv),
        overhead: o.overhead.unwrap_or(0),
        mpu: o.mpu.unwrap_or(0),
        rtt_us: o.rtt_us.unwrap_or(0),
        nat: o.nat.unwrap_or(false),
        wash: o.wash.unwrap_or(false),
        ingress: o.ingress.unwrap_or(false),
        ack_filter: o.ack_filter.unwrap_or(0) != 0,
        memory_used: stats.memory_used,
        memory_limit: stats.memory_limit,
        tins: stats
            .tins
            .iter()
            .map(|t| Tin {
                threshold_kbit: t.threshold_rate_bytes / 125,
                sent_packets: t.sent_packets,
                sent_bytes: t.sent_bytes,
                dropped: t.dropped_packets,
                ecn_marked: t.ecn_marked_packets,
                ack_drops: t.ack_drops,
                backlog_bytes: t.backlog_bytes,
                target_us: t.target_us,
                peak_delay_us: t.peak_delay_us,
                avg_delay_us: t.avg_delay_us,
                base_delay_us: t.base_delay_us,
            })
            .collect(),
    })
}

/// Fills in the kernel's side: the CAKE of each direction.
pub fn read_kernel(s: &mut Status, state: &State) {
    s.upload.device = s.interface.clone();
    s.download.device = shaper::ifb_name(&s.interface);
    s.upload.cake = state.link(&s.upload.device).and_then(|l| cake_of(state, l.index));
    s.download.cake = state.link(&s.download.device).and_then(|l| cake_of(state, l.index));
}

/// Microseconds as milliseconds with two decimals, without floating point.
fn ms(us: u64) -> String {
    format!("{}.{:02} ms", us / 1000, us % 1000 / 10)
}

fn kbit(k: u64) -> String {
    if k >= 10_000 {
        format!("{}.{} Mbit/s", k / 1000, k % 1000 / 100)
    } else {
        format!("{k} kbit/s")
    }
}

/// The status as text, for the console (`sqm status`).
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let state = if s.enabled { "enabled" } else { "disabled" };
    out.push_str(&format!("sqm: {state} on {} (applied {} times)\n", s.interface, s.applies));
    for e in &s.config_errors {
        out.push_str(&format!("sqm.toml is not applied: {e}\n"));
    }
    if let Some(e) = &s.error {
        out.push_str(&format!("error: {e}\n"));
    }
    if !s.last_changes.is_empty() {
        out.push_str(&format!("last apply: {}\n", s.last_changes.join("; ")));
    }
    if let Some(a) = &s.autorate {
        out.push_str(&format!(
            "autorate: download {}, upload {}{}{}, {} changes (last: {}), delay {} above baseline\n",
            kbit(a.download_kbit),
            kbit(a.upload_kbit),
            if a.bufferbloat { ", BUFFERBLOAT" } else { "" },
            if a.paused { ", probing paused (idle)" } else { "" },
            a.changes,
            if a.last_reason.is_empty() { "-" } else { &a.last_reason },
            ms(a.delay_ewma_us)
        ));
        for r in &a.reflectors {
            out.push_str(&format!(
                "  reflector {:<15} {:<16} baseline {:>10}, last delta down {:>10} up {:>10}\n",
                r.address,
                r.probe,
                ms(r.baseline_us),
                ms(r.last_delta_down_us),
                ms(r.last_delta_up_us)
            ));
        }
    }
    for (name, d) in [("upload", &s.upload), ("download", &s.download)] {
        let shaped = if d.shaped_kbit == 0 { "unshaped".to_string() } else { kbit(d.shaped_kbit) };
        out.push_str(&format!("{name}: {shaped}, achieved {}\n", kbit(d.achieved_kbit)));
        match &d.cake {
            None => out.push_str(&format!("  {}: no sqmd CAKE in the kernel\n", d.device)),
            Some(c) => {
                out.push_str(&format!(
                    "  {}: cake {} bandwidth {} {} overhead {} mpu {} rtt {}ms{}{}{}{}\n",
                    d.device,
                    c.handle,
                    kbit(c.rate_kbit),
                    c.diffserv,
                    c.overhead,
                    c.mpu,
                    c.rtt_us / 1000,
                    if c.nat { " nat" } else { "" },
                    if c.wash { " wash" } else { "" },
                    if c.ingress { " ingress" } else { "" },
                    if c.ack_filter { " ack-filter" } else { "" },
                ));
                out.push_str(&format!("  memory {} of {} bytes\n", c.memory_used, c.memory_limit));
                out.push_str("  tin   threshold       sent pkts    drops    marks  backlog  peak/avg/base delay\n");
                for (i, t) in c.tins.iter().enumerate() {
                    out.push_str(&format!(
                        "  {i:<3} {:>12} {:>14} {:>8} {:>8} {:>8}  {}/{}/{} us\n",
                        kbit(t.threshold_kbit),
                        t.sent_packets,
                        t.dropped,
                        t.ecn_marked,
                        t.backlog_bytes,
                        t.peak_delay_us,
                        t.avg_delay_us,
                        t.base_delay_us
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_directions_and_the_tins() {
        let mut s = Status { enabled: true, interface: "eth0".into(), applies: 2, ..Status::default() };
        s.upload = Direction { device: "eth0".into(), shaped_kbit: 1900, achieved_kbit: 1800, cake: None };
        s.download = Direction {
            device: "ifb4eth0".into(),
            shaped_kbit: 9500,
            achieved_kbit: 12,
            cake: Some(Cake {
                handle: "5351:".into(),
                rate_kbit: 9500,
                diffserv: "diffserv3".into(),
                overhead: 38,
                mpu: 84,
                rtt_us: 100_000,
                nat: true,
                ingress: true,
                tins: vec![Tin { threshold_kbit: 9500, sent_packets: 5, dropped: 1, ..Tin::default() }],
                ..Cake::default()
            }),
        };
        let text = render(&s);
        assert!(text.contains("sqm: enabled on eth0 (applied 2 times)"), "{text}");
        assert!(text.contains("upload: 1900 kbit/s, achieved 1800 kbit/s\n  eth0: no sqmd CAKE in the kernel"), "{text}");
        assert!(text.contains("ifb4eth0: cake 5351: bandwidth 9500 kbit/s diffserv3 overhead 38 mpu 84 rtt 100ms nat ingress"), "{text}");
        assert!(text.contains("  0    9500 kbit/s              5        1"), "{text}");
        assert_eq!(ms(12_345), "12.34 ms");
        assert_eq!(kbit(95_000), "95.0 Mbit/s");
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"rate_kbit\":9500"), "{json}");
    }
}
