//! IPv6 on a booted router (xtask/src/tools/lab.rs), on both QEMU boards: the ISP's
//! namespace adds radvd (router advertisements with the M and O flags for 2001:db8:1::/64)
//! and ISC dhcpd -6 (prefix delegation: /60s of 2001:db8:100::/56, the ISP as DNS server);
//! the router's network.toml gets `wan.ipv6 = "auto"` on the console and netd is
//! restarted. Checked: netd logs the delegated prefix; the laptop (the Linux kernel's
//! SLAAC) gets an address in the LAN /64 of it from netd's router advertisement, whose
//! RDNSS is the router's ULA address, DNSSL the local domain and MTU the LAN's (rdisc6);
//! the laptop pings the ISP's IPv6 address, resolves the ISP's name through the router's
//! DNS forwarder over IPv6 and the router's own name to its two LAN IPv6 addresses
//! (AAAA, dig), and its own name (its DHCP lease's hostname) to its addresses from the
//! router's neighbour table; the ISP
//! cannot ping the laptop (WAN to LAN: only established); netd hands the DHCPv6 lease's
//! SNTP server (option 31) to timed (/run/netd/ntp-servers). Printed: the average ping time
//! through the router for IPv4 and IPv6 (20 each), and netd's resident memory.

use std::time::Duration;
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};

const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(60);

const RADVD: &str = "interface wan {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvManagedFlag on;
    AdvOtherConfigFlag on;
    prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
};
";

const DHCPD6: &str = "default-lease-time 600;
max-lease-time 7200;
option dhcp6.name-servers 2001:db8:1::1;
option dhcp6.sntp-servers 2001:db8:1::1;
subnet6 2001:db8:1::/64 {
    prefix6 2001:db8:100:: 2001:db8:100:f0:: /60;
}
";

/// The link-local address Linux gives a NIC with `mac` (EUI-64, RFC 4291 2.5.1).
fn eui64_link_local(mac: [u8; 6]) -> String {
    let b = [mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]];
    let w = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    format!("fe80::{:x}:{:x}:{:x}:{:x}", w(0), w(2), w(4), w(6))
}

fn ipv6_through_the_router(board_id: &str) {
    let ctx = Context::from_env(false).unwrap();
    let board = ctx.repo().load_board(board_id).unwrap();
    for (prog, pkg) in [("radvd", "radvd"), ("dhcpd", "isc-dhcp-server"), ("dig", "dnsutils"), ("rdisc6", "ndisc6")] {
        if !oxwrt_testkit::require_program(prog, &format!("apt-get install {pkg}")) {
            return;
        }
    }
    let Some(mut lab) = Lab::new("lab6", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).display().to_string();
    std::fs::write(p("radvd.conf"), RADVD).unwrap();
    std::fs::write(p("dhcpd6.conf"), DHCPD6).unwrap();
    std::fs::write(p("dhcpd6.leases"), "").unwrap();
    let (status, out) = lab.isp().exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"]).wait(Duration::from_secs(5));
    assert_eq!(status, Some(0), "forwarding in the ISP's namespace (radvd wants it): {out}");
    lab.isp_spawn(&["radvd", "-n", "-m", "stderr", "-C", &p("radvd.conf"), "-p", &p("radvd.pid")]);
    lab.isp_spawn(&["dhcpd", "-6", "-f", "-d", "-cf", &p("dhcpd6.conf"), "-lf", &p("dhcpd6.leases"), "-pf", &p("dhcpd6.pid"), "wan"]);
    let image = lab::scratch_image(&ctx, &board, dir.path());
    let mut r = lab.router(&ctx, &board, image, BOOT);
    r.guest.wait_for_log("wan: lease", T);

    // wan.ipv6 = "auto" (the other keys: the board's defaults), then a restart of netd.
    for (i, line) in ["[wan]", "ipv6 = \"auto\""].iter().enumerate() {
        r.guest.send(&format!("echo '{line}' {} /etc/oxwrt/network.toml", if i == 0 { ">" } else { ">>" }));
    }
    r.guest.shell("service restart netd");
    let delegated = r.guest.wait_for_log("ipv6: delegated prefix 2001:db8:100:", T);
    // "... delegated prefix 2001:db8:100:f0::/60 (valid 600 s), LAN 2001:db8:100:f0::/64, ..."
    let lan64 = delegated.split("LAN ").nth(1).and_then(|s| s.split("::/64").next()).unwrap_or_else(|| panic!("no LAN /64 in {delegated}")).to_string();
    let ntp = oxwrt_testkit::netns::wait_for(Duration::from_secs(10), || {
        let ntp = r.guest.shell("cat /run/netd/ntp-servers");
        ntp.lines().any(|l| l.trim() == "2001:db8:1::1").then_some(ntp)
    });
    assert!(
        ntp.is_some(),
        "the DHCPv6 lease's SNTP server (option 31) for timed:\n{}",
        r.guest.shell("cat /run/netd/ntp-servers; logread | grep -i 'netd.*\\(ntp\\|ipv6\\)'")
    );
    let isp_route = format!("ip -6 route replace 2001:db8:100::/56 via {} dev wan", eui64_link_local([0x52, 0x54, 0, 0x0a, 1, 1]));
    let (status, out) = lab.isp().exec(&["sh", "-c", &isp_route]).wait(Duration::from_secs(5));
    assert_eq!(status, Some(0), "{isp_route}: {out}");

    // The laptop: SLAAC in the LAN /64 from netd's router advertisement, RDNSS the router.
    let addr = oxwrt_testkit::netns::wait_for(T, || {
        let (_, out) = r.laptop.exec(&["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"]).wait(Duration::from_secs(5));
        out.split_whitespace().find(|w| w.starts_with(&format!("{lan64}:"))).map(|w| w.split('/').next().unwrap_or_default().to_string())
    })
    .unwrap_or_else(|| panic!("the laptop has no address in {lan64}::/64\n--- console ---\n{}", r.guest.tail()));
    let (_, rdisc) = r.laptop.exec(&["rdisc6", "-1", "-w", "3000", "eth0"]).wait(Duration::from_secs(10));
    let dns = rdisc
        .lines()
        .find(|l| l.contains("Recursive DNS server"))
        .and_then(|l| l.split(':').skip(1).collect::<Vec<_>>().join(":").split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| panic!("no RDNSS in the router's advertisement:\n{rdisc}"));
    assert!(dns.starts_with("fd"), "RDNSS {dns}: the router's ULA address\n{rdisc}");
    assert!(rdisc.lines().any(|l| l.contains("DNS search list") && l.contains("lan")), "DNSSL: the local domain\n{rdisc}");
    assert!(rdisc.lines().any(|l| l.contains("MTU") && l.contains(" 1500 ")), "MTU: the LAN's 1500\n{rdisc}");

    // Through the router: ping the ISP, the ISP's name over IPv6 to the forwarder.
    let pinged = oxwrt_testkit::netns::wait_for(Duration::from_secs(30), || {
        r.laptop.exec(&["busybox", "ping", "-6", "-c", "1", "-W", "1", lab::ISP_IP6]).wait(Duration::from_secs(3)).0.filter(|c| *c == 0)
    });
    assert!(pinged.is_some(), "the laptop ({addr}) cannot ping {} through the router\n{}", lab::ISP_IP6, r.guest.tail());
    let (status, out) = r.laptop.exec(&["dig", "+short", "+time=2", "+tries=3", &format!("@{dns}"), lab::ISP_NAME]).wait(T);
    assert_eq!((status, out.trim()), (Some(0), lab::ISP_IP), "the ISP's name through the router's forwarder over IPv6");
    let (status, out) = r.laptop.exec(&["dig", "+short", "+time=2", "+tries=3", &format!("@{dns}"), "AAAA", "oxwrt.lan"]).wait(T);
    let mut own: Vec<&str> = out.split_whitespace().collect();
    own.sort();
    assert_eq!((status, own), (Some(0), vec![format!("{lan64}::1").as_str(), dns.as_str()]), "AAAA of the router's own name (/etc/hostname)");
    let (status, _) = lab.isp().exec(&["busybox", "ping", "-6", "-c", "2", "-W", "1", &addr]).wait(Duration::from_secs(5));
    assert_ne!(status, Some(0), "the ISP pinged the laptop {addr}: WAN to LAN must be dropped");

    // Forwarding latency, IPv6 next to IPv4: 20 pings each from the laptop to the ISP (the
    // laptop's IPv4 from the router's DHCP server, NAT'd).
    r.laptop_lease(T);
    let avg = |target: &str, v6: bool| -> Option<f64> {
        let mut cmd = vec!["busybox", "ping"];
        if v6 {
            cmd.push("-6");
        }
        cmd.extend(["-c", "20", "-i", "0.2", "-W", "2", target]);
        let (_, out) = r.laptop.exec(&cmd).wait(Duration::from_secs(30));
        // "round-trip min/avg/max = 0.512/0.734/1.203 ms"
        out.lines().find(|l| l.contains("min/avg/max"))?.split('=').nth(1)?.trim().split('/').nth(1)?.parse().ok()
    };
    let (v4, v6) = (avg(lab::ISP_IP, false), avg(lab::ISP_IP6, true));
    eprintln!("{board_id}: ping through the router, average of 20: IPv4 {v4:?} ms, IPv6 {v6:?} ms");
    assert!(v4.is_some() && v6.is_some(), "both families answer 20 pings: {v4:?} {v6:?}");

    // The laptop's name (its lease's hostname, `laptop`): AAAA at the IPv6 addresses the
    // router's neighbour table holds for its MAC; the one it pinged from is among them,
    // and all are its own global ones (no link-local).
    let (status, out) = r.laptop.exec(&["dig", "+short", "+time=2", "+tries=3", &format!("@{dns}"), "AAAA", "laptop.lan"]).wait(T);
    let (_, mine) = r.laptop.exec(&["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"]).wait(Duration::from_secs(5));
    let mine: Vec<&str> = mine.split_whitespace().filter(|w| w.contains(':') && w.contains('/')).filter_map(|w| w.split('/').next()).collect();
    let got: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(status, Some(0), "dig AAAA laptop.lan: {out}");
    assert!(
        got.contains(&addr.as_str()) && got.iter().all(|a| mine.contains(a)),
        "AAAA laptop.lan: {got:?}, the laptop's global addresses {mine:?}, it pinged from {addr}"
    );

    let pid = r.guest.service_pid("netd");
    let status = r.guest.shell(&format!("cat /proc/{pid}/status"));
    eprintln!("{board_id}: netd with IPv6: {}", status.lines().filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM")).collect::<Vec<_>>().join(", "));
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn x86_ipv6_through_the_router() {
    ipv6_through_the_router("qemu-x86-64");
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn malta_ipv6_through_the_router() {
    ipv6_through_the_router("qemu-malta-mipsel");
}
