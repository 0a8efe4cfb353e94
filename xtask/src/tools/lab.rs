//! The lab: booted oxwrt routers on real Linux network stacks, for the end-to-end tests and
//! benchmarks that need real peers (iperf3, fping, irtt, wg-quick, dnsmasq, udhcpc): every
//! device is a network namespace on this host (root and iproute2; nothing touches the
//! host's own namespace), every link a veth pair or a QEMU tap.
//!
//! ```text
//!  ISP namespace                 modem namespace (optional)        router namespace rN       laptop namespace lN
//!  bridge `wan` 192.0.2.1/24     bridge br0, tbf on each port:     QEMU (the router)
//!  2001:db8:1::1/64              `down` (ISP -> router) and        eth0 = tap `wan` -- bridge brw -- veth wport
//!  dnsmasq: DHCP .100-.199,      `up` (router -> ISP): the          eth1 = tap `lan` -- bridge brl -- veth lport -- eth0
//!  DNS isp.test, pool.ntp.org;   buffer of a cheap cable modem
//!  chronyd: NTP
//! ```
//!
//! The ISP's bridge takes several routers (site-to-site tests) and other hosts the test adds
//! ([`Lab::isp_host`]); QEMU runs inside the router's namespace (`ip netns exec`), where
//! its taps are. Everything is deleted on drop: QEMU first, then the processes, then the
//! namespaces (with their devices). Namespace names carry the test process id, and a
//! leftover of a killed run with the same names is deleted first.
//!
//! Addresses are from the documentation ranges: the ISP is 192.0.2.1 (RFC 5737) and
//! 2001:db8:1::1 (RFC 3849); routers get 192.0.2.100-199 from the ISP's DHCP server; the
//! laptops get their lease from the router's LAN (192.168.1.0/24 by default).

use crate::board::Board;
use crate::context::Context;
use crate::tools::qemu::{Guest, Launch};
use oxwrt_testkit::netns::{run, wait_for, Netns, Proc};
use oxwrt_testkit::Prereq;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ISP's address on its WAN segment (the router's gateway).
pub const ISP_IP: &str = "192.0.2.1";
/// The ISP's IPv6 address on its WAN segment.
pub const ISP_IP6: &str = "2001:db8:1::1";
/// A name the ISP's DNS server answers (with [`ISP_IP`]): resolvable through the router.
pub const ISP_NAME: &str = "isp.test";
/// The ISP answers the NTP pool's names (timed's default servers) with its own address,
/// where chronyd serves this host's time.
pub const NTP_POOL: &str = "pool.ntp.org";
/// Every name under it resolves (192.0.2.7): distinct names for cache floods.
pub const FLOOD_DOMAIN: &str = "flood.test";
/// No name under it is ever answered (the ISP forwards it to nobody).
pub const SLOW_DOMAIN: &str = "slow.test";

/// What the lab needs on this host; checked by [`Lab::new`] through oxwrt_testkit (a
/// missing one fails the test under OXWRT_STRICT_TESTS=1, naming the package).
pub fn prerequisites() -> Vec<Prereq<'static>> {
    vec![
        Prereq::Root,
        Prereq::program("ip", "apt-get install iproute2"),
        Prereq::program("tc", "apt-get install iproute2"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
        Prereq::program("busybox", "apt-get install busybox"),
        Prereq::program("chronyd", "apt-get install chrony"),
    ]
}

/// The bottleneck between the router and the ISP: a token bucket per direction with a
/// large FIFO behind it, as in a cheap cable or DSL modem (the bufferbloat the SQM tests
/// measure).
#[derive(Debug, Clone, Copy)]
pub struct Modem {
    pub down_kbit: u32,
    pub up_kbit: u32,
    /// The FIFO, in full-size (1514-byte) packets.
    pub buffer_packets: u32,
}

/// A test's lab: the ISP (and modem) namespaces; routers are added with [`Lab::router`].
pub struct Lab {
    // Drop order: processes before the namespaces they run in.
    procs: Vec<Proc>,
    modem: Option<(Netns, Modem)>,
    isp: Netns,
    tag: String,
    routers: u32,
    dir: PathBuf,
}

/// A booted router with its own laptop on the LAN.
pub struct Router {
    // Drop order: QEMU, then the laptop's processes, then the namespaces.
    pub guest: Guest,
    laptop_procs: Vec<Proc>,
    /// The namespace QEMU runs in (taps and bridges only).
    pub ns: Netns,
    /// The LAN client: its `eth0` is on the router's eth1.
    pub laptop: Netns,
    pub index: u32,
    dir: PathBuf,
}

impl Lab {
    /// The ISP (and, with `modem`, the modem between it and the routers). Returns None
    /// when a prerequisite is missing and the test may be skipped (never under
    /// OXWRT_STRICT_TESTS=1, where it panics naming what to install).
    #[track_caller]
    pub fn new(tag: &str, modem: Option<Modem>) -> Option<Lab> {
        if !oxwrt_testkit::require_all(&prerequisites()) {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("oxwrt-lab-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let isp = Netns::new(&format!("{tag}-isp"));
        isp.ip(&["link", "add", "wan", "type", "bridge"]);
        isp.ip(&["addr", "add", &format!("{ISP_IP}/24"), "dev", "wan"]);
        isp.ip(&["addr", "add", &format!("{ISP_IP6}/64"), "dev", "wan", "nodad"]);
        isp.ip(&["link", "set", "wan", "up"]);
        let mut lab = Lab { procs: Vec::new(), modem: None, isp, tag: tag.to_string(), routers: 0, dir };
        if let Some(m) = modem {
            let ns = Netns::new(&format!("{tag}-modem"));
            ns.ip(&["link", "add", "br0", "type", "bridge"]);
            ns.ip(&["link", "set", "br0", "up"]);
            // `up` faces the ISP (its peer is a port of the ISP's bridge).
            ns.ip(&["link", "add", "name", "up", "type", "veth", "peer", "name", "modem", "netns", &lab.isp.name]);
            ns.ip(&["link", "set", "dev", "up", "master", "br0", "up"]);
            lab.isp.ip(&["link", "set", "modem", "master", "wan", "up"]);
            lab.modem = Some((ns, m));
            lab.set_modem(m.down_kbit, m.up_kbit);
        }
        let dnsmasq = lab.dnsmasq();
        lab.procs.push(dnsmasq);
        let chronyd = lab.chronyd();
        lab.procs.push(chronyd);
        Some(lab)
    }

    pub fn isp(&self) -> &Netns {
        &self.isp
    }

    /// The ISP's DHCP and DNS server (dnsmasq, in the foreground, as root: no privilege
    /// drop to a user this host may not have).
    fn dnsmasq(&self) -> Proc {
        let leases = self.dir.join("isp.leases");
        let args = [
            "dnsmasq".to_string(),
            "--no-daemon".into(),
            "--conf-file=/dev/null".into(),
            "--user=root".into(),
            "--interface=wan".into(),
            "--bind-interfaces".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            // A and AAAA records (a resolver with neither answers REFUSED, which musl's
            // getaddrinfo waits out: a real ISP's resolver answers both).
            format!("--address=/{ISP_NAME}/{ISP_IP}"),
            format!("--address=/{ISP_NAME}/{ISP_IP6}"),
            format!("--address=/{NTP_POOL}/{ISP_IP}"),
            format!("--address=/{NTP_POOL}/{ISP_IP6}"),
            // Any name under flood.test has an answer (cache floods); slow.test is sent to
            // a server that does not exist, so its queries stay unanswered (floods of
            // queries in flight).
            format!("--address=/{FLOOD_DOMAIN}/192.0.2.7"),
            format!("--address=/{FLOOD_DOMAIN}/2001:db8:1::7"),
            format!("--server=/{SLOW_DOMAIN}/192.0.2.250"),
            "--dhcp-range=192.0.2.100,192.0.2.199,255.255.255.0,1h".into(),
            format!("--dhcp-option=option:dns-server,{ISP_IP}"),
            // NTP servers (option 42): the router's own LAN address and loopback, which
            // netd must refuse, then the ISP's chronyd.
            format!("--dhcp-option=option:ntp-server,192.168.1.1,127.0.0.1,{ISP_IP}"),
            format!("--dhcp-leasefile={}", leases.display()),
            format!("--pid-file={}", self.dir.join("dnsmasq.pid").display()),
            "--log-dhcp".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.isp.exec(&args)
    }

    /// The ISP's NTP server: chronyd serving this host's clock (`local stratum 8`) without
    /// ever touching it (`-x`).
    fn chronyd(&self) -> Proc {
        let conf = self.dir.join("chrony.conf");
        let text = format!("local stratum 8\nallow all\nport 123\ncmdport 0\npidfile {}\n", self.dir.join("chronyd.pid").display());
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        self.isp.exec(&["chronyd", "-d", "-x", "-u", "root", "-f", &conf.display().to_string()])
    }

    /// Sets the modem's rates (kbit/s each way), its FIFO unchanged; at once, mid-test.
    pub fn set_modem(&self, down_kbit: u32, up_kbit: u32) {
        let (ns, m) = self.modem.as_ref().expect("this lab has no modem (Lab::new(tag, Some(Modem { .. })))");
        for (dev, kbit) in [("down", down_kbit), ("up", up_kbit)] {
            if dev == "down" && !ns.try_ip(&["link", "show", "dev", "down"]) {
                continue; // no router yet: set when it is attached
            }
            tbf(ns, dev, kbit, m.buffer_packets);
        }
    }

    /// A host on the ISP's segment (a server "on the Internet", a road-warrior VPN client):
    /// its own namespace with `eth0` on the ISP's bridge at `addr` (e.g. "192.0.2.10/24"),
    /// default route via the ISP.
    pub fn isp_host(&self, name: &str, addr: &str) -> Netns {
        let ns = Netns::new(&format!("{}-{name}", self.tag));
        ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", &format!("h-{name}"), "netns", &self.isp.name]);
        self.isp.ip(&["link", "set", &format!("h-{name}"), "master", "wan", "up"]);
        ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&["route", "add", "default", "via", ISP_IP]);
        ns
    }

    /// A process on the ISP (a server the test talks to through the router), killed when
    /// the lab is dropped.
    pub fn isp_spawn(&mut self, cmd: &[&str]) {
        let p = self.isp.exec(cmd);
        self.procs.push(p);
    }

    /// Boots `board` from `image` (a writable copy of its disk or flash image) with eth0 on
    /// the ISP (through the modem if there is one) and eth1 on a laptop of its own; returns
    /// once the console says `oxwrt: ready`.
    pub fn router(&mut self, ctx: &Context, board: &Board, image: PathBuf, boot: Duration) -> Router {
        self.router_with(ctx, board, image, boot, &[])
    }

    /// [`Lab::router`] with more QEMU arguments (e.g. `-rtc base=...`).
    pub fn router_with(&mut self, ctx: &Context, board: &Board, image: PathBuf, boot: Duration, qemu_args: &[&str]) -> Router {
        self.routers += 1;
        let n = self.routers;
        assert!(n < 100, "at most 99 routers in one lab");
        if self.modem.is_some() {
            assert_eq!(n, 1, "a lab with a modem takes one router");
        }
        let ns = Netns::new(&format!("{}-r{n}", self.tag));
        let laptop = Netns::new(&format!("{}-l{n}", self.tag));
        for (tap, br) in [("wan", "brw"), ("lan", "brl")] {
            ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]);
            ns.ip(&["link", "add", br, "type", "bridge"]);
            ns.ip(&["link", "set", tap, "master", br, "up"]);
            ns.ip(&["link", "set", br, "up"]);
        }
        // WAN: to the modem's `down` port, or straight onto the ISP's bridge.
        match &self.modem {
            Some((modem, m)) => {
                ns.ip(&["link", "add", "name", "wport", "type", "veth", "peer", "name", "down", "netns", &modem.name]);
                modem.ip(&["link", "set", "dev", "down", "master", "br0", "up"]);
                tbf(modem, "down", m.down_kbit, m.buffer_packets);
            }
            None => {
                let port = format!("r{n}");
                ns.ip(&["link", "add", "name", "wport", "type", "veth", "peer", "name", &port, "netns", &self.isp.name]);
                self.isp.ip(&["link", "set", &port, "master", "wan", "up"]);
            }
        }
        ns.ip(&["link", "set", "wport", "master", "brw", "up"]);
        ns.ip(&["link", "add", "name", "lport", "type", "veth", "peer", "name", "eth0", "netns", &laptop.name]);
        ns.ip(&["link", "set", "lport", "master", "brl", "up"]);
        laptop.ip(&["link", "set", "eth0", "up"]);

        let nic = board.qemu.as_ref().unwrap_or_else(|| panic!("board {} has no [qemu] section", board.id)).nic();
        let mut nics = Vec::new();
        for (id, tap, mac) in [("wan", "wan", format!("52:54:00:0a:{n:02x}:01")), ("lan", "lan", format!("52:54:00:0a:{n:02x}:02"))] {
            nics.push("-netdev".to_string());
            nics.push(format!("tap,id={id},ifname={tap},script=no,downscript=no"));
            nics.push("-device".to_string());
            nics.push(format!("{nic},netdev={id},mac={mac}"));
        }
        let launch = Launch {
            disk: Some(image),
            exit_on_reboot: true,
            nics: Some(nics),
            devices: qemu_args.iter().map(|a| a.to_string()).collect(),
            netns: Some(ns.name.clone()),
            ..Default::default()
        };
        let mut guest = Guest::start(ctx, board, launch);
        guest.wait_for("oxwrt: ready", boot);
        let dir = self.dir.join(format!("r{n}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Router { guest, laptop_procs: Vec::new(), ns, laptop, index: n, dir }
    }
}

impl Router {
    /// The laptop asks the router's DHCP server for a lease (busybox udhcpc) and configures
    /// it: address and default route via the router. Returns the address; panics with
    /// udhcpc's output and the console's tail if no lease came within `limit`.
    pub fn laptop_lease(&mut self, limit: Duration) -> String {
        let script = self.dir.join("udhcpc.sh");
        std::fs::write(&script, UDHCPC_SCRIPT).unwrap_or_else(|e| panic!("cannot write {}: {e}", script.display()));
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod the udhcpc script");
        let script = script.display().to_string();
        let tries = limit.as_secs().max(3).to_string();
        let cmd = ["busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", &tries, "-T", "1", "-s", &script, "-x", "hostname:laptop"];
        let (status, out) = self.laptop.exec(&cmd).wait(limit + Duration::from_secs(5));
        let addr = self.laptop.addrs("eth0");
        if status != Some(0) || addr.is_empty() {
            panic!("the laptop got no lease from router {} within {} s:\n{out}\n--- console ---\n{}", self.index, limit.as_secs(), self.guest.tail());
        }
        addr[0].split('/').next().unwrap_or_default().to_string()
    }

    /// A process in the laptop's namespace, killed when the router is dropped.
    pub fn laptop_spawn(&mut self, cmd: &[&str]) {
        let p = self.laptop.exec(cmd);
        self.laptop_procs.push(p);
    }

    /// Waits until the laptop reaches `addr` (one ping a second, at most `limit`).
    pub fn laptop_reaches(&self, addr: &str, limit: Duration) -> bool {
        wait_for(limit, || self.laptop.exec(&["busybox", "ping", "-c", "1", "-W", "1", addr]).wait(Duration::from_secs(3)).0.filter(|c| *c == 0)).is_some()
    }

    /// This router's scratch directory (deleted with the lab).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A writable copy of `board`'s bootable image in `dir` (the disk image of x86, the whole
/// flash of a flash board): what [`Lab::router`] boots, so the test's writes (overlay,
/// leases) never touch the built image.
pub fn scratch_image(ctx: &Context, board: &Board, dir: &Path) -> PathBuf {
    use crate::board::ImageFormat;
    use crate::steps::image;
    let (from, name) = if board.images.contains(&ImageFormat::FlashImage) {
        (image::flash::flash_path(&image::images_dir(ctx, board), board), "flash.bin")
    } else {
        (image::disk_path(ctx, board), "disk.img")
    };
    let to = dir.join(name);
    std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("cannot copy {} ({e}): run `cargo xtask build --board {}`", from.display(), board.id));
    to
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.procs.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The laptop's udhcpc script: address, default route (busybox exports `ip`, `mask` as a
/// prefix length, `router`).
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# oxwrt lab: configure the lease busybox udhcpc got.
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done ;;
esac
exit 0
"#;

/// A token bucket with a FIFO of `packets` full-size packets on `dev`'s egress.
fn tbf(ns: &Netns, dev: &str, kbit: u32, packets: u32) {
    let bytes_per_s = u64::from(kbit) * 1000 / 8;
    // Burst: 4 ms at the rate, at least two full frames (tbf needs one MTU).
    let burst = (bytes_per_s / 250).max(3028);
    let limit = u64::from(packets) * 1514;
    run(
        "tc",
        &[
            "-n",
            &ns.name,
            "qdisc",
            "replace",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            &format!("{kbit}kbit"),
            "burst",
            &burst.to_string(),
            "limit",
            &limit.to_string(),
        ],
    );
}
