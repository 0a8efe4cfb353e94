//! Network namespaces for tests that play real peers (root and iproute2's `ip`; check
//! with [`crate::require_all`] first): a named namespace per test (`ip netns`, deleted
//! with its devices on drop), code run inside one on a thread of its own (setns),
//! processes started in one (killed on drop, waited with a limit), and `ip -j` to read
//! back what a daemon did independently of its own netlink code. netd's tests and the
//! xtask lab (booted images on taps, xtask/src/tools/lab.rs) use it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A named network namespace, deleted (with its devices) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("oxt-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME args...`, which must succeed; its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        run("ip", &a)
    }

    /// `ip -n NAME args...`; whether it succeeded.
    pub fn try_ip(&self, args: &[&str]) -> bool {
        Command::new("ip").arg("-n").arg(&self.name).args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// `ip -j -n NAME args...` as JSON.
    pub fn ip_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["-j"];
        a.extend_from_slice(args);
        let out = self.ip(&a);
        serde_json::from_str(if out.trim().is_empty() { "[]" } else { &out }).unwrap_or_else(|e| panic!("ip -j {args:?}: {e}: {out}"))
    }

    /// A veth pair both ends of which are in this namespace (a stand-in for a NIC: this
    /// host's kernel has no dummy devices).
    pub fn veth(&self, name: &str, peer: &str) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
        .join()
        .expect("the thread in the namespace panicked")
    }

    /// Starts `f` on a thread inside the namespace.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// A process started inside the namespace (`ip netns exec`), killed on drop.
    pub fn exec(&self, cmd: &[&str]) -> Proc {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Proc(Some(child))
    }

    /// The IPv4 addresses (address/prefix) of a device.
    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let v = self.ip_json(&["-4", "addr", "show", "dev", dev]);
        v.as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or("?"), a["prefixlen"]))
            .collect()
    }

    /// (gateway, device) of the default routes.
    pub fn default_routes(&self) -> Vec<(String, String)> {
        let v = self.ip_json(&["-4", "route", "show", "default"]);
        v.as_array().into_iter().flatten().map(|r| (r["gateway"].as_str().unwrap_or("-").to_string(), r["dev"].as_str().unwrap_or("?").to_string())).collect()
    }

    /// One device's `ip -d -j link show` object.
    pub fn link(&self, dev: &str) -> serde_json::Value {
        self.ip_json(&["-d", "link", "show", "dev", dev])[0].clone()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &std::path::Path) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: setns on a namespace fd we own; affects only this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns {}: {}", path.display(), std::io::Error::last_os_error());
}

/// A child process, killed and reaped on drop.
pub struct Proc(pub Option<Child>);

impl Proc {
    /// Waits (at most `limit`) for the process to exit; its status and output.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let mut child = self.0.take().expect("not waited yet");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let out = child.wait_with_output().expect("output");
                let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
                return (status.code(), text);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
                return (None, text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a command that must succeed; its stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` until it returns Some, at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
