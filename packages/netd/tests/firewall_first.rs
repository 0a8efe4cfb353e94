//! The firewall comes first and fails closed (netd's daemon.rs, module docs): the netd
//! binary in a network namespace loads its nftables ruleset before it touches any link or
//! opens the DHCP server's socket; when the kernel refuses the ruleset, the WAN stays down,
//! IPv4 forwarding stays off, an ERROR line says why, and a reload recovers once the
//! cause is gone.
//!
//! The refusal is genuine: the test creates a table `inet oxwrt` owned by its own netlink
//! socket (NFT_TABLE_F_OWNER, Linux 5.12), which the kernel lets no other socket change,
//! exactly what happens when another program holds the table name. Closing that socket
//! deletes the table, which is the "fix" the reload then picks up.

mod common;

use common::{can_run, tempdir, wait_for, Netns};
use oxwrt_testkit::Prereq;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

const NETWORK: &str = "[lan]\nports = [\"lan0\"]\naddress = \"192.168.1.1/24\"\n[wan]\ndevice = \"wan0\"\nproto = \"static\"\naddress = \"203.0.113.2/24\"\ngateway = \"203.0.113.1\"\n[dns]\nenabled = false\n";

fn start(ns: &Netns, root: &Path, log: &Path) -> Killed {
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_netd"), "--root"])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    Killed(child)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_has(log: &Path, text: &str) -> bool {
    wait_for(LIMIT, || std::fs::read_to_string(log).ok().filter(|l| l.contains(text))).is_some()
}

fn ip_forward(ns: &Netns) -> String {
    common::run("ip", &["netns", "exec", &ns.name, "cat", "/proc/sys/net/ipv4/ip_forward"]).trim().to_string()
}

fn is_up(ns: &Netns, dev: &str) -> bool {
    ns.link(dev)["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP"))
}

fn setup(tag: &str) -> (Netns, std::path::PathBuf) {
    let ns = Netns::new(tag);
    ns.veth("lan0", "lan0p");
    ns.veth("wan0", "wan0p");
    let root = tempdir(tag);
    std::fs::write(root.join("etc/oxwrt/network.toml"), NETWORK).unwrap();
    (ns, root)
}

#[test]
fn the_ruleset_is_loaded_before_any_link_comes_up_or_dhcp_listens() {
    if !can_run(&[Prereq::program("nft", "apt-get install nftables")]) {
        return;
    }
    let (ns, root) = setup("fwfirst");
    let log = root.join("netd.log");
    let _netd = start(&ns, &root, &log);
    assert!(log_has(&log, "netd: running"), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let text = std::fs::read_to_string(&log).unwrap();
    let at = |what: &str| text.find(what).unwrap_or_else(|| panic!("no {what:?} in:\n{text}"));
    let firewall = at("netd: firewall table inet oxwrt: ");
    for later in
        ["netd: created bridge br-lan", "netd: lan0 up", "netd: br-lan up", "netd: wan0 up", "netd: dhcp: serving on br-lan", "netd: IPv4 forwarding on"]
    {
        assert!(firewall < at(later), "the firewall must load before {later:?}:\n{text}");
    }
    let table = common::run("ip", &["netns", "exec", &ns.name, "nft", "list", "table", "inet", "oxwrt"]);
    assert!(table.contains("iifname \"br-lan\""), "{table}");
    assert_eq!(ip_forward(&ns), "1");
    assert!(is_up(&ns, "wan0"));
}

/// A table `inet oxwrt` owned by a netlink socket of this test, in the namespace; the
/// kernel refuses every other socket's change to it (EPERM) until the socket is closed.
fn owned_table(ns: &Netns) -> netlink::Socket {
    ns.run(|| {
        use netlink::nfnetlink::{nft, Batch, NFNL_SUBSYS_NFTABLES, NFPROTO_INET};
        const NFTA_TABLE_NAME: u16 = 1;
        const NFTA_TABLE_FLAGS: u16 = 2;
        const NFT_TABLE_F_OWNER: u32 = 2;
        let mut sock = netlink::Socket::open(netlink::NETLINK_NETFILTER, 0).expect("nfnetlink socket");
        let mut b = Batch::new(NFNL_SUBSYS_NFTABLES);
        b.message(nft::NEWTABLE, netlink::NLM_F_CREATE, NFPROTO_INET, "owned table inet oxwrt".into(), |a| {
            a.str(NFTA_TABLE_NAME, "oxwrt");
            a.be32(NFTA_TABLE_FLAGS, NFT_TABLE_F_OWNER);
        });
        sock.transact(b).expect("an owned table (Linux 5.12 or later)");
        sock
    })
}

#[test]
fn a_refused_ruleset_keeps_the_wan_down_and_forwarding_off_until_a_reload_loads_it() {
    if !can_run(&[]) {
        return;
    }
    let (ns, root) = setup("fwfail");
    let owner = owned_table(&ns);
    let log = root.join("netd.log");
    let netd = start(&ns, &root, &log);
    assert!(log_has(&log, "netd: running"), "{}", std::fs::read_to_string(&log).unwrap_or_default());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("netd: ERROR: firewall: the kernel refused"), "{text}");
    assert!(text.contains("no other program may own a table inet oxwrt"), "{text}");
    assert!(text.contains("netd: ERROR: no firewall (see the line before): the WAN wan0 stays down"), "{text}");
    assert!(!is_up(&ns, "wan0"), "the WAN must stay down:\n{text}");
    assert!(ns.addrs("wan0").is_empty(), "no WAN address:\n{text}");
    assert!(ns.default_routes().is_empty(), "no default route:\n{text}");
    assert_eq!(ip_forward(&ns), "0", "{text}");
    // The LAN side is up, so the owner can reach the router.
    assert!(is_up(&ns, "br-lan"));
    assert_eq!(ns.addrs("br-lan"), ["192.168.1.1/24"]);
    assert!(text.contains("netd: dhcp: serving on br-lan"), "{text}");

    // A reload with the cause still there: still held.
    // SAFETY: kill(2) on our own child (`ip netns exec` execs netd in place).
    assert_eq!(unsafe { libc::kill(netd.0.id() as i32, libc::SIGHUP) }, 0);
    assert!(log_has(&log, "nothing changed; loading the firewall again"));
    assert!(wait_for(LIMIT, || (std::fs::read_to_string(&log).unwrap().matches("netd: ERROR: no firewall").count() == 2).then_some(())).is_some());
    assert!(!is_up(&ns, "wan0"));
    assert_eq!(ip_forward(&ns), "0");

    // The cause gone (the owner's socket closed deletes its table), the next reload recovers.
    drop(owner);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(netd.0.id() as i32, libc::SIGHUP) }, 0);
    assert!(log_has(&log, "netd: firewall loaded: bringing the WAN wan0 up"), "{}", std::fs::read_to_string(&log).unwrap());
    assert!(wait_for(LIMIT, || is_up(&ns, "wan0").then_some(())).is_some());
    assert!(wait_for(LIMIT, || (ns.default_routes() == [("203.0.113.1".to_string(), "wan0".to_string())]).then_some(())).is_some());
    assert_eq!(ip_forward(&ns), "1");
    drop(netd);
}
