//! `vpn add-peer` on the host, in a scratch configuration directory: the peer lands in
//! vpn.toml with its PSK file (0600), and the QR codes of its configuration (console text,
//! both forms, and the web interface's SVG) decode with an independent reader, zbarimg
//! (Debian's zbar-tools), to exactly the configuration. The renderings are turned back
//! into module grids here and written as PBM images, which zbarimg reads.

use oxwrt_config::vpn::{wgquick, Vpn};
use oxwrt_testkit::Prereq;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use vpnd::cli::{add_peer, AddPeer, Dirs};

fn pbm(grid: &[Vec<bool>], path: &Path) {
    const SCALE: usize = 4;
    let n = grid.len();
    let mut s = format!("P1\n{} {}\n", n * SCALE, n * SCALE);
    for row in grid {
        let line: String = row.iter().flat_map(|&d| std::iter::repeat_n(if d { "1 " } else { "0 " }, SCALE)).collect();
        for _ in 0..SCALE {
            s.push_str(&line);
            s.push('\n');
        }
    }
    std::fs::write(path, s).unwrap();
}

fn zbar(path: &Path) -> String {
    let out = Command::new("zbarimg").args(["--raw", "-q"]).arg(path).output().expect("zbarimg runs");
    assert!(out.status.success(), "zbarimg found no code in {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let mut s = String::from_utf8(out.stdout).expect("utf-8");
    // zbarimg ends each symbol's data with a newline of its own.
    assert_eq!(s.pop(), Some('\n'));
    s
}

/// The console's half-block text back to modules (a block is a light module).
fn from_text(t: &str) -> Vec<Vec<bool>> {
    let mut g = Vec::new();
    for line in t.lines() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (lt, lb) = match c {
                '\u{2588}' => (true, true),
                '\u{2580}' => (true, false),
                '\u{2584}' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected {other:?} in the QR text"),
            };
            top.push(!lt);
            bottom.push(!lb);
        }
        g.push(top);
        g.push(bottom);
    }
    let width = g[0].len();
    g.truncate(width);
    g
}

fn from_ascii(t: &str) -> Vec<Vec<bool>> {
    t.lines().map(|l| l.as_bytes().chunks(2).map(|c| c == b"  ").collect()).collect()
}

/// The SVG's path (`M x y h w v1 h-w z` runs) back to modules.
fn from_svg(s: &str) -> Vec<Vec<bool>> {
    let vb = s.split("viewBox=\"0 0 ").nth(1).unwrap();
    let n: usize = vb.split(' ').next().unwrap().parse().unwrap();
    let d = s.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    let mut g = vec![vec![false; n]; n];
    for run in d.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let w: usize = rest.split('v').next().unwrap().parse().unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        for cell in &mut g[y][x..x + w] {
            *cell = true;
        }
    }
    g
}

#[test]
fn add_peer_config_and_its_qr_codes_decode_to_the_config() {
    if !oxwrt_testkit::require(Prereq::program("zbarimg", "apt-get install zbar-tools")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("vpnd");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        dir.path().join("vpn.toml"),
        format!(
            "[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\", \"fd00:8::1/64\"]\nendpoint = \"vpn.example.org\"\nprivate_key_file = \"{}/wg0.key\"\n",
            keys.display()
        ),
    )
    .unwrap();
    let dirs = Dirs { config: dir.path().to_path_buf(), run: dir.path().join("run") };
    let new = add_peer(&dirs, &AddPeer { name: "phone".into(), interface: None, lan_only: false }).unwrap();
    let cfg = &new.config;
    assert!(cfg.contains("Address = 10.8.0.2/32, fd00:8::2/128\n"), "{cfg}");
    assert!(cfg.contains("DNS = 192.168.1.1\n") && cfg.contains("Endpoint = vpn.example.org:51820\n"), "{cfg}");
    assert!(cfg.contains("AllowedIPs = 0.0.0.0/0, ::/0\n") && cfg.contains("PresharedKey = "), "{cfg}");
    // The router's side: the peer with the client's public key, its PSK file 0600.
    let vpn = Vpn::load(dir.path()).unwrap();
    let imported = wgquick::import(cfg).unwrap();
    let client_public = vpnd::keys::public_of(imported.private_key.as_ref().unwrap());
    assert_eq!(vpn.peers[0].public_key, client_public);
    let psk = vpn.peers[0].preshared_key_file.clone().unwrap();
    assert_eq!(std::fs::metadata(&psk).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(vpnd::keys::read_key_file(Path::new(&psk)).unwrap(), imported.peers[0].preshared_key.clone().unwrap());
    let server = vpnd::keys::read_key_file(&keys.join("wg0.key")).unwrap();
    assert_eq!(imported.peers[0].public_key, vpnd::keys::public_of(&server));

    // A second phone, LAN only: the next address, the LAN and VPN subnets.
    let lan = add_peer(&dirs, &AddPeer { name: "tablet".into(), interface: None, lan_only: true }).unwrap();
    assert!(lan.config.contains("Address = 10.8.0.3/32, fd00:8::3/128\n"), "{}", lan.config);
    assert!(lan.config.contains("AllowedIPs = 192.168.1.0/24, 10.8.0.0/24, fd00:8::/64\n"), "{}", lan.config);
    let again = add_peer(&dirs, &AddPeer { name: "phone".into(), interface: None, lan_only: false });
    assert!(again.err().unwrap().contains("exists already"));

    for (name, grid) in [
        ("text", from_text(&vpnd::qr::text(cfg, false).unwrap())),
        ("ascii", from_ascii(&vpnd::qr::text(cfg, true).unwrap())),
        ("svg", from_svg(&vpnd::qr::svg(cfg, 256).unwrap())),
    ] {
        let img = dir.path().join(format!("{name}.pbm"));
        pbm(&grid, &img);
        assert_eq!(&zbar(&img), cfg, "the {name} QR code");
    }
}
