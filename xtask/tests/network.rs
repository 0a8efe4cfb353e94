//! The router end to end, on the network test harness (crates/nettest): each image boots
//! in QEMU with two NICs on unix sockets, eth0 (WAN) wired to an ISP and eth1 (LAN) to a
//! laptop, both played by smoltcp hosts in this process:
//!
//! ```text
//!  ISP 203.0.113.1 (DHCP), .53 (DNS: example.test), .80 (HTTP)
//!   |  Link "wan"
//!  eth0  router (netd: DHCP client, NAT, firewall)  br-lan[eth1] 192.168.1.1
//!                                                      |  Link "lan"
//!                                                    laptop (DHCP client, hostname "laptop")
//! ```
//!
//! One boot per test and board; each test runs a scenario on both QEMU boards:
//! - `router_routes`: WAN lease from the ISP, LAN lease from the router, DNS through the
//!   router (the ISP's name, the laptop's own name), a page from the ISP seen from the
//!   router's WAN address (NAT).
//! - `router_firewall`: unsolicited connections from the ISP (to the web UI on the WAN
//!   address, to a WAN port, to the laptop routed through the router) are dropped; a port
//!   forward written on the console and applied by SIGHUP reaches the laptop.
//! - `router_config_and_leases`: the lease file and the laptop's name survive
//!   `service restart netd`; an invalid network.toml is rejected with file:line: key, on
//!   reload and on restart, and the running configuration keeps routing; the lease file
//!   survives a reboot and the laptop gets its address back.
//!
//! A failure prints the steps so far with their times, the ISP's records, the link
//! counters, netd's log lines and the console's tail. `--nocapture` shows the steps.

use nettest::smoltcp::wire::{EthernetAddress, IpAddress, Ipv4Address, Ipv4Cidr};
use nettest::{plan, GivenLease, Host, HostConfig, Isp, IspConfig, Lease, Link, LinkCounters, NetError};
use std::fmt::{Debug, Display};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xtask::board::Board;
use xtask::context::Context;
use xtask::tools::qemu::{Guest, Launch};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";
/// Power-on to `oxwrt: ready` under TCG, with room for a loaded machine.
const BOOT: Duration = Duration::from_secs(300);
/// One network operation that is expected to succeed.
const T: Duration = Duration::from_secs(30);
/// How long an unsolicited connection waits for an answer that must not come. The router
/// answers a LAN client's connection in milliseconds, so seconds of silence are a drop.
const DROPPED: Duration = Duration::from_secs(5);

const LAPTOP: &str = "laptop";
/// What the laptop serves on port 80 (the LAN end of the port forward).
const LAPTOP_PAGE: &[u8] = b"served by the laptop\n";
const LEASES: &str = "/etc/oxwrt/netd/dhcp.leases";
const NETWORK_TOML: &str = "/etc/oxwrt/network.toml";
const FIREWALL_TOML: &str = "/etc/oxwrt/firewall.toml";

/// A MAC as the device writes it (`02:00:..`; smoltcp shows `02-00-..`).
fn colons(mac: EthernetAddress) -> String {
    mac.0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn ctx() -> Context {
    Context::from_env(false).unwrap()
}

fn board(id: &str) -> Board {
    ctx().repo().load_board(id).unwrap()
}

/// Which log records a wait counts.
#[derive(Debug)]
enum Match {
    /// Records containing this.
    Has(&'static str),
    /// Records ending with this.
    Ends(&'static str),
}

impl Match {
    fn matches(&self, record: &str) -> bool {
        match self {
            Match::Has(p) => record.contains(p),
            Match::Ends(p) => record.ends_with(p),
        }
    }
}

/// The router on its two links, with the ISP and the laptop around it.
struct Net {
    board: &'static str,
    g: Guest,
    isp: Isp,
    laptop: Host,
    wan: Arc<LinkCounters>,
    lan: Arc<LinkCounters>,
    started: Instant,
    steps: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Net {
    /// Boots `board_id` from a copy of its disk (x86) or flash (Malta) image, eth0 on the
    /// ISP's link and eth1 on the laptop's, and waits for `oxwrt: ready`.
    fn boot(board_id: &'static str) -> Net {
        let b = board(board_id);
        let dir = tempfile::tempdir().unwrap();
        let image = if board_id == MALTA {
            let flash = dir.path().join("flash.bin");
            std::fs::copy(xtask::steps::image::flash::flash_path(&xtask::steps::image::images_dir(&ctx(), &b), &b), &flash).unwrap();
            flash
        } else {
            let disk = dir.path().join("disk.img");
            std::fs::copy(xtask::steps::image::disk_path(&ctx(), &b), &disk).unwrap();
            disk
        };
        let rootfs = ctx().board_out(board_id).join("rootfs/usr/sbin/netd");
        assert!(rootfs.is_file(), "{} has no netd: run `cargo xtask build --board {board_id}`", rootfs.display());
        Net::boot_image(board_id, &b, image, dir)
    }

    fn boot_image(board_id: &'static str, b: &Board, image: PathBuf, dir: tempfile::TempDir) -> Net {
        let wan_link = Link::new("wan").unwrap();
        let lan_link = Link::new("lan").unwrap();
        let (wan, lan) = (wan_link.counters(), lan_link.counters());
        // eth0 = WAN, eth1 = LAN: the order netd's QEMU defaults expect; the board's NIC model.
        let nic = b.qemu.as_ref().expect("a QEMU board").nic();
        let mut nics = wan_link.qemu_args("wan", plan::ROUTER_WAN_MAC, nic);
        nics.extend(lan_link.qemu_args("lan", plan::ROUTER_LAN_MAC, nic));
        let isp = Isp::spawn(wan_link, IspConfig::default());
        let laptop = Host::spawn(lan_link, HostConfig::new(LAPTOP, plan::CLIENT_MAC));
        let launch = Launch { disk: Some(image), exit_on_reboot: true, nics: Some(nics), ..Default::default() };
        let g = Guest::start(&ctx(), b, launch);
        let mut net = Net { board: board_id, g, isp, laptop, wan, lan, started: Instant::now(), steps: Vec::new(), _dir: dir };
        net.g.wait_for("oxwrt: ready", BOOT);
        net.step("booted to `oxwrt: ready`");
        assert_eq!(
            (net.wan.connections.load(Ordering::Relaxed), net.lan.connections.load(Ordering::Relaxed)),
            (1, 1),
            "QEMU did not connect both NICs{}",
            net.report()
        );
        net
    }

    /// Records (and prints, for --nocapture) a step with its time since power-on.
    fn step(&mut self, what: &str) {
        let line = format!("[{} {:6.1} s] {what}", self.board, self.started.elapsed().as_secs_f64());
        eprintln!("{line}");
        self.steps.push(line);
    }

    /// What a failure shows: the steps, the ISP's and the laptop's records, the links,
    /// netd's log and the console's tail.
    fn report(&mut self) -> String {
        let mut r = String::from("\n--- steps ---\n");
        r += &self.steps.join("\n");
        r += &format!("\n--- ISP ---\nleases given: {:?}\n", self.isp.leases());
        let dhcp: Vec<String> = self.isp.dhcp_received().iter().map(|m| format!("{:?} from {} ({:?})", m.message_type, m.mac, m.hostname)).collect();
        r += &format!("DHCP messages received: {dhcp:?}\n");
        let dns: Vec<String> = self.isp.dns_queries().iter().map(|q| format!("{} from {}{}", q.name, q.from, if q.over_tcp { " (TCP)" } else { "" })).collect();
        r += &format!("DNS queries: {dns:?}\n");
        let http: Vec<String> = self.isp.http_connections().iter().map(|c| format!("{:?} from {}", c.request_line, c.from)).collect();
        r += &format!("HTTP connections: {http:?}\n");
        r += &format!("--- laptop ---\nlease: {:?}\n", self.laptop.lease());
        for (name, c) in [("wan", &self.wan), ("lan", &self.lan)] {
            r += &format!(
                "link {name}: {} connections, {} frames from the router, {} to it, {} dropped\n",
                c.connections.load(Ordering::Relaxed),
                c.rx_frames.load(Ordering::Relaxed),
                c.tx_frames.load(Ordering::Relaxed),
                c.tx_dropped.load(Ordering::Relaxed)
            );
        }
        // netd's log, if the console still answers (without panicking inside a panic).
        let before = self.g.text().len();
        self.g.send("logread");
        std::thread::sleep(Duration::from_secs(3));
        let text = self.g.text();
        let netd: Vec<&str> = text[before.min(text.len())..].lines().filter(|l| l.contains("netd")).collect();
        r += &format!("--- netd's log (logread) ---\n{}\n", netd.join("\n"));
        let lines: Vec<&str> = text.lines().collect();
        r += &format!("--- console tail ---\n{}", lines[lines.len().saturating_sub(60)..].join("\n"));
        r
    }

    /// The value, or a panic with `what` and the report.
    fn ok<V, E: Display>(&mut self, what: &str, r: Result<V, E>) -> V {
        match r {
            Ok(v) => v,
            Err(e) => {
                let report = self.report();
                panic!("{}: {what}: {e}{report}", self.board)
            }
        }
    }

    /// Asserts `cond`, else panics with `what` and the report.
    fn check(&mut self, cond: bool, what: impl Display) {
        if !cond {
            let report = self.report();
            panic!("{}: {what}{report}", self.board);
        }
    }

    fn check_eq<V: PartialEq + Debug>(&mut self, what: &str, got: V, want: V) {
        if got != want {
            let report = self.report();
            panic!("{}: {what}: got {got:?}, want {want:?}{report}", self.board);
        }
    }

    /// The router's WAN lease from the ISP.
    fn wan_lease(&mut self) -> GivenLease {
        let lease = self.isp.wait_for_lease(T).ok_or("no DHCP lease given to the router");
        let lease = self.ok("the router's WAN lease", lease);
        self.step(&format!("the router leased {} from the ISP (hostname {:?})", lease.address, lease.hostname));
        lease
    }

    /// The laptop's lease from the router, checked against netd's defaults.
    fn lan_lease(&mut self) -> Lease {
        let lease = self.laptop.dhcp(Some(LAPTOP), T);
        let lease = self.ok("the laptop's lease from the router", lease);
        self.step(&format!("the laptop leased {} from the router", lease.address));
        let a = lease.address.address().octets();
        self.check(
            a[..3] == [192, 168, 1] && (100..=249).contains(&a[3]),
            format_args!("the laptop's address is outside the pool 192.168.1.100-249: {lease:?}"),
        );
        self.check_eq("the laptop's prefix", lease.address.prefix_len(), plan::LAN_PREFIX_LEN);
        self.check_eq("the laptop's router", lease.router, Some(plan::LAN_ROUTER));
        self.check_eq("the laptop's DNS servers", lease.dns_servers.clone(), vec![plan::LAN_ROUTER]);
        self.check_eq("the DHCP server", lease.server, plan::LAN_ROUTER);
        lease
    }

    /// Resolves `name` through the router's DNS forwarder; its A records.
    fn resolve(&mut self, name: &str) -> Vec<Ipv4Address> {
        let answer = self.laptop.resolve(plan::LAN_ROUTER, name, T);
        let answer = self.ok(&format!("resolving {name} through the router"), answer);
        self.check(answer.rcode == 0, format_args!("{name}: the router answered rcode {}", answer.rcode));
        answer.addresses
    }

    /// The laptop fetches the ISP's page (found by name through the router); the ISP saw
    /// the router's WAN address (NAT).
    fn fetch_from_isp(&mut self, name: &str, wan: Ipv4Address) {
        let addresses = self.resolve(name);
        self.check_eq(&format!("{name} through the router"), addresses.clone(), vec![plan::ISP_HTTP]);
        let page = self.laptop.http_get((addresses[0], 80), "/", T);
        let page = self.ok("GET / from the ISP's web server", page);
        self.check_eq("the ISP's page", (page.status, page.text()), (200, "hello from the ISP\n".to_string()));
        let from = self.isp.http_connections().last().map(|c| c.from.addr);
        self.check_eq("the source address the ISP saw", from, Some(IpAddress::Ipv4(wan)));
        self.step(&format!("the laptop fetched http://{name}/; the ISP saw {wan}"));
    }

    /// The laptop's name resolves to its address through the router.
    fn laptop_resolves(&mut self, lease: &Lease) {
        let name = format!("{LAPTOP}.lan");
        let addresses = self.resolve(&name);
        self.check_eq(&format!("{name} through the router"), addresses, vec![lease.address.address()]);
        self.step(&format!("{name} resolves to {}", lease.address.address()));
    }

    fn shell(&mut self, line: &str) -> String {
        self.g.shell(line)
    }

    /// The log ring (`logread`): its records (`[uptime] source: line`) in order, each once
    /// (the console may show a record twice when it prints while logread runs).
    fn logread(&mut self) -> Vec<String> {
        let out = self.shell("logread");
        let mut seen = std::collections::HashSet::new();
        out.lines().map(|l| l.trim_end().to_string()).filter(|l| l.starts_with('[') && seen.insert(l.clone())).collect()
    }

    /// How many log records match.
    fn log_count(&mut self, m: &Match) -> usize {
        self.logread().iter().filter(|l| m.matches(l)).count()
    }

    /// Waits until more than `before` log records match; the log.
    fn wait_log(&mut self, m: &Match, before: usize, timeout: Duration) -> Vec<String> {
        let started = Instant::now();
        loop {
            let log = self.logread();
            if log.iter().filter(|l| m.matches(l)).count() > before {
                return log;
            }
            if started.elapsed() > timeout {
                let report = self.report();
                panic!("{}: no new record {m:?} in the log within {} s{report}", self.board, timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Unsolicited TCP connections from the ISP to `targets`, all at once: each must get
    /// no answer at all within [`DROPPED`] (a drop; a closed port would answer a reset).
    fn dropped_from_wan(&mut self, when: &str, targets: &[(Ipv4Address, u16)]) {
        let isp = &self.isp;
        let results: Vec<_> = std::thread::scope(|s| {
            let probes: Vec<_> = targets.iter().map(|&to| s.spawn(move || (to, isp.tcp_connect(to, DROPPED)))).collect();
            probes.into_iter().map(|p| p.join().unwrap()).collect()
        });
        for ((addr, port), r) in results {
            self.check(
                matches!(r, Err(NetError::TimedOut(_))),
                format_args!("{when}: an unsolicited connection from the ISP to {addr}:{port} was not dropped: {r:?}"),
            );
        }
        let shown: Vec<String> = targets.iter().map(|(a, p)| format!("{a}:{p}")).collect();
        self.step(&format!("{when}: ISP -> {} dropped", shown.join(", ")));
    }

    /// netd's pid from init's service table.
    fn netd_pid(&mut self) -> u32 {
        let table = self.shell("service");
        let pid =
            table.lines().find(|l| l.starts_with("netd ") && l.contains("running")).and_then(|l| l.split_whitespace().nth(2)).and_then(|p| p.parse().ok());
        let pid = pid.ok_or_else(|| format!("netd is not running:\n{table}"));
        self.ok("netd's pid", pid)
    }

    /// Writes a file on the console, a line at a time (the shell has no editor and no
    /// `mv`), and checks it reads back.
    fn write_file(&mut self, path: &str, lines: &[&str]) {
        for (i, line) in lines.iter().enumerate() {
            assert!(!line.contains('\''), "{line}");
            self.g.send(&format!("echo '{line}' {} {path}", if i == 0 { ">" } else { ">>" }));
        }
        let back = self.shell(&format!("cat {path}"));
        let want = lines.join("\n");
        self.check(back.replace("\r\n", "\n").contains(&want), format_args!("{path} did not read back as written:\n{back}"));
    }

    /// Restarts netd through init and waits until it runs again.
    fn restart_netd(&mut self) {
        // Not `netd: running the configuration applied before`: the start's last record.
        let (stopping, running) = (Match::Has("netd: stopping (the network stays configured)"), Match::Ends("netd: running"));
        let (s, r) = (self.log_count(&stopping), self.log_count(&running));
        self.shell("service restart netd");
        self.wait_log(&stopping, s, T);
        self.wait_log(&running, r, T);
        self.step("netd restarted (service restart netd)");
    }

    /// Sends SIGHUP to netd and waits for the reload's outcome: the log from then on.
    fn sighup_netd(&mut self, outcome: &'static str) -> String {
        let pid = self.netd_pid();
        let before = self.log_count(&Match::Has(outcome));
        let hups = self.log_count(&Match::Has("netd: SIGHUP"));
        self.shell(&format!("kill -HUP {pid}"));
        let log = self.wait_log(&Match::Has(outcome), before, T);
        let at = log.iter().enumerate().filter(|(_, l)| l.contains("netd: SIGHUP")).nth(hups).map(|(i, _)| i);
        let at = self.ok("netd logs the SIGHUP", at.ok_or("no `netd: SIGHUP` record"));
        self.step(&format!("netd (pid {pid}) reloaded on SIGHUP: {outcome}"));
        log[at..].join("\n")
    }

    /// A clean reboot (QEMU exits: -no-reboot), then the same image boots again on new
    /// links, with a new ISP and laptop (the same addresses and MACs).
    fn reboot(mut self) -> Net {
        self.g.send("reboot");
        self.g.wait_for("oxwrt: rebooting", Duration::from_secs(60));
        let status = self.g.wait_exit(Duration::from_secs(60));
        self.check(status.success(), format_args!("QEMU exited with {status}"));
        self.step("rebooted");
        let (board_id, dir) = (self.board, self._dir);
        let image = dir.path().join(if board_id == MALTA { "flash.bin" } else { "disk.img" });
        Net::boot_image(board_id, &board(board_id), image, dir)
    }

    fn poweroff(mut self) {
        self.g.send("poweroff");
        self.g.wait_for("oxwrt: powering off", Duration::from_secs(60));
        let status = self.g.wait_exit(Duration::from_secs(60));
        self.check(status.success(), format_args!("QEMU exited with {status}"));
        self.step("powered off");
    }
}

/// Scenario 1: the router takes its WAN address from the ISP, leases the laptop an address,
/// resolves for it (the ISP's name, the laptop's own name) and routes it to the ISP behind
/// its own WAN address.
fn routes(board_id: &'static str) {
    let mut n = Net::boot(board_id);
    let wan = n.wan_lease();
    n.check_eq("the router's WAN address", wan.address, plan::WAN_POOL_FIRST);
    n.check_eq("the router's MAC on the WAN", colons(wan.mac), plan::ROUTER_WAN_MAC.to_string());
    // netd sends /etc/hostname (wan.hostname unset).
    n.check_eq("the hostname the router sent the ISP", wan.hostname.clone(), Some("oxwrt".to_string()));
    let lease = n.lan_lease();

    n.fetch_from_isp(plan::EXAMPLE_NAME, wan.address);
    // The router asked the ISP's DNS server, from its WAN address.
    let asked: Vec<_> = n.isp.dns_queries().into_iter().filter(|q| q.name == plan::EXAMPLE_NAME).map(|q| q.from.addr).collect();
    n.check(
        !asked.is_empty() && asked.iter().all(|a| *a == IpAddress::Ipv4(wan.address)),
        format_args!("the ISP's DNS server was asked for {} by {asked:?}, not by the router's WAN address", plan::EXAMPLE_NAME),
    );
    // A name nobody knows: the ISP's NXDOMAIN comes back through the router.
    let answer = n.laptop.resolve(plan::LAN_ROUTER, "nowhere.test", T);
    let answer = n.ok("resolving nowhere.test through the router", answer);
    n.check(answer.is_nxdomain() && answer.addresses.is_empty(), format_args!("nowhere.test: {answer:?}"));
    n.laptop_resolves(&lease);
    // The laptop also reaches the ISP by ping (ICMP through the NAT).
    let ping = n.laptop.ping(plan::ISP_GATEWAY, T);
    n.ok("ping from the laptop to the ISP", ping);
    n.step("the laptop pinged the ISP");
    n.poweroff();
}

/// Scenario 2: from the ISP, the router's web UI, a WAN port and the laptop (routed through
/// the router) are silent; after a port forward WAN:8080 -> laptop:80 is written on the
/// console and netd reloads on SIGHUP, the ISP reaches the laptop's web server.
fn firewall(board_id: &'static str) {
    let mut n = Net::boot(board_id);
    let wan = n.wan_lease().address;
    let lease = n.lan_lease();
    let laptop = lease.address.address();
    let served = n.laptop.serve_http(80, LAPTOP_PAGE);

    // The web UI runs: the laptop gets the status page from the LAN side.
    let page = n.laptop.http_get((plan::LAN_ROUTER, 80), "/api/status", T);
    let page = n.ok("the web UI from the LAN", page);
    n.check_eq("GET /api/status from the LAN", page.status, 200);
    n.step("the laptop got the web UI's status page on 192.168.1.1:80");

    // From the WAN: nothing answers, not even a reset. The ISP also routes the LAN prefix
    // through the router, as a neighbour on the WAN could: the laptop's web server, which
    // answers on the LAN, must not answer from the WAN.
    let r = n.isp.add_route(Ipv4Cidr::new(Ipv4Address::new(192, 168, 1, 0), 24), wan);
    n.ok("a route on the ISP to the LAN via the router", r);
    n.dropped_from_wan("no forwards", &[(wan, 80), (wan, 8080), (laptop, 80)]);
    let seen = served.lock().unwrap().len();
    n.check_eq("connections the laptop's web server saw", seen, 0);

    // A port forward, written on the console as docs/network-config.md shows.
    let to = format!("to = \"{laptop}\"");
    n.write_file(FIREWALL_TOML, &["[[forward]]", "name = \"laptop web\"", "wan_port = 8080", &to, "to_port = 80"]);
    let log = n.sighup_netd("netd: firewall table inet oxwrt:");
    n.check(log.contains("1 port forwards"), format_args!("netd did not apply the forward:\n{log}"));
    n.check(log.contains("configuration reloaded: applying") && log.contains("firewall"), format_args!("netd's reload:\n{log}"));

    let page = n.isp.http_get((wan, 8080), "/", T);
    let page = n.ok("GET / on the router's WAN address port 8080 from the ISP", page);
    n.check_eq("the forwarded page", (page.status, page.text()), (200, String::from_utf8_lossy(LAPTOP_PAGE).into_owned()));
    let from = served.lock().unwrap().last().map(|c| c.from.addr);
    // DNAT only: the laptop sees the ISP's own address.
    n.check_eq("the source the laptop saw", from, Some(IpAddress::Ipv4(plan::ISP_GATEWAY)));
    n.step(&format!("ISP -> {wan}:8080 forwarded to {laptop}:80"));
    // The forward opened only itself: the web UI and the laptop's address stay dropped.
    n.dropped_from_wan("with the forward", &[(wan, 80), (wan, 8081), (laptop, 80)]);
    let seen = served.lock().unwrap().len();
    n.check_eq("connections the laptop's web server saw (the forwarded one)", seen, 1);
    n.poweroff();
}

/// Scenario 3: leases and the laptop's name survive `service restart netd`; an invalid
/// network.toml is rejected (file:line: key in the log) on SIGHUP and on a restart, and the
/// router keeps resolving and routing; the leases survive a reboot too (netd, not root,
/// writes them into its own directory on the overlay), and the laptop gets its address back.
fn config_and_leases(board_id: &'static str) {
    let mut n = Net::boot(board_id);
    let wan = n.wan_lease().address;
    let lease = n.lan_lease();
    let laptop = lease.address.address();
    n.laptop_resolves(&lease);
    let entry = format!("{} {laptop} {LAPTOP}", colons(plan::CLIENT_MAC));
    let leases = n.shell(&format!("cat {LEASES}"));
    n.check(leases.contains(&entry), format_args!("{LEASES} does not list `{entry}`:\n{leases}"));

    n.restart_netd();
    let leases = n.shell(&format!("cat {LEASES}"));
    n.check(leases.contains(&entry), format_args!("after a restart of netd, {LEASES} does not list `{entry}`:\n{leases}"));
    n.laptop_resolves(&lease);
    n.fetch_from_isp(plan::EXAMPLE_NAME, wan);

    // The image's network.toml with a pool outside the LAN: line 10 is the bad key.
    let bad = [
        "# a DHCP pool outside the LAN subnet",
        "[lan]",
        "ports = [\"eth1\"]",
        "address = \"192.168.1.1/24\"",
        "",
        "[wan]",
        "device = \"eth0\"",
        "",
        "[dhcp]",
        "start = \"10.0.0.100\"",
    ];
    n.write_file(NETWORK_TOML, &bad);
    let log = n.sighup_netd("netd: the running configuration stays");
    let problem = log.lines().find(|l| l.contains("netd: /etc/oxwrt/network.toml:10:")).map(str::to_string);
    let problem = n.ok("the problem in the log", problem.ok_or_else(|| format!("no `netd: /etc/oxwrt/network.toml:10:` line after the SIGHUP:\n{log}")));
    n.check(
        problem.contains(": dhcp.start: 10.0.0.100 is outside the LAN subnet 192.168.1.0/24"),
        format_args!("the problem does not name the key and why: {problem}"),
    );
    n.step(&format!("rejected: {}", problem.trim()));
    // Still the old configuration: a new name is forwarded, the laptop's name and the NAT work.
    n.isp.set_name("second.test", plan::ISP_HTTP);
    n.fetch_from_isp("second.test", wan);
    n.laptop_resolves(&lease);

    // netd restarted with the invalid file in place runs what it applied before.
    let problem = Match::Has("netd: /etc/oxwrt/network.toml:10:");
    let problems = n.log_count(&problem);
    n.restart_netd();
    let log = n.wait_log(&problem, problems, T).join("\n");
    n.check(
        log.contains("netd: running the configuration applied before (/run/netd/applied.toml)"),
        format_args!("netd did not fall back to the applied configuration:\n{log}"),
    );
    n.isp.set_name("third.test", plan::ISP_HTTP);
    n.fetch_from_isp("third.test", wan);
    n.laptop_resolves(&lease);
    let leases = n.shell(&format!("cat {LEASES}"));
    n.check(leases.contains(&entry), format_args!("{LEASES} lost `{entry}`:\n{leases}"));

    let mut n = n.reboot();
    let leases = n.shell(&format!("cat {LEASES}"));
    n.check(leases.contains(&entry), format_args!("after a reboot, {LEASES} does not list `{entry}`:\n{leases}"));
    let again = n.lan_lease();
    n.check_eq("the laptop's address after the router's reboot", again.address.address(), laptop);
    n.poweroff();
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn x86_router_routes() {
    routes(X86);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn malta_router_routes() {
    routes(MALTA);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn x86_router_firewall() {
    firewall(X86);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn malta_router_firewall() {
    firewall(MALTA);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn x86_router_config_and_leases() {
    config_and_leases(X86);
}

#[test]
#[ignore = "needs the images built by cargo xtask test"]
fn malta_router_config_and_leases() {
    config_and_leases(MALTA);
}
