//! Images on the network test harness (crates/nettest): QEMU's NICs on unix sockets, the
//! hosts around the router played by smoltcp in this process. Until netd exists, the
//! kernel configures eth0 (`ip=10.0.2.15::10.0.2.2:...`) and one harness host plays
//! 10.0.2.2.

use nettest::smoltcp::wire::EthernetAddress;
use nettest::{plan, Host, HostConfig, Link};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;
use xtask::board::Board;
use xtask::context::Context;
use xtask::qemu::{Guest, Launch};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";
const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(30);
const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x0a, 0x00, 0x02, 0x02]);

fn ctx() -> Context {
    Context::from_env(false).unwrap()
}

fn board(id: &str) -> Board {
    ctx().repo().load_board(id).unwrap()
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn x86_on_a_socket_nic_answers_ping_and_serves_its_status_to_a_harness_host() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    std::fs::copy(xtask::image::disk_path(&ctx(), &board(X86)), &disk).unwrap();
    answers_ping_and_serves_its_status(X86, disk);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn malta_on_a_socket_nic_answers_ping_and_serves_its_status_to_a_harness_host() {
    let b = board(MALTA);
    let dir = tempfile::tempdir().unwrap();
    let flash = dir.path().join("flash.bin");
    std::fs::copy(xtask::flash_image::flash_path(&xtask::image::images_dir(&ctx(), &b), &b), &flash).unwrap();
    answers_ping_and_serves_its_status(MALTA, flash);
}

/// Boots `board_id` from (a copy of) its disk or flash with one NIC on a link, where a
/// harness host at 10.0.2.2 pings it, fetches /api/status and is refused on a closed port.
fn answers_ping_and_serves_its_status(board_id: &str, disk: PathBuf) {
    let link = Link::new("eth0").unwrap();
    let counters = link.counters();
    let nics = link.qemu_args("eth0", plan::ROUTER_LAN_MAC);
    let gateway = Host::spawn(link, HostConfig::new("gateway", GATEWAY_MAC).with_address(plan::PNP_GATEWAY, plan::PNP_PREFIX_LEN));
    let launch = Launch { disk: Some(disk), efi: false, http_port: None, exit_on_reboot: true, append: String::new(), nics: Some(nics) };
    let mut g = Guest::start(&ctx(), &board(board_id), launch);
    g.wait_for("oxwrt: ready", BOOT);
    assert_eq!(counters.connections.load(Ordering::Relaxed), 1, "QEMU did not connect to the link");
    let mac = g.shell("cat /sys/class/net/eth0/address");
    assert!(mac.contains(plan::ROUTER_LAN_MAC), "{mac}");

    gateway.ping(plan::PNP_GUEST, T).unwrap_or_else(|e| panic!("{e}; console tail:\n{}", g.tail()));
    let page = gateway.http_get((plan::PNP_GUEST, 80), "/api/status", T).unwrap_or_else(|e| panic!("{e}; console tail:\n{}", g.tail()));
    assert_eq!(page.status, 200, "{}", page.text());
    let status: serde_json::Value = serde_json::from_slice(&page.body).unwrap_or_else(|e| panic!("{e}: {}", page.text()));
    assert_eq!(status["hostname"], "oxwrt", "{status}");
    let eth0 = status["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == "eth0").unwrap_or_else(|| panic!("no eth0: {status}"));
    assert!(eth0["addresses"].as_array().unwrap().iter().any(|a| a["address"] == plan::PNP_GUEST.to_string()), "{status}");
    // Nothing listens on port 81: the guest's kernel answers with a reset.
    assert_eq!(gateway.tcp_connect((plan::PNP_GUEST, 81), T), Err(nettest::NetError::Refused((plan::PNP_GUEST, 81).into())));
    assert!(counters.rx_frames.load(Ordering::Relaxed) > 0 && counters.tx_dropped.load(Ordering::Relaxed) == 0);

    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
    assert!(g.wait_exit(Duration::from_secs(60)).success());
}
