//! The root filesystem: rootfs/skeleton + standard directories + os-release + the
//! packages' files (read back from their archives) + /lib/oxwrt/init.toml, staged in
//! target/oxwrt/<board>/rootfs and packed as a reproducible squashfs (xz; block size and
//! fragments from the board's `[rootfs]`: they decide the kernel's squashfs caches):
//! root-owned except what [`owners`] lists (services' directories, the configuration's group).

use crate::board::{Board, PartitionRole, StorageKind};
use crate::context::Context;
use crate::steps::packages::oxpkg;
use anyhow::{Context as _, Result};
use oxwrt_config::init::{DataStore, InitConfig};
use std::collections::{BTreeMap, BTreeSet};
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
    let owners = owners(&init, &stage).map_err(|e| anyhow::anyhow!("the owners of {}'s root filesystem: {e}", board.id))?;
    normalise_modes(&stage, "", &from_packages)?;
    // Every file root-owned with its staged mode, except `owners` (ids, not names: the
    // build machine's accounts never matter): mksquashfs' pseudo definitions.
    let pseudo = out.join("rootfs.pseudo");
    fs::write(&pseudo, pseudo_definitions(&stage, &owners)?).with_context(|| format!("cannot write {}", pseudo.display()))?;
    let image = out.join("rootfs.squashfs");
    let _ = fs::remove_file(&image);
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(&stage).arg(&image).args(["-noappend", "-comp", "xz", "-b", &format!("{}K", board.rootfs.block_size.0 >> 10)]);
    if !board.rootfs.fragments {
        cmd.arg("-no-fragments");
    }
    cmd.args(["-root-uid", "0", "-root-gid", "0", "-no-xattrs", "-quiet", "-no-progress"]);
    cmd.arg("-pf").arg(&pseudo);
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

/// Mount points whose image contents nobody sees (tmpfs and the kernel's filesystems on
/// top): a service's directory there is init's to create at boot.
const MOUNTED_OVER: &[&str] = &["/run/", "/tmp/", "/dev/", "/proc/", "/sys/"];

/// Who owns what, when not root: (mode, uid, gid) by path in the image (`/etc/oxwrt`).
/// - every service's `dirs`: its user and group, 0755, created here so that init finds them
///   right at boot and writes nothing (a chown on the overlay is a copy-up, on flash a
///   JFFS2 write);
/// - /etc/oxwrt: root and group `config`, 2775 (set-gid: what is saved there keeps the
///   group), and the files in it root:config 0664: the members of `config` (the web
///   interface) may edit the configuration (0660 for a file its package installs without
///   read access for others: a secret). docs/device.md, "Privileges".
///
/// The ids come from the image's own /etc/passwd and /etc/group.
pub fn owners(init: &InitConfig, stage: &Path) -> Result<BTreeMap<String, (u32, u32, u32)>, String> {
    use oxwrt_config::init::{group_id, passwd_ids, CONFIG_GROUP};
    let read = |rel: &str| fs::read_to_string(stage.join(rel)).map_err(|e| format!("cannot read /{rel} of the image: {e}"));
    let (passwd, group) = (read("etc/passwd")?, read("etc/group")?);
    let mut owners = BTreeMap::new();
    let etc_oxwrt = stage.join("etc/oxwrt");
    if etc_oxwrt.is_dir() {
        let config = group_id(&group, CONFIG_GROUP).ok_or_else(|| {
            format!(
                "rootfs/skeleton/etc/group has no group `{CONFIG_GROUP}`, which owns /etc/oxwrt (docs/device.md, Privileges); add `{CONFIG_GROUP}:x:200:webd`"
            )
        })?;
        owners.insert("/etc/oxwrt".to_string(), (0o2775, 0, config));
        let mut files: Vec<_> = fs::read_dir(&etc_oxwrt).map_err(|e| format!("cannot read {}: {e}", etc_oxwrt.display()))?.flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for e in files {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                // A file its package made unreadable to others (a secret: webd.password)
                // stays so: 0660.
                let secret = e.metadata().is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o004 == 0);
                owners.insert(format!("/etc/oxwrt/{}", e.file_name().to_string_lossy()), (if secret { 0o660 } else { 0o664 }, 0, config));
            }
        }
    }
    for s in &init.services {
        let Some(user) = &s.user else { continue };
        let (uid, user_gid) =
            passwd_ids(&passwd, user).ok_or_else(|| format!("service `{}`: user `{user}` is not in /etc/passwd (or its ids are not numbers)", s.name))?;
        let gid = match &s.group {
            Some(g) => group_id(&group, g).ok_or_else(|| format!("service `{}`: group `{g}` is not in /etc/group (or its gid is not a number)", s.name))?,
            None => user_gid,
        };
        for d in &s.dirs {
            let d = d.trim_end_matches('/');
            if MOUNTED_OVER.iter().any(|m| format!("{d}/").starts_with(m)) {
                continue;
            }
            // Only through real directories of the image (never a symlink like /var).
            let mut at = stage.to_path_buf();
            for part in d.trim_start_matches('/').split('/') {
                at.push(part);
                match fs::symlink_metadata(&at) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(format!(
                            "service `{}`: dirs: `{d}`: {} is not a directory in the image; choose a directory of its own",
                            s.name,
                            at.strip_prefix(stage).unwrap_or(&at).display()
                        ))
                    }
                    Err(_) => fs::create_dir(&at).map_err(|e| format!("cannot create {}: {e}", at.display()))?,
                }
            }
            owners.insert(d.to_string(), (0o755, uid, gid));
        }
    }
    Ok(owners)
}

/// One `PATH m MODE UID GID` line per file of the stage (sorted): root and the staged mode,
/// or what `owners` says.
fn pseudo_definitions(stage: &Path, owners: &BTreeMap<String, (u32, u32, u32)>) -> Result<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, u32)>) -> Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = format!("{rel}/{}", e.file_name().to_string_lossy());
            let m = fs::symlink_metadata(e.path())?;
            out.push((path.clone(), m.permissions().mode() & 0o7777));
            if m.is_dir() {
                walk(&e.path(), &path, out)?;
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(stage, "", &mut files)?;
    let staged: BTreeSet<String> = files.iter().map(|(p, _)| p.clone()).collect();
    let mut text = String::new();
    for (path, mode) in files {
        if path.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\') {
            anyhow::bail!("{path}: a file name in the image with a space, quote, backslash or control character cannot be given an owner (mksquashfs pseudo definitions); rename it");
        }
        let (mode, uid, gid) = owners.get(&path).copied().unwrap_or((mode, 0, 0));
        text.push_str(&format!("{} m {mode:o} {uid} {gid}\n", path.trim_start_matches('/')));
    }
    if let Some(path) = owners.keys().find(|p| !staged.contains(*p)) {
        anyhow::bail!("{path} has an owner but is not in the image");
    }
    Ok(text)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else if e.file_type()?.is_symlink() {
            // Stored as the link it is (etc/resolv.conf -> /run/netd/resolv.conf).
            symlink(fs::read_link(&src)?, &dst).with_context(|| format!("cannot copy the link {}", src.display()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use oxwrt_config::init::Service;

    fn service(name: &str, user: Option<&str>, dirs: &[&str]) -> Service {
        Service {
            name: name.into(),
            command: vec![format!("/usr/sbin/{name}")],
            after: Vec::new(),
            restart: Default::default(),
            console: false,
            env: Default::default(),
            user: user.map(Into::into),
            group: None,
            capabilities: Vec::new(),
            no_new_privs: None,
            dirs: dirs.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn stage(group: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let s = tmp.path();
        fs::create_dir_all(s.join("etc/oxwrt")).unwrap();
        fs::create_dir_all(s.join("tmp")).unwrap();
        fs::write(s.join("etc/passwd"), "root:x:0:0::/root:/sbin/oxsh\nnetd:x:101:101::/nonexistent:/bin/false\n").unwrap();
        fs::write(s.join("etc/group"), group).unwrap();
        fs::write(s.join("etc/oxwrt/network.toml"), "").unwrap();
        symlink("tmp", s.join("var")).unwrap();
        tmp
    }

    /// netd's directory is made in the image and given to netd; /etc/oxwrt and its files to
    /// group config; the rest stays root's, numerically, in the pseudo definitions.
    #[test]
    fn owners_give_services_their_dirs_and_the_configuration_its_group() {
        let tmp = stage("root:x:0:\nnetd:x:101:\nconfig:x:200:webd\n");
        let init =
            InitConfig { data: None, services: vec![service("netd", Some("netd"), &["/etc/oxwrt/netd/", "/run/elsewhere"]), service("console", None, &[])] };
        let owners = owners(&init, tmp.path()).unwrap();
        let want: BTreeMap<String, (u32, u32, u32)> =
            [("/etc/oxwrt", (0o2775, 0, 200)), ("/etc/oxwrt/netd", (0o755, 101, 101)), ("/etc/oxwrt/network.toml", (0o664, 0, 200))]
                .into_iter()
                .map(|(p, o)| (p.to_string(), o))
                .collect();
        assert_eq!(owners, want);
        assert!(tmp.path().join("etc/oxwrt/netd").is_dir());
        assert!(!tmp.path().join("run/elsewhere").exists(), "a tmpfs mount point's directory is init's to make");
        let pseudo = pseudo_definitions(tmp.path(), &owners).unwrap();
        assert!(pseudo.contains("etc/oxwrt m 2775 0 200\n") && pseudo.contains("etc/oxwrt/netd m 755 101 101\n"), "{pseudo}");
        assert!(pseudo.contains("etc/oxwrt/network.toml m 664 0 200\n"), "{pseudo}");
        for l in pseudo.lines().filter(|l| !l.starts_with("etc/oxwrt")) {
            assert!(l.ends_with(" 0 0"), "not root's: {l}");
        }
        assert!(pseudo.lines().any(|l| l.starts_with("var m ")), "{pseudo}");
    }

    #[test]
    fn owners_refuse_what_cannot_be_owned() {
        let tmp = stage("root:x:0:\nnetd:x:101:\n");
        let init = InitConfig { data: None, services: vec![] };
        assert!(owners(&init, tmp.path()).unwrap_err().contains("has no group `config`, which owns /etc/oxwrt"));
        let tmp = stage("root:x:0:\nnetd:x:101:\nconfig:x:200:\n");
        let through_link = InitConfig { data: None, services: vec![service("netd", Some("netd"), &["/var/lib/netd"])] };
        assert!(owners(&through_link, tmp.path()).unwrap_err().contains("dirs: `/var/lib/netd`: var is not a directory in the image"));
        let onto_file = InitConfig { data: None, services: vec![service("netd", Some("netd"), &["/etc/passwd/x"])] };
        assert!(owners(&onto_file, tmp.path()).unwrap_err().contains("etc/passwd is not a directory in the image"));
        fs::write(tmp.path().join("etc/a b"), "").unwrap();
        assert!(pseudo_definitions(tmp.path(), &BTreeMap::new()).unwrap_err().to_string().contains("/etc/a b: a file name in the image with a space"));
    }
}
