//! Where netd calls the firewall ([`crate::nft`]) and the DNS forwarder ([`crate::dns`]):
//! the only file that names their functions, so that their API can change here alone.
//!
//! What they provide (the contract; errors are anything that prints):
//! ```text
//! nft.rs  pub fn apply(config: &oxwrt_config::Config, wan_ifname: &str,
//!                      wan_addr: Option<Ipv4Addr>) -> Result<impl Display, impl Display>
//!         Replaces netd's whole ruleset (NAT, filter, forwards) in one transaction.
//!         Called at start before any link is touched or socket opened (it needs only
//!         interface names), when firewall.toml, the LAN or the WAN device changes, and
//!         whenever the WAN address changes (a DHCP lease; None: no lease yet).
//! dns.rs  pub struct Forwarder;
//!         impl Forwarder {
//!             // Listens on port 53, UDP and TCP, of the LAN address and of 127.0.0.1
//!             // (/etc/resolv.conf points the router itself there). Upstream servers and
//!             // LAN names come from crate::state (upstreams(), lan_hosts(), generation()).
//!             pub fn new(config: &oxwrt_config::Config) -> std::io::Result<Forwarder>;
//!             pub fn fds(&self) -> Vec<RawFd>;              // polled for POLLIN
//!             pub fn on_readable(&mut self, fd: RawFd, now: Instant);
//!             pub fn deadline(&self) -> Option<Instant>;     // next on_timer
//!             pub fn on_timer(&mut self, now: Instant);
//!         }
//!         Created after the LAN is up when dns.enabled; dropped and created again when
//!         the DNS or LAN configuration changes; dropped when dns.enabled is false.
//! ```

use oxwrt_config::Config;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::time::Instant;

/// Applies the firewall; what was applied is logged, why not is an ERROR line (on failure
/// the old ruleset, if any, stays in the kernel). Once a ruleset is in place, IPv4
/// forwarding is turned on (the kernel starts with it off), so the router never forwards
/// without its firewall. Returns whether the ruleset loaded.
pub fn firewall(config: &Config, wan_ifname: &str, wan_addr: Option<Ipv4Addr>) -> bool {
    match crate::nft::apply(config, wan_ifname, wan_addr) {
        Ok(applied) => {
            crate::say!("{applied}");
            let path = std::path::Path::new(crate::apply::IP_FORWARD);
            match crate::apply::enable_forwarding(path) {
                Ok(true) => crate::say!("IPv4 forwarding on"),
                Ok(false) => {}
                Err(e) => crate::say!("cannot turn IPv4 forwarding on ({}): {e}; the LAN cannot reach the WAN", path.display()),
            }
            true
        }
        Err(e) => {
            crate::log::LOG.error(format_args!("firewall: {e}"));
            false
        }
    }
}

/// The DNS forwarder when it runs.
#[derive(Default)]
pub struct Dns(Option<crate::dns::Forwarder>);

impl Dns {
    /// (Re)starts the forwarder for `config` (stops it when dns.enabled is false).
    pub fn restart(&mut self, config: &Config) {
        self.restart_with(config, &[]);
    }

    /// [`Dns::restart`], listening on `extra` addresses (port 53) too: the LAN's IPv6
    /// address.
    pub fn restart_with(&mut self, config: &Config, extra: &[std::net::IpAddr]) {
        self.0 = None;
        if !config.network.dns.enabled {
            return;
        }
        match crate::dns::Forwarder::new_with(config, extra) {
            Ok(f) => self.0 = Some(f),
            Err(e) => crate::say!("dns: cannot start the forwarder on {}: {e}", config.network.lan.address.addr()),
        }
    }

    pub fn fds(&self) -> Vec<RawFd> {
        self.0.as_ref().map(|f| f.fds()).unwrap_or_default()
    }

    pub fn on_readable(&mut self, fd: RawFd, now: Instant) {
        if let Some(f) = &mut self.0 {
            f.on_readable(fd, now);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.0.as_ref().and_then(|f| f.deadline())
    }

    pub fn on_timer(&mut self, now: Instant) {
        if let Some(f) = &mut self.0 {
            f.on_timer(now);
        }
    }
}
