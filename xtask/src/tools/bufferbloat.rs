//! The bufferbloat measurement of a booted router in the lab ([`crate::tools::lab`]), one
//! implementation for sqmd's end-to-end test (xtask/tests/sqm.rs) and `cargo xtask bench
//! sqm`: load like flent's RRUL (4 TCP flows up and 4 down at once, iperf3 from the laptop
//! to servers in the ISP namespace), latency measured meanwhile with fping from the laptop
//! to the ISP, the goodput from iperf3's receivers; DSLReports' grade of the added latency;
//! sqmd's CPU time and memory from the guest's /proc.

use crate::tools::lab::{self, Router};
use crate::tools::qemu::Guest;
use std::path::Path;
use std::time::Duration;

/// Seconds of load of one [`measure`] (4 TCP flows each way at once, as flent's RRUL).
pub const LOAD_SECS: u64 = 20;
/// Seconds from the start of the load before latency samples count (TCP's slow start and
/// the queues filling) in [`measure`], and before iperf3's intervals count as steady.
pub const RAMP_SECS: u64 = 3;
const STEADY_FROM_SECS: f64 = 5.0;

/// What one phase measured: latency from the laptop to the ISP idle and under load (ms),
/// goodput each way (kbit/s, what iperf3's receivers got).
#[derive(Debug, Clone)]
pub struct Phase {
    pub idle_ms: f64,
    pub loaded_median_ms: f64,
    pub loaded_p95_ms: f64,
    pub lost: usize,
    pub samples: usize,
    /// Goodput over the whole test and in steady state (from 5 s on).
    pub down_kbit: f64,
    pub up_kbit: f64,
    pub down_steady_kbit: f64,
    pub up_steady_kbit: f64,
}

impl Phase {
    /// Median under load - median idle.
    pub fn added_ms(&self) -> f64 {
        self.loaded_median_ms - self.idle_ms
    }

    /// p95 under load - median idle.
    pub fn added_p95_ms(&self) -> f64 {
        self.loaded_p95_ms - self.idle_ms
    }

    /// One line for a log.
    pub fn summary(&self) -> String {
        format!(
            "idle {:.1} ms; under load median {:.1} ms, p95 {:.1} ms, {} lost of {}; added {:.1} ms: grade {}; goodput down {:.0} kbit/s ({:.0} from 5 s on), up {:.0} kbit/s ({:.0} from 5 s on)",
            self.idle_ms,
            self.loaded_median_ms,
            self.loaded_p95_ms,
            self.lost,
            self.samples,
            self.added_ms(),
            grade(self.added_ms()),
            self.down_kbit,
            self.down_steady_kbit,
            self.up_kbit,
            self.up_steady_kbit
        )
    }
}

/// DSLReports' bufferbloat grade of an added latency (ms): A+ < 5, A < 30, B < 60, C < 200,
/// D < 400, F.
pub fn grade(added_ms: f64) -> &'static str {
    match added_ms {
        a if a < 5.0 => "A+",
        a if a < 30.0 => "A",
        a if a < 60.0 => "B",
        a if a < 200.0 => "C",
        a if a < 400.0 => "D",
        _ => "F",
    }
}

/// fping -C's samples in order (`ADDR : 1.23 0.98 - 1.10`, `-` lost: None).
pub fn fping_series(out: &str) -> Vec<Option<f64>> {
    let line = out.lines().find(|l| l.contains(" : ")).unwrap_or_else(|| panic!("no samples in fping's output:\n{out}"));
    line.split(" : ").nth(1).unwrap_or("").split_whitespace().map(|v| v.parse().ok()).collect()
}

/// fping -C's answered samples, sorted, and how many were lost.
pub fn fping_samples(out: &str) -> (Vec<f64>, usize) {
    let series = fping_series(out);
    let lost = series.iter().filter(|v| v.is_none()).count();
    let mut ms: Vec<f64> = series.into_iter().flatten().collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms, lost)
}

/// The `p` quantile (0..=1) of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "no latency samples");
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The median of a series' answered samples.
pub fn median_of(samples: &[Option<f64>]) -> f64 {
    let mut v: Vec<f64> = samples.iter().flatten().copied().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(&v, 0.5)
}

/// iperf3 -J's goodput, kbit/s: over the whole test at the receiver, and in steady state
/// (the intervals from 5 s on: TCP's slow start and the queues filling are over).
pub fn iperf_kbit(path: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}:\n{text}", path.display()));
    let total = v["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or_else(|| panic!("{}: no end.sum_received:\n{text}", path.display())) / 1000.0;
    let steady: Vec<f64> = v["intervals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["sum"]["start"].as_f64().is_some_and(|t| t >= STEADY_FROM_SECS))
        .filter_map(|i| i["sum"]["bits_per_second"].as_f64())
        .collect();
    let steady = if steady.is_empty() { total } else { steady.iter().sum::<f64>() / steady.len() as f64 / 1000.0 };
    (total, steady)
}

/// The laptop's median latency to the ISP on an idle line (20 probes, 10 a second).
pub fn idle_ms(r: &Router) -> f64 {
    let (_, out) = r.laptop.exec(&["fping", "-C", "20", "-p", "100", "-q", lab::ISP_IP]).wait(Duration::from_secs(60));
    percentile(&fping_samples(&out).0, 0.5)
}

/// iperf3 clients in the laptop: 4 flows to the ISP's server on `ports.0` (upload, if
/// `up_too`) and 4 from `ports.1` (download) for `secs`. The servers must be running
/// (`Lab::isp_spawn`); one still finishing the last load answers "busy", so each load
/// uses its own ports. Returns a wait that gives the goodput (kbit/s: whole test and
/// steady state) of the download and, if measured, of the upload.
fn start_load(r: &Router, board: &str, name: &str, ports: (u16, u16), secs: u64, up_too: bool) -> impl FnOnce() -> ((f64, f64), Option<(f64, f64)>) {
    let (up_port, down_port) = (ports.0.to_string(), ports.1.to_string());
    let isp = lab::ISP_IP;
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let dir = r.dir().to_path_buf();
    let (up_json, down_json) = (dir.join(format!("{slug}-up.json")), dir.join(format!("{slug}-down.json")));
    let t = secs.to_string();
    let up = up_too.then(|| r.laptop.exec(&["iperf3", "-c", isp, "-p", &up_port, "-P", "4", "-t", &t, "-J", "--logfile", &up_json.display().to_string()]));
    let down = r.laptop.exec(&["iperf3", "-c", isp, "-p", &down_port, "-P", "4", "-t", &t, "-R", "-J", "--logfile", &down_json.display().to_string()]);
    let board = board.to_string();
    move || {
        let limit = Duration::from_secs(secs + 30);
        let up = up.map(|p| {
            let (st, o) = p.wait(limit);
            assert_eq!(st, Some(0), "{board}: iperf3 upload: {o}");
            iperf_kbit(&up_json)
        });
        let (st, o) = down.wait(limit);
        assert_eq!(st, Some(0), "{board}: iperf3 download: {o}");
        (iperf_kbit(&down_json), up)
    }
}

/// Idle latency, then [`LOAD_SECS`] of 4 flows up and 4 down (iperf3 servers on `ports`:
/// upload, download) through the router with the latency measured meanwhile (10 probes a
/// second, from [`RAMP_SECS`] into the load).
pub fn measure(r: &Router, board: &str, name: &str, ports: (u16, u16)) -> Phase {
    let idle = idle_ms(r);
    let done = start_load(r, board, name, ports, LOAD_SECS, true);
    std::thread::sleep(Duration::from_secs(RAMP_SECS));
    let count = ((LOAD_SECS - 5) * 10).to_string();
    let (_, loaded) = r.laptop.exec(&["fping", "-C", &count, "-p", "100", "-t", "3000", "-q", lab::ISP_IP]).wait(Duration::from_secs(LOAD_SECS + 30));
    let ((down_kbit, down_steady_kbit), up) = done();
    let (up_kbit, up_steady_kbit) = up.unwrap_or_default();
    let (loaded, lost) = fping_samples(&loaded);
    Phase {
        idle_ms: idle,
        loaded_median_ms: percentile(&loaded, 0.5),
        loaded_p95_ms: percentile(&loaded, 0.95),
        lost,
        samples: loaded.len() + lost,
        down_kbit,
        up_kbit,
        down_steady_kbit,
        up_steady_kbit,
    }
}

/// A load of `secs` (4 flows each way, or only down) with fping from its first moment:
/// the latency samples in order, 10 a second (None: lost), and the goodput each way
/// (kbit/s over the whole test; 0 for an upload not loaded).
pub fn load_series(r: &Router, board: &str, name: &str, ports: (u16, u16), secs: u64, up_too: bool) -> (Vec<Option<f64>>, f64, f64) {
    let done = start_load(r, board, name, ports, secs, up_too);
    let count = (secs * 10).to_string();
    let (_, out) = r.laptop.exec(&["fping", "-C", &count, "-p", "100", "-t", "3000", "-q", lab::ISP_IP]).wait(Duration::from_secs(secs + 30));
    let ((down, _), up) = done();
    (fping_series(&out), down, up.map_or(0.0, |u| u.0))
}

/// Writes a file in the guest a line at a time (the console shell has no editor) and
/// reads it back.
pub fn write_lines(g: &mut Guest, path: &str, lines: &[&str]) {
    for (i, line) in lines.iter().enumerate() {
        assert!(!line.contains('\''), "{line}");
        // One command at a time, each waited for (the shell's prompt after it).
        g.shell(&format!("echo '{line}' {} {path}", if i == 0 { ">" } else { ">>" }));
    }
    let back = g.shell(&format!("cat {path}")).replace("\r\n", "\n");
    assert!(back.contains(&lines.join("\n")), "{path} did not read back:\n{back}");
}

/// A process's CPU time so far, in clock ticks (utime + stime of /proc/PID/stat; USER_HZ
/// is 100 on every board).
pub fn cpu_ticks(g: &mut Guest, pid: u32, comm: &str) -> u64 {
    let stat = g.shell(&format!("cat /proc/{pid}/stat"));
    // The console may interleave the typed end marker with the output: look for the
    // command's name, not for the line's start.
    let name = format!("({comm}) ");
    let at = stat.find(&name).unwrap_or_else(|| panic!("no /proc/{pid}/stat:\n{stat}"));
    let after = stat[at + name.len()..].lines().next().unwrap_or("");
    let f: Vec<u64> = after.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    // Fields 14 and 15 of the line: 12th and 13th after the command's closing parenthesis.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// A process's (RSS, PSS) in KiB: /proc/PID/smaps_rollup, or the sum over its
/// /proc/PID/smaps where the kernel has no rollup.
pub fn rss_pss_kb(g: &mut Guest, pid: u32) -> (u64, u64) {
    let rollup = crate::memory::parse_kb_lines(&g.shell(&format!("cat /proc/{pid}/smaps_rollup")));
    if let (Some(rss), Some(pss)) = (rollup.get("Rss"), rollup.get("Pss")) {
        return (*rss, *pss);
    }
    let smaps = g.shell(&format!("cat /proc/{pid}/smaps"));
    let sum = |key: &str| -> u64 {
        smaps
            .lines()
            .filter_map(|l| l.split_once(':').filter(|(k, _)| k.split_whitespace().last() == Some(key)))
            .filter_map(|(_, v)| v.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    (sum("Rss"), sum("Pss"))
}
