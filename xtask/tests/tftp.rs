//! The TFTP client against a real server: tftpd-hpa (`in.tftpd`, installed by `cargo xtask
//! setup` for the flash boards) started in the foreground on a free loopback port per test
//! and killed at the end; and `cargo xtask flash`'s image checks and its errors.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xtask::cmd::flash as flash_cmd;
use xtask::context::Context;
use xtask::flags::FlashArgs;
use xtask::tools::tftp::{self, ErrorKind, Options};

/// A tftpd-hpa serving a fresh temporary directory on 127.0.0.1.
struct Tftpd {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Tftpd {
    /// `create`: let uploads create files (--create); without it tftpd-hpa only overwrites
    /// existing, world-writable ones.
    fn start(create: bool) -> Tftpd {
        let program = xtask::tools::exec::which("in.tftpd")
            .or_else(|| Some(PathBuf::from("/usr/sbin/in.tftpd")).filter(|p| p.is_file()))
            .expect("in.tftpd (Debian package tftpd-hpa) is missing: `cargo xtask setup` installs it (a requirement of the NOR-flash boards)");
        let dir = tempfile::tempdir().unwrap();
        // The server drops privileges before writing: the directory is everyone's.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(program);
        // --secure chroots into the directory (so "code.bin" is a file in it); as root the
        // server needs --user root to keep writing there after dropping privileges.
        cmd.args(["--foreground", "--address", &addr.to_string(), "--secure", "--user", "root"]);
        if create {
            cmd.arg("--create");
        }
        cmd.arg(dir.path());
        // Its own process group: the per-transfer children it forks are killed with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("cannot start in.tftpd");
        let mut server = Tftpd { child, addr, dir };
        server.wait_listening();
        server
    }

    /// Until the port shows in /proc/net/udp (the server may take a moment to bind).
    fn wait_listening(&mut self) {
        let local = format!("0100007F:{:04X}", self.addr.port());
        let started = Instant::now();
        loop {
            let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
            if table.lines().any(|l| l.split_whitespace().nth(1) == Some(local.as_str())) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("in.tftpd exited with {status} before listening on {}: {err}", self.addr);
            }
            assert!(started.elapsed() < Duration::from_secs(10), "in.tftpd does not listen on {} after 10 s", self.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap_or_else(|e| panic!("the server has no {name}: {e}"))
    }
}

impl Drop for Tftpd {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn quick() -> Options {
    Options { timeout: Duration::from_millis(500), retries: 5, ..Options::default() }
}

#[test]
fn a_3_mib_image_arrives_byte_identical_in_plain_512_byte_blocks() {
    let server = Tftpd::start(true);
    let image = oxwrt_testkit::mutation::noise(3 * 1024 * 1024 - 300, 1);
    let mut last = (0, 0);
    let mut calls = 0;
    let t = tftp::put(server.addr, "code.bin", &image, &quick(), &mut |sent, total| {
        assert!(sent >= last.0, "progress went back");
        last = (sent, total);
        calls += 1;
    })
    .unwrap();
    assert!(server.file("code.bin") == image, "the server's code.bin differs from what was sent");
    assert_eq!((t.blksize, t.options_accepted, t.bytes), (512, false, image.len() as u64));
    assert_eq!(t.blocks, (image.len() / 512 + 1) as u64);
    assert_eq!(t.peer.ip(), server.addr.ip());
    assert_ne!(t.peer.port(), server.addr.port(), "tftpd-hpa answers from a new port (its transfer ID)");
    assert_eq!(last, (image.len() as u64, image.len() as u64));
    assert_eq!(calls, t.blocks + 1);
    // And back (RRQ), with tsize announcing the size.
    let (back, t) = tftp::get(server.addr, "code.bin", &Options { tsize: true, ..quick() }, &mut |_, _| {}).unwrap();
    assert!(back == image, "the download differs from the upload");
    assert_eq!(t.tsize, Some(image.len() as u64));
}

#[test]
fn blksize_1468_is_negotiated_and_used() {
    let server = Tftpd::start(true);
    let image = oxwrt_testkit::mutation::noise(1024 * 1024 + 77, 2);
    let opts = Options { blksize: Some(1468), tsize: true, ..quick() };
    let t = tftp::put(server.addr, "code.bin", &image, &opts, &mut |_, _| {}).unwrap();
    assert!(server.file("code.bin") == image, "the server's code.bin differs from what was sent");
    assert_eq!((t.blksize, t.options_accepted), (1468, true));
    assert_eq!(t.blocks, (image.len() / 1468 + 1) as u64);
    let (back, t) = tftp::get(server.addr, "code.bin", &opts, &mut |_, _| {}).unwrap();
    assert!(back == image);
    assert_eq!((t.blksize, t.tsize), (1468, Some(image.len() as u64)));
}

#[test]
fn a_multiple_of_512_bytes_ends_with_an_empty_block() {
    let server = Tftpd::start(true);
    let image = oxwrt_testkit::mutation::noise(512 * 2000, 3);
    let t = tftp::put(server.addr, "code.bin", &image, &quick(), &mut |_, _| {}).unwrap();
    assert!(server.file("code.bin") == image, "the server's code.bin differs from what was sent");
    assert_eq!(t.blocks, 2001, "2000 full blocks and an empty one");
    let (back, t) = tftp::get(server.addr, "code.bin", &quick(), &mut |_, _| {}).unwrap();
    assert!(back == image);
    assert_eq!(t.blocks, 2001);
}

#[test]
fn a_refused_write_names_the_servers_message() {
    let server = Tftpd::start(false);
    let e = tftp::put(server.addr, "code.bin", &[1; 1000], &quick(), &mut |_, _| {}).unwrap_err();
    assert!(matches!(&e.kind, ErrorKind::Server { code: 1, message } if message == "File not found"), "{e}");
    assert_eq!(e.what(), format!("TFTP upload of \"code.bin\" to {}: the server refused the upload: file not found (code 1): File not found", server.addr));
    let e = flash_cmd::upload(server.addr, &[1; 1000], &quick(), &mut |_, _| {}).unwrap_err().to_string();
    assert!(e.starts_with(&format!("the router refused the upload: file not found (code 1): File not found ({})\n", server.addr)), "{e}");
    assert!(!server.dir.path().join("code.bin").exists());
}

#[test]
fn no_server_on_the_port_is_connection_refused_at_once() {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    let e = flash_cmd::upload(addr, &[0; 100], &Options::default(), &mut |_, _| {}).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_millis(900), "took {:?}: the ICMP error was not seen", started.elapsed());
    assert!(e.starts_with(&format!("TFTP upload of \"code.bin\" to {addr}: connection refused: nothing listens on UDP port {port} there")), "{e}");
    assert!(e.contains("CFE listens only for the first seconds after power-on"), "{e}");
}

#[test]
fn a_router_that_never_answers_times_out_with_the_recovery_steps() {
    // A bound socket that nobody reads: packets vanish without an ICMP error, like on a
    // network where the router is not (yet) listening. (192.0.2.1 is no good here: on some
    // machines, this one included, it is the gateway and answers port unreachable.)
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = hole.local_addr().unwrap();
    let opts = Options { timeout: Duration::from_millis(200), retries: 2, ..Options::default() };
    let started = Instant::now();
    let e = flash_cmd::upload(addr, &[0; 100], &opts, &mut |_, _| {}).unwrap_err().to_string();
    let took = started.elapsed();
    // 200 + 400 + 800 ms.
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(5), "took {took:?}");
    assert!(e.starts_with(&format!("TFTP upload of \"code.bin\" to {addr}: no answer to the write request (WRQ) after 2 retries (1.")), "{e}");
    assert!(e.contains("Is the router in CFE recovery mode? Set your PC to a static address in 127.0.0.0/24 (e.g. 127.0.0.10)"), "{e}");
    assert!(e.contains("power-cycle the router and start the upload within the first seconds") && e.contains("boot_wait must be on"), "{e}");
}

/// A valid TRX (version 1, right CRC) of exactly `len` bytes (a multiple of 4).
fn trx(len: usize) -> Vec<u8> {
    let body = oxwrt_testkit::mutation::noise(len - 28, 9);
    let image = oxwrt_images::trx::Builder::new(1).partition(&body, 4).pad_to(4).build().unwrap();
    assert_eq!(image.len(), len);
    image
}

fn scratch_ctx(out: &Path) -> Context {
    Context { out: out.to_path_buf(), ..Context::from_env(false).unwrap() }
}

fn args(image: Option<PathBuf>) -> FlashArgs {
    FlashArgs { board: "linksys-wrt54gl".into(), tftp: "127.0.0.1".into(), image, port: 69, blksize: None, timeout_ms: 500, retries: 5, wait: 0, force: false }
}

#[test]
fn flash_checks_the_image_before_sending() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = scratch_ctx(tmp.path());
    let board = ctx.repo().load_board("linksys-wrt54gl").unwrap();
    let part = flash_cmd::firmware_partition(&board).unwrap();
    // The board file leaves the size out: from after CFE (256 KiB) to the NVRAM at 0x3f0000.
    assert_eq!((part.name.as_str(), part.offset, part.size), ("firmware", 0x40000, 0x3b0000));
    let write = |name: &str, data: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let load = |p: &Path, force: bool| flash_cmd::load_image(&ctx, &board, Some(p), force);
    let trx_path = tmp.path().join("linksys-wrt54gl/images/linksys-wrt54gl.trx");
    let factory_path = tmp.path().join("linksys-wrt54gl/images/linksys-wrt54gl-factory.bin");

    // Nothing built yet. On a Linksys board the default is the factory image: CFE's TFTP
    // recovery checks its code pattern.
    let e = flash_cmd::load_image(&ctx, &board, None, false).unwrap_err().to_string();
    assert_eq!(e, format!("{} does not exist: build it first: cargo xtask build --board linksys-wrt54gl", factory_path.display()));

    // Not a TRX.
    let elf = write("vmlinux", &[b"\x7fELF".as_slice(), &[0; 100]].concat());
    let e = load(&elf, false).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: not a TRX image: bytes 0..4 hold \"\\x7fELF\" instead of the magic \"HDR0\".", elf.display())), "{e}");
    assert!(e.contains(&format!("`cargo xtask flash` sends the bare TRX that CFE writes to the flash ({} from", trx_path.display())), "{e}");
    assert!(e.ends_with("; --force sends this file anyway"), "{e}");

    // A Linksys factory image: 32-byte header with the code pattern, then the TRX.
    let factory = |pattern: &[u8; 4]| {
        let header = oxwrt_images::linksys::Header::new(*pattern, (8, 1, 1), (4, 71, 1));
        [header.to_bytes().as_slice(), &trx(4096)].concat()
    };
    let gl = write("factory.bin", &factory(b"W54G"));
    assert_eq!(load(&gl, false).unwrap().kind, "Linksys factory image (code pattern \"W54G\" + TRX)");
    let mut damaged = factory(b"W54G");
    damaged[32 + 100] ^= 1;
    let e = load(&write("damaged.bin", &damaged), false).unwrap_err().to_string();
    assert!(e.contains("the TRX inside this factory image has CRC32 0x") && e.contains("the file is damaged"), "{e}");
    let gs = write("gs.bin", &factory(b"W54S"));
    let e = load(&gs, false).unwrap_err().to_string();
    assert!(e.contains("not a bare TRX, and its pattern is not linksys-wrt54gl's (\"W54G\"): CFE refuses other models' images."), "{e}");

    // A TRX whose header claims more than the file holds, and one with a wrong CRC.
    let e = load(&write("cut.trx", &trx(8192)[..4096]), false).unwrap_err().to_string();
    assert!(e.contains("truncated TRX image: header byte 4 gives its length as 8192 bytes, but only 4096 bytes are there"), "{e}");
    let mut bad = trx(4096);
    bad[100] ^= 1;
    let e = load(&write("bad.trx", &bad), false).unwrap_err().to_string();
    assert!(e.contains(": its TRX CRC32 is 0x") && e.contains("the file is damaged, and CFE would not boot it."), "{e}");

    // One byte more than the partition: refused, even with --force.
    let big = write("big.trx", &trx(0x3b0000 + 4));
    for force in [false, true] {
        let e = load(&big, force).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{} is 3866628 bytes, larger than the firmware partition `firmware` of linksys-wrt54gl (3866624 bytes, 3776 KiB) by 4 bytes: flashing it would overwrite",
                big.display()
            )),
            "{e}"
        );
    }

    // Exactly the partition's size is fine.
    let full = load(&write("full.trx", &trx(0x3b0000)), false).unwrap();
    assert_eq!((full.kind.as_str(), full.data.len()), ("TRX", 0x3b0000));

    // Boards without TRX images are not flashed this way.
    let x86 = ctx.repo().load_board("qemu-x86-64").unwrap();
    let e = flash_cmd::load_image(&ctx, &x86, Some(&full.path), false).unwrap_err().to_string();
    assert!(e.starts_with("board qemu-x86-64 has no TRX image"), "{e}");

    // The CLI path refuses before sending anything.
    let e = flash_cmd::run(&ctx, &args(Some(elf))).unwrap_err().to_string();
    assert!(e.contains("vmlinux: not a TRX image"), "{e}");
}

#[test]
fn flash_sends_the_boards_factory_image_as_code_bin() {
    let server = Tftpd::start(true);
    let tmp = tempfile::tempdir().unwrap();
    let ctx = scratch_ctx(tmp.path());
    let header = oxwrt_images::linksys::Header::new(*b"W54G", (8, 1, 1), (4, 71, 1));
    let image = [header.to_bytes().as_slice(), &trx(600 * 1024)].concat();
    let images = tmp.path().join("linksys-wrt54gl/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("linksys-wrt54gl-factory.bin"), &image).unwrap();
    let mut a = args(None);
    a.port = server.addr.port();
    flash_cmd::run(&ctx, &a).unwrap();
    assert!(server.file("code.bin") == image, "the router's code.bin differs from the board's factory image");
}
