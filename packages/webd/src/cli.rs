//! Command line: `webd [--listen ADDR]... | --help | --version`.

use std::net::SocketAddr;

pub const USAGE: &str = "\
usage: webd [--listen ADDR]...
       webd --help | --version

oxwrt web interface: the status page on / and its JSON on /api/status.

  --listen ADDR   address and port to serve on, e.g. 192.168.1.1:80 or [::1]:8080;
                  repeatable. Default: port 80 of the LAN address (lan.address of
                  /etc/oxwrt/network.toml), 127.0.0.1 and ::1; never the WAN.
  -h, --help      this text
  -V, --version   print the version

Logs go to standard error, one line per event.
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve on these addresses; empty means the default ([`crate::server::bind_default`]).
    Run {
        listen: Vec<SocketAddr>,
    },
    Help,
    Version,
}

/// Parse the arguments after the program name. The error is one line for the user.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut listen = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--listen" => args.next().ok_or("--listen needs an address, e.g. --listen 0.0.0.0:80")?,
            a => match a.strip_prefix("--listen=") {
                Some(v) => v.to_owned(),
                None => return Err(format!("unknown argument '{a}'")),
            },
        };
        let addr = value.parse::<SocketAddr>().map_err(|_| format!("--listen '{value}' is not an ADDRESS:PORT (e.g. 0.0.0.0:80 or [::]:80)"))?;
        listen.push(addr);
    }
    Ok(Command::Run { listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_to_no_explicit_address() {
        assert_eq!(parse(&[]), Ok(Command::Run { listen: vec![] }));
    }

    #[test]
    fn listen_is_repeatable_in_both_spellings() {
        assert_eq!(
            parse(&["--listen", "127.0.0.1:8080", "--listen=[::1]:80"]),
            Ok(Command::Run { listen: vec!["127.0.0.1:8080".parse().unwrap(), "[::1]:80".parse().unwrap()] })
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
    }
}
