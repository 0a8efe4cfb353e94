//! `cargo xtask flash --board B --tftp ROUTER`: installs the board's image through the
//! bootloader's TFTP recovery (CFE on WRT54G-class routers: the Linksys factory image where
//! the board has one, since Linksys' CFE checks its code pattern, else the bare TRX), after
//! checking that the file is sound and fits the firmware partition. The protocol is in tools/tftp.rs; the procedure
//! and its troubleshooting in docs/flashing.md.

use crate::board::{Board, ImageFormat, PartitionRole, Placed};
use crate::context::Context;
use crate::flags::FlashArgs;
use crate::size::Size;
use crate::steps::image;
use crate::tools::tftp::{self, ErrorKind, TftpError, Transfer};
use anyhow::{anyhow, bail, Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use oxwrt_images::{linksys, trx};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Linksys factory images put a 32-byte header (starting with a 4-letter code pattern such
/// as "W54G") in front of the TRX.
pub const LINKSYS_HEADER_LEN: usize = linksys::HEADER_LEN;
/// The file name sent in the write request: CFE ignores it.
pub const REMOTE_NAME: &str = "code.bin";

/// The board's TRX as the build writes it.
pub fn trx_path(ctx: &Context, board: &Board) -> PathBuf {
    crate::steps::image::flash::trx_path(&image::images_dir(ctx, board), board)
}

/// An image checked for a board, ready to send.
#[derive(Debug)]
pub struct Image {
    pub path: PathBuf,
    pub data: Vec<u8>,
    /// The firmware partition it goes to.
    pub partition: Placed,
    /// What the file is ("TRX", or what --force let through).
    pub kind: String,
}

/// The board's firmware partition (offset and size resolved from its neighbours and the
/// flash size when the board file leaves them out).
pub fn firmware_partition(board: &Board) -> Result<Placed> {
    board.partition(PartitionRole::Firmware).ok_or_else(|| {
        anyhow!("board {} has no firmware partition (role = \"firmware\" in targets/{}.toml): `cargo xtask flash` installs TRX images on flash routers; see docs/install/", board.id, board.id)
    })
}

/// Read the image to flash (`image`, or the board's built TRX) and check it: see
/// [`check_image`].
pub fn load_image(ctx: &Context, board: &Board, image: Option<&Path>, force: bool) -> Result<Image> {
    if !board.images.contains(&ImageFormat::Trx) {
        bail!(
            "board {} has no TRX image (images in targets/{}.toml: {:?}): `cargo xtask flash` installs TRX images through CFE's TFTP recovery; for other boards see docs/install/",
            board.id,
            board.id,
            board.images
        );
    }
    let partition = firmware_partition(board)?;
    let path = match image {
        Some(p) => p.to_path_buf(),
        None => {
            // CFE on Linksys models wants the image with the code pattern (docs/cfe.md).
            let dir = crate::steps::image::images_dir(ctx, board);
            let p =
                if board.images.contains(&ImageFormat::LinksysFactory) { crate::steps::image::flash::factory_path(&dir, board) } else { trx_path(ctx, board) };
            if !p.is_file() {
                bail!("{} does not exist: build it first: cargo xtask build --board {}", p.display(), board.id);
            }
            p
        }
    };
    let data = std::fs::read(&path).with_context(|| format!("cannot read the image {}", path.display()))?;
    let kind = check_image(board, &partition, &path, &data, &trx_path(ctx, board), force)?;
    Ok(Image { path, data, partition, kind })
}

/// Is `data` something CFE's TFTP recovery takes for this board: a bare TRX (magic "HDR0" at
/// offset 0, a valid header, a length the file holds, the right CRC32) no larger than the
/// firmware partition? `--force` lets a file of another format through, never one too large.
/// Returns what the file is; `built_trx` is the board's built TRX, named in the messages.
pub fn check_image(board: &Board, partition: &Placed, path: &Path, data: &[u8], built_trx: &Path, force: bool) -> Result<String> {
    let len = data.len() as u64;
    if len > partition.size {
        bail!(
            "{} is {len} bytes, larger than the firmware partition `{}` of {} ({} bytes, {}) by {} bytes: flashing it would overwrite what follows the partition (CFE's NVRAM). \
             Make the image smaller (the build's size report shows where the bytes go) or check that it is for this board",
            path.display(),
            partition.name,
            board.id,
            partition.size,
            Size(partition.size),
            len - partition.size
        );
    }
    let problem = trx_problem(board, data).map(|(p, factory)| {
        let what_to_do = if factory {
            format!("if the board's guide (docs/install/{}.md) says its CFE wants the factory image, --force sends it", board.id)
        } else {
            "--force sends this file anyway".to_string()
        };
        format!(
            "{}: {p}. `cargo xtask flash` sends the bare TRX that CFE writes to the flash ({} from `cargo xtask build --board {}`); {what_to_do}",
            path.display(),
            built_trx.display(),
            board.id
        )
    });
    match problem {
        None if data.starts_with(b"HDR0") => Ok("TRX".into()),
        None => Ok(format!("Linksys factory image (code pattern \"{}\" + TRX)", String::from_utf8_lossy(&data[..4]))),
        Some(p) if force => {
            eprintln!("warning (--force): {p}");
            Ok("not a bare TRX (--force)".into())
        }
        Some(p) => bail!("{p}"),
    }
}

/// Why `data` is not a bare TRX CFE can boot, if it is not (and whether it is a Linksys
/// factory image).
fn trx_problem(board: &Board, data: &[u8]) -> Option<(String, bool)> {
    match trx::Trx::parse(data) {
        Ok(t) if t.crc_ok() => None,
        Ok(t) => Some((
            format!("its TRX CRC32 is {:#010x} but its bytes give {:#010x}: the file is damaged, and CFE would not boot it", t.stored_crc, t.computed_crc),
            false,
        )),
        Err(trx::Error::BadMagic { .. }) if linksys::Header::parse(data).is_ok() => {
            let h = linksys::Header::parse(data).ok()?;
            if board.linksys.as_ref().is_some_and(|l| l.pattern == h.pattern_str()) {
                // This board's factory image: what its CFE takes, if the TRX inside is sound.
                return match trx::Trx::parse(&data[LINKSYS_HEADER_LEN..]) {
                    Ok(t) if t.crc_ok() => None,
                    Ok(t) => Some((
                        format!(
                            "the TRX inside this factory image has CRC32 {:#010x} but its bytes give {:#010x}: the file is damaged",
                            t.stored_crc, t.computed_crc
                        ),
                        false,
                    )),
                    Err(e) => Some((format!("the TRX inside this factory image (at offset {LINKSYS_HEADER_LEN}): {e}"), false)),
                };
            }
            let model = h.model().map(|m| format!(", {m}")).unwrap_or_default();
            let mut p = format!(
                "it is a Linksys factory image (code pattern \"{}\"{model}, {}, its TRX at offset {LINKSYS_HEADER_LEN}), not a bare TRX",
                h.pattern_str(),
                h.version_string()
            );
            if let Some(l) = board.linksys.as_ref().filter(|l| l.pattern != h.pattern_str()) {
                p.push_str(&format!(", and its pattern is not {}'s (\"{}\"): CFE refuses other models' images", board.id, l.pattern));
            }
            Some((p, true))
        }
        Err(e) => Some((e.to_string(), false)),
    }
}

/// The router's address and TFTP port.
pub fn server_addr(router: &str, port: u16) -> Result<SocketAddr> {
    if let Ok(ip) = router.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (router, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the router's address {router:?}: give its IP address (CFE: usually 192.168.1.1)"))?
        .next()
        .ok_or_else(|| anyhow!("{router:?} has no address: give the router's IP address (CFE: usually 192.168.1.1)"))
}

/// The TFTP settings of `cargo xtask flash`: plain RFC 1350 unless --blksize (then also
/// `tsize`, which a server that knows options can use to check the space).
pub fn tftp_options(args: &FlashArgs) -> tftp::Options {
    tftp::Options {
        blksize: args.blksize,
        tsize: args.blksize.is_some(),
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        retries: args.retries,
        wait_for_server: Duration::from_secs(args.wait),
    }
}

/// Send the image to the router (as [`REMOTE_NAME`]); errors say what to do in a router's
/// terms (recovery mode, static address, boot_wait). What the CLI calls after the checks.
pub fn upload(server: SocketAddr, data: &[u8], opts: &tftp::Options, progress: &mut dyn FnMut(u64, u64)) -> Result<Transfer> {
    tftp::put(server, REMOTE_NAME, data, opts, progress).map_err(|e| anyhow!(explain(&e, opts)))
}

/// A TFTP failure explained for someone flashing a router.
pub fn explain(e: &TftpError, opts: &tftp::Options) -> String {
    let recovery = recovery_advice(e.server.ip());
    let what = e.what();
    match &e.kind {
        ErrorKind::Server { code, message } => format!(
            "the router refused the upload: {} (code {code}): {} ({})\n\
             CFE refuses an image it cannot use (not a bare TRX, not for this model, too large). Check the image, power-cycle the router and try again.",
            tftp::code_name(*code),
            if message.is_empty() { "(no message)" } else { message },
            e.server
        ),
        ErrorKind::NoAnswer { .. } | ErrorKind::Unreachable(_) => format!("{what}\n{recovery}"),
        ErrorKind::Refused { during: None } => format!(
            "{what}\nThe router is there but its TFTP server is not listening: CFE listens only for the first seconds after power-on (with boot_wait on), then the installed firmware runs.\n{recovery}"
        ),
        ErrorKind::Timeout { .. } | ErrorKind::Refused { during: Some(_) } => format!(
            "{what}\nThe router stopped answering in the middle of the upload. CFE writes the flash only after the whole image arrived, so nothing was written: power-cycle the router and start again.\n{recovery}"
        ),
        ErrorKind::Protocol(_) if opts.blksize.is_some() => format!("{what}\nCFE speaks plain TFTP (RFC 1350): try again without --blksize."),
        _ => format!("{what}\n{}", e.advice()),
    }
}

/// What to do when CFE does not answer.
pub fn recovery_advice(router: IpAddr) -> String {
    let (net, pc) = pc_address(router);
    format!(
        "Is the router in CFE recovery mode? Set your PC to a static address in {net} (e.g. {pc}), connect it to a LAN port, \
         power-cycle the router and start the upload within the first seconds (or start it with --wait 60, then power the router on); \
         boot_wait must be on, and the PC's firewall must let UDP in from the router. See docs/flashing.md."
    )
}

/// The procedure, printed before the upload starts.
pub fn recovery_steps(router: IpAddr, wait: u64) -> String {
    let (net, pc) = pc_address(router);
    let last = if wait > 0 {
        format!("this command keeps asking for {wait} s: power the router on now")
    } else {
        "start this command right after powering the router on (or use --wait 60 and power it on after starting)".to_string()
    };
    format!(
        "Recovery steps (CFE):\n  1. this PC: a static address in {net} (e.g. {pc}), cable to a LAN port of the router\n  \
         2. CFE listens for TFTP at {router} for a few seconds after power-on (boot_wait=on), or until an image comes when the flash holds none that boots (power LED blinking)\n  \
         3. {last}"
    )
}

/// The router's /24 and an address for the PC in it.
fn pc_address(router: IpAddr) -> (String, String) {
    match router {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            (format!("{a}.{b}.{c}.0/24"), format!("{a}.{b}.{c}.{}", if d == 10 { 20 } else { 10 }))
        }
        IpAddr::V6(_) => ("the router's network".into(), "an address on it".into()),
    }
}

/// The address this machine would send from to reach `router` (None: no route).
fn source_address(router: SocketAddr) -> Option<IpAddr> {
    let sock = UdpSocket::bind(if router.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
    sock.connect(router).ok()?;
    sock.local_addr().ok().map(|a| a.ip())
}

/// `cargo xtask flash`.
pub fn run(ctx: &Context, args: &FlashArgs) -> Result<()> {
    let board = ctx.repo().load_board(&args.board)?;
    let image = load_image(ctx, &board, args.image.as_deref(), args.force)?;
    let server = server_addr(&args.tftp, args.port)?;
    let opts = tftp_options(args);
    let len = image.data.len() as u64;
    let p = &image.partition;
    eprintln!("flash {}: {} ({}, {})", board.name, image.path.display(), Size(len), image.kind);
    eprintln!("  fits the firmware partition `{}` ({}) with {} to spare", p.name, Size(p.size), Size(p.size - len));
    let mode = match opts.blksize {
        None => "plain TFTP (RFC 1350), 512-byte blocks".to_string(),
        Some(b) => format!("TFTP offering blksize {b} (falls back to 512 if the router ignores options)"),
    };
    eprintln!("  to {server} as {REMOTE_NAME}: {mode}; timeout {} ms, at most {} retransmissions per packet", opts.timeout.as_millis(), opts.retries);
    match (server.ip(), source_address(server)) {
        (IpAddr::V4(r), Some(IpAddr::V4(local))) if !r.is_loopback() && r.octets()[..3] != local.octets()[..3] => {
            eprintln!("warning: this PC would reach {} from {local}, not from an address in its /24: CFE answers only on its own network.", r);
        }
        (_, None) => eprintln!("warning: this PC has no route to {}: set a static address on the router's network first.", server.ip()),
        _ => {}
    }
    eprintln!("{}", recovery_steps(server.ip(), args.wait));
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}").unwrap().progress_chars("=> "));
    let result = upload(server, &image.data, &opts, &mut |sent, _| bar.set_position(sent));
    bar.finish_and_clear();
    let t = result?;
    let via = if t.options_accepted { format!("{}-byte blocks (negotiated)", t.blksize) } else { format!("{}-byte blocks", t.blksize) };
    let retransmits = if t.retransmits > 0 { format!(", {} retransmission(s)", t.retransmits) } else { String::new() };
    if opts.blksize.is_some() && !t.options_accepted {
        eprintln!("(the router ignored the TFTP options: sent in 512-byte blocks)");
    }
    println!(
        "upload complete: {} bytes in {:.1} s ({via}{retransmits}); the router now writes the flash: wait ~2 minutes until the power LED stops blinking, do not power it off",
        t.bytes,
        t.elapsed.as_secs_f64()
    );
    Ok(())
}
