//! The lab itself (xtask/src/tools/lab.rs), on both QEMU boards: a booted router between
//! real Linux stacks in network namespaces. Its WAN gets a lease from the ISP's dnsmasq,
//! the laptop gets one from the router (busybox udhcpc), and the laptop reaches the ISP
//! through the router's NAT: ping, a DNS name the ISP serves resolved through the router's
//! forwarder (dig), an HTTP download from a server on the ISP (busybox httpd and wget).
//! The SQM, VPN and IPv6 tests build on the same lab.

use std::time::Duration;
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};

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
    let mut r = lab.router(&ctx, &board, image, BOOT);
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
