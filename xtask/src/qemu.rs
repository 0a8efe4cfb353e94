//! QEMU command lines for a board's images: `cargo xtask run` and the end-to-end tests
//! use the same ones. TCG only (no KVM here). The serial console is stdio; QEMU's user
//! network stands in for the WAN, with the status page forwarded to a host port.

use crate::board::{Board, ImageFormat};
use crate::context::Context;
use crate::image;
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;
use std::process::Command;

/// The guest's address on QEMU's user network (slirp's default), set by the kernel
/// (CONFIG_IP_PNP) from the command line until netd exists.
pub const GUEST_IP: &str = "10.0.2.15";
const IP_PNP: &str = "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off";

/// UEFI firmware for x86-64 (Debian's ovmf).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

#[derive(Debug, Clone)]
pub struct Launch {
    /// Writable disk image (a copy: the guest writes its data partition).
    pub disk: Option<PathBuf>,
    /// Boot through UEFI firmware from the disk instead of QEMU's -kernel.
    pub efi: bool,
    /// Host port forwarded to the guest's port 80.
    pub http_port: Option<u16>,
    /// QEMU exits when the guest reboots (tests), instead of rebooting it.
    pub exit_on_reboot: bool,
    /// Extra kernel command line (appended; -kernel boots only).
    pub append: String,
}

pub fn command(ctx: &Context, board: &Board, l: &Launch) -> Result<Command> {
    let Some(q) = &board.qemu else { bail!("board {} has no [qemu] section: it cannot run in QEMU", board.id) };
    let mut cmd = Command::new(&q.system);
    cmd.args(["-M", &q.machine, "-m", &format!("{}M", q.memory.0 >> 20), "-nographic", "-accel", "tcg"]);
    if let Some(cpu) = &q.cpu {
        cmd.args(["-cpu", cpu]);
    }
    if l.exit_on_reboot {
        cmd.arg("-no-reboot");
    }
    let mut append = IP_PNP.to_string();
    if l.efi {
        let vars = ctx.board_out(&board.id).join("run").join("OVMF_VARS.fd");
        std::fs::create_dir_all(vars.parent().expect("has parent"))?;
        if !vars.is_file() {
            std::fs::copy(OVMF_VARS, &vars).with_context(|| format!("cannot copy {OVMF_VARS}: install ovmf (cargo xtask setup)"))?;
        }
        cmd.arg("-drive").arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"));
        cmd.arg("-drive").arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()));
    } else {
        cmd.arg("-kernel").arg(image::kernel_path(ctx, board));
    }
    if board.images.contains(&ImageFormat::GptDisk) {
        let disk = l.disk.clone().unwrap_or_else(|| image::disk_path(ctx, board));
        cmd.arg("-drive").arg(format!("file={},format=raw,if=virtio", disk.display()));
    } else if board.images.contains(&ImageFormat::KernelRootfs) {
        // The squashfs as a read-only virtio disk; no data partition (init falls back to RAM).
        cmd.arg("-drive").arg(format!("file={},format=raw,if=virtio,readonly=on", image::rootfs_path(ctx, board).display()));
        append.push_str(" root=/dev/vda rootfstype=squashfs ro");
    } else {
        bail!("board {} has no image QEMU can boot (gpt-disk or kernel-rootfs)", board.id);
    }
    if !l.append.is_empty() {
        append.push(' ');
        append.push_str(&l.append);
    }
    if !l.efi {
        cmd.arg("-append").arg(append);
    }
    let mut netdev = "user,id=wan".to_string();
    if let Some(port) = l.http_port {
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{port}-{GUEST_IP}:80"));
    }
    cmd.args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=wan"]);
    Ok(cmd)
}

/// A free TCP port on 127.0.0.1 (bound and released; QEMU binds it next).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?.local_addr()?.port())
}
