//! The wg-quick configuration format (wg-quick(8), wg(8) "CONFIGURATION FILE FORMAT"): an
//! INI-like text with one `[Interface]` section and `[Peer]` sections of `Key = Value`
//! lines, `#` comments. What the WireGuard apps import from a file or a QR code.
//!
//! - [`ClientConfig::render`]: the configuration of a phone or laptop that calls the
//!   router (what `vpn add-peer` prints and turns into a QR code).
//! - [`import`]: a wg-quick file (a server's, with several peers, e.g. from another
//!   router) into an interface and peers with every key kept; an error names the line.

use super::{Endpoint, IpNet, Key, Secret};
use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// A road-warrior client's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The client's own private key (the one place it is written out).
    pub private_key: Secret,
    /// The client's tunnel addresses (Address).
    pub addresses: Vec<IpNet>,
    /// DNS servers through the tunnel (the router).
    pub dns: Vec<IpAddr>,
    pub mtu: Option<u16>,
    /// The router's public key.
    pub server_public_key: Key,
    pub preshared_key: Option<Secret>,
    /// The router as the client reaches it: host:port.
    pub endpoint: String,
    /// What the client sends through the tunnel: 0.0.0.0/0, ::/0 (everything) or the
    /// router's subnets.
    pub allowed_ips: Vec<IpNet>,
    /// Seconds; 0: none.
    pub persistent_keepalive: u16,
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

impl ClientConfig {
    /// The wg-quick text, as the WireGuard apps and `wg-quick up` read it.
    pub fn render(&self) -> String {
        let mut s = String::from("[Interface]\n");
        let _ = writeln!(s, "PrivateKey = {}", self.private_key.expose_base64());
        let _ = writeln!(s, "Address = {}", list(&self.addresses));
        if !self.dns.is_empty() {
            let _ = writeln!(s, "DNS = {}", list(&self.dns));
        }
        if let Some(mtu) = self.mtu {
            let _ = writeln!(s, "MTU = {mtu}");
        }
        s.push_str("\n[Peer]\n");
        let _ = writeln!(s, "PublicKey = {}", self.server_public_key);
        if let Some(psk) = &self.preshared_key {
            let _ = writeln!(s, "PresharedKey = {}", psk.expose_base64());
        }
        let _ = writeln!(s, "Endpoint = {}", self.endpoint);
        let _ = writeln!(s, "AllowedIPs = {}", list(&self.allowed_ips));
        if self.persistent_keepalive != 0 {
            let _ = writeln!(s, "PersistentKeepalive = {}", self.persistent_keepalive);
        }
        s
    }
}

/// An imported wg-quick file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    pub private_key: Option<Secret>,
    pub listen_port: Option<u16>,
    pub addresses: Vec<IpNet>,
    pub dns: Vec<IpAddr>,
    pub mtu: Option<u16>,
    pub peers: Vec<ImportedPeer>,
    /// wg-quick keys oxwrt does not apply (PostUp, Table, ...), with their line numbers.
    pub ignored: Vec<(usize, String)>,
}

/// One `[Peer]` of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPeer {
    /// From a `# Name = x` or `# x` comment right above `[Peer]`, else "peerN".
    pub name: String,
    pub public_key: Key,
    pub preshared_key: Option<Secret>,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<Endpoint>,
    pub persistent_keepalive: u16,
    /// Line of its `[Peer]`.
    pub line: usize,
}

/// A line of an import that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ImportError {}

/// wg-quick's own keys: shell hooks and routing-table choices that oxwrt does its own way.
const WG_QUICK_ONLY: [&str; 7] = ["table", "preup", "postup", "predown", "postdown", "saveconfig", "fwmark"];

#[derive(PartialEq)]
enum Section {
    None,
    Interface,
    Peer,
}

struct PeerBuilder {
    name: String,
    line: usize,
    public_key: Option<Key>,
    preshared_key: Option<Secret>,
    allowed_ips: Vec<IpNet>,
    endpoint: Option<Endpoint>,
    persistent_keepalive: u16,
}

impl PeerBuilder {
    fn finish(self) -> Result<ImportedPeer, ImportError> {
        let public_key =
            self.public_key.ok_or_else(|| ImportError { line: self.line, message: "this [Peer] has no PublicKey; every peer needs one".into() })?;
        Ok(ImportedPeer {
            name: self.name,
            public_key,
            preshared_key: self.preshared_key,
            allowed_ips: self.allowed_ips,
            endpoint: self.endpoint,
            persistent_keepalive: self.persistent_keepalive,
            line: self.line,
        })
    }
}

/// A peer name from the comment line above a `[Peer]`: `# Name = phone`, `# phone`.
fn name_from_comment(c: &str) -> Option<String> {
    let c = c.trim_start_matches('#').trim();
    let c = match c.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("name") => v.trim(),
        _ => c,
    };
    let name: String = c.chars().map(|ch| if ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.') { ch } else { '-' }).take(32).collect();
    let name = name.trim_matches('-').to_string();
    (!name.is_empty()).then_some(name)
}

/// Reads a wg-quick file: every peer with its keys, allowed IPs, endpoint and keepalive;
/// the interface's private key, port, addresses, DNS and MTU. The first line that cannot
/// be read is the error (with its number and what to do).
pub fn import(text: &str) -> Result<Imported, ImportError> {
    let mut out = Imported::default();
    let mut section = Section::None;
    let mut peer: Option<PeerBuilder> = None;
    let mut last_comment: Option<String> = None;
    let mut seen_interface = false;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |message: String| ImportError { line, message };
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        if l.starts_with('#') || l.starts_with(';') {
            last_comment = Some(l.to_string());
            continue;
        }
        let comment = last_comment.take();
        if l.starts_with('[') {
            match l.to_ascii_lowercase().as_str() {
                "[interface]" => {
                    if seen_interface {
                        return Err(err("a second [Interface]; a wg-quick file has one".into()));
                    }
                    seen_interface = true;
                    section = Section::Interface;
                }
                "[peer]" => {
                    if let Some(p) = peer.take() {
                        out.peers.push(p.finish()?);
                    }
                    let name = comment.as_deref().and_then(name_from_comment).unwrap_or_else(|| format!("peer{}", out.peers.len() + 1));
                    peer = Some(PeerBuilder {
                        name,
                        line,
                        public_key: None,
                        preshared_key: None,
                        allowed_ips: Vec::new(),
                        endpoint: None,
                        persistent_keepalive: 0,
                    });
                    section = Section::Peer;
                }
                _ => return Err(err(format!("`{l}` is not a section; wg-quick files have [Interface] and [Peer]"))),
            }
            continue;
        }
        // Inline comments: wg-quick strips from '#'.
        let l = l.split('#').next().unwrap_or("").trim();
        let (key, value) = l.split_once('=').ok_or_else(|| err(format!("`{l}` is not `Key = Value`")))?;
        let key_lc = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let nets = |v: &str| -> Result<Vec<IpNet>, ImportError> {
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse::<IpNet>().map_err(|e| err(e.to_string()))).collect()
        };
        let key_of = |v: &str| v.parse::<Key>().map_err(|e| err(format!("{}: {e}", key.trim())));
        let secret_of = |v: &str| Secret::from_base64(v).map_err(|e| err(format!("{}: {e}", key.trim())));
        match section {
            Section::None => return Err(err(format!("`{}` before any [Interface] or [Peer] section", key.trim()))),
            Section::Interface => match key_lc.as_str() {
                "privatekey" => out.private_key = Some(secret_of(value)?),
                "listenport" => {
                    out.listen_port =
                        Some(value.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| err(format!("ListenPort `{value}` is not a port (1-65535)")))?)
                }
                "address" => out.addresses.extend(nets(value)?),
                "dns" => {
                    for d in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        // wg-quick also accepts search domains here; oxwrt keeps the servers.
                        if let Ok(ip) = d.parse::<IpAddr>() {
                            out.dns.push(ip);
                        }
                    }
                }
                "mtu" => out.mtu = Some(value.parse::<u16>().map_err(|_| err(format!("MTU `{value}` is not a number")))?),
                k if WG_QUICK_ONLY.contains(&k) => out.ignored.push((line, key.trim().to_string())),
                _ => return Err(err(format!("`{}` is not an [Interface] key (PrivateKey, ListenPort, Address, DNS, MTU)", key.trim()))),
            },
            Section::Peer => {
                let Some(p) = peer.as_mut() else { return Err(err("a peer key outside [Peer]".into())) };
                match key_lc.as_str() {
                    "publickey" => p.public_key = Some(key_of(value)?),
                    "presharedkey" => p.preshared_key = Some(secret_of(value)?),
                    "allowedips" => p.allowed_ips.extend(nets(value)?),
                    "endpoint" => p.endpoint = Some(value.parse::<Endpoint>().map_err(|e| err(e.to_string()))?),
                    "persistentkeepalive" => {
                        p.persistent_keepalive = if value.eq_ignore_ascii_case("off") {
                            0
                        } else {
                            value.parse::<u16>().map_err(|_| err(format!("PersistentKeepalive `{value}` is not a number of seconds (0-65535) or \"off\"")))?
                        }
                    }
                    _ => return Err(err(format!("`{}` is not a [Peer] key (PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive)", key.trim()))),
                }
            }
        }
    }
    if let Some(p) = peer.take() {
        out.peers.push(p.finish()?);
    }
    if !seen_interface && out.peers.is_empty() {
        return Err(ImportError { line: 1, message: "no [Interface] and no [Peer]: not a wg-quick file".into() });
    }
    Ok(out)
}
