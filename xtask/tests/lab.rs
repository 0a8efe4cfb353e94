//! The lab itself (xtask/src/tools/lab.rs), on both QEMU boards: a booted router between
//! real Linux stacks in network namespaces. Its WAN gets a lease from the ISP's dnsmasq,
//! the laptop gets one from the router (busybox udhcpc), and the laptop reaches the ISP
//! through the router's NAT: ping, a DNS name the ISP serves resolved through the router's
//! forwarder (dig), an HTTP download from a server on the ISP (busybox httpd and wget).
//! On the same boot, the clock: the guest starts with its clock in 2001 (QEMU's RTC), timed
//! moves it forward to the image's build time at once, then sets it from the ISP's NTP
//! server (chronyd, reached as the NTP pool's name through the router's DNS: timed's
//! default configuration), says so in the log and /run/timed/synced, and saves the time on
//! flash. The SQM, VPN and IPv6 tests build on the same lab.

use std::time::Duration;
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};
use xtask::tools::qemu::Guest;

const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(30);

fn routes_between_real_stacks(board_id: &str) {
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
    let mut r = lab.router_with(&ctx, &board, image, BOOT, &["-rtc", "base=2001-01-01T00:00:00"]);
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
    clock(&mut r.guest);
}

/// timed: the floor at boot, then the time from the ISP's NTP server, then saved.
fn clock(g: &mut Guest) {
    let floor = g.wait_for_log("clock was behind the last known time: moved forward to", T);
    assert!(!floor.contains(" 2001"), "{floor}");
    // The first names may fail while the WAN has no lease yet: any of the pool's names.
    let set = g.wait_for_log("pool.ntp.org (192.0.2.1:123): offset", Duration::from_secs(90));
    assert!(set.contains("timed: clock set from ") && set.contains("stratum 8"), "{set}");
    let synced = g.shell("cat /run/timed/synced");
    assert!(synced.contains("pool.ntp.org (192.0.2.1:123)"), "{synced}");
    let host = std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let date = g.shell("date");
    let guest: i64 = date
        .lines()
        .find_map(|l| l.trim().strip_suffix(')').and_then(|l| l.rsplit_once(" (")).and_then(|(_, n)| n.parse().ok()))
        .unwrap_or_else(|| panic!("no time in `date`:\n{date}"));
    assert!((guest - host).abs() <= 10, "the guest's clock is {} s off the NTP server's: {date}", guest - host);
    let saved = g.shell("cat /etc/oxwrt/timed/clock");
    let saved_time: i64 = saved.lines().find_map(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no saved time:\n{saved}"));
    assert!((saved_time - host).abs() <= 120, "saved {saved_time}, now {host}");
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn x86_routes_between_real_stacks() {
    routes_between_real_stacks("qemu-x86-64");
}

#[test]
#[ignore = "needs root and the images built by cargo xtask test"]
fn malta_routes_between_real_stacks() {
    routes_between_real_stacks("qemu-malta-mipsel");
}
