//! The `sqm` applet: `sqm status` prints sqmd's status (from its socket,
//! /run/sqmd/status.sock) readably, `sqm status --json` as the JSON sqmd sends.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const USAGE: &str = "usage: sqm status [--json] [--socket PATH]\n  the shaper's state: rates, CAKE as the kernel reports it, per-tin statistics (configuration: /etc/oxwrt/sqm.toml, docs/sqm.md)";

/// Asks sqmd for its status as `json` or `text` (sqmd renders both).
fn fetch(socket: &Path, form: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(socket)
        .map_err(|e| format!("cannot reach sqmd at {} ({e}); is it running? (`service status`; start it with `service restart sqmd`)", socket.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(format!("{form}\n").as_bytes()).map_err(|e| format!("asking sqmd at {}: {e}", socket.display()))?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| format!("reading sqmd's status from {}: {e}", socket.display()))?;
    Ok(text)
}

pub fn main(args: &[String]) -> i32 {
    let mut json = false;
    let mut socket = crate::daemon::Paths::device().socket();
    let mut it = args.iter().skip(1);
    let mut cmd = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--socket" => match it.next() {
                Some(p) => socket = p.into(),
                None => return usage(),
            },
            "status" if cmd.is_none() => cmd = Some("status"),
            _ => return usage(),
        }
    }
    if cmd.is_none() {
        return usage();
    }
    let mut out = match fetch(&socket, if json { "json" } else { "text" }) {
        Ok(t) => t,
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}"));
            return 1;
        }
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    i32::from(std::io::stdout().lock().write_all(out.as_bytes()).is_err())
}

fn usage() -> i32 {
    let _ = writeln!(std::io::stderr().lock(), "{USAGE}");
    2
}
