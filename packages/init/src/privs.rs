//! Services without root: a service's `user`, `group`, `capabilities` and `no_new_privs`
//! ([`oxwrt_config::init::Service`]) resolved against the device's /etc/passwd and
//! /etc/group into [`Privs`] before fork, and applied in the child between fork and exec
//! ([`Privs::apply`]: raw system calls only, nothing allocated).
//!
//! The order in the child: supplementary groups (setgroups), bounding set reduced to the
//! kept capabilities, PR_SET_KEEPCAPS, setresgid, setresuid (permitted set kept, effective
//! cleared), capset (effective = permitted = inheritable = the kept set), the kept set raised
//! into the ambient set (so exec of a plain binary keeps it: CapEff = CapPrm = the mask), and
//! last PR_SET_NO_NEW_PRIVS.

use oxwrt_config::init::{group_entries, group_id, passwd_ids, Service};

/// What the child becomes; computed before fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privs {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the primary group and every group /etc/group lists the user in.
    pub groups: Vec<u32>,
    /// Bit n: capability n.
    pub caps: u64,
    pub no_new_privs: bool,
}

/// The service's privileges from the text of /etc/passwd and /etc/group; None for a root
/// service (no `user`). Err says what is missing: the service must then not start.
pub fn resolve(svc: &Service, passwd: &str, group: &str) -> Result<Option<Privs>, String> {
    let Some(user) = &svc.user else { return Ok(None) };
    let caps = svc.capability_mask()?;
    let (uid, user_gid) = passwd_ids(passwd, user).ok_or_else(|| format!("user `{user}` is not in /etc/passwd (or its uid/gid is not a number)"))?;
    if uid == 0 {
        return Err(format!("user `{user}` has uid 0: that is root, not a service user"));
    }
    let gid = match &svc.group {
        None => user_gid,
        Some(g) => group_id(group, g).ok_or_else(|| format!("group `{g}` is not in /etc/group (or its gid is not a number)"))?,
    };
    if gid == 0 {
        return Err(format!("group of `{user}` is gid 0 (root's): not for a service"));
    }
    let mut groups = vec![gid];
    for (_, id, members) in group_entries(group) {
        if let Some(id) = id {
            if members.contains(&user.as_str()) && !groups.contains(&id) {
                groups.push(id);
            }
        }
    }
    Ok(Some(Privs { uid, gid, groups, caps, no_new_privs: svc.no_new_privs() }))
}

/// The highest capability number the table knows (the loops below go to it).
const LAST_CAP: u32 = 40;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn check(r: libc::c_long) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Privs {
    /// In the child between fork and exec, as root: becomes `uid`/`gid` with exactly
    /// `caps`. Async-signal-safe: system calls and stack values only (an io::Error from an
    /// errno does not allocate). Any failure fails the spawn: the program never runs with
    /// more than asked.
    ///
    /// # Safety
    /// Only in a freshly forked, single-threaded child (Command::pre_exec).
    pub unsafe fn apply(&self) -> std::io::Result<()> {
        // SAFETY (the whole block): plain system calls on values that live on this stack
        // or in self, which the parent built before fork and the child's copy keeps.
        unsafe {
            check(libc::syscall(libc::SYS_setgroups, self.groups.len() as libc::c_long, self.groups.as_ptr()))?;
            let mut cap = 0;
            while cap <= LAST_CAP {
                if self.caps & (1 << cap) == 0 {
                    // EINVAL: a capability this kernel does not know; nothing to drop.
                    let r = libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                    if r < 0 {
                        let e = std::io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::EINVAL) {
                            return Err(e);
                        }
                    }
                }
                cap += 1;
            }
            check(libc::prctl(libc::PR_SET_KEEPCAPS, 1 as libc::c_ulong, 0, 0, 0) as libc::c_long)?;
            check(libc::syscall(libc::SYS_setresgid, self.gid as libc::c_long, self.gid as libc::c_long, self.gid as libc::c_long))?;
            check(libc::syscall(libc::SYS_setresuid, self.uid as libc::c_long, self.uid as libc::c_long, self.uid as libc::c_long))?;
            let (lo, hi) = (self.caps as u32, (self.caps >> 32) as u32);
            let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
            let data = [CapData { effective: lo, permitted: lo, inheritable: lo }, CapData { effective: hi, permitted: hi, inheritable: hi }];
            check(libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()))?;
            let mut cap = 0;
            while cap <= LAST_CAP {
                if self.caps & (1 << cap) != 0 {
                    check(libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap as libc::c_ulong, 0, 0) as libc::c_long)?;
                }
                cap += 1;
            }
            if self.no_new_privs {
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) as libc::c_long)?;
            }
        }
        Ok(())
    }
}

/// Makes sure `dir` is a directory owned by uid:gid, writing only what differs: nothing
/// when it already is (the image has the service's `dirs` with their owner, so a normal
/// boot changes nothing on flash: on the overlay a chown is a copy-up), else creates it
/// (and its parents, 0755) and/or gives it to uid:gid; an existing directory keeps its
/// mode. Ok(true) when something was changed.
pub fn own_dir(dir: &str, uid: u32, gid: u32) -> Result<bool, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() && m.uid() == uid && m.gid() == gid => return Ok(false),
        Ok(m) if !m.is_dir() => return Err(format!("{dir} is not a directory; remove it (`rm {dir}`) and restart the service")),
        Ok(_) => {}
        Err(_) => std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(|e| format!("cannot create {dir}: {e}"))?,
    }
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| format!("cannot give {dir} to {uid}:{gid}: {e}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const PASSWD: &str = "root:x:0:0:root:/root:/sbin/oxsh\nnetd:x:101:101:network daemon:/nonexistent:/bin/false\nwebd:x:102:102:web interface:/nonexistent:/bin/false\nbad:x:1x:2:\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nnetd:x:101:\nwebd:x:102:\nlogs:x:200:webd,netd\nnogroup:x:65534:\n";

    fn svc(user: Option<&str>, group: Option<&str>, caps: &[&str]) -> Service {
        Service {
            name: "netd".into(),
            command: vec!["/usr/sbin/netd".into()],
            after: Vec::new(),
            restart: Default::default(),
            console: false,
            env: BTreeMap::new(),
            user: user.map(Into::into),
            group: group.map(Into::into),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            no_new_privs: None,
            dirs: Vec::new(),
        }
    }

    #[test]
    fn resolves_users_groups_and_caps() {
        assert_eq!(resolve(&svc(None, None, &[]), PASSWD, GROUP), Ok(None));
        let p = resolve(&svc(Some("netd"), None, &["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"]), PASSWD, GROUP).unwrap().unwrap();
        assert_eq!(p, Privs { uid: 101, gid: 101, groups: vec![101, 200], caps: 0x3400, no_new_privs: true });
        let p = resolve(&svc(Some("webd"), Some("nogroup"), &[]), PASSWD, GROUP).unwrap().unwrap();
        assert_eq!((p.uid, p.gid, p.groups, p.caps), (102, 65534, vec![65534, 200], 0));
    }

    /// Really applies them (needs root, oxwrt_testkit): the child's /proc status shows the
    /// uid, groups and exactly the kept capabilities.
    #[test]
    fn applied_in_a_child_gives_exactly_the_kept_capabilities() {
        use std::os::unix::process::CommandExt;
        if !oxwrt_testkit::require_root() {
            return;
        }
        let p = Privs { uid: 101, gid: 102, groups: vec![102, 200], caps: 0x3400, no_new_privs: true };
        let mut cmd = std::process::Command::new("/bin/cat");
        cmd.arg("/proc/self/status");
        let q = p.clone();
        // SAFETY: apply is async-signal-safe.
        unsafe { cmd.pre_exec(move || q.apply()) };
        let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
        let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap();
        assert_eq!(field("Uid:"), "101 101 101 101");
        assert_eq!(field("Gid:"), "102 102 102 102");
        assert_eq!(field("Groups:"), "102 200");
        for k in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:", "CapBnd:"] {
            assert_eq!(field(k), "0000000000003400", "{k}");
        }
        assert_eq!(field("NoNewPrivs:"), "1");
    }

    /// A directory that is already right is not touched (no copy-up on the overlay, no
    /// flash write at boot); a missing or foreign-owned one is created or given back.
    #[test]
    fn own_dir_writes_only_what_differs() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("etc/oxwrt/netd");
        let ds = d.to_str().unwrap();
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!(own_dir(ds, uid, gid), Ok(true), "created");
        assert_eq!(own_dir(ds, uid, gid), Ok(false), "already right: nothing written");
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(own_dir(file.to_str().unwrap(), uid, gid).unwrap_err().contains("is not a directory; remove it"));
        if uid == 0 {
            assert_eq!(own_dir(ds, 101, 101), Ok(true), "given to netd");
            let m = std::fs::metadata(&d).unwrap();
            assert_eq!((m.uid(), m.gid()), (101, 101));
            assert_eq!(own_dir(ds, 101, 101), Ok(false));
        }
    }

    #[test]
    fn missing_accounts_are_errors_never_root() {
        assert!(resolve(&svc(Some("ghost"), None, &[]), PASSWD, GROUP).unwrap_err().contains("user `ghost` is not in /etc/passwd"));
        assert!(resolve(&svc(Some("bad"), None, &[]), PASSWD, GROUP).is_err());
        assert!(resolve(&svc(Some("netd"), Some("ghosts"), &[]), PASSWD, GROUP).unwrap_err().contains("group `ghosts` is not in /etc/group"));
        assert!(resolve(&svc(Some("toor"), None, &[]), "toor:x:0:0::/:/bin/false\n", GROUP).unwrap_err().contains("uid 0"));
        assert!(resolve(&svc(Some("netd"), Some("root"), &[]), PASSWD, GROUP).unwrap_err().contains("gid 0"));
        assert!(resolve(&svc(Some("netd"), None, &["NET_FROB"]), PASSWD, GROUP).unwrap_err().contains("unknown capability `NET_FROB`"));
    }
}
