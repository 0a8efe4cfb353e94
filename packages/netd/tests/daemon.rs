//! The netd binary in a network namespace (`netd --root DIR`): it applies the
//! configuration, reloads when the file changes or on SIGHUP, keeps running the old
//! configuration when the new one is invalid (and says why, naming file, line and key),
//! exits on SIGTERM leaving the network up, and restarted with an invalid file runs what
//! it applied before.

mod common;

use common::{can_run, tempdir, wait_for, Netns};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn network(lan: &str, gateway: &str) -> String {
    format!(
        "[lan]\nports = [\"lan0\"]\naddress = \"{lan}\"\n[wan]\ndevice = \"wan0\"\nproto = \"static\"\naddress = \"203.0.113.2/24\"\ngateway = \"{gateway}\"\n[dns]\nenabled = false\n"
    )
}

/// Replaces the file the way an editor or the web UI does (write, rename).
fn write_config(root: &Path, text: &str) {
    let tmp = root.join("etc/oxwrt/.network.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, root.join("etc/oxwrt/network.toml")).unwrap();
}

fn start(ns: &Netns, root: &Path, log: &Path) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_netd"), "--root"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs netd in place).
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn log_has(log: &Path, text: &str) -> bool {
    wait_for(LIMIT, || std::fs::read_to_string(log).ok().filter(|l| l.contains(text))).is_some()
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    wait_for(LIMIT, || child.try_wait().unwrap()).and_then(|s| s.code())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn reloads_on_change_and_sighup_rejects_invalid_files_and_restarts_with_the_applied_one() {
    if !can_run(&[]) {
        return;
    }
    let ns = Netns::new("daemon");
    ns.veth("lan0", "lan0p");
    ns.veth("wan0", "wan0p");
    let root = tempdir("daemon");
    let log: PathBuf = root.join("netd.log");
    write_config(&root, &network("192.168.1.1/24", "203.0.113.1"));

    let mut netd = Killed(start(&ns, &root, &log));
    assert!(log_has(&log, "netd: running"), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(ns.addrs("br-lan"), ["192.168.1.1/24"]);
    assert_eq!(ns.default_routes(), [("203.0.113.1".to_string(), "wan0".to_string())]);

    // An invalid file: every problem logged, nothing changes.
    write_config(&root, &network("192.168.1.1/24", "198.51.100.1"));
    assert!(log_has(&log, "the running configuration stays"));
    let text = std::fs::read_to_string(&log).unwrap();
    let problem = format!("netd: {}/etc/oxwrt/network.toml:8:1: wan.gateway: 198.51.100.1 is outside the WAN subnet", root.display());
    assert!(text.contains(&problem), "want {problem:?} in:\n{text}");
    assert_eq!(ns.default_routes(), [("203.0.113.1".to_string(), "wan0".to_string())]);

    // A valid change: only the LAN changes.
    write_config(&root, &network("192.168.9.1/24", "203.0.113.1"));
    assert!(log_has(&log, "configuration reloaded: applying lan, dhcp, dns, firewall"));
    assert!(wait_for(LIMIT, || (ns.addrs("br-lan") == ["192.168.9.1/24"]).then_some(())).is_some());
    let applied = root.join("run/netd/applied.toml");
    assert!(wait_for(LIMIT, || std::fs::read_to_string(&applied).ok().filter(|t| t.contains("192.168.9.1/24"))).is_some());

    // SIGHUP with nothing changed.
    signal(&netd.0, libc::SIGHUP);
    assert!(log_has(&log, "configuration reloaded: nothing changed"));

    // SIGTERM: exit 0, the network stays.
    signal(&netd.0, libc::SIGTERM);
    assert_eq!(wait_exit(&mut netd.0), Some(0));
    assert!(log_has(&log, "stopping (the network stays configured)"));
    assert_eq!(ns.addrs("br-lan"), ["192.168.9.1/24"]);

    // Restart with an invalid file: the configuration applied before runs.
    write_config(&root, &network("192.168.1.1/24", "198.51.100.1"));
    let log2 = root.join("netd2.log");
    let netd2 = Killed(start(&ns, &root, &log2));
    assert!(log_has(&log2, "netd: running"));
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(text.contains("wan.gateway: 198.51.100.1 is outside the WAN subnet"), "{text}");
    assert!(text.contains("running the configuration applied before"), "{text}");
    assert_eq!(ns.addrs("br-lan"), ["192.168.9.1/24"]);
    assert_eq!(ns.default_routes(), [("203.0.113.1".to_string(), "wan0".to_string())]);
    drop(netd2);
}
