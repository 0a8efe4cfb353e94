//! `cargo xtask bench vpn`: WireGuard through the router on each QEMU board (images built
//! by it if needed), in the lab (crate::tools::lab) with a road warrior of
//! crate::tools::wireguard (wg-quick + wireguard-go on the ISP's segment, the
//! configuration `vpn add-peer` printed): the handshake time after `wg-quick up`, TCP
//! throughput each way between the LAN's laptop and the warrior (iperf3, 10 s each) through
//! the router without the tunnel (NAT) and through it, the round-trip time of 20 pings
//! both ways, and vpnd's RSS/PSS after the traffic. Writes the `vpn` section of
//! docs/benchmarks.md. Emulator numbers: for comparing builds and boards, not hardware.
//! Benchmarks measure; tests never assert timings.

use crate::context::Context;
use crate::tools::lab::{self, Lab};
use crate::tools::wireguard::{self, clean};
use anyhow::{bail, Context as _, Result};
use oxwrt_testkit::netns::{wait_for, Netns};
use std::process::Command;
use std::time::{Duration, Instant};

const BOOT: Duration = Duration::from_secs(300);
const T: Duration = Duration::from_secs(60);
/// iperf3's run time per direction and path.
const IPERF_SECS: u32 = 10;
const WARRIOR: &str = "192.0.2.10";

struct Row {
    board: String,
    handshake_ms: u128,
    nat: (f64, f64),
    tunnel: (f64, f64),
    rtt: (f64, f64),
    rss: u64,
    pss: u64,
}

/// Mbit/s the receiver got: laptop -> `server` (`reverse`: `server` -> laptop).
fn iperf(laptop: &Netns, server: &str, reverse: bool) -> Result<f64> {
    let secs = IPERF_SECS.to_string();
    let mut cmd = vec!["iperf3", "-c", server, "-t", &secs, "-J"];
    if reverse {
        cmd.push("-R");
    }
    let (status, out) = laptop.exec(&cmd).wait(Duration::from_secs(u64::from(IPERF_SECS) + 30));
    if status != Some(0) {
        bail!("iperf3 -c {server}{}: {status:?}\n{out}", if reverse { " -R" } else { "" });
    }
    let start = out.find('{').with_context(|| format!("iperf3 printed no JSON:\n{out}"))?;
    let v: serde_json::Value = serde_json::from_str(&out[start..]).with_context(|| format!("iperf3's JSON:\n{out}"))?;
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|b| b / 1e6)
        .with_context(|| format!("no end.sum_received.bits_per_second in iperf3's JSON:\n{out}"))
}

/// The average round-trip time (ms) of 20 pings from `ns` to `addr` (busybox ping's
/// `round-trip min/avg/max = a/b/c ms`).
fn rtt(ns: &Netns, addr: &str) -> Result<f64> {
    let (status, out) = ns.exec(&["busybox", "ping", "-c", "20", "-i", "0.2", "-W", "2", addr]).wait(T);
    if status != Some(0) {
        bail!("ping {addr}: {status:?}\n{out}");
    }
    let line = out.lines().find(|l| l.contains("min/avg/max")).with_context(|| format!("no round-trip line in:\n{out}"))?;
    let avg = line.split('=').nth(1).and_then(|v| v.trim().split('/').nth(1)).and_then(|a| a.parse().ok());
    avg.with_context(|| format!("cannot read the average in `{line}`"))
}

fn one_board(ctx: &Context, b: &crate::board::Board, tag: &str, dir: &std::path::Path) -> Result<Row> {
    crate::cmd::build::build(ctx, b)?;
    let Some(mut lab) = Lab::new(tag, None) else { bail!("the lab's prerequisites are missing (see above): `cargo xtask setup` installs them") };
    wireguard::install_resolvconf(dir);
    let image = lab::scratch_image(ctx, b, dir);
    let mut r = lab.router(ctx, b, image, BOOT);
    r.guest.wait_for_log("wan: lease 192.0.2.", T);
    let laptop = r.laptop_lease(T);
    r.laptop_spawn(&["iperf3", "-s"]);
    let out = clean(&r.guest.shell("vpn init --address 10.8.0.1/24"));
    if !out.contains("added interface wg0") {
        bail!("vpn init: {out}");
    }
    let applied = wait_for(T, || clean(&r.guest.shell("vpn check")).contains("wg0: the kernel matches vpn.toml: 0 peers").then_some(()));
    applied.with_context(|| format!("vpnd did not apply wg0:\n{}", r.guest.tail()))?;
    let (w, _) = wireguard::add_peer(&lab, &mut r, &format!("bn-{tag}"), &format!("{WARRIOR}/24"), dir);
    wait_for(T, || clean(&r.guest.shell("vpn check")).contains("1 peers").then_some(())).context("the warrior is not in the kernel")?;
    // The warrior's iperf3 server (the same namespace the tunnel comes up in).
    let server = w.ns.exec(&["iperf3", "-s"]);
    std::thread::sleep(Duration::from_secs(1));
    // Without the tunnel: the laptop to the warrior's ISP address, NAT through the router.
    let nat = (iperf(&r.laptop, WARRIOR, false)?, iperf(&r.laptop, WARRIOR, true)?);
    let nat_rtt = rtt(&r.laptop, WARRIOR)?;
    // The tunnel: handshake time, then the laptop to the warrior's tunnel address.
    w.up();
    let started = Instant::now();
    let shaken = wait_for(Duration::from_secs(10), || {
        w.ping(&laptop);
        (w.handshake() != 0).then(|| started.elapsed())
    });
    let handshake = shaken.with_context(|| format!("no handshake within 10 s\n{}", r.guest.shell("vpn status")))?;
    let tunnel = (iperf(&r.laptop, "10.8.0.2", false)?, iperf(&r.laptop, "10.8.0.2", true)?);
    let tunnel_rtt = rtt(&r.laptop, "10.8.0.2")?;
    let m = r.guest.memory();
    let vpnd = m.processes.iter().find(|p| p.name == "vpnd").with_context(|| format!("no vpnd in the service table: {}", m.summary()))?;
    let row = Row { board: b.id.clone(), handshake_ms: handshake.as_millis(), nat, tunnel, rtt: (nat_rtt, tunnel_rtt), rss: vpnd.rss, pss: vpnd.pss };
    drop(server);
    drop(w);
    Ok(row)
}

pub fn vpn(ctx: &Context, board: Option<&str>) -> Result<()> {
    let boards: Vec<_> = crate::cmd::boards(ctx, board)?.into_iter().filter(|b| b.qemu.is_some()).collect();
    let mut rows = Vec::new();
    for (i, b) in boards.iter().enumerate() {
        let dir = ctx.out.join(format!("bench-vpn-{i}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let r = one_board(ctx, b, &format!("bv{i}"), &dir);
        std::fs::remove_dir_all(&dir).ok();
        let r = r?;
        rows.push(format!(
            "| {} | {} ms | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} ms | {:.2} ms (+{:.2}) | {} / {} |",
            r.board,
            r.handshake_ms,
            r.nat.0,
            r.nat.1,
            r.tunnel.0,
            r.tunnel.1,
            r.rtt.0,
            r.rtt.1,
            r.rtt.1 - r.rtt.0,
            r.rss,
            r.pss
        ));
        println!("{}", rows.last().map(String::as_str).unwrap_or_default());
    }
    let today = crate::tools::exec::capture(Command::new("date").args(["-u", "+%Y-%m-%d"])).unwrap_or_default();
    let section = format!(
        "Measured {today} with `cargo xtask bench vpn` (xtask/src/cmd/bench_vpn.rs) in the lab: a road warrior (wg-quick + wireguard-go) on the ISP's segment with the configuration \
         `vpn add-peer` printed, the laptop on the router's LAN. Handshake: from `wg-quick up` until `wg show` has one (polled, with a ping to start it). \
         Throughput: iperf3 TCP, {IPERF_SECS} s each way (laptop to warrior / warrior to laptop, Mbit/s the receiver got): without the tunnel the laptop reaches \
         the warrior's ISP address through NAT, with it the warrior's tunnel address (the router encrypts or decrypts every packet). RTT: average of 20 pings \
         from the laptop, the tunnel's added time in brackets. vpnd: RSS / PSS (kB, /proc/PID/smaps_rollup) after the traffic. QEMU emulates the CPU \
         (TCG), so the router's ChaCha20-Poly1305 is slow here, and the warrior's wireguard-go shares this machine's cores with QEMU: for comparing builds \
         and boards, not hardware.\n\n\
         | board | handshake | NAT up / down | tunnel up / down | RTT NAT | RTT tunnel | vpnd RSS / PSS |\n|---|---|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    super::bench::write_section(&ctx.root.join("docs/benchmarks.md"), "vpn", &section)?;
    println!("{section}");
    Ok(())
}
