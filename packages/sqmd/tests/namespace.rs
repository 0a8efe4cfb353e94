//! sqmd on this host's kernel, in a network namespace of its own (root and iproute2's `ip`
//! needed; else skipped, or failed under OXWRT_STRICT_TESTS=1, see oxwrt_testkit): the
//! real binary against the real rtnetlink, its status read through its socket by the real
//! `sqm` applet. This host's kernel has no CAKE (docs: DEVELOPERS.md), so what is checked
//! here is the path a kernel without it takes: the error names CONFIG_NET_SCH_CAKE, the
//! daemon keeps running and answering, a bad file is refused with file:line: key, a WAN
//! device that goes away and comes back is applied to again (link notifications). The
//! shaping itself is checked in the booted images (xtask/tests/sqm.rs).

use oxwrt_testkit::Prereq;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("sqmd-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &name]);
        Netns(name)
    }

    fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", &self.0];
        a.extend_from_slice(args);
        ip(&a);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(st.success(), "ip {args:?}: {st}");
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sqm status --json` through the socket (the applet by its name: a link called `sqm`).
fn status(root: &Path) -> Option<serde_json::Value> {
    let out = Command::new(root.join("sqm")).args(["status", "--json", "--socket"]).arg(root.join("run/sqmd/status.sock")).output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn wait_status(root: &Path, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let s = status(root);
        if let Some(s) = s.as_ref().filter(|s| ok(s)) {
            return s.clone();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{what}: last status {s:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn without_cake_the_error_names_the_kernel_option_and_bad_files_are_refused() {
    if !oxwrt_testkit::require_all(&[Prereq::Root, Prereq::program("ip", "apt-get install iproute2")]) {
        return;
    }
    let has_cake = std::fs::read_to_string("/proc/modules").unwrap_or_default().contains("sch_cake")
        || Path::new(&format!(
            "/lib/modules/{}/kernel/net/sched/sch_cake.ko",
            String::from_utf8_lossy(&Command::new("uname").arg("-r").output().unwrap().stdout).trim()
        ))
        .exists();
    if has_cake {
        oxwrt_testkit::missing(
            "a host kernel WITHOUT CAKE (this test checks sqmd's error for one)",
            "run it on a kernel without sch_cake; the booted images test the shaping (xtask/tests/sqm.rs)",
        );
        return;
    }
    let ns = Netns::new("nocake");
    ns.ip(&["link", "add", "wan0", "type", "veth", "peer", "name", "isp0"]);
    ns.ip(&["link", "set", "wan0", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/oxwrt")).unwrap();
    std::fs::create_dir_all(root.join("run/sqmd")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sqmd"), root.join("sqm")).unwrap();
    std::fs::write(root.join("etc/oxwrt/sqm.toml"), "enabled = true\ninterface = \"wan0\"\ndownload_kbit = 9500\nupload_kbit = 1900\n").unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_sqmd"), "--root"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut d = Daemon(child);

    let s = wait_status(root, "the CAKE error", |s| s["error"].is_string());
    let e = s["error"].as_str().unwrap();
    assert!(e.contains("the kernel has no CAKE qdisc") && e.contains("CONFIG_NET_SCH_CAKE=y") && e.contains("Specified qdisc kind is unknown"), "{e}");
    assert_eq!((s["enabled"].as_bool(), s["interface"].as_str(), s["upload"]["shaped_kbit"].as_u64()), (Some(true), Some("wan0"), Some(1900)), "{s}");
    assert!(s["upload"]["cake"].is_null(), "{s}");

    // A bad file, applied by SIGHUP: refused with file:line: key; the daemon goes on.
    std::fs::write(root.join("etc/oxwrt/sqm.toml"), "enabled = true\ninterface = \"wan0\"\ndownload_kbit = 9500\nupload_kbit = -3\n").unwrap();
    let pid = d.0.id().to_string();
    // `ip netns exec` execs the daemon: the child's pid is sqmd's.
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let s = wait_status(root, "the refused file", |s| s["config_errors"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(s["config_errors"][0].as_str().unwrap().starts_with("sqm.toml:4:1: upload_kbit: -3 is negative"), "{s}");
    assert_eq!(s["upload"]["shaped_kbit"].as_u64(), Some(1900), "the running configuration stays: {s}");

    // The WAN device goes away and comes back: sqmd hears it (link notifications) and
    // applies again each time (here each apply ends at the missing CAKE, which is what
    // shows that it ran: the error changes).
    std::fs::write(root.join("etc/oxwrt/sqm.toml"), "enabled = true\ninterface = \"wan0\"\ndownload_kbit = 9500\nupload_kbit = 1900\n").unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    wait_status(root, "the good file again", |s| s["config_errors"].as_array().is_some_and(|e| e.is_empty()) && s["error"].is_string());
    ns.ip(&["link", "del", "wan0"]);
    let s = wait_status(root, "the WAN gone", |s| s["error"].as_str().is_some_and(|e| e.contains("the device wan0 does not exist")));
    assert!(s["error"].as_str().unwrap().contains("shaping waits for it"), "{s}");
    ns.ip(&["link", "add", "wan0", "type", "veth", "peer", "name", "isp0"]);
    ns.ip(&["link", "set", "wan0", "up"]);
    wait_status(root, "the WAN back", |s| s["error"].as_str().is_some_and(|e| e.contains("CONFIG_NET_SCH_CAKE")));

    // The readable form, by the applet's own name.
    let out = Command::new(root.join("sqm")).args(["status", "--socket"]).arg(root.join("run/sqmd/status.sock")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sqm: enabled on wan0") && text.contains("error: the kernel has no CAKE qdisc"), "{text}");

    let _ = d.0.kill();
    let out = d.0.wait_with_output_stderr();
    // Logged at start and again after the WAN came back (the error in between differed),
    // not at every apply.
    assert_eq!(out.matches("the kernel has no CAKE qdisc").count(), 2, "a repeated failure is logged once:\n{out}");
}

trait StderrOf {
    fn wait_with_output_stderr(&mut self) -> String;
}

impl StderrOf for Child {
    fn wait_with_output_stderr(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

/// The probes against a real Linux stack (loopback): Linux answers ICMP timestamp
/// requests, so the reflector is probed with them and gives one-way delays.
#[test]
fn linux_answers_timestamp_probes_with_one_way_delays() {
    if !oxwrt_testkit::require_root() {
        return;
    }
    let mut p = sqmd::probe::Prober::open().expect("raw ICMP socket (root)");
    let lo = std::net::Ipv4Addr::LOCALHOST;
    assert_eq!(p.kind(lo), sqmd::probe::Kind::Trying(0));
    let mut got = Vec::new();
    for _ in 0..5 {
        p.send(lo).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        p.receive(|from, s| got.push((from, s)));
    }
    assert_eq!(p.kind(lo), sqmd::probe::Kind::Timestamp, "{got:?}");
    assert_eq!(got.len(), 5, "{got:?}");
    for (from, s) in got {
        assert_eq!(from, lo);
        let sqmd::probe::Sample::OneWay { down_ms, up_ms, rtt_ms } = s else { panic!("not one-way: {s:?}") };
        // The same clock at both ends (no offset): neither way is negative, and the two add
        // up to the round trip (timestamps have 1 ms steps; no bound on the time itself, a
        // loaded machine delays the reply).
        assert!(down_ms >= -1.0 && up_ms >= -1.0 && (down_ms + up_ms - rtt_ms).abs() <= 2.0, "{s:?}");
    }
    // A reflector that leaves the timestamp requests unanswered gets echo requests.
    let silent = std::net::Ipv4Addr::new(198, 51, 100, 7);
    for _ in 0..=sqmd::probe::TIMESTAMP_TRIES {
        let _ = p.send(silent); // no route here: unanswered either way
    }
    assert_eq!(p.kind(silent), sqmd::probe::Kind::Echo);
}
