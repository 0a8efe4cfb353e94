//! The VPN zone of the firewall: vpnd's WireGuard interfaces from /etc/oxwrt/vpn.toml
//! (crate `oxwrt-config`, module `vpn`), in netd's one ruleset. Per interface (`wg0`
//! below), before the final drop of each chain:
//!
//! ```text
//! chain input
//!   iifname WAN udp dport 51820 accept       WireGuard: the listen port, from the internet
//!   iifname "wg0" accept                     lan_access = true: the router as from the LAN
//!   iifname "wg0" udp dport 53 accept        lan_access = false: the router's DNS only,
//!   iifname "wg0" tcp dport 53 accept        and ping
//!   iifname "wg0" icmp type echo-request accept
//!   iifname "wg0" icmpv6 type echo-request accept
//! chain forward
//!   iifname "wg0" oifname LAN accept         lan_access = true
//!   iifname LAN oifname "wg0" accept         lan_access = true (other sites, peers)
//!   iifname "wg0" oifname WAN accept         internet = true (masqueraded like the LAN)
//! ```
//! The table is `inet`: each rule holds for IPv4 and IPv6 alike (the VPN's ULA /64 to the
//! LAN's /64s, docs/vpn.md). There is no IPv6 masquerade: peers' ULA addresses reach the
//! LAN and the router, not the internet (clients use IPv4 for that, RFC 6724 2.1).
//! Replies come back through the chains' `ct state established,related accept`.
//!
//! netd reads vpn.toml at every firewall apply (at start, on SIGHUP, when vpn.toml is
//! replaced, with every other reason to apply). An invalid file keeps the last valid VPN
//! rules (vpnd also keeps its running configuration); a missing file means no VPN rules.

use super::{
    dport, ifname, meta_eq, rule, BadInterface, CmpOp, Expr, MetaKey, Ruleset, ACCEPT, ICMPV6_ECHO_REQUEST, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_TCP, IPPROTO_UDP, REG_1,
};
use oxwrt_config::vpn::Vpn;
use oxwrt_config::PortRange;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where vpn.toml is: /etc/oxwrt, or what the daemon set ([`set_dir`]) for `netd --root`.
static DIR: OnceLock<PathBuf> = OnceLock::new();
/// The last vpn.toml that loaded.
static LAST: Mutex<Option<Vpn>> = Mutex::new(None);

/// The configuration directory netd runs with (called once at start).
pub fn set_dir(dir: &Path) {
    let _ = DIR.set(dir.to_path_buf());
}

/// vpn.toml now; invalid or unreadable: the last one that loaded (logged).
pub fn load() -> Vpn {
    let dir = DIR.get().map_or(Path::new(oxwrt_config::DIR), PathBuf::as_path);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    match Vpn::load(dir) {
        Ok(v) => {
            *last = Some(v.clone());
            v
        }
        Err(e) => {
            crate::log::LOG.error(format_args!("firewall: {}: {e}; keeping the previous VPN rules", dir.join(oxwrt_config::vpn::VPN_FILE).display()));
            last.clone().unwrap_or_default()
        }
    }
}

/// Inserts the VPN zone's rules before the final drop of `input` and `forward`.
pub fn add(rs: &mut Ruleset, vpn: &Vpn, lan_if: &str, wan_if: &str) -> Result<(), BadInterface> {
    let lan = ifname("LAN", lan_if)?;
    let wan = ifname("WAN", wan_if)?;
    let udp = meta_eq(MetaKey::L4Proto, vec![IPPROTO_UDP]);
    let tcp = meta_eq(MetaKey::L4Proto, vec![IPPROTO_TCP]);
    let (mut input, mut forward) = (Vec::new(), Vec::new());
    for i in &vpn.interfaces {
        let wg = ifname("VPN", &i.name)?;
        let from_wg = meta_eq(MetaKey::IifName, wg.clone());
        let to_wg = meta_eq(MetaKey::OifName, wg);
        let from_wan = meta_eq(MetaKey::IifName, wan.clone());
        let port = PortRange::single(i.listen_port).map_err(|_| BadInterface { role: "VPN listen port of", name: i.name.clone() })?;
        input.push(rule("input", format!("WireGuard {}: udp {} from the internet", i.name, i.listen_port), &[&from_wan, &udp, &dport(port), &ACCEPT]));
        if i.lan_access {
            input.push(rule("input", format!("VPN {} to the router (lan_access)", i.name), &[&from_wg, &ACCEPT]));
            forward.push(rule("forward", format!("VPN {} to the LAN (lan_access)", i.name), &[&from_wg, &meta_eq(MetaKey::OifName, lan.clone()), &ACCEPT]));
            forward.push(rule("forward", format!("LAN to VPN {} (lan_access)", i.name), &[&meta_eq(MetaKey::IifName, lan.clone()), &to_wg, &ACCEPT]));
        } else {
            let dns = dport(PortRange::single(53).map_err(|_| BadInterface { role: "DNS port", name: String::new() })?);
            input.push(rule("input", format!("VPN {}: the router's DNS (udp)", i.name), &[&from_wg, &udp, &dns, &ACCEPT]));
            input.push(rule("input", format!("VPN {}: the router's DNS (tcp)", i.name), &[&from_wg, &tcp, &dns, &ACCEPT]));
            let echo = [Expr::Transport { offset: 0, len: 1, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![ICMP_ECHO_REQUEST] }];
            input.push(rule("input", format!("VPN {}: ping the router", i.name), &[&from_wg, &meta_eq(MetaKey::L4Proto, vec![IPPROTO_ICMP]), &echo, &ACCEPT]));
            let echo6 = [Expr::Transport { offset: 0, len: 1, dreg: REG_1 }, Expr::Cmp { sreg: REG_1, op: CmpOp::Eq, data: vec![ICMPV6_ECHO_REQUEST] }];
            input.push(rule(
                "input",
                format!("VPN {}: ping the router (IPv6)", i.name),
                &[&from_wg, &meta_eq(MetaKey::L4Proto, vec![IPPROTO_ICMPV6]), &echo6, &ACCEPT],
            ));
        }
        if i.internet {
            forward.push(rule("forward", format!("VPN {} to the internet", i.name), &[&from_wg, &meta_eq(MetaKey::OifName, wan.clone()), &ACCEPT]));
        }
    }
    for (chain, rules) in [("input", input), ("forward", forward)] {
        let at = rs.rules.iter().rposition(|r| r.chain == chain).unwrap_or(rs.rules.len());
        rs.rules.splice(at..at, rules);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpn(lan_access: bool, internet: bool) -> Vpn {
        Vpn::parse(&format!("[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\"]\nlan_access = {lan_access}\ninternet = {internet}\n")).unwrap()
    }

    fn comments(rs: &Ruleset, chain: &str) -> Vec<String> {
        rs.rules.iter().filter(|r| r.chain == chain).map(|r| r.comment.clone()).collect()
    }

    #[test]
    fn the_zone_goes_before_the_final_drops() {
        let mut rs = super::super::build(&Default::default(), "br-lan", "eth0").unwrap();
        let before = rs.rules.len();
        add(&mut rs, &vpn(true, true), "br-lan", "eth0").unwrap();
        assert_eq!(rs.rules.len(), before + 5);
        let input = comments(&rs, "input");
        assert_eq!(input[input.len() - 3..], ["WireGuard wg0: udp 51820 from the internet", "VPN wg0 to the router (lan_access)", "everything else"]);
        let fwd = comments(&rs, "forward");
        assert_eq!(fwd[fwd.len() - 4..], ["VPN wg0 to the LAN (lan_access)", "LAN to VPN wg0 (lan_access)", "VPN wg0 to the internet", "everything else"]);
    }

    #[test]
    fn without_lan_access_only_dns_and_ping() {
        let mut rs = super::super::build(&Default::default(), "br-lan", "eth0").unwrap();
        add(&mut rs, &vpn(false, false), "br-lan", "eth0").unwrap();
        let input = comments(&rs, "input");
        assert!(input.iter().any(|c| c == "VPN wg0: the router's DNS (udp)") && !input.iter().any(|c| c.contains("lan_access")));
        assert!(!comments(&rs, "forward").iter().any(|c| c.contains("wg0")));
        let mut empty = super::super::build(&Default::default(), "br-lan", "eth0").unwrap();
        let n = empty.rules.len();
        add(&mut empty, &Vpn::default(), "br-lan", "eth0").unwrap();
        assert_eq!(empty.rules.len(), n, "no vpn.toml, no rules");
    }

    /// The zone's rules are what the kernel takes and `nft` reads back.
    #[test]
    fn the_kernel_takes_the_zone() {
        if !oxwrt_testkit::require(oxwrt_testkit::Prereq::program("nft", "apt-get install nftables")) {
            return;
        }
        let Some(ns) = crate::nft::tests::Netns::for_test() else { return };
        let mut rs = super::super::build(&Default::default(), "br-lan", "eth0").unwrap();
        add(&mut rs, &vpn(true, true), "br-lan", "eth0").unwrap();
        let mut b = crate::nft::batch();
        rs.encode(&mut b);
        ns.run(|| crate::nft::transact(b)).unwrap();
        let text = ns.sh("nft list table inet oxwrt");
        for want in [
            "iifname \"eth0\" udp dport 51820 accept comment \"WireGuard wg0: udp 51820 from the internet\"",
            "iifname \"wg0\" accept",
            "iifname \"wg0\" oifname \"br-lan\" accept",
            "iifname \"br-lan\" oifname \"wg0\" accept",
            "iifname \"wg0\" oifname \"eth0\" accept",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let mut rs = super::super::build(&Default::default(), "br-lan", "eth0").unwrap();
        add(&mut rs, &vpn(false, false), "br-lan", "eth0").unwrap();
        let mut b = crate::nft::batch();
        rs.encode(&mut b);
        ns.run(|| crate::nft::transact(b)).unwrap();
        let text = ns.sh("nft list table inet oxwrt");
        assert!(text.contains("iifname \"wg0\" udp dport 53 accept") && text.contains("iifname \"wg0\" tcp dport 53 accept"), "{text}");
        assert!(text.contains("iifname \"wg0\" icmp type echo-request accept") && !text.contains("oifname \"wg0\""), "{text}");
        assert!(text.contains("iifname \"wg0\" icmpv6 type echo-request accept"), "{text}");
    }
}
