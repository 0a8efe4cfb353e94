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

#[derive(Debug, Clone, Default)]
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
    /// More QEMU arguments, appended last: devices, chardevs, a QMP socket (a test's extra
    /// consoles; see [`Console`] and [`Qmp`]).
    pub devices: Vec<String>,
    /// Run QEMU inside this network namespace (`ip netns exec`): its tap NICs are there
    /// (the lab of tools/lab.rs).
    pub netns: Option<String>,
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
    cmd.args(&l.devices);
    if let Some(ns) = &l.netns {
        let mut inside = Command::new("ip");
        inside.args(["netns", "exec", ns]).arg(cmd.get_program()).args(cmd.get_args());
        return Ok(inside);
    }
    Ok(cmd)
}

/// A free TCP port on 127.0.0.1 (bound and released; QEMU binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?.local_addr()?.port())
}

/// A terminal of a guest: what came out of it (collected by a reader thread) and where
/// typed lines go. The serial console (QEMU's stdio) is one; a test can connect more
/// (a virtio console's socket: [`Console::connect`]).
pub struct Console {
    name: String,
    output: Arc<Mutex<Vec<u8>>>,
    input: Box<dyn Write + Send>,
    /// Output offset where the next `wait_for` starts looking.
    mark: usize,
    ends: u32,
    /// A socket's connection, shut down when the console is dropped (the reader thread
    /// holds a clone of it).
    socket: Option<std::os::unix::net::UnixStream>,
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(s) = &self.socket {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Console {
    fn new(name: &str, input: Box<dyn Write + Send>, outputs: Vec<Box<dyn Read + Send>>) -> Console {
        let output = Arc::new(Mutex::new(Vec::new()));
        for mut stream in outputs {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Console { name: name.to_string(), output, input, mark: 0, ends: 0, socket: None }
    }

    /// Connects to a QEMU chardev that is a Unix socket server (`-chardev
    /// socket,server=on,wait=off,path=...`), waiting up to 30 s for QEMU to create it.
    /// Dropping the console closes the connection (QEMU then discards what the guest
    /// writes there, and accepts a new connection).
    pub fn connect(name: &str, socket: &std::path::Path) -> Console {
        let started = Instant::now();
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if started.elapsed() > Duration::from_secs(30) => panic!("cannot connect to {name} at {}: {e}", socket.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let clone = || stream.try_clone().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut console = Console::new(name, Box::new(clone()), vec![Box::new(clone())]);
        console.socket = Some(stream);
        console
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// The last 50 lines.
    pub fn tail(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(50)..].join("\n")
    }

    /// How many bytes came out so far.
    fn len(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// What came out from byte `from` on.
    fn since(&self, from: usize) -> String {
        let out = self.output.lock().unwrap();
        String::from_utf8_lossy(&out[from.min(out.len())..]).into_owned()
    }

    /// `pattern` after the mark: moves the mark past it and returns the text from the old
    /// mark to the end of the match.
    fn find(&mut self, pattern: &str) -> Option<String> {
        let text = self.text();
        let from = self.mark.min(text.len());
        let end = from + text[from..].find(pattern)? + pattern.len();
        self.mark = end;
        Some(text[from..end].to_string())
    }

    pub fn send(&mut self, line: &str) {
        let name = &self.name;
        self.input.write_all(format!("{line}\n").as_bytes()).and_then(|_| self.input.flush()).unwrap_or_else(|e| panic!("cannot type into {name}: {e}"));
    }
}

/// A guest driven through its consoles, for tests and benchmarks: the serial console
/// (QEMU's stdio) by default, or a [`Console`] the test connected (the `_on` methods). Its
/// methods panic with the console's tail when the guest does not do what is expected.
pub struct Guest {
    child: Child,
    serial: Console,
    pub port: u16,
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
        let outputs: Vec<Box<dyn Read + Send>> = vec![Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        let stdin: ChildStdin = child.stdin.take().unwrap();
        let serial = Console::new("the serial console", Box::new(stdin), outputs);
        Guest { child, serial, port }
    }

    /// Everything the serial console showed.
    pub fn text(&self) -> String {
        self.serial.text()
    }

    pub fn tail(&self) -> String {
        self.serial.tail()
    }

    /// Waits for `pattern` on the serial console after the mark; moves the mark past it
    /// and returns the text from the old mark to the end of the match.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> String {
        wait_for(&mut self.child, &mut self.serial, None, pattern, timeout)
    }

    /// [`Guest::wait_for`] on another console.
    pub fn wait_on(&mut self, console: &mut Console, pattern: &str, timeout: Duration) -> String {
        wait_for(&mut self.child, console, Some(&self.serial), pattern, timeout)
    }

    pub fn send(&mut self, line: &str) {
        self.serial.send(line);
    }

    /// Runs a console shell command; returns the console from now until an end marker the
    /// shell echoes after it (the command's output, its echo, and whatever else came).
    pub fn shell(&mut self, line: &str) -> String {
        shell(&mut self.child, &mut self.serial, None, line)
    }

    /// Waits until the log ring (`logread` in the console shell, polled) has a line with
    /// `pattern`; returns that line. Services' informational lines (`netd: running`,
    /// `netd: wan: lease ...`) are only there: the console gets their warnings and errors
    /// (docs/device.md "The console").
    pub fn wait_for_log(&mut self, pattern: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let log = self.shell("logread");
            // Not the echo of the typed command: log lines start with `[uptime]`.
            if let Some(line) = log.lines().find(|l| l.trim_start().starts_with('[') && l.contains(pattern)) {
                return line.to_string();
            }
            if started.elapsed() > timeout {
                panic!("no `{pattern}` in logread within {} s:\n{log}\n--- console ---\n{}", timeout.as_secs(), self.tail());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The pid of the running service `name`, from the console's `service` table; panics
    /// with the table when it is not running.
    pub fn service_pid(&mut self, name: &str) -> u32 {
        let table = self.shell("service");
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")) && l.contains("running"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no running {name} with a pid in `service`:\n{table}"))
    }

    /// [`Guest::shell`] on another console.
    pub fn shell_on(&mut self, console: &mut Console, line: &str) -> String {
        shell(&mut self.child, console, Some(&self.serial), line)
    }

    /// Where the guest's RAM goes now: the kernel's boot line, /proc/meminfo, and the PSS
    /// of PID 1 and of every running service (their /proc/<pid>/smaps_rollup).
    pub fn memory(&mut self) -> crate::memory::Report {
        use crate::memory::{parse_boot_line, parse_kb_lines, parse_service_table, Process};
        let boot = parse_boot_line(&self.text());
        // Read again (at most 3 times) if other console output garbled the lines needed.
        let mut meminfo = parse_kb_lines(&self.shell("cat /proc/meminfo"));
        for _ in 0..2 {
            if ["MemTotal", "MemAvailable", "MemFree"].iter().all(|k| meminfo.contains_key(*k)) {
                break;
            }
            meminfo = parse_kb_lines(&self.shell("cat /proc/meminfo"));
        }
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

/// The tail of `console`, and of the serial console when `console` is another one (where
/// the kernel's messages are).
fn tails(console: &Console, serial: Option<&Console>) -> String {
    match serial {
        None => format!("{} tail:\n{}", console.name, console.tail()),
        Some(s) => format!("{} tail:\n{}\n{} tail:\n{}", console.name, console.tail(), s.name, s.tail()),
    }
}

fn wait_for(child: &mut Child, console: &mut Console, serial: Option<&Console>, pattern: &str, timeout: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Some(text) = console.find(pattern) {
            return text;
        }
        if started.elapsed() > timeout {
            panic!("no `{pattern}` on {} within {} s; {}", console.name, timeout.as_secs(), tails(console, serial));
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("QEMU exited ({status}) before `{pattern}` on {}; {}", console.name, tails(console, serial));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn shell(child: &mut Child, console: &mut Console, serial: Option<&Console>, line: &str) -> String {
    console.ends += 1;
    let end = format!("end-of-command-{}", console.ends);
    let typed_at = console.len();
    console.send(line);
    // The marker is typed once the shell prompts again after the line (the command is
    // done): typed earlier, the tty's echo of it can land in the middle of the command's
    // output. A prompt that does not come in time only brings back that risk.
    let started = Instant::now();
    while !console.since(typed_at).contains("root@") && started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Typed with quotes, so the tty's echo of the line does not contain the marker.
    console.send(&format!("echo 'end-of'-command-{}", console.ends));
    wait_for(child, console, serial, &end, Duration::from_secs(60))
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QEMU Machine Protocol client on a Unix socket (`-qmp unix:PATH,server=on,wait=off`):
/// commands (`device_del`, `device_add`, ...) and the events QEMU reports meanwhile.
pub struct Qmp {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    /// Events read while waiting for replies, oldest first.
    events: Vec<serde_json::Value>,
}

impl Qmp {
    /// Connects (waiting up to 30 s for QEMU to create the socket) and leaves the
    /// capabilities negotiation mode.
    pub fn connect(socket: &std::path::Path) -> Result<Qmp> {
        let started = Instant::now();
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e).with_context(|| format!("QMP socket {}", socket.display())),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut qmp = Qmp { reader: std::io::BufReader::new(stream.try_clone()?), writer: stream, events: Vec::new() };
        let greeting = qmp.message()?;
        if greeting.get("QMP").is_none() {
            bail!("not a QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", serde_json::json!({}))?;
        Ok(qmp)
    }

    fn message(&mut self) -> Result<serde_json::Value> {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut self.reader, &mut line)? == 0 {
            bail!("QMP: QEMU closed the socket");
        }
        serde_json::from_str(&line).with_context(|| format!("QMP: not JSON: {line:?}"))
    }

    /// Runs a command; its `return` value, or its `error` as the Err.
    pub fn execute(&mut self, command: &str, arguments: serde_json::Value) -> Result<serde_json::Value> {
        writeln!(self.writer, "{}", serde_json::json!({ "execute": command, "arguments": arguments }))?;
        loop {
            let m = self.message()?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                bail!("QMP {command}: {e}");
            }
            self.events.push(m);
        }
    }

    /// The first event named `name` (already received or coming within `timeout`).
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<serde_json::Value> {
        let started = Instant::now();
        loop {
            if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
                return Ok(self.events.remove(i));
            }
            let Some(left) = timeout.checked_sub(started.elapsed()).filter(|l| !l.is_zero()) else {
                bail!("no QMP event {name} within {} s (events seen: {:?})", timeout.as_secs(), self.events);
            };
            self.reader.get_ref().set_read_timeout(Some(left))?;
            let m = self.message();
            self.reader.get_ref().set_read_timeout(Some(Duration::from_secs(30)))?;
            let m = match m {
                Ok(m) => m,
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            };
            self.events.push(m);
        }
    }
}

pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The Host a browser on this machine sends through QEMU's port forward: webd serves
    // IP literals and its own names only (DNS rebinding protection), whatever the guest's
    // hostname is.
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("not an HTTP response: {resp:?}"))?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
