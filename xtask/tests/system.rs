//! End-to-end checks of whole images (run by `cargo xtask test` after it has built them):
//! boot in QEMU to `oxwrt: ready`, the status page through the port forward, the daemons'
//! users and capabilities, init restarting a killed service, a clean reboot, data surviving
//! it, init going on when its console is closed or unplugged, UEFI boot of the disk image,
//! the MIPS32r1 Malta, the images against independent tools, a standalone package beside
//! the multi-call binary, reproducibility.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::board::Board;
use xtask::context::Context;
use xtask::tools::qemu::{self, Console, Guest, Launch};

const X86: &str = "qemu-x86-64";
const MALTA: &str = "qemu-malta-mipsel";

fn ctx() -> Context {
    Context::from_env(false).unwrap()
}

fn board(id: &str) -> Board {
    ctx().repo().load_board(id).unwrap()
}

fn manifest(id: &str) -> serde_json::Value {
    let path = ctx().board_out(id).join("manifest.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask build --board {id}`", path.display()))).unwrap()
}

fn scratch_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("disk.img");
    std::fs::copy(xtask::steps::image::disk_path(&ctx(), &board(X86)), &disk).unwrap();
    disk
}

const BOOT: Duration = Duration::from_secs(180);

/// Neither daemon is root: each runs as its user with exactly its capabilities
/// (NET_BIND_SERVICE = 10, NET_ADMIN = 12, NET_RAW = 13, SYS_TIME = 25; vpnd: NET_ADMIN alone), from /proc/<pid>/status; webd and
/// vpnd (its control socket for the web UI is root:config 0660) are in group `config` (200) too. `service` and `logread` show each service by its name.
/// netd's own directory on the overlay is netd's, the configuration root:config.
fn services_run_as_their_users(g: &mut Guest) {
    for (name, uid, gid, groups, capeff) in [
        ("netd", 101, 101, "101", "0000000000003400"),
        ("webd", 102, 102, "102 200", "0000000000000400"),
        ("timed", 105, 105, "105", "0000000002000000"),
        ("vpnd", 104, 104, "104 200", "0000000000001000"),
    ] {
        let pid = g.service_pid(name);
        let st = g.shell(&format!("cat /proc/{pid}/status"));
        let field = |k: &str| st.lines().find_map(|l| l.trim().strip_prefix(k)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
        assert_eq!(field("Uid:"), format!("{uid} {uid} {uid} {uid}"), "{name}:\n{st}");
        assert_eq!(field("Gid:"), format!("{gid} {gid} {gid} {gid}"), "{name}:\n{st}");
        assert_eq!(field("Groups:"), groups, "{name}:\n{st}");
        for k in ["CapEff:", "CapPrm:", "CapAmb:"] {
            assert_eq!(field(k), capeff, "{name} {k}\n{st}");
        }
        assert_eq!(field("NoNewPrivs:"), "1", "{name}:\n{st}");
    }
    let log = g.shell("logread");
    for name in ["netd", "webd"] {
        assert!(log.contains(&format!("] {name}: ")) && log.contains(&format!("] init: started {name} (pid ")), "no `{name}:` lines in logread:\n{log}");
    }
    // What netd wrote as netd: its run directory and the resolv.conf /etc links to.
    g.wait_for_log("netd: running", Duration::from_secs(120));
    let ls = g.shell("ls /run/netd");
    assert!(ls.contains("applied.toml") && ls.contains("resolv.conf"), "{ls}");
    let resolv = g.shell("cat /etc/resolv.conf");
    assert!(resolv.contains("nameserver "), "netd did not write /run/netd/resolv.conf:\n{resolv}");
    assert!(!g.text().contains("Permission denied"), "a service was refused a file:\n{}", g.tail());
    let log = g.shell("logread");
    assert!(!log.contains("Permission denied"), "a service was refused a file:\n{log}");
}

/// A line for the log of every run, passing or not: written to stderr directly, because
/// libtest captures only `print!`/`eprint!`, so `cargo xtask test` (and CI) show it.
fn log_always(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn x86_boots_serves_its_status_restarts_a_killed_service_and_keeps_data_across_a_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let disk = scratch_disk(dir.path());
    let launch = Launch { disk: Some(disk.clone()), exit_on_reboot: true, ..Default::default() };
    let m = manifest(X86);
    let mut g = Guest::start(&ctx(), &board(X86), launch.clone());
    g.wait_for("oxwrt: ready", BOOT);
    assert!(g.text().contains("root: squashfs + overlay on /dev/vda3 (ext4)"), "{}", g.tail());
    // Services are started at "ready"; the WAN address comes with netd's first lease.
    g.wait_for_log("wan: lease ", Duration::from_secs(60));

    // The status page, through QEMU's port forward.
    let (code, body) = g.http("/api/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(status["hostname"], "oxwrt", "{body}");
    assert_eq!(status["kernel"]["release"], m["kernel"]["version"], "{body}");
    assert_eq!(status["oxwrt"]["build_id"], m["build_id"], "{body}");
    assert!(
        status["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "eth0" && i["addresses"].as_array().unwrap().iter().any(|a| a["address"] == qemu::GUEST_IP)),
        "{body}"
    );
    // No password yet (first boot): every page leads to setting one.
    assert_eq!(g.http("/").0, 303);
    let (code, html) = g.http("/setup");
    assert_eq!(code, 200);
    assert!(html.contains("<h1>Set a password</h1>") && html.contains("<b>oxwrt</b>"), "{html}");
    assert_eq!(g.http("/nope").0, 404);

    services_run_as_their_users(&mut g);

    // Kill webd: init restarts it and the page comes back.
    let pid = g.service_pid("webd");
    g.send(&format!("kill -9 {pid}"));
    g.wait_for(&format!("webd (pid {pid}) killed by SIGKILL; restarting in 0.5 s"), Duration::from_secs(30));
    let started = g.wait_for("started webd (pid ", Duration::from_secs(30));
    assert!(!started.ends_with(&format!("(pid {pid}")), "{started}");
    assert_eq!(g.http("/api/status").0, 200);
    let table = g.shell("service status");
    assert!(table.lines().any(|l| l.starts_with("webd ") && l.contains("running") && l.contains("killed by SIGKILL")), "{table}");
    let log = g.shell("logread");
    assert!(log.contains("] webd: ") && log.contains("] kernel: Linux version 6.1") && log.contains("restarting in 0.5 s"), "{log}");

    // Write to the overlay, reboot cleanly (QEMU exits: -no-reboot).
    let marker = format!("persisted-{}", std::process::id());
    g.shell(&format!("echo {marker} > /etc/oxwrt-test"));
    g.send("reboot");
    g.wait_for("oxwrt: rebooting", Duration::from_secs(60));
    let status = g.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status}");
    let text = g.text();
    assert!(text.contains("init: reboot: stopping services") && !text.contains("still running after"), "services did not stop on SIGTERM:\n{}", g.tail());
    assert!(!text.contains("WARNING"), "{}", g.tail());
    drop(g);

    // The data partition is a clean ext4 (e2fsck is an independent check) holding the file.
    let mut g = Guest::start(&ctx(), &board(X86), launch);
    g.wait_for("oxwrt: ready", BOOT);
    let out = g.shell("cat /etc/oxwrt-test");
    assert!(out.contains(&marker), "the file written before the reboot is gone:\n{out}");
    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
    assert!(g.wait_exit(Duration::from_secs(60)).success());
}

/// The pid of `name` in a `service` table.
fn service_pid(table: &str, name: &str) -> u32 {
    table
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {name} pid in:\n{table}"))
}

/// `service status` (on `console`, else the serial console) once `name` runs again with
/// another pid than `old`, within 30 s.
fn restarted(g: &mut Guest, mut console: Option<&mut Console>, name: &str, old: u32) -> String {
    let started = std::time::Instant::now();
    loop {
        let table = match console.as_deref_mut() {
            Some(c) => g.shell_on(c, "service status"),
            None => g.shell("service status"),
        };
        if table.lines().any(|l| l.starts_with(&format!("{name} ")) && l.contains("running")) && service_pid(&table, name) != old {
            return table;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{name} (pid {old}) not restarted within 30 s:\n{table}\nserial console:\n{}", g.tail());
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// PID 1 outlives its console. The guest gets a second console, a virtio console (hvc0)
/// whose QEMU end is a Unix socket the test connects to, and `console=hvc0` after the
/// built-in `console=ttyS0`: /dev/console (the last `console=`) is hvc0, so init's lines
/// and the console shell are there, while the kernel's messages also reach ttyS0 (QEMU's
/// stdio). Then:
/// 1. closed: the test shuts its connection while init restarts a killed webd (QEMU
///    discards what the guest writes to a console nobody is connected to); connected
///    again, the same shell answers and webd runs again;
/// 2. gone: the port is hot-unplugged (QMP `device_del`). The kernel hangs up hvc0: the
///    shell, whose controlling terminal it was, dies of SIGHUP, and init starts a new one
///    on /dev/console, which now resolves to ttyS0 (the kernel skips a console whose
///    device is gone), opening /dev/console again for its own lines as it does so. Until
///    then init's own fd was on the dead hvc0, and Linux 6.1 does not fail those writes: a file opened through /dev/console is not hung up (`__tty_hangup`
///    skips `redirected_tty_write` files) and the hvc driver throws the output away once
///    the port is gone, while /dev/hvc0 opened by name fails with EIO (checked); the test
///    prints what `service status` counted for init. (init's logging on a hung-up
///    terminal's EIO: crates/log's `a_hung_up_terminal_fails_with_eio`.)
///    From the new shell: webd, killed again, is restarted; `logread` has init's lines
///    from while its console was gone; no kernel panic; a clean power-off.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn x86_init_keeps_supervising_when_its_console_is_closed_or_unplugged() {
    let image = xtask::steps::image::disk_path(&ctx(), &board(X86));
    if !oxwrt_testkit::require_all(&[
        oxwrt_testkit::Prereq::program("qemu-system-x86_64", "cargo xtask setup"),
        oxwrt_testkit::Prereq::file(&image, "cargo xtask build --board qemu-x86-64"),
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = scratch_disk(dir.path());
    let (hvc_socket, qmp_socket) = (dir.path().join("hvc0.sock"), dir.path().join("qmp.sock"));
    let devices = [
        "-device".to_string(),
        "virtio-serial-pci,id=vser".into(),
        "-chardev".into(),
        format!("socket,id=hvc,path={},server=on,wait=off", hvc_socket.display()),
        "-device".into(),
        "virtconsole,chardev=hvc,id=hvc0,bus=vser.0".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_socket.display()),
    ];
    let launch = Launch { disk: Some(disk), exit_on_reboot: true, append: "console=hvc0".into(), devices: devices.to_vec(), ..Default::default() };
    let mut g = Guest::start(&ctx(), &board(X86), launch);
    let mut qmp = qemu::Qmp::connect(&qmp_socket).unwrap_or_else(|e| panic!("{e:#}"));
    let mut hvc = Console::connect("hvc0", &hvc_socket);
    g.wait_on(&mut hvc, "oxwrt: ready", BOOT);
    let serial = g.text();
    assert!(serial.contains("Run /sbin/init") && !serial.contains("oxwrt: ready"), "init's console is not hvc0; serial console:\n{}", g.tail());
    let table = g.shell_on(&mut hvc, "service status");
    for name in ["console", "netd", "webd"] {
        assert!(table.lines().any(|l| l.starts_with(&format!("{name} ")) && l.contains("running")), "{table}");
    }

    // 1. Closed: webd dies and is restarted while nobody is connected to the console.
    let (webd, shell) = (service_pid(&table, "webd"), service_pid(&table, "console"));
    hvc.send(&format!("kill -9 {webd}"));
    g.wait_on(&mut hvc, &format!("kill -9 {webd}"), Duration::from_secs(30)); // the tty's echo: the guest has it
    drop(hvc);
    std::thread::sleep(Duration::from_secs(2)); // init restarts webd after 0.5 s
    let mut hvc = Console::connect("hvc0 (again)", &hvc_socket);
    let table = restarted(&mut g, Some(&mut hvc), "webd", webd);
    assert!(table.lines().any(|l| l.starts_with("webd ") && l.contains("killed by SIGKILL")), "{table}");
    let restarted_webd = service_pid(&table, "webd");
    assert_eq!(service_pid(&table, "console"), shell, "a closed connection is no hangup: the shell stays\n{table}");
    assert_eq!(g.http("/api/status").0, 200);

    // 2. Gone: the port goes away; the shell dies with it and init starts one on ttyS0.
    let serial_before = g.text().len();
    qmp.execute("device_del", serde_json::json!({ "id": "hvc0" })).unwrap_or_else(|e| panic!("{e:#}"));
    qmp.wait_event("DEVICE_DELETED", Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e:#}; serial console:\n{}", g.tail()));
    g.wait_for("root@oxwrt:/# ", Duration::from_secs(30));
    let table = g.shell("service status");
    assert!(
        table.lines().any(|l| l.starts_with("console ") && l.contains("running") && l.contains("killed by SIGHUP")) && service_pid(&table, "console") != shell,
        "the console shell was not restarted after its console went away:\n{table}"
    );
    // The terminal is dead: opened by its own name (not through /dev/console, as init's
    // file was), it fails writes with EIO.
    let out = g.shell("echo x > /dev/hvc0");
    assert!(out.contains("os error 5"), "a write to the unplugged hvc0 did not fail with EIO:\n{out}");
    // Killed again, with init's console gone: restarted.
    g.send(&format!("kill -9 {restarted_webd}"));
    let table = restarted(&mut g, None, "webd", restarted_webd);
    assert!(table.lines().any(|l| l.starts_with("netd ") && l.contains("running")), "{table}");
    let counted = table.lines().find(|l| l.starts_with("console: ")).unwrap_or("console: no line dropped or failed");
    eprintln!("init's writes to the unplugged hvc0, as `service status` counts them: {counted}");
    assert_eq!(g.http("/api/status").0, 200);
    let log = g.shell("logread");
    for line in [
        format!("init: console (pid {shell}) killed by SIGHUP; restarting in 0.5 s"),
        format!("init: webd (pid {restarted_webd}) killed by SIGKILL; restarting in"),
        format!("init: started webd (pid {})", service_pid(&table, "webd")),
    ] {
        assert!(log.contains(&line), "no `{line}` in the log ring:\n{log}");
    }
    // init's lines follow the console: what it said while hvc0 was gone went nowhere (it
    // is only in logread's output, after a timestamp), and from the moment it started the new
    // shell it writes to /dev/console opened again, now ttyS0.
    // A line init wrote itself may land in the middle of the shell's echo; logread's
    // copies follow their `[ uptime] `.
    let after = &g.text()[serial_before..];
    let direct = |text: &str| after.lines().any(|l| l.contains(text) && !l.contains(&format!("] {text}")));
    assert!(!direct(&format!("init: console (pid {shell}) killed by SIGHUP")), "init's line from while its console was gone reached ttyS0:\n{after}");
    assert!(
        direct(&format!("init: webd (pid {restarted_webd}) killed by SIGKILL; restarting in")),
        "init's lines did not follow the console to ttyS0 after the shell moved there:\n{after}"
    );

    // No panic of PID 1 at any point, and a clean power-off without a console.
    g.send("poweroff");
    assert!(g.wait_exit(Duration::from_secs(60)).success(), "{}", g.tail());
    let text = g.text();
    for bad in ["Attempted to kill init", "Kernel panic"] {
        assert!(!text.contains(bad), "`{bad}` on the serial console:\n{}", g.tail());
    }
    assert!(text.contains("reboot: Power down"), "no clean power-off:\n{}", g.tail());
}

#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn x86_disk_image_boots_through_uefi_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let disk = scratch_disk(dir.path());
    let mut g = Guest::start(&ctx(), &board(X86), Launch { disk: Some(disk), efi: true, exit_on_reboot: true, ..Default::default() });
    g.wait_for("oxwrt: ready", Duration::from_secs(300));
    let text = g.text();
    assert!(text.contains("efi: EFI v"), "not booted through UEFI:\n{}", g.tail());
    assert!(text.contains("root: squashfs + overlay on /dev/vda3 (ext4)"), "{}", g.tail());
    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
}

fn scratch_flash(dir: &Path) -> PathBuf {
    let flash = dir.join("flash.bin");
    std::fs::copy(xtask::steps::image::flash::flash_path(&xtask::steps::image::images_dir(&ctx(), &board(MALTA)), &board(MALTA)), &flash).unwrap();
    flash
}

fn budget(id: &str) -> serde_json::Value {
    let path = xtask::steps::image::images_dir(&ctx(), &board(id)).join("flash-budget.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The Malta boots like a WRT54GL: QEMU loads TRX partition 0 (gunzipped, as CFE does) at
/// the kernel's own load address, the decompressor moves itself away and unpacks the LZMA
/// kernel, the kernel finds the TRX on the emulated NOR flash, mounts the squashfs from it
/// and init puts the JFFS2 overlay on rootfs_data, which keeps a file across a reboot.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn malta_4kc_boots_from_the_trx_on_flash_and_keeps_data_on_jffs2_across_a_reboot() {
    let m = manifest(MALTA);
    let b = board(MALTA);
    let dir = tempfile::tempdir().unwrap();
    let flash = scratch_flash(dir.path());
    let launch = Launch { disk: Some(flash.clone()), exit_on_reboot: true, ..Default::default() };

    // What QEMU loads is partition 0 of the TRX, placed where the kernel goes (not where the
    // decompressor was linked): the relocation in flash-boot/0002 has to run.
    let images = xtask::steps::image::images_dir(&ctx(), &b);
    let boot = std::fs::read(xtask::steps::image::flash::boot_elf_path(&images, &b)).unwrap();
    let boot = xtask::steps::image::flash::Elf32::parse(&boot, "boot.elf").unwrap().header;
    let vmlinux = std::fs::read(ctx().board_out(MALTA).join("kernel/vmlinux")).unwrap();
    let vmlinuz = std::fs::read(ctx().board_out(MALTA).join("kernel/vmlinuz")).unwrap();
    let kernel_load = xtask::steps::image::flash::Elf32::parse(&vmlinux, "vmlinux").unwrap().loads[0].vaddr;
    let linked = xtask::steps::image::flash::Elf32::parse(&vmlinuz, "vmlinuz").unwrap().header.entry;
    assert_eq!(boot.entry, kernel_load);
    assert_ne!(boot.entry, linked, "the decompressor would not need to move");

    let mut g = Guest::start(&ctx(), &b, launch.clone());
    g.wait_for("oxwrt: ready", Duration::from_secs(300));
    let text = g.text();
    assert!(text.contains("CPU0 revision is: 00018"), "not a 4Kc (MIPS32r1):\n{}", g.tail());
    for line in [
        "trx partitions found on MTD device firmware",
        ": \"rootfs_data\"",
        "VFS: Mounted root (squashfs filesystem) readonly",
        "root: squashfs + overlay on mtd:rootfs_data (jffs2)",
    ] {
        assert!(text.contains(line), "no `{line}` in the boot log:\n{text}");
    }
    assert!(!text.contains("WARNING"), "{}", g.tail());
    let (code, body) = g.http("/api/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["kernel"]["release"], m["kernel"]["version"], "{body}");
    assert_eq!(status["kernel"]["machine"], "mips", "{body}");
    services_run_as_their_users(&mut g);
    // Where the emulated WRT54G's RAM goes (`cargo xtask bench memory` records it).
    let mem = g.memory();
    log_always(&format!("{MALTA} with {} MiB: {}", b.qemu_memory().unwrap() >> 20, mem.summary()));
    assert!(mem.kb("MemTotal") > 0 && mem.boot.is_some() && mem.processes.iter().all(|p| p.pss > 0), "{mem:?}\n{}", g.tail());
    // The goal for a 16 MiB WRT54G: at least 5 MiB available after boot (docs/memory.md
    // says where the RAM goes and what each knob is worth).
    assert!(
        mem.kb("MemAvailable") >= 5 * 1024,
        "only {} kB available after boot on the emulated WRT54G (goal: 5 MiB): {}",
        mem.kb("MemAvailable"),
        mem.summary()
    );

    let marker = format!("persisted-{}", std::process::id());
    g.shell(&format!("echo {marker} > /etc/oxwrt-test"));
    g.send("reboot");
    g.wait_for("oxwrt: rebooting", Duration::from_secs(60));
    assert!(g.wait_exit(Duration::from_secs(60)).success(), "{}", g.tail());
    drop(g);

    // The flash file now holds a JFFS2 at rootfs_data (its magic at the first node).
    let fw_offset = b.layout().iter().find(|p| p.role == xtask::board::PartitionRole::Firmware).unwrap().offset;
    let data_at = (fw_offset + budget(MALTA)["writable_offset"].as_u64().unwrap()) as usize;
    let bytes = std::fs::read(&flash).unwrap();
    assert_eq!(&bytes[data_at..data_at + 2], &[0x85, 0x19], "no JFFS2 node at rootfs_data ({data_at:#x})");

    let mut g = Guest::start(&ctx(), &b, launch);
    g.wait_for("oxwrt: ready", Duration::from_secs(300));
    let out = g.shell("cat /etc/oxwrt-test");
    assert!(out.contains(&marker), "the file written before the reboot is gone:\n{out}");
    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
    assert!(g.wait_exit(Duration::from_secs(60)).success(), "{}", g.tail());
}

/// After a TFTP install the flash behind the squashfs still holds the old firmware's bytes:
/// init erases them on the first boot instead of handing junk to JFFS2.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn malta_formats_a_writable_area_left_over_from_other_firmware() {
    let b = board(MALTA);
    let dir = tempfile::tempdir().unwrap();
    let flash = scratch_flash(dir.path());
    let fw = b.layout().into_iter().find(|p| p.role == xtask::board::PartitionRole::Firmware).unwrap();
    let data_at = (fw.offset + budget(MALTA)["writable_offset"].as_u64().unwrap()) as usize;
    let mut bytes = std::fs::read(&flash).unwrap();
    for (i, byte) in bytes[data_at..(fw.offset + fw.size) as usize].iter_mut().enumerate() {
        *byte = b"old stock firmware "[i % 19];
    }
    std::fs::write(&flash, &bytes).unwrap();
    let mut g = Guest::start(&ctx(), &b, Launch { disk: Some(flash), exit_on_reboot: true, ..Default::default() });
    g.wait_for("oxwrt: ready", Duration::from_secs(300));
    let text = g.text();
    assert!(text.contains("rootfs_data (/dev/mtdblock") && text.contains("holds no JFFS2 (Foreign"), "{}", g.tail());
    assert!(text.contains("root: squashfs + overlay on mtd:rootfs_data (jffs2)") && !text.contains("WARNING"), "{}", g.tail());
    g.shell("echo works > /etc/oxwrt-test");
    let out = g.shell("cat /etc/oxwrt-test");
    assert!(out.contains("works"), "{out}");
    g.send("poweroff");
    g.wait_for("oxwrt: powering off", Duration::from_secs(60));
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn x86_images_pass_independent_tools_and_the_manifest_matches_them() {
    let ctx = ctx();
    let b = board(X86);
    let disk = xtask::steps::image::disk_path(&ctx, &b);
    assert!(run(Command::new("sgdisk").arg("-v").arg(&disk)).contains("No problems found"));
    let table: serde_json::Value = serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&disk))).unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["esp", "rootfs", "data"]);
    let part = |i: usize| (parts[i]["start"].as_u64().unwrap() * 512, parts[i]["size"].as_u64().unwrap() * 512);
    let dir = tempfile::tempdir().unwrap();
    let extract = |i: usize, name: &str| {
        let (start, size) = part(i);
        let mut f = std::fs::File::open(&disk).unwrap();
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).unwrap();
        let mut buf = vec![0; size as usize];
        f.read_exact(&mut buf).unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, buf).unwrap();
        p
    };
    // ESP: a clean FAT holding the kernel as the removable-media boot path.
    let esp = extract(0, "esp.img");
    run(Command::new("fsck.fat").arg("-n").arg(&esp));
    let efi = Command::new("mtype").args(["-i"]).arg(&esp).arg("::/EFI/BOOT/BOOTX64.EFI").output().unwrap().stdout;
    assert_eq!(efi, std::fs::read(xtask::steps::image::kernel_path(&ctx, &b)).unwrap(), "BOOTX64.EFI is not the kernel");
    // Root: the squashfs, with the multi-call binary, its applet links and init's configuration.
    let rootfs = extract(1, "rootfs.img");
    let listing = run(Command::new("unsquashfs").args(["-lls", "-d", ""]).arg(&rootfs));
    for needle in [
        "/bin/oxwrt",
        "/sbin/init -> ../bin/oxwrt",
        "/sbin/reboot -> ../bin/oxwrt",
        "/usr/sbin/webd -> ../../bin/oxwrt",
        "/usr/sbin/netd -> ../../bin/oxwrt",
        "/lib/oxwrt/init.toml",
        "/etc/os-release",
        "/lib/oxwrt/packages/webd.json",
        "/lib/oxwrt/packages/oxwrt.json",
    ] {
        assert!(listing.contains(needle), "{needle} missing from the squashfs:\n{listing}");
    }
    // Root's, except netd's directory and the configuration (group config, 200), numerically
    // (the build machine's account names do not matter).
    let numeric = run(Command::new("unsquashfs").args(["-lln", "-d", ""]).arg(&rootfs));
    let owner = |l: &str| l.split_whitespace().nth(1).unwrap_or_default().to_string();
    let path = |l: &str| l.split_whitespace().find(|w| w.starts_with('/')).unwrap_or_default().to_string();
    // Each service's own `dirs` (package.toml) are its user's (ids from the skeleton's
    // /etc/passwd); the rest of /etc/oxwrt is root:config, everything else root's.
    let passwd = std::fs::read_to_string(ctx.root.join("rootfs/skeleton/etc/passwd")).unwrap();
    let ids = |user: &str| {
        let l = passwd.lines().find(|l| l.starts_with(&format!("{user}:"))).unwrap_or_else(|| panic!("{user} is not in rootfs/skeleton/etc/passwd"));
        let f: Vec<&str> = l.split(':').collect();
        format!("{}/{}", f[2], f[3])
    };
    let mut own = std::collections::BTreeMap::new();
    for pkg in xtask::steps::packages::resolve(&ctx.root, &b.packages, "qemu-x86-64").unwrap() {
        for svc in &pkg.services {
            if let Some(user) = &svc.user {
                for d in &svc.dirs {
                    own.insert(d.clone(), ids(user));
                }
            }
        }
    }
    assert!(own.contains_key("/etc/oxwrt/netd"), "{own:?}");
    for l in numeric.lines().filter(|l| l.contains(" /")) {
        let (p, o) = (path(l), owner(l));
        let want = match own.get(&p) {
            Some(ids) => ids.as_str(),
            None if p == "/etc/oxwrt" || p.starts_with("/etc/oxwrt/") => "0/200",
            None => "0/0",
        };
        assert_eq!(o, want, "owner of {p}:\n{numeric}");
    }
    assert!(numeric.lines().any(|l| l.starts_with("drwxrwsr-x") && l.ends_with(" /etc/oxwrt")), "/etc/oxwrt is not 2775:\n{numeric}");
    assert!(numeric.lines().any(|l| l.starts_with("-rw-rw-r--") && l.ends_with(" /etc/oxwrt/network.toml")), "network.toml is not 0664:\n{numeric}");
    // Data: a clean, empty ext4 labelled "data".
    let data = extract(2, "data.img");
    run(Command::new("e2fsck").args(["-n", "-f"]).arg(&data));
    let sb = run(Command::new("dumpe2fs").arg("-h").arg(&data));
    assert!(sb.contains("Filesystem volume name:   data"), "{sb}");
    // ext4 proper, with a journal (not the ext2 that mke2fs makes without a config).
    let features = sb.lines().find(|l| l.starts_with("Filesystem features:")).unwrap_or_default();
    for f in ["has_journal", "extent", "metadata_csum"] {
        assert!(features.contains(f), "the data partition lacks {f}: {features}");
    }
    // The manifest's sizes and hashes are the files'.
    let m = manifest(X86);
    for a in m["artifacts"].as_array().unwrap() {
        let bytes = std::fs::read(xtask::steps::image::images_dir(&ctx, &b).join(a["name"].as_str().unwrap())).unwrap();
        assert_eq!(a["size"].as_u64().unwrap(), bytes.len() as u64);
        use sha2::Digest;
        assert_eq!(a["sha256"].as_str().unwrap(), hex::encode(sha2::Sha256::digest(&bytes)));
    }
    let pkgs: Vec<&str> = m["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = vec!["oxwrt"];
    want.extend(b.packages.iter().map(String::as_str));
    assert_eq!(pkgs, want, "the multi-call binary's package first, then the board's");
    assert!(m["packages"].as_array().unwrap().iter().all(|p| p["license"] == "GPL-2.0-only" && p["version"] == "0.1.0"));
    // The multi-call binary's bytes, by package: each package has a share, and they add up
    // to most of the binary (the rest: headers and string literals no symbol covers).
    let oxwrt = &m["packages"][0];
    let parts: Vec<(&str, u64)> = oxwrt["contains"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap(), p["bytes"].as_u64().unwrap())).collect();
    let mut want: Vec<&str> = b.packages.iter().map(String::as_str).collect();
    want.push("shared");
    assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), want, "{oxwrt}");
    // init's crate is webd's too (its control-socket client), and so is vpnd's (its control
    // socket's client, the QR code): their code counts as shared.
    assert!(parts.iter().filter(|p| !matches!(p.0, "init" | "vpnd")).all(|p| p.1 > 10_000), "{parts:?}");
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let size = oxwrt["installed_bytes"].as_u64().unwrap();
    assert!(total > size / 2 && total < size, "{total} bytes of symbols in a {size}-byte binary");
    assert!(m["kernel"]["patches"].as_array().unwrap().len() >= 3);
}

/// Two clean builds of qemu-x86-64 from the same commit in different directories give
/// the same bytes. The second build is a fresh clone of HEAD (so a dirty tree compares
/// two clones instead of this one).
#[test]
#[ignore = "builds qemu-x86-64 again in a clone (minutes)"]
fn two_clean_builds_in_different_directories_are_bit_identical() {
    let ctx = ctx();
    let dirty = !run(Command::new("git").current_dir(&ctx.root).args(["status", "--porcelain", "--untracked-files=no"])).trim().is_empty();
    let tmp = tempfile::tempdir().unwrap();
    let build_clone = |name: &str| -> PathBuf {
        let dir = tmp.path().join(name);
        run(Command::new("git").args(["clone", "--quiet", "--no-hardlinks"]).arg(&ctx.root).arg(&dir));
        let out = Command::new("cargo").current_dir(&dir).args(["xtask", "build", "--board", X86]).env_remove("CARGO_TARGET_DIR").status().unwrap();
        assert!(out.success(), "build in {} failed", dir.display());
        dir.join("target/oxwrt").join(X86)
    };
    let a = if dirty {
        build_clone("a")
    } else {
        // Up to date with HEAD (a no-op after `cargo xtask test`'s own build).
        assert!(Command::new(env!("CARGO_BIN_EXE_xtask")).current_dir(&ctx.root).args(["build", "--board", X86]).status().unwrap().success());
        ctx.board_out(X86)
    };
    let b = build_clone("elsewhere");
    let ma = std::fs::read_to_string(a.join("manifest.json")).unwrap();
    let mb = std::fs::read_to_string(b.join("manifest.json")).unwrap();
    assert_eq!(ma, mb, "manifests differ");
    for entry in std::fs::read_dir(a.join("images")).unwrap() {
        let name = entry.unwrap().file_name();
        let (x, y) = (std::fs::read(a.join("images").join(&name)).unwrap(), std::fs::read(b.join("images").join(&name)).unwrap());
        assert!(x == y, "{} differs between the two builds", name.to_string_lossy());
    }
}

fn binwalk(path: &Path) -> Vec<(u64, String)> {
    let out = run(Command::new("binwalk").arg(path));
    out.lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let dec = cols.next()?.parse().ok()?;
            cols.next()?;
            Some((dec, cols.collect::<Vec<_>>().join(" ").to_lowercase()))
        })
        .collect()
}

/// The flash images of every TRX board (the routers and the Malta), as built by `cargo xtask
/// test`: binwalk (an independent parser) and `cargo xtask inspect` find the same structure
/// at the same offsets, Python's zlib agrees with the TRX CRC, unsquashfs lists the root
/// filesystem carved out of the TRX, the factory header has the board's pattern, and the
/// firmware is within the board's budget with room for the JFFS2 overlay.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn flash_images_agree_with_binwalk_inspect_zlib_and_unsquashfs_and_fit_their_budget() {
    let ctx = ctx();
    for id in ctx.repo().board_ids().unwrap() {
        let b = board(&id);
        if !b.images.contains(&xtask::board::ImageFormat::Trx) {
            continue;
        }
        let images = xtask::steps::image::images_dir(&ctx, &b);
        let trx_path = xtask::steps::image::flash::trx_path(&images, &b);
        let trx = std::fs::read(&trx_path).unwrap_or_else(|e| panic!("{}: {e}", trx_path.display()));
        let m = manifest(&id);
        let listed = m["artifacts"].as_array().unwrap();
        assert!(listed.iter().any(|a| a["name"] == format!("{id}.trx") && a["size"] == trx.len()), "{id}: manifest lacks the TRX: {m}");

        // inspect: header, partitions, CRC.
        let r = xtask::cmd::inspect::inspect(&trx_path).unwrap();
        assert!(r.ok, "{id}: {}", r.render());
        let t = r.find("trx");
        assert_eq!(t.len(), 1, "{}", r.render());
        let gz = r.find("gzip");
        let sq = r.find("squashfs");
        assert_eq!((gz.len(), sq.len()), (1, 1), "{}", r.render());
        assert_eq!(gz[0].offset, 28, "partition 0 follows the 28-byte TRX v1 header");

        // Python's zlib: the TRX CRC is the inverted crc32 of bytes 12..len.
        let py = run(Command::new("python3").args(["-c", "import sys,zlib,struct; d=open(sys.argv[1],'rb').read(); n=struct.unpack_from('<I',d,4)[0]; print('%08x %08x' % (struct.unpack_from('<I',d,8)[0], zlib.crc32(d[12:n]) ^ 0xffffffff))"]).arg(&trx_path));
        let (stored, computed) = py.trim().split_once(' ').unwrap();
        assert_eq!(stored, computed, "{id}: python's CRC differs from the stored one");

        // binwalk finds the TRX header, the gzip'd kernel and the squashfs at inspect's offsets.
        let found = binwalk(&trx_path);
        for (offset, what) in [(0, "trx firmware header"), (gz[0].offset, "gzip compressed data"), (sq[0].offset, "squashfs filesystem")] {
            assert!(found.iter().any(|(o, d)| *o == offset && d.contains(what)), "{id}: binwalk reports no {what:?} at {offset}: {found:#?}\n{}", r.render());
        }

        // The squashfs carved out of the TRX is the root filesystem.
        let dir = tempfile::tempdir().unwrap();
        let sq_file = dir.path().join("rootfs.sqfs");
        std::fs::write(&sq_file, &trx[sq[0].offset as usize..]).unwrap();
        let list = run(Command::new("unsquashfs").arg("-l").arg(&sq_file));
        for path in ["/bin/oxwrt", "/sbin/init", "/usr/sbin/webd", "/etc/os-release", "/lib/oxwrt/init.toml"] {
            assert!(list.contains(&format!("squashfs-root{path}")), "{id}: {path} missing:\n{list}");
        }

        // The factory image: the board's pattern, then the same TRX.
        if let Some(l) = &b.linksys {
            let path = xtask::steps::image::flash::factory_path(&images, &b);
            let bin = std::fs::read(&path).unwrap();
            assert_eq!(&bin[..4], l.pattern.as_bytes());
            assert_eq!(&bin[14..18], b"U2ND");
            assert_eq!(u16::from_le_bytes([bin[20], bin[21]]), l.flags);
            assert_eq!(&bin[32..], &trx[..], "{id}: the factory image must hold the TRX unchanged");
            let r = xtask::cmd::inspect::inspect(&path).unwrap();
            assert!(r.ok && r.find("linksys").len() == 1, "{}", r.render());
            let found = binwalk(&path);
            assert!(found.iter().any(|(o, _)| *o == 32), "{id}: binwalk finds nothing at the TRX after the header: {found:#?}");
        }

        // Within budget, and JFFS2 gets at least 5 erase blocks behind the squashfs.
        let budget = budget(&id);
        let (trx_bytes, limit) = (budget["trx_bytes"].as_u64().unwrap(), budget["budget_bytes"].as_u64().unwrap());
        assert_eq!(trx_bytes, trx.len() as u64);
        assert!(trx_bytes <= limit, "{id}: {trx_bytes} > {limit}");
        let eb = budget["erase_block"].as_u64().unwrap();
        assert!(budget["writable_bytes"].as_u64().unwrap() >= 5 * eb, "{id}: {budget}");
        // The TRX (what CFE checksums) ends before rootfs_data, which JFFS2 writes.
        assert!(trx_bytes <= budget["writable_offset"].as_u64().unwrap(), "{id}: {budget}");
    }
}

/// Instructions of MIPS32 release 2 that a release-1 CPU (the WRT54G's BMIPS3300, QEMU's
/// 4Kc) does not have. `rdhwr` is r2 too, but musl reads the thread pointer with it and
/// Linux emulates it on r1 CPUs (the fast path of the reserved-instruction handler).
const MIPS32R2_ONLY: &[&str] = &["ext", "ins", "seb", "seh", "wsbh", "rotr", "rotrv", "di", "ei", "synci", "rdpgpr", "wrpgpr", "mfhc1", "mthc1"];
/// Floating point: the BCM47xx has no FPU and oxwrt's kernel no FPU emulator (soft-float
/// userland, decided in targets/bcm47xx.config).
const FPU: &[&str] = &["lwc1", "swc1", "ldc1", "sdc1", "mtc1", "mfc1", "ctc1", "cfc1", "lwxc1", "swxc1", "ldxc1", "sdxc1", "bc1t", "bc1f", "bc1tl", "bc1fl"];

/// The MIPS userland is MIPS32 release 1 and soft-float: the disassembly of every device
/// binary has no r2-only and no FPU instruction (any dotted mnemonic: add.s, jr.hb, ...), and
/// the binaries run under QEMU's user-mode 4Kc: init's shell applet answers and webd serves
/// its status page.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn mips_userland_is_mips32r1_soft_float_and_runs_on_a_4kc() {
    for id in [MALTA, "linksys-wrt54gl", "linksys-wrt54gs"] {
        let b = board(id);
        let stage = ctx().board_out(id).join("rootfs");
        for bin in ["bin/oxwrt"] {
            let path = stage.join(bin);
            // Decoded as r2 (a superset), so r2-only instructions show by name; as r1 they
            // would hide among the `.word`s of data in .text.
            let out = run(Command::new(format!("{}objdump", b.kernel.cross_compile)).args(["-d", "--no-show-raw-insn", "-m", "mips:isa32r2"]).arg(&path));
            let (mut count, mut bad) = (0, Vec::new());
            for line in out.lines() {
                let mut cols = line.split('\t');
                let (Some(addr), Some(mnemonic)) = (cols.next(), cols.next()) else { continue };
                if !addr.trim_end().ends_with(':') {
                    continue;
                }
                let mnemonic = mnemonic.trim();
                count += 1;
                if mnemonic == ".word" {
                    continue; // data in .text (no decoding in r2 either)
                }
                if MIPS32R2_ONLY.contains(&mnemonic) || FPU.contains(&mnemonic) || mnemonic.contains('.') {
                    bad.push(line.trim().to_string());
                }
            }
            assert!(count > 50_000, "{id} {bin}: only {count} instructions disassembled:\n{}", &out[..out.len().min(2000)]);
            assert!(bad.is_empty(), "{id} {bin}: {} instructions a MIPS32r1 CPU without FPU lacks, e.g.:\n{}", bad.len(), bad[..bad.len().min(20)].join("\n"));
        }
    }

    let stage = ctx().board_out(MALTA).join("rootfs");
    let mut shell = Command::new("qemu-mipsel-static")
        .args(["-cpu", "4Kc", "-0", "oxsh"])
        .arg(stage.join("sbin/init"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("qemu-mipsel-static (qemu-user-static)");
    use std::io::Write;
    shell.stdin.take().unwrap().write_all(b"echo mips32r1-ok\n").unwrap();
    let out = shell.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("mips32r1-ok"), "{out:?}");

    let port = qemu::free_port().unwrap();
    let mut webd = Command::new("qemu-mipsel-static")
        .args(["-cpu", "4Kc"])
        .arg(stage.join("usr/sbin/webd"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        match qemu::http_get(port, "/api/status") {
            Ok((200, body)) => break body,
            _ if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => {
                let _ = webd.kill();
                let _ = webd.wait();
                panic!("webd on the emulated 4Kc did not answer: {other:?}");
            }
        }
    };
    let _ = webd.kill();
    let _ = webd.wait();
    let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(status["kernel"]["machine"], "mips", "{body}");
}

/// A package built on its own (`cargo xtask package webd`, for installing later on a
/// device) installs beside an image's multi-call binary and both run: the image's archives
/// without webd's, then the standalone webd, into one tree; /usr/sbin/webd is then a
/// binary of its own serving its status page, while netd still runs from /bin/oxwrt.
#[test]
#[ignore = "needs the images built by `cargo xtask test`"]
fn a_standalone_package_installs_and_runs_beside_the_multi_call_binary() {
    let ctx = ctx();
    let b = board(X86);
    let built = xtask::cmd::build::package(&ctx, &b, "webd").unwrap();
    assert_eq!(built.len(), 1, "{built:?}");
    let (control, contents) = xtask::steps::packages::read_archive(&built[0]).unwrap();
    assert_eq!((control.name.as_str(), control.depends.as_slice()), ("webd", &["init".to_string()][..]));
    assert!(matches!(contents.get("/usr/sbin/webd"), Some(xtask::steps::packages::Content::File { .. })), "{:?}", contents.keys());

    let stage = tempfile::tempdir().unwrap();
    let image_archives = std::fs::read_dir(xtask::cmd::build::packages_dir(&ctx, &b)).unwrap().map(|e| e.unwrap().path());
    let mut installed = Vec::new();
    for a in image_archives.filter(|a| !a.file_name().unwrap().to_string_lossy().starts_with("webd_")) {
        installed.push(xtask::steps::packages::oxpkg::install(stage.path(), &a).unwrap().0.name);
    }
    installed.sort();
    let mut want: Vec<String> = b.packages.iter().filter(|p| *p != "webd").cloned().chain(["oxwrt".to_string()]).collect();
    want.sort();
    assert_eq!(installed, want, "every archive of the image but webd's");
    xtask::steps::packages::oxpkg::install(stage.path(), &built[0]).unwrap();

    let webd = stage.path().join("usr/sbin/webd");
    assert!(webd.symlink_metadata().unwrap().is_file(), "the standalone webd is a file, not a link");
    assert_eq!(std::fs::read_link(stage.path().join("usr/sbin/netd")).unwrap(), Path::new("../../bin/oxwrt"));
    let version = run(Command::new(stage.path().join("usr/sbin/netd")).arg("--version"));
    assert_eq!(version.trim(), "netd 0.1.0");
    let version = run(Command::new(&webd).arg("--version"));
    assert_eq!(version.trim(), "webd 0.1.0");

    let port = qemu::free_port().unwrap();
    let mut server = Command::new(&webd).arg("--listen").arg(format!("127.0.0.1:{port}")).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match qemu::http_get(port, "/api/status") {
            Ok((200, body)) => break Ok(body),
            _ if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => break Err(format!("{other:?}")),
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    let body = answer.unwrap_or_else(|e| panic!("the standalone webd did not answer: {e}"));
    assert!(body.contains("\"kernel\""), "{body}");
}
