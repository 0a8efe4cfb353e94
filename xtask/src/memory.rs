//! Where a booted guest's RAM goes, from what the guest itself says: the kernel's boot line
//! (`Memory: 9468K/16384K available (4281K kernel code, ..., 6916K reserved, ...)`),
//! /proc/meminfo, and each process's proportional set size (PSS, from
//! /proc/<pid>/smaps_rollup, which needs CONFIG_PROC_PAGE_MONITOR). Parsers only, no I/O:
//! `tools::qemu::Guest::memory` reads the files over the console, the memory benchmark
//! (`cargo xtask bench memory`) and the system tests print the result. docs/memory.md
//! explains the numbers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The kernel's own account at boot (mm/page_alloc.c, `mem_init_print_info`), in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootMemory {
    /// Pages the page allocator got.
    pub available: u64,
    /// All RAM the kernel knows of.
    pub total: u64,
    pub kernel_code: u64,
    pub rwdata: u64,
    pub rodata: u64,
    pub init: u64,
    pub bss: u64,
    /// total - available: the kernel image, memblock allocations (page array, printk
    /// buffers that were not static, ...) and firmware reservations.
    pub reserved: u64,
}

/// Finds and parses the kernel's `Memory:` line in a console log.
pub fn parse_boot_line(console: &str) -> Option<BootMemory> {
    let line = console.lines().find_map(|l| l.find("Memory: ").map(|i| &l[i + "Memory: ".len()..]).filter(|l| l.contains("K available")))?;
    let kib = |s: &str| s.trim().strip_suffix('K').and_then(|n| n.parse::<u64>().ok());
    let (avail_total, rest) = line.split_once(" available (")?;
    let (available, total) = avail_total.split_once('/')?;
    let mut m = BootMemory { available: kib(available)?, total: kib(total)?, ..BootMemory::default() };
    for part in rest.trim_end_matches(')').split(',') {
        let part = part.trim();
        let Some((value, what)) = part.split_once(' ') else { continue };
        let Some(v) = kib(value) else { continue };
        match what {
            "kernel code" => m.kernel_code = v,
            "rwdata" => m.rwdata = v,
            "rodata" => m.rodata = v,
            "init" => m.init = v,
            "bss" => m.bss = v,
            "reserved" => m.reserved = v,
            _ => {}
        }
    }
    Some(m)
}

/// `Key:   1234 kB` lines (/proc/meminfo, smaps_rollup) in a console transcript: other
/// lines (the typed command, kernel messages) are skipped. Values in KiB.
pub fn parse_kb_lines(text: &str) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        // The last word before the colon: a serial console may put other output (the
        // echoed command, a kernel message) in front of a line.
        let Some(key) = key.split_whitespace().last() else { continue };
        let Some(v) = value.trim().strip_suffix(" kB").and_then(|v| v.trim().parse().ok()) else { continue };
        map.insert(key.to_string(), v);
    }
    map
}

/// One running process: what it is and its PSS (KiB): its private pages plus its share of
/// pages mapped by several processes, so the PSS of all processes adds up to what they use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The service name (init's table), or `init` for PID 1.
    pub name: String,
    pub pid: u32,
    pub pss: u64,
    pub rss: u64,
}

/// The PIDs of running services in the output of init's `service` command (SERVICE STATE
/// PID ...). A row may follow other console text on its line (the shell's prompt): the
/// first `NAME running PID` in a line counts.
pub fn parse_service_table(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.windows(3).find_map(|w| {
                (w[1] == "running").then_some(())?;
                Some((w[0].to_string(), w[2].parse().ok()?))
            })
        })
        .collect()
}

/// A guest's memory at one moment.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub boot: Option<BootMemory>,
    /// /proc/meminfo, KiB.
    pub meminfo: BTreeMap<String, u64>,
    /// PID 1 and every running service.
    pub processes: Vec<Process>,
}

impl Report {
    /// A /proc/meminfo value in KiB (0 when absent).
    pub fn kb(&self, key: &str) -> u64 {
        self.meminfo.get(key).copied().unwrap_or(0)
    }

    /// The PSS of PID 1 and the services, KiB.
    pub fn total_pss(&self) -> u64 {
        self.processes.iter().map(|p| p.pss).sum()
    }

    /// One line for test logs: `memory: MemTotal 9672 kB, MemAvailable 2056 kB, ...`.
    pub fn summary(&self) -> String {
        let mut s = String::from("memory:");
        if let Some(b) = &self.boot {
            let _ = write!(s, " kernel {}K code, {}K reserved of {}K;", b.kernel_code, b.reserved, b.total);
        }
        for key in ["MemTotal", "MemAvailable", "MemFree", "Slab", "Cached", "AnonPages"] {
            let _ = write!(s, " {key} {} kB,", self.kb(key));
        }
        let pss: Vec<String> = self.processes.iter().map(|p| format!("{} {} kB", p.name, p.pss)).collect();
        let _ = write!(s, " PSS {} kB ({})", self.total_pss(), pss.join(", "));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "Inode-cache hash table entries: 1024 (order: 0, 4096 bytes, linear)\n\
        Memory: 9468K/16384K available (4281K kernel code, 574K rwdata, 436K rodata, 204K init, 201K bss, 6916K reserved, 0K cma-reserved)\n";

    #[test]
    fn the_boot_line_gives_every_part() {
        let m = parse_boot_line(BOOT).unwrap();
        assert_eq!(m, BootMemory { available: 9468, total: 16384, kernel_code: 4281, rwdata: 574, rodata: 436, init: 204, bss: 201, reserved: 6916 });
        assert_eq!(parse_boot_line("Memory: nothing here\n"), None);
    }

    #[test]
    fn kb_lines_skip_the_command_and_other_text() {
        let text = "cat /proc/meminfo\necho 'end-of'-command-1\nMemTotal:           9672 kB\nMemAvailable:       2056 kB\n\
                    Active(anon):         16 kB\nHugePages_Total:       0\nnetd: lease 10.0.2.15: renewed\nroot@oxwrt:/# end-of-command-1\n";
        let m = parse_kb_lines(text);
        assert_eq!(m.get("MemTotal"), Some(&9672));
        assert_eq!(m.get("MemAvailable"), Some(&2056));
        assert_eq!(m.get("Active(anon)"), Some(&16));
        assert_eq!(m.len(), 3, "{m:?}");
    }

    #[test]
    fn the_service_table_gives_running_services_only() {
        let text = "SERVICE      STATE        PID    UPTIME RESTARTS  LAST EXIT\n\
                    console      running       21       12s        0  -\n\
                    netd         running       22       12s        0  -\n\
                    webd         backoff        -         -        3  killed by SIGKILL\n";
        assert_eq!(parse_service_table(text), [("console".to_string(), 21), ("netd".to_string(), 22)]);
        let text = "root@oxwrt:/# netd         running       22       12s        0  -\n";
        assert_eq!(parse_service_table(text), [("netd".to_string(), 22)]);
    }
}
