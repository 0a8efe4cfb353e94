//! init's control socket, /run/init.sock: one request line, a text answer, then close
//! (`log-follow` keeps the connection open and streams new lines). The device's commands
//! (`service`, `logread`, `reboot`, `poweroff`) are its clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

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
}
