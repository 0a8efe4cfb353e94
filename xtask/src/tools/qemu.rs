//! QEMU command lines for a board's images: `cargo xtask run` and the end-to-end tests
//! use the same ones. TCG only (no KVM here), with the board's RAM. The serial console is
//! stdio. Two NICs of the board's model (`qemu.nic`), as on a router: eth0 (WAN) on QEMU's
//! user network, whose DHCP server gives netd's client 10.0.2.15 and whose NAT reaches the
//! Internet; eth1 (LAN) on a second, restricted user network 192.168.1.0/24 where QEMU plays
//! a LAN host at 192.168.1.2, with the router's web interface (192.168.1.1:80) forwarded to
//! a host port.

use crate::board::{Board, ImageFormat};
use crate::context::Context;
use crate::steps::image;
use anyhow::{bail, Context as _, Result};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The WAN address QEMU's user network hands out by DHCP (slirp's first lease).
pub const GUEST_IP: &str = "10.0.2.15";
/// The router's LAN address (oxwrt-config's default), where the host port is forwarded.
pub const ROUTER_LAN_IP: &str = "192.168.1.1";

/// UEFI firmware for x86-64 (Debian's ovmf).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

#[derive(Debug, Clone)]
pub struct Launch {
    /// Writable disk or flash image (a copy: the guest writes its data partition or its
    /// JFFS2 overlay).
    pub disk: Option<PathBuf>,
    /// Boot through UEFI firmware from the disk instead of QEMU's -kernel.
    pub efi: bool,
    /// Host port forwarded to the guest's port 80.
    pub http_port: Option<u16>,
    /// QEMU exits when the guest reboots (tests), instead of rebooting it.
    pub exit_on_reboot: bool,
    /// Extra kernel command line (appended; -kernel boots only).
    pub append: String,
    /// The network cards: None = two NICs of the board's model (`qemu.nic`) on QEMU's user
    /// networks (WAN, and LAN with the status page forwarded to `http_port`); Some(args) =
    /// these -netdev/-device arguments instead (the network test harness's socket backends).
    pub nics: Option<Vec<String>>,
}

pub fn command(ctx: &Context, board: &Board, l: &Launch) -> Result<Command> {
    let Some(q) = &board.qemu else { bail!("board {} has no [qemu] section: it cannot run in QEMU", board.id) };
    let mut cmd = Command::new(&q.system);
    let memory = board.qemu_memory().unwrap_or_default();
    cmd.args(["-M", &q.machine, "-m", &format!("{}M", memory >> 20), "-nographic", "-accel", "tcg"]);
    if let Some(cpu) = &q.cpu {
        cmd.args(["-cpu", cpu]);
    }
    if l.exit_on_reboot {
        cmd.arg("-no-reboot");
    }
    let mut append = String::new();
    if l.efi {
        let vars = ctx.board_out(&board.id).join("run").join("OVMF_VARS.fd");
        std::fs::create_dir_all(vars.parent().expect("has parent"))?;
        if !vars.is_file() {
            std::fs::copy(OVMF_VARS, &vars).with_context(|| format!("cannot copy {OVMF_VARS}: install ovmf (cargo xtask setup)"))?;
        }
        cmd.arg("-drive").arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"));
        cmd.arg("-drive").arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()));
    } else if board.images.contains(&ImageFormat::FlashImage) {
        // QEMU plays CFE: it loads TRX partition 0 (gunzipped) where the kernel goes.
        cmd.arg("-kernel").arg(crate::steps::image::flash::boot_elf_path(&image::images_dir(ctx, board), board));
    } else {
        cmd.arg("-kernel").arg(image::kernel_path(ctx, board));
    }
    if board.images.contains(&ImageFormat::FlashImage) {
        // The whole NOR flash (a copy: the guest writes its JFFS2 overlay into it). The
        // kernel finds the TRX, the squashfs root and rootfs_data by itself.
        let flash = l.disk.clone().unwrap_or_else(|| crate::steps::image::flash::flash_path(&image::images_dir(ctx, board), board));
        cmd.arg("-drive").arg(format!("if=pflash,format=raw,file={}", flash.display()));
    } else if board.images.contains(&ImageFormat::GptDisk) {
        let disk = l.disk.clone().unwrap_or_else(|| image::disk_path(ctx, board));
        cmd.arg("-drive").arg(format!("file={},format=raw,if=virtio", disk.display()));
    } else if board.images.contains(&ImageFormat::KernelRootfs) {
        // The squashfs as a read-only virtio disk; no data partition (init falls back to RAM).
        cmd.arg("-drive").arg(format!("file={},format=raw,if=virtio,readonly=on", image::rootfs_path(ctx, board).display()));
        append.push_str(" root=/dev/vda rootfstype=squashfs ro");
    } else {
        bail!("board {} has no image QEMU can boot (gpt-disk, flash-image or kernel-rootfs)", board.id);
    }
    if !l.append.is_empty() {
        append.push(' ');
        append.push_str(&l.append);
    }
    if !l.efi {
        cmd.arg("-append").arg(append);
    }
    match &l.nics {
        Some(args) => {
            cmd.args(args);
        }
        None => {
            // WAN first (eth0), LAN second (eth1): the order netd's QEMU defaults expect.
            let nic = q.nic();
            cmd.args(["-netdev", "user,id=wan", "-device", &format!("{nic},netdev=wan")]);
            let mut lan = "user,id=lan,net=192.168.1.0/24,host=192.168.1.2,restrict=on".to_string();
            if let Some(port) = l.http_port {
                lan.push_str(&format!(",hostfwd=tcp:127.0.0.1:{port}-{ROUTER_LAN_IP}:80"));
            }
            cmd.args(["-netdev", &lan, "-device", &format!("{nic},netdev=lan")]);
        }
    }
    Ok(cmd)
}

/// A free TCP port on 127.0.0.1 (bound and released; QEMU binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?.local_addr()?.port())
}

/// A guest driven through its serial console, for tests and benchmarks. Its methods panic
/// with the console's tail when the guest does not do what is expected.
pub struct Guest {
    child: Child,
    stdin: ChildStdin,
    console: Arc<Mutex<Vec<u8>>>,
    pub port: u16,
    /// Console offset where the next `wait_for` starts looking.
    mark: usize,
    ends: u32,
}

impl Guest {
    /// Boots the board (QEMU exits when the guest reboots); the status page is forwarded
    /// to a free local port.
    pub fn start(ctx: &Context, board: &Board, mut launch: Launch) -> Guest {
        let port = free_port().expect("a free local port");
        launch.http_port = Some(port);
        launch.exit_on_reboot = true;
        let mut cmd = command(ctx, board, &launch).unwrap_or_else(|e| panic!("{e:#}"));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", crate::tools::exec::display(&cmd)));
        let console = Arc::new(Mutex::new(Vec::new()));
        for mut stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let console = console.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    console.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let stdin = child.stdin.take().unwrap();
        Guest { child, stdin, console, port, mark: 0, ends: 0 }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    pub fn tail(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(50)..].join("\n")
    }

    /// Waits for `pattern` after the mark; moves the mark past it and returns the text
    /// from the old mark to the end of the match.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let text = self.text();
            let from = self.mark.min(text.len());
            if let Some(pos) = text[from..].find(pattern) {
                let end = from + pos + pattern.len();
                self.mark = end;
                return text[from..end].to_string();
            }
            if started.elapsed() > timeout {
                panic!("no `{pattern}` on the console within {} s; console tail:\n{}", timeout.as_secs(), self.tail());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("QEMU exited ({status}) before `{pattern}`; console tail:\n{}", self.tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Runs a console shell command; returns the console from now until an end marker the
    /// shell echoes after it (the command's output, its echo, and whatever else came).
    pub fn shell(&mut self, line: &str) -> String {
        self.ends += 1;
        let end = format!("end-of-command-{}", self.ends);
        self.send(line);
        // Typed with quotes, so the tty's echo of the line does not contain the marker.
        self.send(&format!("echo 'end-of'-command-{}", self.ends));
        self.wait_for(&end, Duration::from_secs(60))
    }

    /// Where the guest's RAM goes now: the kernel's boot line, /proc/meminfo, and the PSS
    /// of PID 1 and of every running service (their /proc/<pid>/smaps_rollup).
    pub fn memory(&mut self) -> crate::memory::Report {
        use crate::memory::{parse_boot_line, parse_kb_lines, parse_service_table, Process};
        let boot = parse_boot_line(&self.text());
        let meminfo = parse_kb_lines(&self.shell("cat /proc/meminfo"));
        let mut pids = vec![("init".to_string(), 1)];
        // The table goes through a file: `service` writes it in pieces as init answers, and
        // the tty's echo of the end marker, typed right after, could land between them.
        self.shell("service > /tmp/.oxwrt-services");
        pids.extend(parse_service_table(&self.shell("cat /tmp/.oxwrt-services")));
        self.shell("rm /tmp/.oxwrt-services");
        let processes = pids
            .into_iter()
            .map(|(name, pid)| {
                let rollup = parse_kb_lines(&self.shell(&format!("cat /proc/{pid}/smaps_rollup")));
                let kb = |k: &str| rollup.get(k).copied().unwrap_or(0);
                Process { name, pid, pss: kb("Pss"), rss: kb("Rss") }
            })
            .collect();
        crate::memory::Report { boot, meminfo, processes }
    }

    pub fn http(&self, path: &str) -> (u16, String) {
        let started = Instant::now();
        loop {
            match http_get(self.port, path) {
                Ok(r) => return r,
                Err(e) if started.elapsed() > Duration::from_secs(30) => panic!("GET {path} on port {}: {e}; console tail:\n{}", self.port, self.tail()),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if started.elapsed() > timeout {
                panic!("QEMU still running {} s after the guest was told to go down; console tail:\n{}", timeout.as_secs(), self.tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: oxwrt\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("not an HTTP response: {resp:?}"))?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
