//! What a long-running service is told from outside, the same way in netd, sqmd and vpnd:
//! signals (SIGHUP: apply the configuration again; SIGTERM, SIGINT: stop) read from a
//! signalfd, and the configuration directory watched with inotify for files *replaced*
//! in it (IN_MOVED_TO: the web interface's atomic save, an editor's rename). A file written
//! line by line (`echo >> f` on the console) is not seen: it would be read half-written;
//! such edits take effect with SIGHUP or `service restart`.
//!
//! Both are plain file descriptors for the service's own poll(2) loop
//! ([`Control::signal_fd`], [`Control::watch_fd`]); reading them never blocks
//! (O_NONBLOCK) and never panics. The signals are blocked for the calling thread, so
//! [`Control::open`] is called on the main thread before any other thread starts (threads
//! inherit the mask).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The service's signalfd and (if the directory could be watched) inotify descriptor.
pub struct Control {
    signals: OwnedFd,
    watch: Option<OwnedFd>,
}

/// What the signals read since the last call ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    /// SIGHUP came: apply the configuration again.
    pub reload: bool,
    /// SIGTERM or SIGINT came: stop.
    pub stop: bool,
}

impl Control {
    /// Blocks SIGHUP, SIGTERM, SIGINT and `extra` (e.g. SIGPIPE) for the calling thread and
    /// opens a non-blocking signalfd for them. The error names the call that failed.
    pub fn open(extra: &[libc::c_int]) -> io::Result<Control> {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset only write into it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe { libc::sigemptyset(&mut set) };
        for s in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT].iter().chain(extra) {
            // SAFETY: `set` is initialised; an invalid signal number only returns EINVAL.
            if unsafe { libc::sigaddset(&mut set, *s) } != 0 {
                return Err(context("sigaddset", io::Error::last_os_error()));
            }
        }
        // SAFETY: a valid set; the old mask is not wanted (null).
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(context("blocking the signals (pthread_sigmask)", io::Error::from_raw_os_error(rc)));
        }
        // SAFETY: -1 asks for a new descriptor; on success we own it.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(context("signalfd", io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(Control { signals: unsafe { OwnedFd::from_raw_fd(fd) }, watch: None })
    }

    /// Watches `dir` for files replaced in it. On an error the service goes on without
    /// (and says that edits need SIGHUP); the error names the directory.
    pub fn watch(&mut self, dir: &Path) -> io::Result<()> {
        // SAFETY: no pointers; on success we own the descriptor.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(context("inotify_init1", io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let path = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: a NUL byte in the path", dir.display())))?;
        // SAFETY: a valid descriptor and a NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MOVED_TO) } < 0 {
            return Err(context(&format!("watching {}", dir.display()), io::Error::last_os_error()));
        }
        self.watch = Some(fd);
        Ok(())
    }

    /// The signalfd, for poll(2).
    pub fn signal_fd(&self) -> RawFd {
        self.signals.as_raw_fd()
    }

    /// The inotify descriptor, for poll(2), if the directory is watched.
    pub fn watch_fd(&self) -> Option<RawFd> {
        self.watch.as_ref().map(|w| w.as_raw_fd())
    }

    /// Reads every pending signal.
    pub fn signals(&self) -> Signals {
        let mut got = Signals::default();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading at most `size` bytes into `info`.
            let n = unsafe { libc::read(self.signals.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
            if n != size as isize {
                return got; // EAGAIN: nothing more (or EINTR: the next poll says)
            }
            match info.ssi_signo as libc::c_int {
                libc::SIGHUP => got.reload = true,
                libc::SIGTERM | libc::SIGINT => got.stop = true,
                _ => {}
            }
        }
    }

    /// Reads every pending watch event: the names of the files replaced, in order, each once.
    pub fn replaced(&self) -> Vec<String> {
        let mut names = Vec::new();
        let Some(fd) = &self.watch else { return names };
        // Aligned for inotify_event; a name is at most NAME_MAX + 1 bytes.
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reading into a buffer of its own size.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
            if n <= 0 {
                return names;
            }
            // SAFETY: the kernel wrote `n` bytes of whole events into `buf`.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
            let header = std::mem::size_of::<libc::inotify_event>();
            let mut at = 0;
            while at + header <= bytes.len() {
                // The `len` field follows wd, mask and cookie (three 32-bit fields).
                let len = u32::from_ne_bytes([bytes[at + 12], bytes[at + 13], bytes[at + 14], bytes[at + 15]]) as usize;
                let name = bytes.get(at + header..at + header + len).unwrap_or_default();
                let name = name.split(|b| *b == 0).next().unwrap_or_default();
                if !name.is_empty() {
                    let name = String::from_utf8_lossy(name).into_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                at += header + len;
            }
        }
    }
}

fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both in one test: the signal mask is per thread, and the test harness runs tests on
    /// threads of their own.
    #[test]
    fn signals_and_replaced_files() {
        let c = Control::open(&[]).unwrap();
        assert_eq!(c.signals(), Signals::default());
        // SAFETY: the signal is blocked on this thread, so it waits in the signalfd.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGHUP) };
        assert_eq!(c.signals(), Signals { reload: true, stop: false });
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) };
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGHUP) };
        assert_eq!(c.signals(), Signals { reload: true, stop: true });
        assert_eq!(c.signals(), Signals::default());

        let dir = std::env::temp_dir().join(format!("oxwrt-control-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = c;
        assert!(c.watch(&dir.join("missing")).unwrap_err().to_string().contains("missing"));
        c.watch(&dir).unwrap();
        assert!(c.replaced().is_empty());
        // Written in place: not a replacement.
        std::fs::write(dir.join("network.toml"), "x").unwrap();
        assert!(c.replaced().is_empty());
        // Replaced twice by rename (an atomic save), and another file once.
        for name in ["network.toml", "sqm.toml", "network.toml"] {
            std::fs::write(dir.join("new"), "y").unwrap();
            std::fs::rename(dir.join("new"), dir.join(name)).unwrap();
        }
        assert_eq!(c.replaced(), ["network.toml", "sqm.toml"]);
        assert!(c.replaced().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
