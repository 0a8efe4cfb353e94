//! init's control socket, /run/init.sock: one request line, a text answer, then close
//! (`log-follow` keeps the connection open and streams new lines). The device's commands
//! (`service`, `logread`, `reboot`, `poweroff`) are its clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

pub const SOCKET: &str = "/run/init.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Status,
    Start(String),
    Stop(String),
    Restart(String),
    Log,
    LogFollow,
    Reboot,
    Poweroff,
}

impl Request {
    pub fn parse(line: &str) -> Result<Request, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Ok(match words.as_slice() {
            ["status"] => Request::Status,
            ["start", n] => Request::Start(n.to_string()),
            ["stop", n] => Request::Stop(n.to_string()),
            ["restart", n] => Request::Restart(n.to_string()),
            ["log"] => Request::Log,
            ["log-follow"] => Request::LogFollow,
            ["reboot"] => Request::Reboot,
            ["poweroff"] => Request::Poweroff,
            _ => return Err(format!("unknown request `{}`", line.trim())),
        })
    }

    pub fn to_line(&self) -> String {
        match self {
            Request::Status => "status".into(),
            Request::Start(n) => format!("start {n}"),
            Request::Stop(n) => format!("stop {n}"),
            Request::Restart(n) => format!("restart {n}"),
            Request::Log => "log".into(),
            Request::LogFollow => "log-follow".into(),
            Request::Reboot => "reboot".into(),
            Request::Poweroff => "poweroff".into(),
        }
    }
}

/// The socket's mode: root and the members of group `config`
/// ([`oxwrt_config::init::CONFIG_GROUP`], the web interface's user) may connect; other
/// services cannot. [`permitted`] decides what a non-root peer may ask.
pub const SOCKET_MODE: u32 = 0o660;

/// Binds [`SOCKET`] with [`SOCKET_MODE`], owned by root and group `config` (root's group
/// when /etc/group has no `config`), whatever the umask: the node is created 0600 (umask
/// 0177 around bind), then given its group and mode.
pub fn listen() -> std::io::Result<UnixListener> {
    let gid = std::fs::read_to_string("/etc/group").ok().and_then(|g| oxwrt_config::init::group_id(&g, oxwrt_config::init::CONFIG_GROUP)).unwrap_or(0);
    listen_at(SOCKET, gid)
}

/// [`listen`] on another path (tests), owned by root:`gid`.
pub fn listen_at(path: &str, gid: u32) -> std::io::Result<UnixListener> {
    // SAFETY: umask cannot fail; init is single-threaded, nobody else creates files now.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound?;
    std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(listener)
}

/// The uid of the process at the other end (SO_PEERCRED); None if the kernel will not say.
pub fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most len bytes into cred.
    let r = unsafe { libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, (&mut cred as *mut libc::ucred).cast(), &mut len) };
    (r == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

impl Request {
    /// Reading (status, the log) is for anyone who can connect.
    pub fn read_only(&self) -> bool {
        matches!(self, Request::Status | Request::Log | Request::LogFollow)
    }
}

/// Err (the answer's text) when `uid` may not send `req`. Root (uid 0) may send anything.
/// Any other peer (the socket lets only group `config` in: the web interface) may read
/// (status, log) and `restart` a service that runs as its own user (`user_services`:
/// netd, webd; to apply a changed configuration), and `reboot` (the web UI's reboot
/// button; a clean reboot, as root's). Never `start` or `stop` (turning a service on or
/// off stays the administrator's), never a root service (the console), never `poweroff`
/// (nobody could turn the router back on from the web). An unknown peer is not root.
pub fn permitted(req: &Request, uid: Option<u32>, user_services: &[String]) -> Result<(), String> {
    let line = req.to_line();
    let Some(uid) = uid else {
        return if req.read_only() { Ok(()) } else { Err(format!("`{line}` is for root only, and the peer's credentials are unknown")) };
    };
    match req {
        _ if uid == 0 || req.read_only() => Ok(()),
        Request::Reboot => Ok(()),
        Request::Restart(name) if user_services.contains(name) => Ok(()),
        Request::Restart(name) => Err(format!(
            "`{line}`: uid {uid} may restart only services that run as their own user ({}); `{name}` is not one of them: ask root",
            user_services.join(", ")
        )),
        _ => Err(format!(
            "`{line}` is for root only (you are uid {uid}); others may ask for status and the log, and restart a service that runs as its own user"
        )),
    }
}

/// A freshly accepted connection: its request, if its peer (SO_PEERCRED) may send it;
/// else Err with the answer's text (the caller writes `error: ` and it).
pub fn admit(stream: &UnixStream, user_services: &[String]) -> Result<Request, String> {
    let req = read_request(stream)?;
    permitted(&req, peer_uid(stream), user_services)?;
    Ok(req)
}

/// Reads the request line of a freshly accepted connection.
pub fn read_request(stream: &UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    BufReader::new(stream.take(256)).read_line(&mut line).map_err(|e| e.to_string())?;
    Request::parse(&line)
}

/// Client side: sends `req`, copies the answer to `out` until init closes the connection.
/// An answer starting with `error: ` makes this return Err with it.
pub fn call(req: &Request, out: &mut dyn Write) -> Result<(), String> {
    let mut stream = UnixStream::connect(SOCKET).map_err(|e| format!("cannot reach init at {SOCKET}: {e} (is this an oxwrt device, and is init running?)"))?;
    writeln!(stream, "{}", req.to_line()).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                if first {
                    if let Some(msg) = line.strip_prefix("error: ") {
                        return Err(msg.trim_end().to_string());
                    }
                    first = false;
                }
                out.write_all(line.as_bytes()).and_then(|_| out.flush()).map_err(|e| e.to_string())?;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        for r in [
            Request::Status,
            Request::Start("webd".into()),
            Request::Stop("a".into()),
            Request::Restart("b".into()),
            Request::Log,
            Request::LogFollow,
            Request::Reboot,
            Request::Poweroff,
        ] {
            assert_eq!(Request::parse(&r.to_line()).unwrap(), r);
        }
        assert_eq!(Request::parse("frobnicate x\n").unwrap_err(), "unknown request `frobnicate x`");
    }

    #[test]
    fn only_root_changes_things() {
        let users = vec!["netd".to_string(), "webd".to_string()];
        for r in [Request::Status, Request::Log, Request::LogFollow] {
            assert_eq!(permitted(&r, Some(102), &users), Ok(()));
            assert_eq!(permitted(&r, None, &users), Ok(()));
        }
        assert_eq!(permitted(&Request::Reboot, Some(102), &users), Ok(()), "the web UI's reboot button");
        assert!(permitted(&Request::Reboot, None, &users).is_err());
        for r in [Request::Start("netd".into()), Request::Stop("webd".into()), Request::Restart("console".into()), Request::Poweroff] {
            assert_eq!(permitted(&r, Some(0), &users), Ok(()));
            assert!(permitted(&r, Some(102), &users).is_err(), "{r:?}");
            assert!(permitted(&r, None, &users).is_err());
        }
        assert_eq!(permitted(&Request::Restart("netd".into()), Some(102), &users), Ok(()));
        assert!(permitted(&Request::Restart("netd".into()), None, &users).is_err());
        assert_eq!(
            permitted(&Request::Poweroff, Some(102), &users).unwrap_err(),
            "`poweroff` is for root only (you are uid 102); others may ask for status and the log, and restart a service that runs as its own user"
        );
        assert_eq!(
            permitted(&Request::Restart("console".into()), Some(102), &users).unwrap_err(),
            "`restart console`: uid 102 may restart only services that run as their own user (netd, webd); `console` is not one of them: ask root"
        );
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a), Some(unsafe { libc::geteuid() }));
    }
}
