//! sqmd end to end in the booted images (run by `cargo xtask test` after it has built
//! them): ONE boot per QEMU board, every check on it, through the serial console. The
//! guest has no `tc`: the qdiscs are read back from the kernel by sqmd itself (RTM_GETQDISC,
//! in `sqm status --json`) and the IFB device is seen in /sys/class/net.
//!
//! - sqmd runs as user sqmd (103) with NET_ADMIN and NET_RAW only, and shapes nothing by
//!   default (the image's sqm.toml is off);
//! - an sqm.toml written on the console and `service restart sqmd`: CAKE at the WAN's root
//!   (upload) and on ifb4eth0 in ingress mode (download) at the configured rates, with
//!   per-tin statistics;
//! - SIGHUP with the same file applies again and changes nothing;
//! - bad files (a negative rate, an unknown overhead preset, an interface that does not
//!   exist) are refused naming sqm.toml:line and the key, on SIGHUP and on restart, and the
//!   shaping stays exactly as it was;
//! - autorate probes with ICMP echo: a reflector that does not answer is replaced by the
//!   next of the pool; with none answering the kernel's CAKEs go to the minimum rates;
//! - `enabled = false` removes the CAKEs, the redirect and the IFB device.

use std::time::{Duration, Instant};
use xtask::board::Board;
use xtask::context::Context;
use xtask::tools::qemu::{Guest, Launch};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";
const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(60);
const SQM_TOML: &str = "/etc/oxwrt/sqm.toml";

fn ctx() -> Context {
    Context::from_env(false).unwrap()
}

fn board(id: &str) -> Board {
    ctx().repo().load_board(id).unwrap()
}

/// A line for the log of every run (libtest captures only print!/eprint!).
fn log_always(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

struct Sqm {
    g: Guest,
    board: &'static str,
    started: Instant,
}

impl Sqm {
    fn step(&self, what: &str) {
        log_always(&format!("[{} {:>6.1} s] {what}", self.board, self.started.elapsed().as_secs_f64()));
    }

    /// How many log records contain `pattern`.
    fn count(&mut self, pattern: &str) -> usize {
        self.g.shell("logread").lines().filter(|l| l.trim_start().starts_with('[') && l.contains(pattern)).count()
    }

    /// Runs `action`, then waits until one more log record contains `pattern`.
    fn expect_log(&mut self, pattern: &str, action: impl FnOnce(&mut Guest)) -> String {
        let before = self.count(pattern);
        action(&mut self.g);
        let t = Instant::now();
        loop {
            let log = self.g.shell("logread");
            let hits: Vec<&str> = log.lines().filter(|l| l.trim_start().starts_with('[') && l.contains(pattern)).collect();
            if hits.len() > before {
                return hits[hits.len() - 1].to_string();
            }
            assert!(t.elapsed() < T, "{}: no new `{pattern}` in logread within {} s:\n{log}\n--- console ---\n{}", self.board, T.as_secs(), self.g.tail());
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Writes sqm.toml a line at a time (the console shell has no editor) and reads it back.
    fn write(&mut self, lines: &[&str]) {
        for (i, line) in lines.iter().enumerate() {
            assert!(!line.contains('\''), "{line}");
            self.g.send(&format!("echo '{line}' {} {SQM_TOML}", if i == 0 { ">" } else { ">>" }));
        }
        let back = self.g.shell(&format!("cat {SQM_TOML}")).replace("\r\n", "\n");
        assert!(back.contains(&lines.join("\n")), "{}: {SQM_TOML} did not read back:\n{back}", self.board);
    }

    fn pid(&mut self) -> u32 {
        let table = self.g.shell("service");
        table
            .lines()
            .find(|l| l.starts_with("sqmd ") && l.contains("running"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: no running sqmd in `service`:\n{table}", self.board))
    }

    fn restart(&mut self, expect: &str) -> String {
        self.expect_log(expect, |g| {
            g.send("service restart sqmd");
        })
    }

    fn hup(&mut self, expect: &str) -> String {
        let pid = self.pid();
        self.expect_log(expect, |g| {
            g.send(&format!("kill -HUP {pid}"));
        })
    }

    /// `sqm status --json`, parsed.
    fn status(&mut self) -> serde_json::Value {
        let out = self.g.shell("sqm status --json");
        let line = out.lines().find(|l| l.trim_start().starts_with('{')).unwrap_or_else(|| panic!("{}: no JSON from `sqm status --json`:\n{out}", self.board));
        serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{}: {e}: {line}", self.board))
    }

    fn net_devices(&mut self) -> String {
        self.g.shell("ls /sys/class/net")
    }
}

/// The kernel's CAKE of one direction as sqmd read it back (RTM_GETQDISC).
fn assert_cake(board: &str, s: &serde_json::Value, dir: &str, device: &str, kbit: u64, ingress: bool) {
    let d = &s[dir];
    assert_eq!(d["device"], device, "{board} {dir}: {s:#}");
    let c = &d["cake"];
    assert!(c.is_object(), "{board}: no CAKE of sqmd on {device} in the kernel: {s:#}");
    assert_eq!(c["handle"], "5351:", "{board} {dir}: {s:#}");
    assert_eq!(c["rate_kbit"], kbit, "{board} {dir}: {s:#}");
    assert_eq!(c["ingress"], ingress, "{board} {dir}: {s:#}");
    assert_eq!(c["diffserv"], "diffserv3", "{board} {dir}: {s:#}");
    assert_eq!((c["overhead"].as_i64(), c["mpu"].as_u64()), (Some(18), Some(64)), "{board} {dir} (docsis): {s:#}");
    let tins = c["tins"].as_array().unwrap_or_else(|| panic!("{board}: no tins: {s:#}"));
    assert_eq!(tins.len(), 3, "{board} {dir}: diffserv3 has 3 tins: {s:#}");
    assert!(tins.iter().all(|t| t["threshold_kbit"].as_u64().is_some_and(|k| k > 0 && k <= kbit)), "{board} {dir}: {s:#}");
}

fn no_shaping(board: &str, s: &serde_json::Value) {
    assert!(s["upload"]["cake"].is_null() && s["download"]["cake"].is_null(), "{board}: sqmd's CAKE is still in the kernel: {s:#}");
}

fn scenario(id: &'static str, launch: Launch) {
    let started = Instant::now();
    let mut g = Guest::start(&ctx(), &board(id), launch);
    g.wait_for("oxwrt: ready", BOOT);
    let mut s = Sqm { g, board: id, started };
    s.step("booted");
    s.g.wait_for_log("sqmd: running", T);

    // Its own user, NET_ADMIN (12) and NET_RAW (13) only.
    let pid = s.pid();
    let st = s.g.shell(&format!("cat /proc/{pid}/status"));
    let field = |k: &str| st.lines().find_map(|l| l.trim().strip_prefix(k)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
    assert_eq!(field("Uid:"), "103 103 103 103", "{st}");
    assert_eq!(field("Gid:"), "103 103 103 103", "{st}");
    for k in ["CapEff:", "CapPrm:", "CapAmb:"] {
        assert_eq!(field(k), "0000000000003000", "sqmd {k}\n{st}");
    }
    // The image's sqm.toml is off: nothing shaped.
    let status = s.status();
    assert_eq!((status["enabled"].as_bool(), status["interface"].as_str()), (Some(false), Some("eth0")), "{status:#}");
    no_shaping(id, &status);
    let text = s.g.shell("sqm status");
    assert!(text.contains("sqm: disabled on eth0"), "{text}");

    // Shaping on: both directions, as the kernel reports it.
    s.step("enable: 9500/1900 kbit/s, docsis");
    let good = ["enabled = true", "download_kbit = 9500", "upload_kbit = 1900", "overhead = \"docsis\""];
    s.write(&good);
    s.restart("eth0: shaping upload 1900 kbit/s, download 9500 kbit/s");
    let st = s.status();
    assert_cake(id, &st, "upload", "eth0", 1900, false);
    assert_cake(id, &st, "download", "ifb4eth0", 9500, true);
    assert!(st["config_errors"].as_array().is_some_and(|e| e.is_empty()) && st["error"].is_null(), "{st:#}");
    // What the apply did, one log line per change (the IFB's own link notification makes
    // sqmd apply once more, which changes nothing: `last_changes` may be empty already).
    let log = s.g.shell("logread");
    for c in ["added CAKE on eth0", "created ifb4eth0", "set ifb4eth0 up", "added CAKE on ifb4eth0", "added the ingress qdisc of eth0", "redirected eth0's download to ifb4eth0"] {
        assert!(log.contains(&format!("sqmd: {c}")), "{id}: `{c}` not logged:\n{log}");
    }
    assert!(s.net_devices().contains("ifb4eth0"), "{id}: no IFB device in /sys/class/net");
    let text = s.g.shell("sqm status");
    for want in ["sqm: enabled on eth0", "eth0: cake 5351: bandwidth 1900 kbit/s diffserv3 overhead 18 mpu 64 rtt 100ms nat", "ifb4eth0: cake 5351: bandwidth 9500 kbit/s", " ingress"] {
        assert!(text.contains(want), "{id}: `{want}` not in `sqm status`:\n{text}");
    }

    // Applying the same file again changes nothing.
    s.step("SIGHUP, same file");
    let applies = st["applies"].as_u64().unwrap();
    s.hup("SIGHUP: reloading the configuration");
    let again = s.status();
    assert!(again["applies"].as_u64().is_some_and(|n| n > applies), "{again:#}");
    assert_eq!(again["last_changes"], serde_json::json!([]), "{id}: a second apply changed the kernel: {again:#}");
    assert_cake(id, &again, "upload", "eth0", 1900, false);

    // Bad files: refused with file:line: key, the shaping as it was.
    s.step("bad files");
    s.write(&["enabled = true", "download_kbit = -5", "upload_kbit = 1900"]);
    let line = s.hup("sqm.toml:2:1: download_kbit: -5 is negative");
    assert!(line.contains("not applied, the shaping stays as it was"), "{line}");
    s.write(&["enabled = true", "download_kbit = 5000", "upload_kbit = 1000", "overhead = \"adsl\""]);
    s.restart("sqm.toml:4:1: overhead: unknown preset \"adsl\"");
    s.write(&["enabled = true", "interface = \"eth7\"", "download_kbit = 5000", "upload_kbit = 1000"]);
    s.restart("sqm.toml:2:1: interface: no device `eth7` exists");
    let st = s.status();
    assert!(st["config_errors"].to_string().contains("interface: no device `eth7` exists"), "{st:#}");
    assert_cake(id, &st, "upload", "eth0", 1900, false);
    assert_cake(id, &st, "download", "ifb4eth0", 9500, true);
    let text = s.g.shell("sqm status");
    assert!(text.contains("sqm.toml is not applied: sqm.toml:2:1: interface"), "{text}");

    // Rate adaptation, with the reflectors QEMU's user network has: its gateway 10.0.2.2
    // answers ping, 198.51.100.0/24 (TEST-NET-2) does not (192.0.2.1 does: it is this
    // machine's default gateway, DEVELOPERS.md). A silent reflector is replaced...
    s.step("autorate: a dead reflector replaced");
    let mut auto = vec!["enabled = true", "download_kbit = 9500", "upload_kbit = 1900", "overhead = \"docsis\"", "[autorate]", "enabled = true"];
    s.write(&[&auto[..], &["reflectors = [\"198.51.100.1\", \"10.0.2.2\"]", "pingers = 1", "dead_reflector_ms = 1000"]].concat());
    s.restart("autorate: reflector 198.51.100.1 does not answer; probing 10.0.2.2 instead");
    let t = Instant::now();
    let st = loop {
        let st = s.status();
        let r = &st["autorate"]["reflectors"];
        if r[0]["address"] == "10.0.2.2" && r[0]["baseline_us"].as_u64().is_some_and(|b| b > 0) {
            break st;
        }
        assert!(t.elapsed() < T, "{id}: no answers from 10.0.2.2 in the autorate status: {st:#}");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(st["autorate"]["download_kbit"], 9500, "{st:#}");
    assert!(s.g.shell("sqm status").contains("reflector 10.0.2.2"), "{id}");
    // ... and none answering for stall_ms: the minimum rates, in the kernel.
    s.step("autorate: no reflector answers");
    auto.extend(["reflectors = [\"198.51.100.1\", \"198.51.100.2\"]", "stall_ms = 2000", "download_min_kbit = 3000", "upload_min_kbit = 600"]);
    s.write(&auto);
    s.restart("autorate: no reflector answers: the minimum rates, download 3000 kbit/s, upload 600 kbit/s");
    let st = s.status();
    assert_eq!((st["upload"]["cake"]["rate_kbit"].as_u64(), st["download"]["cake"]["rate_kbit"].as_u64()), (Some(600), Some(3000)), "{id}: {st:#}");
    assert_eq!(st["autorate"]["last_reason"], "stall", "{st:#}");

    // Off: everything sqmd added goes.
    s.step("disable");
    s.write(&["enabled = false", "download_kbit = 9500", "upload_kbit = 1900"]);
    s.restart("eth0: not shaped");
    let st = s.status();
    no_shaping(id, &st);
    let log = s.g.shell("logread");
    for c in ["removed CAKE from eth0", "removed the redirect of eth0's download", "removed the ingress qdisc of eth0", "deleted ifb4eth0"] {
        assert!(log.contains(&format!("sqmd: {c}")), "{id}: `{c}` not logged:\n{log}");
    }
    assert!(!s.net_devices().contains("ifb4eth0"), "{id}: the IFB device is still there");
    let log = s.g.shell("logread");
    assert!(!log.contains("Permission denied"), "{log}");
    s.step("done");
    s.g.send("poweroff");
    s.g.wait_for("oxwrt: powering off", T);
}

fn launch(disk: Option<std::path::PathBuf>) -> Launch {
    Launch { disk, efi: false, http_port: None, exit_on_reboot: true, append: String::new(), nics: None, devices: Vec::new(), netns: None }
}

#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn x86_sqmd_shapes_both_ways_refuses_bad_files_and_removes_what_it_added() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    std::fs::copy(xtask::steps::image::disk_path(&ctx(), &board(X86)), &disk).unwrap();
    scenario(X86, launch(Some(disk)));
}

#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn malta_sqmd_shapes_both_ways_refuses_bad_files_and_removes_what_it_added() {
    let dir = tempfile::tempdir().unwrap();
    let flash = dir.path().join("flash.bin");
    let b = board(MALTA);
    std::fs::copy(xtask::steps::image::flash::flash_path(&xtask::steps::image::images_dir(&ctx(), &b), &b), &flash).unwrap();
    scenario(MALTA, launch(Some(flash)));
}
