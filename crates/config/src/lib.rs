//! oxwrt's router configuration: the typed contents of `/etc/oxwrt/network.toml`
//! ([`Network`]) and `/etc/oxwrt/firewall.toml` ([`Firewall`]), shared by netd, the web UI and
//! the other daemons.
//!
//! - Parsing is strict (unknown keys are errors); every key has a default, and a missing file
//!   means all of its defaults (an empty file is the same as a missing one).
//! - [`Config::validate`] checks what types cannot (subnets, pools, uniqueness, names) and
//!   reports every problem at once, each naming the file, the dotted key, the line and column
//!   when parsed from text, and what to do.
//! - [`save_atomic`] writes a file only when the configuration it makes is valid, atomically.
//! - [`diff()`] tells netd which parts to apply again.
//! - [`defaults_for`] is the default network.toml of a board, from its switch layout.
//! - [`vpn`] is `/etc/oxwrt/vpn.toml` (vpnd's WireGuard interfaces and peers, and the
//!   wg-quick format of client configurations and imports).
//! - [`time`] is `/etc/oxwrt/time.toml` (the SNTP servers of timed, the time zone).
//! - [`init`] is the schema of `/lib/oxwrt/init.toml` (written by xtask, read by init).
//! - [`sqm`] is `/etc/oxwrt/sqm.toml`, the shaper's (sqmd) configuration.
//! - [`web`] is `/etc/oxwrt/web.toml`, the web interface's (webd) session timeouts.
//!
//! The reference of every key is in the docs of [`network`] and [`firewall`] and in
//! docs/network-config.md.

pub mod board;
pub mod diff;
pub mod firewall;
pub mod init;
pub mod ipv6;
pub mod network;
mod problem;
pub mod rollback;
mod save;
pub mod span;
pub mod sqm;
pub mod time;
pub mod types;
mod validate;
pub mod vpn;
pub mod web;

pub use board::{defaults_for, SwitchLayout};
pub use diff::{diff, Changes};
pub use firewall::{Firewall, Forward, Proto};
pub use ipv6::{Ipv6Prefix, WanIpv6};
pub use network::{Dhcp, Dns, Lan, Network, StaticLease, Upstream, Wan, WanProto};
pub use problem::{File, Problem, Problems};
pub use save::{save_atomic, write_atomic};
pub use time::Time;
pub use types::{Ipv4Cidr, MacAddr, ParseError, PortRange, Seconds};
pub use validate::{bad_server as bad_dns_server, check_hostname, MAX_DNS_CACHE, MAX_REBIND_DOMAINS, MIN_LEASE_SECS, MTU_RANGE};

use span::Source;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where the configuration lives on the device.
pub const DIR: &str = "/etc/oxwrt";
pub const NETWORK_FILE: &str = "network.toml";
pub const FIREWALL_FILE: &str = "firewall.toml";
/// The router's hostname as set in the web UI (one line; [`check_hostname`]); init
/// prefers it to the image's /etc/hostname at boot.
pub const HOSTNAME_FILE: &str = "hostname";

/// Both files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub network: Network,
    pub firewall: Firewall,
}

/// Why a configuration could not be loaded or saved.
#[derive(Debug)]
pub enum Error {
    /// The file exists but cannot be read.
    Read { path: PathBuf, error: io::Error },
    /// Writing (the temporary file, its fsync or the rename) failed; the old file stays.
    Write { path: PathBuf, error: io::Error },
    /// `save_atomic` was given another file than network.toml or firewall.toml.
    NotAConfigFile(PathBuf),
    /// The text does not parse or the configuration does not validate.
    Invalid(Problems),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Error::Write { path, error } => write!(f, "cannot write {}: {error}; the old file is unchanged", path.display()),
            Error::NotAConfigFile(path) => {
                write!(f, "{}: not a configuration file ({NETWORK_FILE} or {FIREWALL_FILE})", path.display())
            }
            Error::Invalid(problems) => problems.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// A file's text; "" (all defaults) when it does not exist.
pub(crate) fn read_or_empty(path: &Path) -> Result<String, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(Error::Read { path: path.to_path_buf(), error }),
    }
}

impl Config {
    /// Parses and validates both files' text ("" for a missing file). Problems are located
    /// (line:col); parse errors of both files are reported before any validation.
    pub fn parse(network: &str, firewall: &str) -> Result<Config, Problems> {
        let net: Result<Network, _> = toml::from_str(network);
        let fw: Result<Firewall, _> = toml::from_str(firewall);
        let (network_cfg, firewall_cfg) = match (net, fw) {
            (Ok(n), Ok(f)) => (n, f),
            (n, f) => {
                let mut problems = Vec::new();
                if let Err(e) = n {
                    problems.push(problem::from_toml_error(File::Network, network, &e));
                }
                if let Err(e) = f {
                    problems.push(problem::from_toml_error(File::Firewall, firewall, &e));
                }
                return Err(Problems(problems));
            }
        };
        let config = Config { network: network_cfg, firewall: firewall_cfg };
        let (nsrc, fsrc) = (Source::parse(network).ok(), Source::parse(firewall).ok());
        let mut checker = validate::Checker::new(nsrc.as_ref(), fsrc.as_ref());
        checker.check(&config);
        if checker.problems.is_empty() {
            Ok(config)
        } else {
            Err(Problems(checker.problems))
        }
    }

    /// Reads `dir`/network.toml and `dir`/firewall.toml (normally [`DIR`]), parses and
    /// validates them. A missing file means its defaults: `Network::default()` (LAN eth1, WAN
    /// eth0 by DHCP; images ship a network.toml made by [`defaults_for`] for their board) and
    /// an empty firewall (no forwards, no WAN ping).
    pub fn load(dir: &Path) -> Result<Config, Error> {
        let network = read_or_empty(&dir.join(NETWORK_FILE))?;
        let firewall = read_or_empty(&dir.join(FIREWALL_FILE))?;
        Config::parse(&network, &firewall).map_err(Error::Invalid)
    }

    /// Checks a configuration built in memory (e.g. by the web UI). Problems have no line and
    /// column: there is no text.
    pub fn validate(&self) -> Result<(), Problems> {
        let mut checker = validate::Checker::new(None, None);
        checker.check(self);
        if checker.problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(checker.problems))
        }
    }

    /// Validates, then writes both files into `dir` with [`write_atomic`] (network.toml
    /// first). Invalid: nothing is written.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        self.validate().map_err(Error::Invalid)?;
        for (name, text) in [(NETWORK_FILE, self.network.to_toml()), (FIREWALL_FILE, self.firewall.to_toml())] {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes()).map_err(|error| Error::Write { path, error })?;
        }
        Ok(())
    }
}
