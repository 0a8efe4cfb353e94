//! `cargo xtask bench net`: the router's network on the smoltcp harness (crates/nettest),
//! measured and recorded in docs/benchmarks.md (section `net`), never asserted. Each QEMU
//! board boots with eth0 (WAN) on an ISP and eth1 (LAN) on a laptop, as in
//! tests/network.rs, and the benchmark records:
//! - the idle resident memory of netd (and of init and webd, for reference), from the
//!   guest's `ps`;
//! - how long the leases take: the router's WAN lease from the ISP (after QEMU started and
//!   relative to `oxwrt: ready`), and the laptop's LAN lease from the router (its first
//!   DISCOVER to the ACK);
//! - NAT throughput: an HTTP download from the ISP through the router to the laptop, and an
//!   upload the other way;
//! - added latency: ping from the laptop to the ISP (forwarded and NATed) against ping from
//!   the laptop to the router's LAN address (answered by the router itself).
//!
//! Then each board again in the lab (xtask/src/tools/lab.rs: real Linux peers in network
//! namespaces, dnsmasq as the ISP's DNS), loaded from the laptop with tools/load.rs:
//! - DNS answers per second from the cache (one name, asked again and again) and forwarded
//!   (distinct names, each a cache miss the ISP answers), 32 queries in flight;
//! - DHCP leases per second (made-up clients, DISCOVER to ACK, one after the other);
//! - netd's resident memory idle and after floods (16 DNS-over-TCP connections that never
//!   read, 500 queries nobody answers, the DHCP pool filled), against its budget.
//!
//! Run by `cargo xtask bench net` (`cargo test --release -p xtask --test bench_net --
//! --ignored --nocapture --test-threads=1`: optimized, because in a debug build the
//! harness's smoltcp hosts, not the router, limit a transfer to about 35 Mbit/s); needs the
//! images of both QEMU boards.

use nettest::{plan, Host, HostConfig, Isp, IspConfig, Link};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::board::Board;
use xtask::context::Context;
use xtask::tools::lab::{self, Lab};
use xtask::tools::load;
use xtask::tools::qemu::{Guest, Launch};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";
const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(30);
/// A bulk transfer under TCG (slow on Malta).
const BULK: Duration = Duration::from_secs(300);
const PINGS: usize = 20;

fn ctx() -> Context {
    Context::from_env(false).unwrap()
}

/// Bytes moved each way: the emulated MIPS forwards far slower than x86.
fn transfer_bytes(board_id: &str) -> usize {
    if board_id == MALTA {
        4 << 20
    } else {
        16 << 20
    }
}

struct Row {
    board: &'static str,
    rss: [String; 3],
    wan_after_start: f64,
    wan_after_ready: f64,
    wan_exchange: f64,
    lan_lease: f64,
    bytes: usize,
    down_mbit: f64,
    up_mbit: Option<f64>,
    rtt_router: Duration,
    rtt_isp: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbit(bytes: usize, secs: f64) -> f64 {
    bytes as f64 * 8.0 / secs / 1e6
}

fn measure(board_id: &'static str) -> Row {
    let ctx = ctx();
    let b: Board = ctx.repo().load_board(board_id).unwrap();
    assert!(ctx.board_out(board_id).join("rootfs/usr/sbin/netd").is_file(), "{board_id} has no netd: run `cargo xtask build --board {board_id}`");
    let dir = tempfile::tempdir().unwrap();
    let image: PathBuf = if board_id == MALTA {
        let flash = dir.path().join("flash.bin");
        std::fs::copy(xtask::steps::image::flash::flash_path(&xtask::steps::image::images_dir(&ctx, &b), &b), &flash).unwrap();
        flash
    } else {
        let disk = dir.path().join("disk.img");
        std::fs::copy(xtask::steps::image::disk_path(&ctx, &b), &disk).unwrap();
        disk
    };
    let wan_link = Link::new("wan").unwrap();
    let lan_link = Link::new("lan").unwrap();
    let nic = b.qemu.as_ref().expect("a QEMU board").nic();
    let mut nics = wan_link.qemu_args("wan", plan::ROUTER_WAN_MAC, nic);
    nics.extend(lan_link.qemu_args("lan", plan::ROUTER_LAN_MAC, nic));
    let isp = Isp::spawn(wan_link, IspConfig::default());
    let laptop = Host::spawn(lan_link, HostConfig::new("laptop", plan::CLIENT_MAC));
    let launch = Launch { disk: Some(image), exit_on_reboot: true, nics: Some(nics), ..Default::default() };
    let step = |what: &str| eprintln!("[{board_id}] {what}");

    // The ISP's clock (microseconds since it started) is the one its DHCP log uses.
    let isp_now = || isp.now().total_micros() as f64 / 1e6;
    let started = isp_now();
    let mut g = Guest::start(&ctx, &b, launch);
    g.wait_for("oxwrt: ready", BOOT);
    let ready = isp_now();
    step(&format!("`oxwrt: ready` {:.1} s after QEMU started", ready - started));

    // WAN: the ISP's lease to the router, timed on the ISP's clock.
    let wan = isp.wait_for_lease(T).unwrap_or_else(|| panic!("{board_id}: no WAN lease; console:\n{}", g.tail()));
    let leased = wan.at.total_micros() as f64 / 1e6;
    let router_mac = wan.mac;
    let first_discover = isp.dhcp_received().iter().find(|m| m.mac == router_mac).map(|m| m.at.total_micros() as f64 / 1e6).unwrap_or(leased);
    step(&format!("WAN lease {} {:.2} s after QEMU started ({:+.2} s from ready)", wan.address, leased - started, leased - ready));

    // LAN: the laptop's DHCP, from its first DISCOVER to the lease.
    let t = Instant::now();
    let lease = laptop.dhcp(Some("laptop"), T).unwrap_or_else(|e| panic!("{board_id}: the laptop's lease: {e}; console:\n{}", g.tail()));
    let lan_lease = t.elapsed().as_secs_f64();
    step(&format!("LAN lease {} in {:.3} s", lease.address, lan_lease));

    // Idle memory, once both leases are given and the router has settled.
    std::thread::sleep(Duration::from_secs(5));
    let ps = g.shell("ps");
    let rss = |name: &str| ps.lines().find(|l| l.trim_end().ends_with(name)).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?").to_string();
    let rss = [rss("/usr/sbin/netd"), rss("/sbin/init"), rss("/usr/sbin/webd")];
    step(&format!("RSS netd {} KiB, init {} KiB, webd {} KiB", rss[0], rss[1], rss[2]));

    // Latency: the router's own answer, then through it (warm-up pings first: ARP, conntrack).
    let ping_series = |to: nettest::smoltcp::wire::Ipv4Address| {
        for _ in 0..3 {
            laptop.ping(to, T).unwrap_or_else(|e| panic!("{board_id}: ping {to}: {e}"));
        }
        median((0..PINGS).map(|_| laptop.ping(to, T).unwrap_or_else(|e| panic!("{board_id}: ping {to}: {e}"))).collect())
    };
    let rtt_router = ping_series(plan::LAN_ROUTER);
    let rtt_isp = ping_series(plan::ISP_GATEWAY);
    step(&format!("ping median: router {rtt_router:?}, ISP {rtt_isp:?}"));

    // Throughput through the NAT: best of two, each way.
    let n = transfer_bytes(board_id);
    let to = (plan::ISP_HTTP, 80);
    let page = laptop.http_get(to, "/", T).unwrap_or_else(|e| panic!("{board_id}: GET / from the ISP: {e}"));
    assert_eq!(page.status, 200);
    let mut down = 0f64;
    for _ in 0..2 {
        let t = Instant::now();
        let r = laptop.http_get(to, &format!("/bytes/{n}"), BULK).unwrap_or_else(|e| panic!("{board_id}: download of {n} bytes: {e}"));
        let secs = t.elapsed().as_secs_f64();
        assert_eq!((r.status, r.body.len()), (200, n), "{board_id}: the download");
        down = down.max(mbit(n, secs));
    }
    step(&format!("download {n} bytes: {down:.1} Mbit/s"));
    let mut up = None;
    for _ in 0..2 {
        let t = Instant::now();
        match laptop.http_post(to, "/upload", n, BULK) {
            Ok(r) if r.status == 200 && r.text() == format!("received {n} bytes\n") => {
                let v = mbit(n, t.elapsed().as_secs_f64());
                up = Some(up.map_or(v, |u: f64| u.max(v)));
            }
            other => eprintln!("[{board_id}] upload of {n} bytes failed: {other:?}"),
        }
    }
    step(&format!("upload {n} bytes: {up:?} Mbit/s"));

    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
    g.wait_exit(Duration::from_secs(60));
    Row {
        board: board_id,
        rss,
        wan_after_start: leased - started,
        wan_after_ready: leased - ready,
        wan_exchange: leased - first_discover,
        lan_lease,
        bytes: n,
        down_mbit: down,
        up_mbit: up,
        rtt_router,
        rtt_isp,
    }
}

/// Under load, in the lab.
struct LoadRow {
    board: &'static str,
    cached: load::UdpRun,
    forwarded: load::UdpRun,
    dhcp: load::DhcpRun,
    rss_idle: u64,
    rss_flooded: u64,
    budget_kib: String,
}

fn measure_load(board_id: &'static str) -> LoadRow {
    let ctx = ctx();
    let b: Board = ctx.repo().load_board(board_id).unwrap();
    let mut lab = Lab::new("bench", None).expect("the lab's prerequisites (cargo xtask setup)");
    let dir = tempfile::tempdir().unwrap();
    let image = lab::scratch_image(&ctx, &b, dir.path());
    let mut r = lab.router(&ctx, &b, image, BOOT);
    r.laptop_lease(T);
    let budget = r.guest.wait_for_log("netd: memory budget", T);
    let budget_kib = budget.split("memory budget ").nth(1).and_then(|t| t.split(' ').next()).unwrap_or("?").to_string();
    std::thread::sleep(Duration::from_secs(5));
    let rss_idle = load::rss_kib(&mut r.guest, "netd");
    let router: std::net::SocketAddr = "192.168.1.1:53".parse().unwrap();
    let n = 3000;
    let cached = load::dns_udp(&r.laptop, router, vec![lab::ISP_NAME.to_string(); n], 32, BULK);
    let forwarded = load::dns_udp(&r.laptop, router, (0..n).map(|i| format!("b{i}.{}", lab::FLOOD_DOMAIN)).collect(), 32, BULK);
    eprintln!("[{board_id}] DNS: cached {cached:?}, forwarded {forwarded:?}");
    let dhcp = load::dhcp_clients(&r.laptop, 100, BULK);
    eprintln!("[{board_id}] DHCP: {dhcp:?}");
    load::dns_tcp_flood(&r.laptop, router, 16, 400, lab::FLOOD_DOMAIN);
    load::dns_udp(&r.laptop, router, (0..500).map(|i| format!("s{i}.{}", lab::SLOW_DOMAIN)).collect(), 500, Duration::from_secs(10));
    load::dhcp_clients(&r.laptop, 400, BULK);
    let rss_flooded = load::rss_kib(&mut r.guest, "netd");
    LoadRow { board: board_id, cached, forwarded, dhcp, rss_idle, rss_flooded, budget_kib }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(n: usize) -> String {
    format!("{} MiB", n >> 20)
}

#[test]
#[ignore = "benchmark: cargo xtask bench net"]
fn bench_net() {
    let rows: Vec<Row> = [X86, MALTA].into_iter().map(measure).collect();
    let loads: Vec<LoadRow> = [X86, MALTA].into_iter().map(measure_load).collect();
    let ctx = ctx();
    let today = String::from_utf8_lossy(&Command::new("date").args(["-u", "+%Y-%m-%d"]).output().unwrap().stdout).trim().to_string();
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_default();
    let mut body = format!(
        "Measured {today} on {} CPU(s) with `cargo xtask bench net` ({qemu}). The router boots in QEMU under TCG (full emulation, no KVM), \
         eth0 on the ISP and eth1 on a laptop, both smoltcp hosts of the test harness (crates/nettest) in the benchmark's process, as in \
         xtask/tests/network.rs; the harness is built optimized (in a debug build its smoltcp hosts, not the router, cap a transfer at about \
         35 Mbit/s). These are numbers of the emulator, not of hardware: they are for comparing builds and boards with each other, and \
         vary by some tens of percent between runs (the latencies more).\n\n",
        ctx.jobs
    );
    body += "Idle resident memory (the guest's `ps`, 5 s after both leases) and the leases. WAN: when the ISP acknowledged the router's lease, \
             counted from QEMU's start and from `oxwrt: ready` on the console (negative: before it), and the exchange itself (the router's first \
             DISCOVER to the ACK). LAN: the laptop's DHCP from its first DISCOVER to the lease, started after `oxwrt: ready`.\n\n\
             | board | netd RSS | init RSS | webd RSS | WAN lease after QEMU start | after `ready` | WAN DISCOVER to ACK | LAN DISCOVER to lease |\n\
             |---|---|---|---|---|---|---|---|\n";
    for r in &rows {
        body += &format!(
            "| {} | {} KiB | {} KiB | {} KiB | {:.1} s | {:+.2} s | {:.3} s | {:.3} s |\n",
            r.board, r.rss[0], r.rss[1], r.rss[2], r.wan_after_start, r.wan_after_ready, r.wan_exchange, r.lan_lease
        );
    }
    body += &format!(
        "\nThrough the router (forwarding, conntrack, masquerade): HTTP over one TCP connection between the laptop and the ISP's web server \
         (download `GET /bytes/<n>`, upload `POST` of n bytes; best of 2, wall time from connect to the whole response), and the median of {PINGS} \
         pings from the laptop to the ISP (forwarded and NATed) and to the router's LAN address (answered by the router itself); their \
         difference is what forwarding and NAT add.\n\n\
         | board | size | download | upload | ping router (LAN) | ping ISP (through NAT) | added by forwarding + NAT |\n|---|---|---|---|---|---|---|\n"
    );
    for r in &rows {
        let up = r.up_mbit.map_or("failed".to_string(), |u| format!("{u:.1} Mbit/s"));
        let added = r.rtt_isp.as_secs_f64() - r.rtt_router.as_secs_f64();
        body += &format!(
            "| {} | {} | {:.1} Mbit/s | {} | {} | {} | {:+.2} ms |\n",
            r.board,
            mib(r.bytes),
            r.down_mbit,
            up,
            ms(r.rtt_router),
            ms(r.rtt_isp),
            added * 1e3
        );
    }
    body += "\nUnder load, in the lab (real Linux peers in network namespaces; dnsmasq is the ISP's DNS server): DNS answers per second \
             with 32 queries in flight from the laptop, from the router's cache (one name) and forwarded (3,000 distinct names, each a \
             cache miss); DHCP leases per second (made-up clients one after the other, DISCOVER to ACK; the pool has 150 addresses); \
             netd's resident memory idle and after floods (16 DNS-over-TCP connections that never read, 500 queries nobody answers, the \
             pool filled), next to the budget netd derives from the RAM (docs/network-config.md \"Limits\").\n\n\
             | board | DNS from cache | DNS forwarded | DHCP leases | netd RSS idle | after the floods | netd budget |\n|---|---|---|---|---|---|---|\n";
    for l in &loads {
        body += &format!(
            "| {} | {:.0}/s | {:.0}/s | {:.1}/s ({} leases) | {} KiB | {} KiB | {} KiB |\n",
            l.board,
            l.cached.rate(),
            l.forwarded.rate(),
            l.dhcp.acked as f64 / l.dhcp.elapsed.as_secs_f64().max(1e-6),
            l.dhcp.acked,
            l.rss_idle,
            l.rss_flooded,
            l.budget_kib
        );
    }
    let path = ctx.root.join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    if !text.contains("<!-- bench:net -->") {
        std::fs::write(&path, format!("{}\n## Network (netd)\n", text.trim_end())).unwrap();
    }
    xtask::cmd::bench::write_section(&path, "net", &body).unwrap();
    println!("{body}");
}
