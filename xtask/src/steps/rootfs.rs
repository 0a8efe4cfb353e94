//! The root filesystem: rootfs/skeleton + standard directories + os-release + the
//! packages' files (read back from their archives) + /lib/oxwrt/init.toml, staged in
//! target/oxwrt/<board>/rootfs and packed as a reproducible squashfs (xz; block size and
//! fragments from the board's `[rootfs]`: they decide the kernel's squashfs caches).

use crate::board::{Board, PartitionRole, StorageKind};
use crate::context::Context;
use crate::steps::packages::oxpkg;
use anyhow::{Context as _, Result};
use oxwrt_config::init::{DataStore, InitConfig};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories every image has (mount points and the like).
const STANDARD_DIRS: &[&str] =
    &["dev", "proc", "sys", "tmp", "run", "overlay", "rom", "mnt", "root", "etc", "lib/oxwrt/packages", "sbin", "usr/sbin", "usr/bin", "bin"];

/// Identity of a build, written into /etc/os-release and the manifest.
#[derive(Debug, Clone)]
pub struct BuildId {
    pub version: String,
    /// Git commit (12 hex digits), `-dirty` when the tree had uncommitted changes.
    pub build_id: String,
    /// SOURCE_DATE_EPOCH: the commit time.
    pub epoch: u64,
}

impl BuildId {
    pub fn of(ctx: &Context) -> BuildId {
        let git = |args: &[&str]| {
            Command::new("git")
                .current_dir(&ctx.root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let epoch = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .or_else(|| git(&["log", "-1", "--format=%ct"]).and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        let mut build_id = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
        if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) {
            build_id.push_str("-dirty");
        }
        BuildId { version: env!("CARGO_PKG_VERSION").to_string(), build_id, epoch }
    }
}

/// What init mounts on /overlay for this board.
pub fn data_store(board: &Board) -> Option<DataStore> {
    let data = board.partitions.iter().find(|p| p.role == PartitionRole::Data);
    match board.storage.kind {
        StorageKind::Disk => data.map(|p| DataStore { device: format!("PARTLABEL={}", p.name), fstype: "ext4".into(), options: String::new() }),
        // The JFFS2 area the TRX parser (generic patch 0002) finds after the squashfs.
        StorageKind::NorFlash => Some(DataStore { device: "mtd:rootfs_data".into(), fstype: "jffs2".into(), options: String::new() }),
    }
}

pub fn os_release(board: &Board, id: &BuildId) -> String {
    format!(
        "NAME=\"oxwrt\"\nID=oxwrt\nVERSION=\"{v}\"\nVERSION_ID={v}\nBUILD_ID={b}\nPRETTY_NAME=\"oxwrt {v} ({board})\"\nOXWRT_BOARD={board}\nOXWRT_BOARD_NAME=\"{name}\"\n",
        v = id.version,
        b = id.build_id,
        board = board.id,
        name = board.name.replace('"', "'"),
    )
}

/// Stages the tree and packs it; returns the squashfs path.
pub fn build(ctx: &Context, board: &Board, archives: &[PathBuf], id: &BuildId) -> Result<PathBuf> {
    let out = ctx.board_out(&board.id);
    let stage = out.join("rootfs");
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("cannot clear {}", stage.display()))?;
    }
    copy_tree(&ctx.root.join("rootfs/skeleton"), &stage)?;
    for d in STANDARD_DIRS {
        fs::create_dir_all(stage.join(d))?;
    }
    symlink("tmp", stage.join("var"))?;
    fs::write(stage.join("etc/os-release"), os_release(board, id))?;
    let mut init = InitConfig { data: data_store(board), services: Vec::new() };
    let mut from_packages = BTreeSet::new();
    for a in archives {
        // Checked whole (names, kinds, sha256, destinations) before anything is written.
        let (control, contents) = oxpkg::install(&stage, a)?;
        from_packages.extend(contents.keys().cloned());
        init.services.extend(control.services.iter().cloned());
        fs::write(stage.join("lib/oxwrt/packages").join(format!("{}.json", control.name)), serde_json::to_vec_pretty(&control)?)?;
    }
    if board.packages.iter().any(|p| p == "netd") && !from_packages.contains("/etc/oxwrt/network.toml") {
        // The board's own network defaults: which switch VLAN is LAN and which WAN.
        let switch = board.switch.as_ref().map(|s| oxwrt_config::SwitchLayout { device: s.device.clone(), lan_vlan: s.lan_vlan, wan_vlan: s.wan_vlan });
        fs::create_dir_all(stage.join("etc/oxwrt"))?;
        fs::write(stage.join("etc/oxwrt/network.toml"), oxwrt_config::defaults_for(switch.as_ref()).to_toml())?;
    }
    init.check().map_err(|e| anyhow::anyhow!("the services of {}'s packages: {e}", board.id))?;
    check_accounts(&init, &fs::read_to_string(stage.join("etc/passwd"))?, &fs::read_to_string(stage.join("etc/group"))?)
        .map_err(|e| anyhow::anyhow!("the services of {}'s packages: {e}", board.id))?;
    fs::write(stage.join(oxwrt_config::init::PATH.trim_start_matches('/')), toml::to_string(&init)?)?;
    normalise_modes(&stage, "", &from_packages)?;
    let image = out.join("rootfs.squashfs");
    let _ = fs::remove_file(&image);
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(&stage).arg(&image).args(["-noappend", "-comp", "xz", "-b", &format!("{}K", board.rootfs.block_size.0 >> 10)]);
    if !board.rootfs.fragments {
        cmd.arg("-no-fragments");
    }
    cmd.args(["-all-root", "-no-xattrs", "-quiet", "-no-progress"]);
    if board.arch == crate::board::Arch::X86_64 {
        cmd.args(["-Xbcj", "x86"]);
    }
    cmd.args(["-mkfs-time", &id.epoch.to_string(), "-all-time", &id.epoch.to_string()]);
    ctx.runner(&board.id).run("rootfs-squashfs", "mksquashfs (xz)", &mut cmd)?;
    Ok(image)
}

/// Every service's `user` and `group` is an account of the image (rootfs/skeleton/etc/passwd
/// and group): init would refuse to start it otherwise. uids/gids: docs/device.md.
pub fn check_accounts(init: &InitConfig, passwd: &str, group: &str) -> Result<(), String> {
    let names = |text: &str| text.lines().filter_map(|l| l.split(':').next().map(str::to_string)).collect::<BTreeSet<String>>();
    let (users, groups) = (names(passwd), names(group));
    for s in &init.services {
        if let Some(u) = s.user.as_ref().filter(|u| !users.contains(*u)) {
            return Err(format!("service `{}` runs as user `{u}`, which rootfs/skeleton/etc/passwd does not have", s.name));
        }
        if let Some(g) = s.group.as_ref().filter(|g| !groups.contains(*g)) {
            return Err(format!("service `{}` runs with group `{g}`, which rootfs/skeleton/etc/group does not have", s.name));
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

/// Directories 0755; files 0755 if executable, else 0644, except the packages' files
/// (`keep`: their archives set the mode).
fn normalise_modes(dir: &Path, rel: &str, keep: &BTreeSet<String>) -> Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let path = format!("{rel}/{}", e.file_name().to_string_lossy());
        if t.is_dir() {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755))?;
            normalise_modes(&e.path(), &path, keep)?;
        } else if t.is_file() && !keep.contains(&path) {
            let mode = e.metadata()?.permissions().mode() & 0o7777;
            let want = if mode & 0o111 != 0 { mode & 0o7755 | 0o755 } else { 0o644 };
            fs::set_permissions(e.path(), fs::Permissions::from_mode(want))?;
        }
    }
    Ok(())
}
