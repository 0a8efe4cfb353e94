//! The command line of `cargo xtask`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "oxwrt's build system: boards, toolchains, kernels", disable_help_subcommand = true)]
pub struct Cli {
    /// Stream the output of external commands (make, tar, ...) instead of a spinner.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List the boards in targets/.
    Boards,
    /// Validate one board description (or all) and show what it describes.
    CheckBoard {
        /// Board id; all boards when left out.
        board: Option<String>,
    },
    /// Show what building needs and what is missing, with the fix for each.
    Doctor {
        #[arg(long)]
        board: Option<String>,
    },
    /// Install what is missing (Debian/Ubuntu: apt-get, pip).
    Setup {
        #[arg(long)]
        board: Option<String>,
        /// Also install the kernel maintainers' tools (ncurses for menuconfig).
        #[arg(long)]
        maintainer: bool,
    },
    /// Build a board's kernel (cached), or work on its patches and config.
    Kernel(KernelArgs),
    /// Build everything a board needs: kernel, packages, root filesystem, images, manifest.
    Build {
        #[arg(long, default_value = "qemu-x86-64")]
        board: String,
    },
    /// Build one package's archive (and its dependencies') for a board.
    Package {
        /// The package (a folder under packages/).
        name: String,
        #[arg(long, default_value = "qemu-x86-64")]
        board: String,
    },
    /// Build if needed, then boot the board's image in QEMU on this terminal.
    Run {
        #[arg(long, default_value = "qemu-x86-64")]
        board: String,
        /// Boot the disk image through UEFI firmware (OVMF) instead of QEMU's -kernel.
        #[arg(long)]
        efi: bool,
        /// Start from the built image again (forget what the guest wrote).
        #[arg(long)]
        fresh: bool,
        /// Host port for the status page (default: a free one).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Install an image on a router through its bootloader's TFTP recovery (CFE, WRT54G class).
    Flash(FlashArgs),
    /// Show what a firmware image is made of (factory .bin, TRX, CHK, uImage, GPT disk,
    /// squashfs) with offsets and sizes, and verify every checksum in it.
    Inspect {
        /// The image file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the workspace tests and the end-to-end checks (what CI runs).
    Test {
        /// Only the workspace tests: no kernel builds.
        #[arg(long)]
        no_e2e: bool,
    },
    /// Measure build times and write them to docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Args, Debug)]
pub struct KernelArgs {
    #[command(subcommand)]
    pub action: Option<KernelCmd>,
    /// The board whose kernel to build.
    #[arg(long, global = true)]
    pub board: Option<String>,
    /// Use this kernel source tarball instead of the board's (also OXWRT_KERNEL_TARBALL).
    #[arg(long, global = true)]
    pub tarball: Option<String>,
    /// The sha256 of --tarball (also OXWRT_KERNEL_SHA256).
    #[arg(long, global = true)]
    pub sha256: Option<String>,
    /// An extra config fragment applied after the board's (repeatable).
    #[arg(long = "fragment", global = true)]
    pub fragments: Vec<PathBuf>,
}

/// `cargo xtask flash`: see docs/flashing.md.
#[derive(Args, Debug, Clone)]
pub struct FlashArgs {
    /// The board the image is for (its firmware partition bounds the image size).
    #[arg(long)]
    pub board: String,
    /// The router's address in recovery mode (CFE: usually 192.168.1.1).
    #[arg(long, value_name = "ROUTER_IP")]
    pub tftp: String,
    /// The image to send; default: the board's built TRX (target/oxwrt/<board>/images/).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// The router's TFTP port.
    #[arg(long, default_value_t = 69)]
    pub port: u16,
    /// Negotiate this TFTP block size (RFC 2348); default: plain RFC 1350, 512-byte blocks,
    /// which is all CFE understands.
    #[arg(long, value_parser = clap::value_parser!(u16).range(8..=65464))]
    pub blksize: Option<u16>,
    /// First wait for each answer; it doubles on retries, up to four times this.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Retransmissions of one packet before giving up.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Keep asking for this many seconds while the router does not answer: start the
    /// command, then power the router on.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub wait: u64,
    /// Send an image that does not look like a bare TRX (e.g. a factory .bin).
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum KernelCmd {
    #[command(flatten)]
    Board(BoardKernelCmd),
    /// Move every board pinned to a Debian kernel source package to another version of it:
    /// fetch, re-apply every patch set, rewrite the pins, rebuild, report the size change.
    BumpSource {
        /// The Debian package version, e.g. 6.1.192-3 (`apt-cache policy linux-source-6.1`).
        #[arg(long)]
        version: String,
        /// The Debian package, when boards pin several.
        #[arg(long)]
        package: Option<String>,
        /// Only move the pins (after the patch check); do not rebuild.
        #[arg(long)]
        no_build: bool,
    },
}

/// `kernel` subcommands about one board (`--board`).
#[derive(Subcommand, Debug)]
pub enum BoardKernelCmd {
    /// Unpack and patch the source tree (target/oxwrt/<board>/linux) without building.
    Prepare,
    /// Regenerate a patch from the edited tree (like quilt refresh).
    Refresh {
        /// The patch, as <set>/<file>; default: the board's last patch. A name not yet in
        /// the set's series starts a new patch.
        #[arg(long)]
        patch: Option<String>,
        /// Also put this file's changes in the patch (path in the tree; repeatable).
        #[arg(long)]
        add: Vec<String>,
    },
    /// Prepare the tree and write the board's verified .config, without building.
    Configure,
    /// Configure, then run the kernel's menuconfig on the board's configuration.
    Menuconfig,
    /// Save a minimal defconfig and print the options changed since the fragments.
    Savedefconfig {
        /// Append the changed options to the board's last config fragment.
        #[arg(long)]
        write: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Whole builds by stage, no-op and one-daemon rebuilds, image sizes, boot time, memory.
    Build {
        #[arg(long)]
        board: Option<String>,
    },
    /// Flash boards: where the firmware's bytes go and the room left (builds them).
    Flash {
        #[arg(long)]
        board: Option<String>,
    },
    /// Cold and no-op kernel build times per board.
    Kernel {
        #[arg(long)]
        board: Option<String>,
    },
    /// Where the RAM goes on each QEMU board after boot (builds and boots it): the kernel's
    /// reserved memory, MemAvailable, slab, page cache and each service's PSS.
    Memory {
        #[arg(long)]
        board: Option<String>,
    },
    /// The router's network in QEMU (both QEMU boards, images built): netd's memory, lease
    /// times, NAT throughput and added latency (runs the ignored test xtask/tests/bench_net.rs).
    Net,
    /// WireGuard through the router on each QEMU board (images built): handshake time,
    /// throughput and round-trip time with and without the tunnel, vpnd's memory.
    Vpn {
        #[arg(long)]
        board: Option<String>,
    },
    /// sqmd on each QEMU board (builds and boots it in the lab): the bufferbloat table
    /// without SQM, fixed and autorate, sqmd's CPU time at 20 Hz probing, RSS/PSS.
    Sqm {
        #[arg(long)]
        board: Option<String>,
    },
    /// The web interface in headless chromium on both QEMU boards (images built): page
    /// weight, time to first byte and page load, login cost, webd's memory with 4 browsers
    /// (runs the ignored test xtask/tests/bench_web.rs).
    Web,
}
