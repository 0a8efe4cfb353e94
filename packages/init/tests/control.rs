//! init's control socket against real peers: a forked child becomes another user
//! (setgroups, setgid, setuid) and connects, so the kernel's SO_PEERCRED, not a number the
//! test passes, decides what [`control::admit`] lets through. The socket is made by
//! [`control::listen_at`] like /run/init.sock (root:config, 0660).
//!
//! A peer like webd (uid 102, in group `config`) reads status and the log and may restart a
//! service that runs as its own user; it may not stop or start one, restart a root service
//! or reboot. A user outside group `config` cannot connect at all. Needs root (to become
//! other users).

use oxinit::control;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;

const WEBD: (u32, u32) = (102, 102);
/// Group `config` (rootfs/skeleton/etc/group).
const CONFIG: u32 = 200;

/// What the peer read back: the answer, or `connect: <errno>` when it could not connect.
fn ask_as(listener: &UnixListener, path: &std::path::Path, uid: u32, groups: &[u32], line: &str, user_services: &[String]) -> String {
    // Everything the child uses is prepared before fork: it calls only async-signal-safe
    // functions on these (the test harness has other threads).
    // SAFETY: zeroed sockaddr_un is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_encoded_bytes();
    assert!(bytes.len() < addr.sun_path.len(), "socket path too long: {}", path.display());
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let request = format!("{line}\n").into_bytes();
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = (fds[0], fds[1]);
    // SAFETY: the child runs only system calls on memory prepared above, then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: in the child: raw system calls only.
        unsafe {
            libc::close(r);
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(groups[0]) != 0 || libc::setuid(uid) != 0 {
                fail(w, b"cannot become the peer user");
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t) != 0 {
                let e = *libc::__errno_location();
                fail(w, if e == libc::EACCES { b"connect: EACCES" } else { b"connect: other error" });
            }
            libc::write(fd, request.as_ptr().cast(), request.len());
            let mut buf = [0u8; 1024];
            loop {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                libc::write(w, buf.as_ptr().cast(), n as usize);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: the parent's copy of the write end.
    unsafe { libc::close(w) };
    // The child either connects (it is then in the backlog) or gives up; poll for both.
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut status = 0;
    loop {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let mut s = &stream;
            // What the supervisor does: the gate, then an answer (here a stand-in for it).
            match control::admit(&stream, user_services) {
                Ok(req) => writeln!(s, "admitted {}", req.to_line()).unwrap(),
                Err(e) => writeln!(s, "error: {e}").unwrap(),
            }
            break;
        }
        // SAFETY: WNOHANG poll of our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return read_all(r);
        }
        assert!(std::time::Instant::now() < deadline, "the peer neither connected nor exited");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = read_all(r);
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    out
}

/// The child's way out: a message into the pipe, then _exit (no destructors, no atexit).
///
/// # Safety
/// Only in the forked child.
unsafe fn fail(w: i32, msg: &[u8]) -> ! {
    // SAFETY: plain system calls.
    unsafe {
        libc::write(w, msg.as_ptr().cast(), msg.len());
        libc::_exit(2)
    }
}

fn read_all(fd: i32) -> String {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let mut text = String::new();
    // SAFETY: fd is the pipe's read end, owned from here on.
    unsafe { std::fs::File::from_raw_fd(fd) }.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_webd_level_peer_reads_restarts_user_services_and_reboots_but_cannot_stop_or_power_off() {
    if !oxwrt_testkit::require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("init.sock");
    let listener = control::listen_at(path.to_str().unwrap(), CONFIG).unwrap();
    let users = vec!["netd".to_string(), "webd".to_string()];
    let webd = |line: &str| ask_as(&listener, &path, WEBD.0, &[WEBD.1, CONFIG], line, &users);

    for line in ["status", "log", "log-follow", "restart webd", "restart netd", "reboot"] {
        assert_eq!(webd(line), format!("admitted {line}\n"), "uid 102 in group config: `{line}`");
    }
    for (line, why) in [
        ("poweroff", "`poweroff` is for root only (you are uid 102)"),
        ("stop netd", "`stop netd` is for root only (you are uid 102)"),
        ("start webd", "`start webd` is for root only (you are uid 102)"),
        ("restart console", "`restart console`: uid 102 may restart only services that run as their own user (netd, webd)"),
    ] {
        let answer = webd(line);
        assert!(answer.starts_with(&format!("error: {why}")), "uid 102: `{line}` got: {answer}");
    }
    // Root may do everything.
    assert_eq!(ask_as(&listener, &path, 0, &[0], "poweroff", &users), "admitted poweroff\n");
    // netd (uid 101) is not in group config: the socket's mode keeps it out.
    assert_eq!(ask_as(&listener, &path, 101, &[101], "status", &users), "connect: EACCES");
}
