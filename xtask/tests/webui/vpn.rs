//! The VPN page in the browser (a step of xtask/tests/webui.rs's boot): the VPN set up from
//! the page, a device added there; its QR code taken from the page's inline SVG decodes
//! (zbarimg) to exactly the .conf the page offers for download; that configuration,
//! unmodified, brings a road warrior up (crate::tools::wireguard: wg-quick + wireguard-go
//! on the ISP's segment), which pings the router's LAN address through the tunnel; the
//! page shows the device online; disabled in the page, its handshakes are refused; removed
//! in the page, it is gone. Markup as a device name is refused and shown as text, with no
//! dialog.

use super::T;
use oxwrt_testkit::netns::wait_for;
use std::path::Path;
use std::time::{Duration, Instant};
use xtask::tools::lab::Lab;
use xtask::tools::qemu::Guest;
use xtask::tools::webdriver::{base64_decode, Browser};
use xtask::tools::wireguard::{self, clean, Warrior};

const NAME_PAYLOAD: &str = "<img src=x onerror=alert(1)>";

/// The modules of the page's QR code: the SVG's `viewBox="0 0 N N"` and its path of
/// `M{x} {y}h{w}v1h-{w}z` runs of dark modules (packages/vpnd/src/qr.rs).
fn svg_grid(svg: &str) -> Vec<Vec<bool>> {
    let n: usize =
        svg.split("viewBox=\"0 0 ").nth(1).and_then(|v| v.split(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no viewBox in {svg}"));
    let d = svg.split(" d=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or_else(|| panic!("no path in {svg}"));
    let mut grid = vec![vec![false; n]; n];
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').unwrap_or_else(|| panic!("run {run}"));
        let (x, y) = xy.split_once(' ').unwrap_or_else(|| panic!("run {run}"));
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        let w: usize = rest.split('v').next().unwrap().parse().unwrap();
        for cell in &mut grid[y][x..x + w] {
            *cell = true;
        }
    }
    grid
}

fn peers_in_kernel(g: &mut Guest) -> String {
    clean(&g.shell("vpn check"))
}

pub fn vpn_page(lab: &Lab, g: &mut Guest, b: &Browser, dir: &Path) {
    if !oxwrt_testkit::require_all(&wireguard::prerequisites()) {
        return;
    }
    wireguard::install_resolvconf(dir);
    b.go("/vpn");
    b.submit("form[action='/vpn/init'] button");
    let applied = wait_for(T, || peers_in_kernel(g).contains("wg0: the kernel matches vpn.toml: 0 peers").then_some(()));
    assert!(applied.is_some(), "the VPN set up in the page is not in the kernel:\n{}", g.shell("vpn check"));

    // A device: its QR code (inline SVG) is the .conf the page offers.
    b.go("/vpn");
    b.fill("#vpn_name", "web-phone");
    b.submit("form[action='/vpn/add'] button");
    b.no_dialog();
    b.screenshot("vpn-added");
    let svg = b.find("#qr svg");
    let svg = b.cmd("GET", &format!("/element/{svg}/property/outerHTML"), None).unwrap();
    let config = wireguard::decode(&svg_grid(svg.as_str().unwrap_or_default()), dir);
    let link = b.find("#download");
    let href = b.cmd("GET", &format!("/element/{link}/attribute/href"), None).unwrap();
    let href = href.as_str().unwrap_or_default();
    let download = href.split_once(";base64,").map(|(_, d)| base64_decode(d)).unwrap_or_else(|| panic!("the download is not a data: URL: {href}"));
    assert_eq!(String::from_utf8_lossy(&download), config, "the QR code is the downloaded .conf");
    assert!(config.contains("Address = 10.8.0.2/32") && config.contains("[Peer]"), "{config}");
    // Shown once: the page again has neither.
    b.go("/vpn");
    assert!(b.find_all("#qr").is_empty() && b.find_all("#download").is_empty(), "the configuration is shown again");

    // The configuration, unmodified, brings the tunnel up.
    let w = Warrior::new(lab, "wweb", "192.0.2.12/24", &config, dir);
    let ok = wait_for(T, || peers_in_kernel(g).contains("wg0: the kernel matches vpn.toml: 1 peers").then_some(()));
    assert!(ok.is_some(), "the device is not in the kernel:\n{}", g.shell("vpn check"));
    w.up();
    let up = wait_for(T, || w.ping("192.168.1.1").then_some(()));
    assert!(up.is_some(), "no ping to the router's LAN address through the tunnel\n{}", g.shell("vpn status"));
    assert_ne!(w.handshake(), 0);
    b.go("/vpn");
    let row = b.text("tr.peer");
    assert!(row.contains("web-phone") && row.contains("online"), "the page shows the device online: {row}");
    b.screenshot("vpn");

    // Disabled in the page: no handshake any more.
    b.submit("form[action='/vpn/disable'] button");
    let ok = wait_for(T, || peers_in_kernel(g).contains("wg0: the kernel matches vpn.toml: 0 peers").then_some(()));
    assert!(ok.is_some(), "the disabled device is still in the kernel:\n{}", g.shell("vpn check"));
    w.down();
    w.up();
    let started = Instant::now();
    let shaken = wait_for(Duration::from_secs(8), || {
        w.ping("192.168.1.1");
        (w.handshake() != 0).then_some(())
    });
    assert!(shaken.is_none(), "a device disabled in the page handshook ({:?} after wg-quick up)", started.elapsed());
    assert!(b.text("tr.peer").contains("disabled"));

    // Removed in the page.
    b.submit("form[action='/vpn/remove'] button");
    assert!(b.find_all("td.peer-name").is_empty(), "the removed device is still listed");
    assert!(!clean(&g.shell("cat /etc/oxwrt/vpn.toml")).contains("web-phone"), "web-phone is still in vpn.toml");

    // Markup as a device name: refused, shown as text, nothing runs.
    b.fill("#vpn_name", NAME_PAYLOAD);
    b.submit("form[action='/vpn/add'] button");
    b.no_dialog();
    assert_eq!(b.text("#rejected"), NAME_PAYLOAD, "the refused name is shown as text");
    b.screenshot("vpn-refused-name");
    drop(w);
}
