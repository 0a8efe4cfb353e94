//! netd sets the router's kernel settings (netd::sysctl::SETTINGS) at start, in its own
//! network namespace, as the device runs it: user netd (uid 101) with only its
//! capabilities (CAP_NET_ADMIN is what lets it write /proc/sys/net). Read back through
//! /proc/sys inside the namespace.

mod common;

use common::{can_run, tempdir, wait_for, Netns};
use oxwrt_testkit::Prereq;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const NETWORK: &str = "[lan]\nports = [\"lan0\"]\naddress = \"192.168.1.1/24\"\n[wan]\ndevice = \"wan0\"\nproto = \"static\"\naddress = \"203.0.113.2/24\"\ngateway = \"203.0.113.1\"\n[dns]\nenabled = false\n[dhcp]\nenabled = false\n";

/// `/proc/sys/KEY` as the namespace sees it.
fn read(ns: &Netns, key: &str) -> String {
    let out = Command::new("ip").args(["netns", "exec", &ns.name, "cat"]).arg(Path::new("/proc/sys").join(key)).output().unwrap();
    assert!(out.status.success(), "{key}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(ns: &Netns, key: &str, value: &str) {
    let st = Command::new("ip").args(["netns", "exec", &ns.name, "sh", "-c", &format!("echo {value} > /proc/sys/{key}")]).status().unwrap();
    assert!(st.success(), "{key}");
}

#[test]
fn netd_as_its_user_sets_the_routers_kernel_settings_at_start() {
    let conntrack = Path::new("/proc/sys/net/netfilter/nf_conntrack_max");
    if !can_run(&[
        Prereq::program("setpriv", "apt-get install util-linux"),
        Prereq::file(conntrack, "a kernel with CONFIG_NF_CONNTRACK (modprobe nf_conntrack)"),
    ]) {
        return;
    }
    let ns = Netns::new("sysctl");
    ns.veth("lan0", "lan0p");
    ns.veth("wan0", "wan0p");
    // Not what netd wants: the kernel's defaults, and a link's own value that `all` alone
    // would not override (send_redirects is on when all OR the link's is).
    write(&ns, "net/netfilter/nf_conntrack_tcp_timeout_established", "432000");
    write(&ns, "net/ipv4/conf/all/send_redirects", "1");
    write(&ns, "net/ipv4/conf/wan0/send_redirects", "1");
    write(&ns, "net/ipv4/conf/default/accept_redirects", "1");
    write(&ns, "net/ipv4/tcp_syncookies", "0");
    write(&ns, "net/ipv4/icmp_echo_ignore_broadcasts", "0");
    write(&ns, "net/ipv4/conf/all/rp_filter", "2");

    let root = tempdir("sysctl");
    std::fs::write(root.join("etc/oxwrt/network.toml"), NETWORK).unwrap();
    assert!(Command::new("chown").args(["-R", "101:101"]).arg(&root).status().unwrap().success());
    let log = root.join("netd.log");
    let caps = "+net_admin,+net_raw,+net_bind_service";
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "setpriv", "--reuid", "101", "--regid", "101", "--clear-groups", "--inh-caps", caps, "--ambient-caps", caps, "--"])
        .args([env!("CARGO_BIN_EXE_netd"), "--root"])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let netd = common::Proc(Some(child));
    let text = wait_for(Duration::from_secs(20), || std::fs::read_to_string(&log).ok().filter(|l| l.contains("netd: running")));
    let text = text.unwrap_or_else(|| panic!("netd did not start:\n{}", std::fs::read_to_string(&log).unwrap_or_default()));

    for (key, want) in [
        ("net/netfilter/nf_conntrack_tcp_timeout_established", "7440"),
        ("net/ipv4/conf/all/rp_filter", "0"),
        ("net/ipv4/conf/default/rp_filter", "0"),
        ("net/ipv4/conf/all/accept_redirects", "0"),
        ("net/ipv4/conf/default/accept_redirects", "0"),
        ("net/ipv4/conf/all/send_redirects", "0"),
        ("net/ipv4/conf/default/send_redirects", "0"),
        ("net/ipv4/conf/wan0/send_redirects", "0"),
        ("net/ipv4/conf/lan0/send_redirects", "0"),
        // Created by netd after the settings: from `default`.
        ("net/ipv4/conf/br-lan/send_redirects", "0"),
        ("net/ipv4/conf/br-lan/accept_redirects", "0"),
        ("net/ipv6/conf/all/accept_redirects", "0"),
        ("net/ipv6/conf/default/accept_redirects", "0"),
        ("net/ipv6/conf/wan0/accept_redirects", "0"),
        ("net/ipv4/tcp_syncookies", "1"),
        ("net/ipv4/icmp_echo_ignore_broadcasts", "1"),
    ] {
        assert_eq!(read(&ns, key), want, "{key}; netd's log:\n{text}");
    }
    // nf_conntrack_max is global: read-only outside the initial namespace, so netd says so
    // (a warning naming the file) unless it already has the value for this RAM.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let want = netd::sysctl::conntrack_max(netd::sysctl::mem_total_kib(&meminfo).unwrap()).to_string();
    assert!(text.contains(&format!("up to {want} connections for ")), "{text}");
    if read(&ns, "net/netfilter/nf_conntrack_max") != want {
        assert!(text.contains("netd: WARNING: /proc/sys/net/netfilter/nf_conntrack_max is read-only here"), "{text}");
    }
    assert!(!text.contains("ERROR"), "{text}");
    drop(netd);
}
