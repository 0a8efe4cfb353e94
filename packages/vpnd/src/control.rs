//! vpnd's control socket, /run/vpnd/control.sock: how the web interface (webd, which runs
//! as its own user) adds, disables, enables and removes peers without any right to vpnd's
//! keys. The socket is mode 0660, group `config` (webd's group; vpnd is a member so that
//! it may give the socket to it and replace /etc/oxwrt/vpn.toml): only root and members of
//! `config` can connect. Each connection carries one request and one answer, JSON on one
//! line each ([`Request`], [`Answer`]); the work is the console's ([`crate::cli`]): one
//! implementation of "add a peer".
//!
//! Only the answer to `add-peer` holds a secret: the new client's own configuration with
//! its private key, which the router keeps nowhere (its preshared key stays in vpnd's 0600
//! file). So webd never reads another peer's key, nor the router's private key.

use crate::cli::{self, AddPeer, Dirs};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Name of the control socket in the run directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// The group that may use it (/etc/group).
pub const CONTROL_GROUP: &str = "config";
/// A request or an answer is at most this long (a configuration is about 400 bytes).
pub const MAX_MESSAGE: u64 = 16 << 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// `vpn init` with the defaults (wg0).
    Init,
    AddPeer {
        name: String,
        lan_only: bool,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    Remove {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    /// What was done, or why not (names the peer and what to do).
    pub message: String,
    /// `add-peer`: the new client's wg-quick configuration (shown once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

impl Answer {
    fn result(r: Result<String, String>) -> Answer {
        match r {
            Ok(message) => Answer { ok: true, message, config: None },
            Err(message) => Answer { ok: false, message, config: None },
        }
    }
}

/// Does what `req` asks (the console's functions) and says how it went.
pub fn handle(dirs: &Dirs, req: &Request) -> Answer {
    match req {
        Request::Init => Answer::result(cli::init(dirs, "wg0", cli::default_addresses(dirs), None, None).map(|i| {
            format!("added interface {} ({}), port {}", i.name, i.address.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "), i.listen_port)
        })),
        Request::AddPeer { name, lan_only } => match cli::add_peer(dirs, &AddPeer { name: name.clone(), interface: None, lan_only: *lan_only }) {
            Ok(new) => Answer {
                ok: true,
                message: format!("added {name}: {}", new.peer.allowed_ips.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")),
                config: Some(new.config),
            },
            Err(e) => Answer { ok: false, message: e, config: None },
        },
        Request::Enable { name } => Answer::result(cli::set_enabled(dirs, name, true).map(|()| format!("{name}: enabled"))),
        Request::Disable { name } => Answer::result(cli::set_enabled(dirs, name, false).map(|()| format!("{name}: disabled"))),
        Request::Remove { name } => Answer::result(cli::remove_peer(dirs, name).map(|()| format!("removed {name}"))),
    }
}

/// Reads one request from `s`, answers it (the daemon's side; `s` blocking, with timeouts).
pub fn serve(dirs: &Dirs, mut s: UnixStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < MAX_MESSAGE as usize {
        match s.read(&mut byte) {
            Ok(1) if byte[0] != b'\n' => line.push(byte[0]),
            _ => break,
        }
    }
    let answer = match serde_json::from_slice::<Request>(&line) {
        Ok(req) => {
            let a = handle(dirs, &req);
            if a.ok {
                // Never the configuration: it holds the client's private key.
                crate::say!("control: {}", a.message);
            }
            a
        }
        Err(e) => Answer { ok: false, message: format!("control: not a request ({e})"), config: None },
    };
    let text = serde_json::to_string(&answer).unwrap_or_else(|_| "{\"ok\":false,\"message\":\"internal error\"}".into());
    let _ = s.write_all(text.as_bytes());
    let _ = s.write_all(b"\n");
}

/// Sends `req` to vpnd's control socket in `run_dir` and returns its answer (the web
/// interface's side).
pub fn call(run_dir: &Path, req: &Request) -> Result<Answer, String> {
    let path = run_dir.join(CONTROL_SOCKET);
    let mut s = UnixStream::connect(&path).map_err(|e| format!("cannot reach vpnd at {}: {e}; is it running? (`service status`)", path.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let text = serde_json::to_string(req).map_err(|e| e.to_string())?;
    s.write_all(format!("{text}\n").as_bytes()).map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let mut out = String::new();
    s.take(MAX_MESSAGE).read_to_string(&mut out).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(out.trim()).map_err(|e| format!("vpnd's answer on {} is not one ({e}): {out:?}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        let r = Request::AddPeer { name: "anna-phone".into(), lan_only: true };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"op":"add-peer","name":"anna-phone","lan_only":true}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert_eq!(serde_json::from_str::<Request>(r#"{"op":"remove","name":"x"}"#).unwrap(), Request::Remove { name: "x".into() });
        assert!(serde_json::from_str::<Request>(r#"{"op":"shell","cmd":"reboot"}"#).is_err());
    }
}
