//! Road warriors for the lab ([`crate::tools::lab`]): the real WireGuard tools (`wg-quick
//! up` with wireguard-go, since the host kernel may have no WireGuard) in a namespace on the
//! ISP's segment, brought up with a client configuration the router generated, unmodified;
//! and the readers of what `vpn add-peer` prints (the configuration, its QR code decoded
//! with zbarimg). Shared by xtask/tests/vpn.rs, the web UI test and `cargo xtask bench
//! vpn`.

use crate::tools::lab::{Lab, Router};
use oxwrt_config::vpn::Key;
use oxwrt_testkit::netns::{wait_for, Netns};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// What the road warriors need on this host (failed with what to install under
/// OXWRT_STRICT_TESTS=1).
pub fn prerequisites() -> Vec<oxwrt_testkit::Prereq<'static>> {
    use oxwrt_testkit::Prereq;
    vec![
        Prereq::program("wg-quick", "apt-get install wireguard-tools"),
        Prereq::program("wireguard-go", "apt-get install wireguard-go"),
        Prereq::program("zbarimg", "apt-get install zbar-tools"),
    ]
}

/// The console's output without carriage returns.
pub fn clean(s: &str) -> String {
    s.replace('\r', "")
}

/// The wg-quick configuration `vpn add-peer` printed: from `[Interface]` to the blank
/// line after the `[Peer]` section (the QR code follows).
pub fn printed_config(out: &str) -> String {
    let start = out.find("[Interface]").unwrap_or_else(|| panic!("no configuration in:\n{out}"));
    let rest = &out[start..];
    let peer = rest.find("[Peer]").unwrap_or_else(|| panic!("no [Peer] in:\n{rest}"));
    let end = rest[peer..].find("\n\n").map(|e| peer + e + 1).unwrap_or_else(|| panic!("no end of the configuration in:\n{rest}"));
    rest[..end].to_string()
}

/// The ASCII QR code after the configuration (`##` = light module), as a grid of dark
/// modules.
pub fn printed_qr(out: &str) -> Vec<Vec<bool>> {
    let grid: Vec<Vec<bool>> =
        out.lines().filter(|l| l.starts_with("####") && l.len() % 2 == 0).map(|l| l.as_bytes().chunks(2).map(|c| c == b"  ").collect()).collect();
    assert!(grid.len() > 20 && grid.iter().all(|r| r.len() == grid.len()), "no square QR code in:\n{out}");
    grid
}

/// zbarimg's reading of an image file (the text of the one QR code in it).
pub fn decode_image(img: &Path) -> String {
    let out = std::process::Command::new("zbarimg").args(["--raw", "-q"]).arg(img).output().expect("zbarimg");
    assert!(out.status.success(), "zbarimg read no QR code in {}: {}", img.display(), String::from_utf8_lossy(&out.stderr));
    let mut text = String::from_utf8(out.stdout).expect("zbarimg's output is UTF-8");
    assert_eq!(text.pop(), Some('\n'));
    text
}

/// zbarimg's reading of a grid (written as a PBM image, 4 pixels a module).
pub fn decode(grid: &[Vec<bool>], dir: &Path) -> String {
    let n = grid.len() * 4;
    let mut s = format!("P1\n{n} {n}\n");
    for row in grid {
        let line: String = row.iter().flat_map(|&d| std::iter::repeat_n(if d { "1 " } else { "0 " }, 4)).collect();
        for _ in 0..4 {
            s.push_str(&line);
            s.push('\n');
        }
    }
    let img = dir.join("qr.pbm");
    std::fs::write(&img, s).unwrap_or_else(|e| panic!("cannot write {}: {e}", img.display()));
    decode_image(&img)
}

/// The router's WAN address from netd's `wan: lease ADDR/PREFIX ...` log line.
pub fn lease_address(lease: &str) -> String {
    lease.split("lease ").nth(1).and_then(|s| s.split(['/', ' ']).next()).unwrap_or_default().to_string()
}

/// The public key `vpn public-key` printed (retried: the console may interleave).
pub fn public_key(r: &mut Router) -> Key {
    let found = wait_for(T, || clean(&r.guest.shell("vpn public-key")).split_whitespace().find_map(|w| w.parse::<Key>().ok()));
    found.unwrap_or_else(|| panic!("no public key from `vpn public-key`:\n{}", r.guest.tail()))
}

/// wg-quick hands the DNS servers to resolvconf, which the host may lack: this one
/// records them in `dns.IFACE` next to it. [`Warrior`]s find it in their directory.
pub const RESOLVCONF: &str =
    "#!/bin/sh\n# oxwrt lab: record what wg-quick asks of resolvconf\ncase \"$1\" in -a) cat > \"$(dirname \"$0\")/dns.$2\" ;; esac\nexit 0\n";

/// Writes [`RESOLVCONF`] into `dir` (the directory [`Warrior`]s run in).
pub fn install_resolvconf(dir: &Path) {
    let rc = dir.join("resolvconf");
    std::fs::write(&rc, RESOLVCONF).unwrap_or_else(|e| panic!("cannot write {}: {e}", rc.display()));
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod resolvconf");
}

/// A road warrior: a host on the ISP's segment running wg-quick + wireguard-go with a
/// configuration file; `wg-quick down` and its wireguard-go ended when dropped.
pub struct Warrior {
    pub ns: Netns,
    pub name: String,
    pub conf: String,
    pub dir: PathBuf,
}

impl Warrior {
    /// A warrior `name` (also its WireGuard interface's name) at `host` (CIDR on the ISP's
    /// segment) with the configuration `config`, written to `dir`/NAME.conf (0600).
    pub fn new(lab: &Lab, name: &str, host: &str, config: &str, dir: &Path) -> Warrior {
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        std::fs::set_permissions(&conf, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod the configuration");
        Warrior::clear_leftovers(name);
        let ns = lab.isp_host(name, host);
        Warrior { ns, name: name.to_string(), conf: conf.display().to_string(), dir: dir.to_path_buf() }
    }

    /// `cmd` in the namespace through sh, output to a file (wireguard-go stays in the
    /// background holding its output: never a pipe the caller waits on).
    pub fn sh(&self, cmd: &str, limit: Duration) -> (Option<i32>, String) {
        let log = self.dir.join(format!("{}.log", self.name));
        let script = format!("PATH={}:$PATH WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go {cmd} > {} 2>&1", self.dir.display(), log.display());
        let (status, _) = self.ns.exec(&["sh", "-c", &script]).wait(limit);
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// A wireguard-go of this name left by a killed run (the namespace is gone, the process
    /// and its socket are not): ended by its pid, its socket removed.
    pub fn clear_leftovers(name: &str) {
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if cmdline == format!("wireguard-go\0{name}\0").as_bytes() {
                let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
            }
        }
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{name}.sock"));
    }

    pub fn up(&self) {
        let (status, out) = self.sh(&format!("wg-quick up {}", self.conf), T);
        assert_eq!(status, Some(0), "wg-quick up {}:\n{out}", self.conf);
    }

    pub fn down(&self) {
        let _ = self.sh(&format!("wg-quick down {}", self.conf), T);
    }

    /// The public key of the configuration's private key, by `wg pubkey`.
    pub fn public_key(&self) -> Key {
        let conf = std::fs::read_to_string(&self.conf).unwrap_or_else(|e| panic!("cannot read {}: {e}", self.conf));
        let private = conf.lines().find_map(|l| l.strip_prefix("PrivateKey = ")).expect("a PrivateKey line");
        let mut child =
            std::process::Command::new("wg").arg("pubkey").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("wg pubkey");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), format!("{private}\n").as_bytes()).expect("wg pubkey's input");
        let out = child.wait_with_output().expect("wg pubkey");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|e| panic!("wg pubkey: {e}"))
    }

    /// The peer's last handshake (seconds since the epoch; 0: none).
    pub fn handshake(&self) -> u64 {
        let (_, out) = self.sh(&format!("wg show {} latest-handshakes", self.name), T);
        out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// One ping (IPv4 or IPv6), answered within a second.
    pub fn ping(&self, addr: &str) -> bool {
        self.ns.exec(&["busybox", "ping", "-c", "1", "-W", "1", addr]).wait(Duration::from_secs(3)).0 == Some(0)
    }
}

impl Drop for Warrior {
    fn drop(&mut self) {
        self.down();
        Warrior::clear_leftovers(&self.name);
    }
}

/// `vpn add-peer NAME --ascii` on the router's console; checks that the printed QR code
/// decodes to exactly the printed configuration; returns the warrior at `host` with it
/// (not up yet) and the configuration.
pub fn add_peer(lab: &Lab, r: &mut Router, name: &str, host: &str, dir: &Path) -> (Warrior, String) {
    let out = clean(&r.guest.shell(&format!("vpn add-peer {name} --ascii")));
    let config = printed_config(&out);
    assert_eq!(decode(&printed_qr(&out), dir), config, "the console's QR code of {name}");
    (Warrior::new(lab, name, host, &config, dir), config)
}
