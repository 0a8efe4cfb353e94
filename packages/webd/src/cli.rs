//! Command line: `webd [--listen ADDR]... | --help | --version`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::session::LimitArgs;

pub const USAGE: &str = "\
usage: webd [--listen ADDR]... [--config-dir DIR] [--session-idle SECS] [--session-max SECS]
       webd --help | --version

oxwrt web interface (docs/web-ui.md).

  --listen ADDR        address and port to serve on, e.g. 192.168.1.1:80 or [::1]:8080;
                       repeatable. Default: port 80 of the LAN address (lan.address of
                       /etc/oxwrt/network.toml), 127.0.0.1 and ::1; never the WAN.
  --config-dir DIR     the configuration directory (default /etc/oxwrt): the password
                       file webd.password and the files the pages edit
  --session-idle SECS  a session ends after this long without a page or form
                       (default: session_idle of /etc/oxwrt/web.toml, else 900)
  --session-max SECS   and after this long in any case (session_max, else 43200)
  --confirm-window SECS  a change to the LAN, WAN or firewall is rolled back unless
                       kept within this long (90)
  -h, --help      this text
  -V, --version   print the version

Logs go to standard error, one line per event.
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve on these addresses; empty means the default ([`crate::server::bind_default`]).
    Run {
        listen: Vec<SocketAddr>,
        config_dir: PathBuf,
        /// Given on the command line: they override web.toml.
        limits: LimitArgs,
        confirm_window: Duration,
    },
    Help,
    Version,
}

/// Parse the arguments after the program name. The error is one line for the user.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut listen = Vec::new();
    let mut config_dir = PathBuf::from(oxwrt_config::DIR);
    let mut limits = LimitArgs::default();
    let mut confirm_window = oxwrt_config::rollback::WINDOW;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--listen" | "--config-dir" | "--session-idle" | "--session-max" | "--confirm-window" => {}
            a => return Err(format!("unknown argument '{a}'")),
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None if name == "--listen" => return Err("--listen needs an address, e.g. --listen 0.0.0.0:80".into()),
            None => return Err(format!("{name} needs a value")),
        };
        let secs = |v: &str| match v.parse::<u64>() {
            Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
            _ => Err(format!("{name} '{v}' is not a number of seconds above 0")),
        };
        match name.as_str() {
            "--listen" => {
                listen.push(value.parse::<SocketAddr>().map_err(|_| format!("--listen '{value}' is not an ADDRESS:PORT (e.g. 0.0.0.0:80 or [::]:80)"))?)
            }
            "--config-dir" => config_dir = PathBuf::from(value),
            "--session-idle" => limits.idle = Some(secs(&value)?),
            "--confirm-window" => confirm_window = secs(&value)?,
            _ => limits.absolute = Some(secs(&value)?),
        }
    }
    Ok(Command::Run { listen, config_dir, limits, confirm_window })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_to_no_explicit_address() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Run { listen: vec![], config_dir: "/etc/oxwrt".into(), limits: LimitArgs::default(), confirm_window: oxwrt_config::rollback::WINDOW })
        );
    }

    #[test]
    fn listen_is_repeatable_in_both_spellings() {
        assert_eq!(
            parse(&["--listen", "127.0.0.1:8080", "--listen=[::1]:80"]),
            Ok(Command::Run {
                listen: vec!["127.0.0.1:8080".parse().unwrap(), "[::1]:80".parse().unwrap()],
                config_dir: "/etc/oxwrt".into(),
                limits: LimitArgs::default(),
                confirm_window: oxwrt_config::rollback::WINDOW
            })
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["--listen", "0.0.0.0:1", "-h"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
    }

    #[test]
    fn errors() {
        assert!(parse(&["--listen"]).unwrap_err().contains("needs an address"));
        assert!(parse(&["--listen", "80"]).unwrap_err().contains("not an ADDRESS:PORT"));
        assert!(parse(&["--listen", "localhost:80"]).is_err());
        assert_eq!(parse(&["--port"]), Err("unknown argument '--port'".into()));
        assert_eq!(parse(&["--session-idle", "0"]), Err("--session-idle '0' is not a number of seconds above 0".into()));
        assert_eq!(parse(&["--config-dir"]), Err("--config-dir needs a value".into()));
    }

    #[test]
    fn config_dir_and_session_limits() {
        let limits = LimitArgs { idle: Some(Duration::from_secs(5)), absolute: Some(Duration::from_secs(60)) };
        assert_eq!(
            parse(&["--config-dir=/tmp/x", "--session-idle", "5", "--session-max=60"]),
            Ok(Command::Run { listen: vec![], config_dir: "/tmp/x".into(), limits, confirm_window: oxwrt_config::rollback::WINDOW })
        );
    }
}
