//! The network page: LAN address and DHCP pool, static leases, WAN (DHCP or static, IPv6 on/off), DNS
//! (upstreams, local domain, rebinding protection), port forwards, the firewall's WAN ping. It edits /etc/oxwrt/network.toml and firewall.toml
//! only through `oxwrt_config`: the form's text is parsed with the crate's own types
//! (`Ipv4Cidr`, `MacAddr`, `PortRange`, ...), the whole configuration is validated by
//! `Config::validate` (the rules the files obey, so the page can never save what netd would
//! refuse), each problem is shown next to the field it names (its dotted key), and
//! `Config::save` writes both files atomically. netd watches the directory and reloads a
//! replaced file by itself (packages/netd/src/daemon.rs); when the LAN address changed,
//! webd asks init to restart it (`restart webd` on the control socket) so that it listens
//! on the new address, and the page says where the router now is.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::str::FromStr;

use maud::{html, Markup};
use oxwrt_config::{Config, Forward, Ipv4Cidr, MacAddr, PortRange, Proto, Seconds, StaticLease, WanIpv6, WanProto};

use crate::app::Req;
use crate::pages::{csrf_field, layout};

/// The form paths of this page.
pub const FORMS: &[&str] = &["/network", "/network/lease/add", "/network/lease/delete", "/network/forward/add", "/network/forward/delete", "/network/confirm"];

/// What went wrong, by form field (or "" for the page as a whole).
pub type Errors = HashMap<String, Vec<String>>;

/// The form field a configuration key belongs to.
fn field_of(key: &str) -> &'static str {
    match key {
        "lan.address" => "lan_address",
        "dhcp.enabled" => "dhcp_enabled",
        "dhcp.start" => "dhcp_start",
        "dhcp.end" => "dhcp_end",
        "dhcp.lease_time" => "lease_time",
        "wan.proto" => "wan_proto",
        "wan.address" => "wan_address",
        "wan.gateway" => "wan_gateway",
        "wan.dns" => "wan_dns",
        "wan.ipv6" | "wan.ipv6_prefix_length" => "wan_ipv6",
        "dns.upstream" => "dns_upstream",
        "dns.local_domain" | "dhcp.domain" => "dns_domain",
        "dns.rebind_protection" => "dns_rebind",
        k if k.starts_with("dhcp.static") => "leases",
        k if k.starts_with("forward") => "forwards",
        k if k.starts_with("wan") => "wan_proto",
        k if k.starts_with("dhcp") => "dhcp_start",
        k if k.starts_with("dns") => "dns_upstream",
        _ => "",
    }
}

fn add(errors: &mut Errors, field: &str, msg: String) {
    errors.entry(field.to_owned()).or_default().push(msg);
}

/// The configuration's problems, by field.
pub fn errors_of(problems: &oxwrt_config::Problems) -> Errors {
    let mut e = Errors::new();
    for p in problems.iter() {
        add(&mut e, field_of(&p.key), if p.key.is_empty() { p.message.clone() } else { format!("{}: {}", p.key, p.message) });
    }
    e
}

fn parse<T: FromStr>(errors: &mut Errors, field: &str, label: &str, text: &str) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match text.trim().parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            add(errors, field, format!("{label}: {e}"));
            None
        }
    }
}

fn opt<T: FromStr>(errors: &mut Errors, field: &str, label: &str, text: &str) -> Option<Option<T>>
where
    T::Err: std::fmt::Display,
{
    if text.trim().is_empty() {
        Some(None)
    } else {
        parse(errors, field, label, text).map(Some)
    }
}

/// The main form's fields applied to `c`; parse errors by field (nothing changed then).
pub fn apply_main(c: &mut Config, r: &Req) -> Result<(), Errors> {
    let mut e = Errors::new();
    let lan = parse::<Ipv4Cidr>(&mut e, "lan_address", "LAN address", r.field("lan_address"));
    let start = opt::<Ipv4Addr>(&mut e, "dhcp_start", "first address", r.field("dhcp_start"));
    let end = opt::<Ipv4Addr>(&mut e, "dhcp_end", "last address", r.field("dhcp_end"));
    let lease = parse::<Seconds>(&mut e, "lease_time", "lease time", r.field("lease_time"));
    let proto = match r.field("wan_proto") {
        "dhcp" => Some(WanProto::Dhcp),
        "static" => Some(WanProto::Static),
        other => {
            add(&mut e, "wan_proto", format!("WAN: `{other}` is neither dhcp nor static"));
            None
        }
    };
    let wan_address = opt::<Ipv4Cidr>(&mut e, "wan_address", "WAN address", r.field("wan_address"));
    let gateway = opt::<Ipv4Addr>(&mut e, "wan_gateway", "gateway", r.field("wan_gateway"));
    let list = |e: &mut Errors, field: &str| {
        let mut out = Vec::new();
        for w in r.field(field).split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
            if let Some(a) = parse::<Ipv4Addr>(e, field, "DNS server", w) {
                out.push(a);
            }
        }
        out
    };
    // Absent (a form of an older page): unchanged.
    let ipv6 = match r.field("wan_ipv6") {
        "" => Some(c.network.wan.ipv6),
        "auto" => Some(WanIpv6::Auto),
        "off" => Some(WanIpv6::Off),
        other => {
            add(&mut e, "wan_ipv6", format!("IPv6: `{other}` is neither auto nor off"));
            None
        }
    };
    let dns = list(&mut e, "wan_dns");
    let upstream = list(&mut e, "dns_upstream");
    let domain = r.field("dns_domain").trim().to_owned();
    if !e.is_empty() {
        return Err(e);
    }
    let (Some(lan), Some(start), Some(end), Some(lease), Some(proto), Some(wan_address), Some(gateway), Some(ipv6)) =
        (lan, start, end, lease, proto, wan_address, gateway, ipv6)
    else {
        return Err(e);
    };
    let n = &mut c.network;
    n.lan.address = lan;
    n.dhcp.enabled = r.field("dhcp_enabled") == "on";
    n.dhcp.start = start;
    n.dhcp.end = end;
    n.dhcp.lease_time = lease;
    n.wan.proto = proto;
    n.wan.address = wan_address;
    n.wan.gateway = gateway;
    n.wan.dns = dns;
    n.wan.ipv6 = ipv6;
    n.dns.upstream = upstream;
    // The local domain: the DHCP domain is what clients get and what the forwarder answers
    // for (dns.local_domain unset follows it).
    if !domain.is_empty() {
        n.dhcp.domain = domain;
        n.dns.local_domain = None;
    }
    n.dns.rebind_protection = r.field("dns_rebind") == "on";
    c.firewall.wan_ping = r.field("wan_ping") == "on";
    Ok(())
}

pub fn add_lease(c: &mut Config, r: &Req) -> Result<(), Errors> {
    let mut e = Errors::new();
    let mac = parse::<MacAddr>(&mut e, "leases", "MAC", r.field("mac"));
    let ip = parse::<Ipv4Addr>(&mut e, "leases", "address", r.field("ip"));
    let host = r.field("hostname").trim();
    match (mac, ip) {
        (Some(mac), Some(ip)) => {
            c.network.dhcp.static_leases.push(StaticLease { mac, ip, hostname: (!host.is_empty()).then(|| host.to_owned()) });
            Ok(())
        }
        _ => Err(e),
    }
}

pub fn add_forward(c: &mut Config, r: &Req) -> Result<(), Errors> {
    let mut e = Errors::new();
    let proto = match r.field("proto") {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "both" => Some(Proto::Both),
        p => {
            add(&mut e, "forwards", format!("protocol `{p}` is not tcp, udp or both"));
            None
        }
    };
    let wan_port = parse::<PortRange>(&mut e, "forwards", "WAN port", r.field("wan_port"));
    let to = parse::<Ipv4Addr>(&mut e, "forwards", "LAN host", r.field("to"));
    let to_port = opt::<PortRange>(&mut e, "forwards", "LAN port", r.field("to_port"));
    match (proto, wan_port, to, to_port) {
        (Some(proto), Some(wan_port), Some(to), Some(to_port)) => {
            c.firewall.forwards.push(Forward { name: r.field("name").trim().to_owned(), proto, wan_port, to, to_port });
            Ok(())
        }
        _ => Err(e),
    }
}

/// Removes entry `index` (the form's hidden field) of a list.
pub fn delete<T>(list: &mut Vec<T>, r: &Req, field: &str) -> Result<(), Errors> {
    match r.field("index").parse::<usize>() {
        Ok(i) if i < list.len() => {
            list.remove(i);
            Ok(())
        }
        _ => {
            let mut e = Errors::new();
            add(&mut e, field, "that entry no longer exists: the page was out of date; here is the current list".into());
            Err(e)
        }
    }
}

/// The main form's values: from the configuration, or the user's input when it was refused.
fn value<'a>(input: Option<&'a Req>, field: &str, current: String) -> std::borrow::Cow<'a, str> {
    match input {
        Some(r) => std::borrow::Cow::Borrowed(r.field(field)),
        None => std::borrow::Cow::Owned(current),
    }
}

fn errs(errors: &Errors, field: &str) -> Markup {
    html! { @if let Some(list) = errors.get(field) { @for e in list { div.err { (e) } } } }
}

/// The page. `input`: the refused form to show again; `notice`: a line on top (saved).
pub fn page(hostname: &str, csrf: &str, c: &Config, input: Option<&Req>, errors: &Errors, notice: Option<&str>, pending_left: Option<u64>) -> Markup {
    let n = &c.network;
    let (start, end) = n.dhcp.pool(n.lan.address);
    let main_input = input.filter(|r| r.path == "/network");
    let v = |field: &str, current: String| value(main_input, field, current).into_owned();
    let checked = |field: &str, current: bool| main_input.map_or(current, |r| r.field(field) == "on");
    let proto = v("wan_proto", if n.wan.proto == WanProto::Static { "static".into() } else { "dhcp".into() });
    let dns = n.wan.dns.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ");
    let ipv6 = v("wan_ipv6", if n.wan.ipv6 == WanIpv6::Off { "off".into() } else { "auto".into() });
    let upstream = n.dns.upstream.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ");
    layout(
        "Network",
        hostname,
        Some(csrf),
        html! {
            @if let Some(t) = notice { p.ok { (t) } }
            @if let Some(left) = pending_left { (pending_box(csrf, left)) }
            (errs(errors, ""))
            form.box method="post" action="/network" {
                (csrf_field(csrf))
                h2 { "LAN" }
                label for="lan_address" { "Router address and prefix" }
                input #lan_address name="lan_address" value=(v("lan_address", n.lan.address.to_string())) required;
                (errs(errors, "lan_address"))
                label { input type="checkbox" name="dhcp_enabled" checked[checked("dhcp_enabled", n.dhcp.enabled)]; " DHCP server" }
                (errs(errors, "dhcp_enabled"))
                label for="dhcp_start" { "First address given out" }
                input #dhcp_start name="dhcp_start" value=(v("dhcp_start", start.to_string()));
                (errs(errors, "dhcp_start"))
                label for="dhcp_end" { "Last address given out" }
                input #dhcp_end name="dhcp_end" value=(v("dhcp_end", end.to_string()));
                (errs(errors, "dhcp_end"))
                label for="lease_time" { "Lease time (e.g. 12h, 30m, 86400)" }
                input #lease_time name="lease_time" value=(v("lease_time", n.dhcp.lease_time.to_string()));
                (errs(errors, "lease_time"))
                h2 { "WAN" }
                label for="wan_proto" { "Internet connection" }
                select #wan_proto name="wan_proto" {
                    option value="dhcp" selected[proto == "dhcp"] { "DHCP (from the ISP)" }
                    option value="static" selected[proto == "static"] { "Static address" }
                }
                (errs(errors, "wan_proto"))
                label for="wan_address" { "Static: address and prefix" }
                input #wan_address name="wan_address" value=(v("wan_address", n.wan.address.map(|a| a.to_string()).unwrap_or_default()));
                (errs(errors, "wan_address"))
                label for="wan_gateway" { "Static: gateway" }
                input #wan_gateway name="wan_gateway" value=(v("wan_gateway", n.wan.gateway.map(|a| a.to_string()).unwrap_or_default()));
                (errs(errors, "wan_gateway"))
                label for="wan_dns" { "Static: DNS servers (space separated)" }
                input #wan_dns name="wan_dns" value=(v("wan_dns", dns));
                (errs(errors, "wan_dns"))
                label for="wan_ipv6" { "IPv6 (a change waits for its confirmation)" }
                select #wan_ipv6 name="wan_ipv6" {
                    option value="auto" selected[ipv6 == "auto"] { "On: the ISP's router advertisements and a delegated prefix for the LAN" }
                    option value="off" selected[ipv6 == "off"] { "Off" }
                }
                (errs(errors, "wan_ipv6"))
                h2 { "DNS" }
                label for="dns_upstream" { "Upstream servers (space separated; empty: the ISP's)" }
                input #dns_upstream name="dns_upstream" value=(v("dns_upstream", upstream));
                (errs(errors, "dns_upstream"))
                label for="dns_domain" { "Local domain (names of clients and static leases: NAME.DOMAIN)" }
                input #dns_domain name="dns_domain" value=(v("dns_domain", n.dns.local_domain.clone().unwrap_or_else(|| n.dhcp.domain.clone())));
                (errs(errors, "dns_domain"))
                label { input type="checkbox" name="dns_rebind" checked[checked("dns_rebind", n.dns.rebind_protection)]; " Rebinding protection (drop public names that resolve to private addresses)" }
                h2 { "Firewall" }
                label { input type="checkbox" name="wan_ping" checked[checked("wan_ping", c.firewall.wan_ping)]; " Answer ping from the WAN" }
                br;
                button type="submit" { "Save and apply" }
            }
            h2 { "Static leases" }
            (errs(errors, "leases"))
            table {
                tr { th { "MAC" } th { "Address" } th { "Hostname" } th {} }
                @for (i, l) in n.dhcp.static_leases.iter().enumerate() {
                    tr {
                        td { code { (l.mac) } } td { code { (l.ip) } } td { (l.hostname.as_deref().unwrap_or("-")) }
                        td { form.inline method="post" action="/network/lease/delete" { (csrf_field(csrf)) input type="hidden" name="index" value=(i); button type="submit" { "Remove" } } }
                    }
                }
            }
            form.box method="post" action="/network/lease/add" {
                (csrf_field(csrf))
                label for="mac" { "MAC" } input #mac name="mac" required;
                label for="ip" { "Address" } input #ip name="ip" required;
                label for="hostname" { "Hostname (optional)" } input #hostname name="hostname";
                br;
                button type="submit" { "Add static lease" }
            }
            h2 { "Port forwards" }
            (errs(errors, "forwards"))
            table {
                tr { th { "Name" } th { "Protocol" } th { "WAN port" } th { "To" } th {} }
                @for (i, f) in c.firewall.forwards.iter().enumerate() {
                    tr {
                        td.name { (f.name) }
                        td { (format!("{:?}", f.proto).to_lowercase()) }
                        td { (f.wan_port) }
                        td { code { (f.to) ":" (f.target_ports()) } }
                        td { form.inline method="post" action="/network/forward/delete" { (csrf_field(csrf)) input type="hidden" name="index" value=(i); button type="submit" { "Remove" } } }
                    }
                }
            }
            form.box method="post" action="/network/forward/add" {
                (csrf_field(csrf))
                label for="fname" { "Name" } input #fname name="name" required;
                label for="fproto" { "Protocol" }
                select #fproto name="proto" { option value="tcp" { "TCP" } option value="udp" { "UDP" } option value="both" { "both" } }
                label for="wan_port" { "WAN port or range (e.g. 8080 or 6000-6010)" } input #wan_port name="wan_port" required;
                label for="to" { "LAN host" } input #to name="to" required;
                label for="to_port" { "LAN port (empty: the same)" } input #to_port name="to_port";
                br;
                button type="submit" { "Add port forward" }
            }
        },
    )
}

/// What a saved change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// The LAN address changed (webd must listen on the new one).
    pub moved: bool,
    /// The change can cut the browser off (LAN address, WAN, firewall): it waits for a
    /// confirmation until this deadline (seconds since boot), else it is rolled back.
    pub confirm_by: Option<u64>,
}

/// Whether a change from `a` to `b` can cut off whoever makes it.
pub fn risky(a: &Config, b: &Config) -> bool {
    a.network.lan.address != b.network.lan.address || a.network.wan != b.network.wan || a.firewall != b.firewall
}

/// Runs one of [`FORMS`] against the configuration in `dir`: the configuration now on
/// disk, and Ok(what was saved) or Err(the errors; nothing saved). A risky change
/// ([`risky`]) is saved with a rollback pending for `window` (`oxwrt_config::rollback`);
/// while one is pending, no other change is taken.
pub fn submit(dir: &std::path::Path, r: &Req, window: std::time::Duration) -> (Config, Result<Saved, Errors>) {
    let mut c = match Config::load(dir) {
        Ok(c) => c,
        Err(e) => {
            let mut errors = Errors::new();
            add(&mut errors, "", format!("The saved configuration cannot be used ({e}); fix it on the console first."));
            return (Config::default(), Err(errors));
        }
    };
    let before = c.clone();
    let changed = match r.path.as_str() {
        "/network" => apply_main(&mut c, r),
        "/network/lease/add" => add_lease(&mut c, r),
        "/network/lease/delete" => delete(&mut c.network.dhcp.static_leases, r, "leases"),
        "/network/forward/add" => add_forward(&mut c, r),
        _ => delete(&mut c.firewall.forwards, r, "forwards"),
    };
    if let Err(e) = changed {
        return (before, Err(e));
    }
    if let Err(p) = c.validate() {
        return (before, Err(errors_of(&p)));
    }
    if oxwrt_config::rollback::pending(dir).is_some() {
        let mut errors = Errors::new();
        add(&mut errors, "", "A change is waiting for its confirmation: keep it (button above) or let it roll back, then try again.".into());
        return (before, Err(errors));
    }
    let mut confirm_by = None;
    if risky(&before, &c) {
        let deadline = oxwrt_config::rollback::uptime() + window.as_secs();
        let files = [oxwrt_config::NETWORK_FILE, oxwrt_config::FIREWALL_FILE];
        if let Err(e) = oxwrt_config::rollback::begin(dir, &files, &oxwrt_config::rollback::boot_id(), deadline) {
            let mut errors = Errors::new();
            add(&mut errors, "", format!("Not saved: the previous files cannot be kept for a rollback ({e})."));
            return (before, Err(errors));
        }
        confirm_by = Some(deadline);
    }
    if let Err(e) = c.save(dir) {
        let _ = oxwrt_config::rollback::revert(dir);
        let mut errors = Errors::new();
        add(&mut errors, "", format!("Not saved: {e}"));
        return (before, Err(errors));
    }
    let moved = before.network.lan.address != c.network.lan.address;
    (c, Ok(Saved { moved, confirm_by }))
}

/// A line for the page after a save.
pub fn saved_notice(c: &Config, saved: Saved, window: std::time::Duration) -> String {
    let confirm = if saved.confirm_by.is_some() {
        format!(" Keep it with the button on the network page within {} s, or the previous settings come back by themselves.", window.as_secs())
    } else {
        String::new()
    };
    if saved.moved {
        let at = c.network.lan.address.addr();
        format!(
            "Applied. The router moves to {}: renew your address (or reconnect), log in at http://{at}/network and keep the change there.{confirm}",
            c.network.lan.address
        )
    } else {
        format!("Saved and applied.{confirm}")
    }
}

/// The confirmation box of a pending change (`left`: seconds), above the forms.
pub fn pending_box(csrf: &str, left: u64) -> Markup {
    html! {
        form.box method="post" action="/network/confirm" {
            (csrf_field(csrf))
            p.err { "A change to the LAN, WAN or firewall is applied but not kept yet: " (left) " s left, then the previous settings come back." }
            button type="submit" { "Keep this configuration" }
        }
    }
}
