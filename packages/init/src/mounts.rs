//! What PID 1 mounts: /proc, /sys, /dev, then the overlay root (read-only squashfs below,
//! the board's data partition above, tmpfs when there is none), then /tmp and /run.
//! Also the way down: remount read-only at shutdown.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, pivot_root};
use oxwrt_config::init::DataStore;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Log<'a> = &'a mut dyn FnMut(String);

fn mount_fs(source: &str, target: &str, fstype: &str, flags: MsFlags, data: Option<&str>) -> Result<(), String> {
    let _ = fs::create_dir_all(target);
    mount(Some(source), target, Some(fstype), flags, data).map_err(|e| format!("mount {fstype} {source} on {target}: {e}"))
}

fn is_mounted(target: &str) -> bool {
    fs::read_to_string("/proc/self/mounts").map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(target))).unwrap_or(false)
}

/// /proc, /sys and /dev (the kernel mounts devtmpfs itself with DEVTMPFS_MOUNT).
pub fn early(log: Log) {
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (src, target, fstype, flags) in [("proc", "/proc", "proc", nosuid), ("sysfs", "/sys", "sysfs", nosuid)] {
        if let Err(e) = mount_fs(src, target, fstype, flags, None) {
            log(format!("cannot {e}"));
        }
    }
    if !is_mounted("/dev") {
        if let Err(e) = mount_fs("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID, Some("mode=0755")) {
            log(format!("cannot {e}"));
        }
    }
}

/// Where the writable layer ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// On the data partition (`device` as found, e.g. /dev/vda3).
    Persistent { device: String, fstype: String },
    /// In RAM: changes are lost at reboot. `why` says what was missing.
    Volatile { why: String },
    /// The overlay itself could not be mounted; the root stays read-only.
    ReadOnly { why: String },
}

/// The marker of a factory reset, in the writable layer: /etc/oxwrt/.factory-reset written
/// by the web UI (group config may write /etc/oxwrt) or by root, then a reboot. Only the
/// writable layer's copy counts (never the image's).
pub const FACTORY_RESET_MARKER: &str = "etc/oxwrt/.factory-reset";

/// At boot, before the overlay is mounted: if `overlay`/upper holds the factory-reset
/// marker, the writable layer (upper and work) is emptied: the image's files and defaults
/// come back (and the web UI asks for a new password). Returns the line to log.
pub fn factory_reset(overlay: &Path) -> Option<String> {
    let upper = overlay.join("upper");
    if !upper.join(FACTORY_RESET_MARKER).exists() {
        return None;
    }
    let mut failed = Vec::new();
    for dir in [upper, overlay.join("work")] {
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                failed.push(format!("{}: {e}", dir.display()));
            }
        }
    }
    Some(if failed.is_empty() {
        "factory reset: the writable layer was emptied; the image's configuration is back".into()
    } else {
        format!("WARNING: factory reset: could not empty the writable layer ({})", failed.join("; "))
    })
}

/// Mounts the data store (or tmpfs) on /overlay, the overlay on /mnt, and makes it the root
/// (the squashfs stays visible at /rom).
pub fn overlay_root(data: Option<&DataStore>, log: Log) -> Overlay {
    let outcome = match data {
        None => Overlay::Volatile { why: "this board has no data partition".into() },
        Some(d) => match mount_data(d, log) {
            Ok(device) => Overlay::Persistent { device, fstype: d.fstype.clone() },
            Err(why) => Overlay::Volatile { why },
        },
    };
    if let Overlay::Volatile { why } = &outcome {
        log(format!("WARNING: {why}; the writable layer is in RAM and changes are LOST at reboot"));
        if let Err(e) = mount_fs("tmpfs", "/overlay", "tmpfs", MsFlags::MS_NOATIME, Some("mode=0755")) {
            return Overlay::ReadOnly { why: e };
        }
    }
    if let Some(line) = factory_reset(Path::new("/overlay")) {
        log(line);
    }
    for dir in ["/overlay/upper", "/overlay/work"] {
        if let Err(e) = fs::create_dir_all(dir) {
            return read_only(format!("cannot create {dir}: {e}"), log);
        }
    }
    if let Err(e) = mount_fs("overlay", "/mnt", "overlay", MsFlags::MS_NOATIME, Some("lowerdir=/,upperdir=/overlay/upper,workdir=/overlay/work")) {
        return read_only(e, log);
    }
    for m in ["/proc", "/sys", "/dev", "/overlay"] {
        let target = format!("/mnt{m}");
        let _ = fs::create_dir_all(&target);
        if let Err(e) = mount(Some(m), target.as_str(), None::<&str>, MsFlags::MS_MOVE, None::<&str>) {
            log(format!("cannot move {m} into the overlay root: {e}"));
        }
    }
    let _ = fs::create_dir_all("/mnt/rom");
    if let Err(e) = pivot_root("/mnt", "/mnt/rom").and_then(|_| chdir("/")) {
        return read_only(format!("pivot_root to the overlay failed: {e}"), log);
    }
    if let Overlay::Persistent { device, fstype } = &outcome {
        log(format!("root: squashfs + overlay on {device} ({fstype})"));
    }
    outcome
}

fn read_only(why: String, log: Log) -> Overlay {
    log(format!("WARNING: {why}; the root filesystem stays READ-ONLY"));
    Overlay::ReadOnly { why }
}

/// Finds and mounts the data store on /overlay; Err says why not.
fn mount_data(d: &DataStore, log: Log) -> Result<String, String> {
    let device = resolve_device(&d.device, Path::new("/sys/class/block"), Path::new("/proc/mtd"), Duration::from_secs(3))?;
    if d.fstype == "jffs2" {
        if let Some(name) = device.strip_prefix("mtd:") {
            prepare_jffs2(name, Path::new("/proc/mtd"), Path::new("/dev"), log)?;
        }
    }
    mount_fs(&device, "/overlay", &d.fstype, MsFlags::MS_NOATIME, (!d.options.is_empty()).then_some(d.options.as_str()))
        .map_err(|e| format!("cannot {e} (is the partition formatted as {}?)", d.fstype))?;
    Ok(device)
}

/// What the start of a flash partition says about the JFFS2 on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashState {
    /// All 0xff: JFFS2 makes an empty filesystem of it.
    Erased,
    /// A JFFS2 node (magic 0x1985).
    Jffs2,
    /// 0xdeadc0de: "format me" (left by an upgrade that drops the settings).
    FormatMarker,
    /// Anything else: left over from other firmware.
    Foreign,
}

pub fn flash_state(start: &[u8]) -> FlashState {
    match start {
        [0xff, 0xff, 0xff, 0xff, ..] => FlashState::Erased,
        [0x85, 0x19, ..] => FlashState::Jffs2,
        [0xde, 0xc0, 0xad, 0xde, ..] | [0xde, 0xad, 0xc0, 0xde, ..] => FlashState::FormatMarker,
        _ => FlashState::Foreign,
    }
}

/// Size and erase block of MTD partition `name` from /proc/mtd, and its index.
pub fn mtd_info(proc_mtd: &Path, name: &str) -> Option<(u32, u64, u64)> {
    let text = fs::read_to_string(proc_mtd).ok()?;
    text.lines().find(|l| l.ends_with(&format!("\"{name}\""))).and_then(|l| {
        let mut f = l.split_whitespace();
        let index = f.next()?.strip_prefix("mtd")?.strip_suffix(':')?.parse().ok()?;
        let size = u64::from_str_radix(f.next()?, 16).ok()?;
        let erase = u64::from_str_radix(f.next()?, 16).ok()?;
        Some((index, size, erase))
    })
}

/// First boot on flash: the writable area behind the squashfs holds whatever the previous
/// firmware left there. Unless it is erased or already JFFS2, erase it (through mtdblock,
/// which erases each block it rewrites) so JFFS2 starts empty instead of scanning junk.
fn prepare_jffs2(name: &str, proc_mtd: &Path, dev: &Path, log: Log) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let (index, size, erase) = mtd_info(proc_mtd, name).ok_or_else(|| format!("MTD partition {name} is not in {}", proc_mtd.display()))?;
    let path = dev.join(format!("mtdblock{index}"));
    let mut f = fs::OpenOptions::new().read(true).write(true).open(&path).map_err(|e| format!("cannot open {} ({name}): {e}", path.display()))?;
    let mut start = [0u8; 4];
    f.read_exact(&mut start).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let state = flash_state(&start);
    if matches!(state, FlashState::Erased | FlashState::Jffs2) {
        return Ok(());
    }
    log(format!("{name} ({}) holds no JFFS2 ({state:?}, starts {:02x?}): erasing its {} KiB for a new, empty overlay", path.display(), start, size / 1024));
    let block = vec![0xffu8; erase as usize];
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    for _ in 0..size / erase {
        f.write_all(&block).map_err(|e| format!("erasing {}: {e}", path.display()))?;
    }
    f.sync_all().map_err(|e| format!("erasing {}: {e}", path.display()))?;
    Ok(())
}

/// `PARTLABEL=name` -> /dev/<partition> (waiting up to `wait` for it to appear),
/// `mtd:name` -> itself once /proc/mtd lists it, a path -> itself.
pub fn resolve_device(spec: &str, sys_block: &Path, proc_mtd: &Path, wait: Duration) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    loop {
        let found = if let Some(label) = spec.strip_prefix("PARTLABEL=") {
            find_partlabel(sys_block, label).map(|p| p.display().to_string())
        } else if let Some(name) = spec.strip_prefix("mtd:") {
            let listed = fs::read_to_string(proc_mtd).unwrap_or_default().lines().any(|l| l.ends_with(&format!("\"{name}\"")));
            listed.then(|| spec.to_string())
        } else {
            Path::new(spec).exists().then(|| spec.to_string())
        };
        if let Some(dev) = found {
            return Ok(dev);
        }
        if Instant::now() >= deadline {
            return Err(format!("the data partition {spec} was not found"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find_partlabel(sys_block: &Path, label: &str) -> Option<PathBuf> {
    let mut names: Vec<_> = fs::read_dir(sys_block).ok()?.flatten().map(|e| e.path()).collect();
    names.sort();
    names.into_iter().find_map(|dir| {
        let uevent = fs::read_to_string(dir.join("uevent")).ok()?;
        let mut devname = None;
        let mut matches = false;
        for line in uevent.lines() {
            if let Some(v) = line.strip_prefix("DEVNAME=") {
                devname = Some(v.to_string());
            }
            if line.strip_prefix("PARTNAME=") == Some(label) {
                matches = true;
            }
        }
        if matches {
            Some(PathBuf::from("/dev").join(devname?))
        } else {
            None
        }
    })
}

/// /tmp and /run (after the pivot, so they are on top of the overlay).
pub fn late(log: Log) {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    for (target, mode) in [("/tmp", "mode=1777"), ("/run", "mode=0755")] {
        if let Err(e) = mount_fs("tmpfs", target, "tmpfs", flags, Some(mode)) {
            log(format!("cannot {e}"));
        }
    }
}

/// Shutdown: unmount the RAM filesystems, remount the root and the data store read-only so
/// the disk is clean. Returns the problems (logged by the caller).
pub fn remount_read_only() -> Vec<String> {
    let mut problems = Vec::new();
    for t in ["/tmp", "/run"] {
        if let Err(e) = umount2(t, MntFlags::MNT_DETACH) {
            problems.push(format!("umount {t}: {e}"));
        }
    }
    for t in ["/", "/overlay"] {
        if !is_mounted(t) {
            continue;
        }
        if let Err(e) = mount(None::<&str>, t, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>) {
            problems.push(format!("remount {t} read-only: {e}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_reset_empties_only_with_the_upper_marker() {
        let d = tempfile::tempdir().unwrap();
        let upper = d.path().join("upper");
        fs::create_dir_all(upper.join("etc/oxwrt")).unwrap();
        fs::create_dir_all(d.path().join("work/x")).unwrap();
        fs::write(upper.join("etc/oxwrt/network.toml"), "x").unwrap();
        assert_eq!(factory_reset(d.path()), None);
        assert!(upper.join("etc/oxwrt/network.toml").exists());
        fs::write(upper.join(FACTORY_RESET_MARKER), "").unwrap();
        assert!(factory_reset(d.path()).unwrap().starts_with("factory reset: the writable layer was emptied"));
        assert!(!upper.exists() && !d.path().join("work").exists());
        assert_eq!(factory_reset(d.path()), None, "once");
    }

    #[test]
    fn flash_states() {
        assert_eq!(flash_state(&[0xff; 4]), FlashState::Erased);
        assert_eq!(flash_state(&[0x85, 0x19, 0x03, 0x20]), FlashState::Jffs2);
        assert_eq!(flash_state(&[0xde, 0xc0, 0xad, 0xde]), FlashState::FormatMarker);
        assert_eq!(flash_state(b"hsqs"), FlashState::Foreign);
        assert_eq!(flash_state(&[]), FlashState::Foreign);
    }

    #[test]
    fn partlabel_and_mtd_resolution() {
        let tmp = tempfile::tempdir().unwrap();
        let block = tmp.path().join("block");
        for (dev, extra) in [("vda", ""), ("vda2", "PARTN=2\nPARTNAME=rootfs\n"), ("vda3", "PARTN=3\nPARTNAME=data\n")] {
            fs::create_dir_all(block.join(dev)).unwrap();
            fs::write(block.join(dev).join("uevent"), format!("MAJOR=254\nDEVNAME={dev}\nDEVTYPE=partition\n{extra}")).unwrap();
        }
        let mtd = tmp.path().join("mtd");
        fs::write(&mtd, "dev:    size   erasesize  name\nmtd4: 002c0000 00010000 \"rootfs_data\"\n").unwrap();
        let w = Duration::ZERO;
        assert_eq!(resolve_device("PARTLABEL=data", &block, &mtd, w).unwrap(), "/dev/vda3");
        assert_eq!(resolve_device("mtd:rootfs_data", &block, &mtd, w).unwrap(), "mtd:rootfs_data");
        assert_eq!(resolve_device("PARTLABEL=nope", &block, &mtd, w).unwrap_err(), "the data partition PARTLABEL=nope was not found");
        assert!(resolve_device("mtd:nvram", &block, &mtd, w).is_err());
        assert_eq!(mtd_info(&mtd, "rootfs_data"), Some((4, 0x2c0000, 0x10000)));
        assert_eq!(mtd_info(&mtd, "nvram"), None);
    }
}
