//! The lab itself (xtask/src/tools/lab.rs), on both QEMU boards: a booted router between
//! real Linux stacks in network namespaces, and its clock. Three boots of one image:
//! 1. The guest's clock starts in 2001 (QEMU's RTC). Its WAN gets a lease from the ISP's
//!    dnsmasq, the laptop one from the router (busybox udhcpc), and the laptop reaches the
//!    ISP through the router's NAT: ping, a DNS name the ISP serves resolved through the
//!    router's forwarder (dig), an HTTP download from a server on the ISP (busybox httpd
//!    and wget). timed moves the clock forward to the image's build time at once, then sets
//!    it from the ISP's NTP server (chronyd), named by the WAN's DHCP lease (option 42,
//!    which also names the router's LAN address and loopback: netd drops those), says so in
//!    the log and /run/timed/synced, and saves the time on flash. A clean reboot.
//! 2. The clock starts in 2001 again: timed moves it to the time it saved, not older.
//!    Network time is switched off (time.toml) for the next boot.
//! 3. The clock starts 2 hours ahead; the laptop takes a lease; network time on again: the
//!    clock steps back 2 hours, and netd moves its leases' expiry with it (the lease keeps
//!    its 12 hours, not 14).
//!
//!    Then floods from the laptop (netd's memory budget, sized from the RAM): 16 DNS-over-TCP
//!    connections that send queries and never read, 2,000 distinct names (the cache),
//!    500 queries nobody upstream answers (queries in flight), up to 400 DHCP clients with
//!    made-up MACs (until the pool is full). netd's resident memory grows by less than its budget, and it still
//!    answers DNS and renews the laptop's lease.
//!
//! The SQM, VPN and IPv6 tests build on the same lab.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};
use xtask::tools::load;
use xtask::tools::qemu::Guest;

const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(30);
const NTP: Duration = Duration::from_secs(90);
/// netd's default DHCP lease time (network.toml `dhcp.lease_time`).
const LEASE: i64 = 12 * 3600;

fn host_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn routes_and_keeps_time(board_id: &str) {
    let ctx = Context::from_env(false).unwrap();
    let board = ctx.repo().load_board(board_id).unwrap();
    if !oxwrt_testkit::require_program("dig", "apt-get install dnsutils") {
        return;
    }
    let Some(mut lab) = Lab::new("lab", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let payload: String = (0..20_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    std::fs::write(www.join("file"), &payload).unwrap();
    lab.isp_spawn(&["busybox", "httpd", "-f", "-p", "8080", "-h", &www.display().to_string()]);
    let image = lab::scratch_image(&ctx, &board, dir.path());

    // 1. Routing between real stacks; the clock from 2001 to the build time to the NTP time.
    let mut r = lab.router_with(&ctx, &board, image.clone(), BOOT, &["-rtc", "base=2001-01-01T00:00:00"]);
    let wan = r.guest.wait_for_log("wan: lease", T);
    assert!(wan.contains("192.0.2."), "the router's WAN lease is not from the ISP: {wan}");
    let addr = r.laptop_lease(T);
    assert!(addr.starts_with("192.168.1."), "laptop lease {addr}");
    assert!(r.laptop_reaches(lab::ISP_IP, T), "the laptop cannot ping the ISP through the router\n{}", r.guest.tail());
    let (status, out) = r.laptop.exec(&["dig", "+short", "+time=2", "+tries=3", "@192.168.1.1", lab::ISP_NAME]).wait(T);
    assert_eq!((status, out.trim()), (Some(0), lab::ISP_IP), "the ISP's name through the router's DNS forwarder");
    let (status, out) = r.laptop.exec(&["busybox", "wget", "-q", "-O", "-", &format!("http://{}:8080/file", lab::ISP_IP)]).wait(T);
    assert_eq!(status, Some(0), "wget through the router: {}", &out[..out.len().min(500)]);
    assert!(out == payload, "the download through the router differs ({} bytes of {})", out.len(), payload.len());
    let floor = floor_line(&mut r.guest);
    let built = build_epoch(&ctx, board_id);
    assert!(floor >= built, "moved forward to {floor}, before the image's build time {built}");
    let set = r.guest.wait_for_log("clock set from 192.0.2.1 (192.0.2.1:123): offset", NTP);
    assert!(set.contains("timed: ") && set.contains("stratum 8"), "{set}");
    let synced = r.guest.shell("cat /run/timed/synced");
    assert!(synced.contains("192.0.2.1 (192.0.2.1:123)"), "{synced}");
    let ntp = r.guest.shell("cat /run/netd/ntp-servers");
    assert!(ntp.lines().any(|l| l.trim() == lab::ISP_IP) && !ntp.contains("127.0.0.1") && !ntp.contains("192.168.1.1"), "option 42, vetted:\n{ntp}");
    r.guest.wait_for_log("NTP server 192.168.1.1 ignored: the router itself", T);
    let off = guest_now(&mut r.guest) - host_now();
    assert!(off.abs() <= 10, "the guest's clock is {off} s off the NTP server's");
    let saved = saved_time(&mut r.guest);
    assert!((saved - host_now()).abs() <= 120, "saved {saved}, now {}", host_now());
    reboot(r);

    // 2. From 2001 again: the saved time is the floor now.
    let mut r = lab.router_with(&ctx, &board, image.clone(), BOOT, &["-rtc", "base=2001-01-01T00:00:00"]);
    let floor = floor_line(&mut r.guest);
    let saved_at_shutdown = saved_time(&mut r.guest);
    assert!(floor >= saved && floor == saved_at_shutdown, "moved forward to {floor}; saved at the first sync {saved}, at shutdown {saved_at_shutdown}");
    r.guest.shell("echo enabled = false > /etc/oxwrt/time.toml");
    reboot(r);

    // 3. Two hours ahead, network time off; a lease; then network time on: a step back.
    let ahead = host_now() + 7200;
    let rtc = format!("base={}", oxwrt_log::format_iso(ahead));
    let mut r = lab.router_with(&ctx, &board, image, BOOT, &["-rtc", &rtc]);
    r.guest.wait_for_log("network time is off", T);
    let addr = r.laptop_lease(T);
    let before = lease_left(&mut r.guest, &addr);
    assert!((LEASE - 120..=LEASE).contains(&before), "{addr}: {before} s left just after the lease");
    r.guest.shell("rm /etc/oxwrt/time.toml");
    r.guest.shell("service restart timed");
    let jump = r.guest.wait_for_log("the clock jumped -", NTP);
    let secs: i64 = jump.split("jumped ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{jump}"));
    assert!((-7300..=-7100).contains(&secs), "{jump}");
    let after = lease_left(&mut r.guest, &addr);
    assert!((LEASE - 300..=LEASE).contains(&after), "{addr}: {after} s left after the clock went back 2 hours (not moved: about {} s)", after + 7200);
    floods(&mut r, &addr);
}

/// The floods of the module docs, each bounded in count and time, then: netd's RSS grew by
/// less than its budget, it answers DNS, the laptop renews its lease.
fn floods(r: &mut lab::Router, laptop_addr: &str) {
    let budget_line = r.guest.wait_for_log("netd: memory budget", T);
    let budget_kib: u64 = budget_line.split("memory budget ").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap_or_else(|| panic!("{budget_line}"));
    let before = load::rss_kib(&mut r.guest, "netd");
    let router: std::net::SocketAddr = "192.168.1.1:53".parse().unwrap();
    let tcp = load::dns_tcp_flood(&r.laptop, router, 16, 400, lab::FLOOD_DOMAIN);
    assert!(tcp > 0, "no DNS-over-TCP connection to the router");
    let names: Vec<String> = (0..2000).map(|i| format!("c{i}.{}", lab::FLOOD_DOMAIN)).chain((0..500).map(|i| format!("s{i}.{}", lab::SLOW_DOMAIN))).collect();
    let udp = load::dns_udp(&r.laptop, router, names, 64, Duration::from_secs(60));
    assert!(udp.answered > 0, "the router answered none of the flood's queries: {udp:?}");
    let dhcp = load::dhcp_clients(&r.laptop, 400, Duration::from_secs(90));
    assert!(dhcp.acked > 0, "no DHCP lease during the flood: {dhcp:?}");

    // Still serving, within budget.
    let (status, out) = r.laptop.exec(&["dig", "+short", "+time=2", "+tries=3", "@192.168.1.1", lab::ISP_NAME]).wait(T);
    assert_eq!((status, out.trim()), (Some(0), lab::ISP_IP), "DNS after the floods");
    let renewed = r.laptop_lease(T);
    assert_eq!(renewed, laptop_addr, "the laptop's lease after the floods");
    let after = load::rss_kib(&mut r.guest, "netd");
    eprintln!("netd RSS {before} KiB before the floods, {after} KiB after (budget {budget_kib} KiB; {tcp} TCP connections, {udp:?}, {dhcp:?})");
    assert!(after <= before + budget_kib, "netd grew from {before} to {after} KiB, more than its budget of {budget_kib} KiB");
}

/// The image's build time (SOURCE_DATE_EPOCH), from its manifest.
fn build_epoch(ctx: &Context, board_id: &str) -> i64 {
    let path = ctx.board_out(board_id).join("manifest.json");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    m["source_date_epoch"].as_i64().unwrap_or_else(|| panic!("{}: no source_date_epoch", path.display()))
}

/// `timed: clock was behind the last known time: moved forward to DATE (SECONDS)`.
fn floor_line(g: &mut Guest) -> i64 {
    let line = g.wait_for_log("clock was behind the last known time: moved forward to", T);
    line.rsplit_once('(').and_then(|(_, n)| n.trim_end().trim_end_matches(')').parse().ok()).unwrap_or_else(|| panic!("no seconds in: {line}"))
}

/// The guest's clock (`date`: `DATE (SECONDS)`).
fn guest_now(g: &mut Guest) -> i64 {
    let date = g.shell("date");
    date.lines()
        .find_map(|l| l.trim().strip_suffix(')').and_then(|l| l.rsplit_once(" (")).and_then(|(_, n)| n.parse().ok()))
        .unwrap_or_else(|| panic!("no time in `date`:\n{date}"))
}

fn saved_time(g: &mut Guest) -> i64 {
    let saved = g.shell("cat /etc/oxwrt/timed/clock");
    saved.lines().find_map(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no saved time:\n{saved}"))
}

/// Seconds left on `ip`'s lease in netd's lease file (`EXPIRES MAC IP NAME` lines).
fn lease_left(g: &mut Guest, ip: &str) -> i64 {
    // The file is written at most once a minute (LEASE_SAVE_EVERY): a new binding right
    // after another write waits for the rest of that minute.
    let mut leases = String::new();
    let expires: i64 = oxwrt_testkit::netns::wait_for(Duration::from_secs(75), || {
        leases = g.shell("cat /etc/oxwrt/netd/dhcp.leases");
        leases.lines().find(|l| l.split_whitespace().nth(2) == Some(ip)).and_then(|l| l.split_whitespace().next()?.parse().ok())
    })
    .unwrap_or_else(|| panic!("no lease for {ip} within 75 s:\n{leases}"));
    expires - guest_now(g)
}

fn reboot(mut r: lab::Router) {
    r.guest.send("reboot");
    let status = r.guest.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "QEMU after reboot: {status}");
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn x86_routes_and_keeps_time() {
    routes_and_keeps_time("qemu-x86-64");
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn malta_routes_and_keeps_time() {
    routes_and_keeps_time("qemu-malta-mipsel");
}
