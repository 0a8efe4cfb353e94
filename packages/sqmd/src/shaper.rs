//! The shaping in the kernel, over rtnetlink (crate `oxwrt-netlink`, its
//! `rtnetlink::cake`): what a configuration asks for ([`Plan`]), and [`apply`], which
//! reads the kernel's state first (links, qdiscs, the ingress filters) and sends only what
//! differs, so applying twice sends nothing the second time.
//!
//! What sqmd adds, and so what it removes again (nothing else is touched):
//! - upload: a CAKE root qdisc on the shaped device, handle [`HANDLE`] (`5351:`, "SQ");
//! - download: the IFB device `ifb4<device>` with a CAKE root qdisc (handle [`HANDLE`],
//!   `ingress` mode), the device's `ingress` qdisc (`ffff:`) and on it a matchall filter
//!   of priority [`FILTER_PRIO`] whose mirred action redirects every received packet to
//!   the IFB's egress. When the filter goes, the ingress qdisc goes too if no other
//!   filter is left on it.
//!
//! Flow isolation is per host: `dual-srchost` on upload, `dual-dsthost` on download
//! (each LAN host gets its share, then each flow within it), with `nat` looking up the
//! LAN addresses behind the WAN's masquerading in conntrack.

use netlink::rtnetlink::cake::{self, Options};
use netlink::rtnetlink::tc::{self, Tc, RTM_NEWQDISC, RTM_NEWTFILTER, TC_H_INGRESS, TC_H_ROOT};
use netlink::rtnetlink::{self, Link, LinkChange, RTM_NEWLINK};
use netlink::Socket;
use oxwrt_config::sqm::{Diffserv, Framing, Shaping};
use std::fmt;

/// sqmd's qdisc handle, `5351:` ("SQ"): a root CAKE with it is sqmd's.
pub const HANDLE: u32 = tc::handle(0x5351, 0);
/// The priority of sqmd's redirect filter on the ingress qdisc.
pub const FILTER_PRIO: u16 = 49;

/// The IFB device that shapes `device`'s download.
pub fn ifb_name(device: &str) -> String {
    format!("ifb4{device}")
}

/// What the kernel should have: CAKE options for each direction (None: unshaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub device: String,
    pub upload: Option<Options>,
    pub download: Option<Options>,
}

fn cake_options(s: &Shaping, kbit: u64, ingress: bool) -> Options {
    let target = (s.rtt_us / 20).max(1);
    Options {
        rate_bytes: Some(kbit.saturating_mul(125)),
        diffserv: Some(match s.diffserv {
            Diffserv::Besteffort => cake::CAKE_DIFFSERV_BESTEFFORT,
            Diffserv::Diffserv3 => cake::CAKE_DIFFSERV_DIFFSERV3,
            Diffserv::Diffserv4 => cake::CAKE_DIFFSERV_DIFFSERV4,
            Diffserv::Diffserv8 => cake::CAKE_DIFFSERV_DIFFSERV8,
        }),
        atm: Some(match s.framing {
            Framing::None => cake::CAKE_ATM_NONE,
            Framing::Atm => cake::CAKE_ATM_ATM,
            Framing::Ptm => cake::CAKE_ATM_PTM,
        }),
        flow_mode: Some(if ingress { cake::CAKE_FLOW_DUAL_DST } else { cake::CAKE_FLOW_DUAL_SRC }),
        overhead: Some(s.overhead),
        mpu: Some(s.mpu),
        rtt_us: Some(s.rtt_us),
        target_us: Some(target),
        nat: Some(s.nat),
        // Washing is for what comes from the internet; ACK filtering for the uplink.
        wash: Some(ingress && s.wash),
        ingress: Some(ingress),
        ack_filter: Some(if !ingress && s.ack_filter { cake::CAKE_ACK_FILTER } else { cake::CAKE_ACK_NONE }),
    }
}

impl Plan {
    /// The plan of an enabled configuration; `None` shaping (disabled) removes everything.
    pub fn new(device: &str, shaping: Option<&Shaping>) -> Plan {
        let dir = |kbit: u64, ingress: bool| shaping.filter(|_| kbit > 0).map(|s| cake_options(s, kbit, ingress));
        Plan { device: device.to_string(), upload: shaping.and_then(|s| dir(s.upload_kbit, false)), download: shaping.and_then(|s| dir(s.download_kbit, true)) }
    }
}

/// Why shaping could not be applied.
#[derive(Debug)]
pub enum Error {
    /// The device to shape does not exist (now).
    NoDevice(String),
    /// The kernel lacks a part (the config option named).
    Missing {
        option: &'static str,
        what: &'static str,
        error: netlink::Error,
    },
    Netlink(netlink::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDevice(d) => {
                write!(f, "the device {d} does not exist; shaping waits for it (check `interface` in sqm.toml, or wan.device in network.toml)")
            }
            Error::Missing { option, what, error } => {
                write!(f, "the kernel has no {what} ({error}); build it with {option}=y (every oxwrt board's kernel has it: is this the image's own kernel?)")
            }
            Error::Netlink(e) => write!(f, "{e}"),
        }
    }
}

impl From<netlink::Error> for Error {
    fn from(e: netlink::Error) -> Self {
        Error::Netlink(e)
    }
}

/// A refused request of a kind the kernel may lack: the option that provides it. An
/// unknown qdisc, classifier or action kind is ENOENT; an unknown link kind EOPNOTSUPP.
fn missing(e: netlink::Error, option: &'static str, what: &'static str) -> Error {
    let unknown = match (&e, option) {
        (netlink::Error::Kernel { errno, .. }, "CONFIG_IFB") => *errno == libc::EOPNOTSUPP,
        (netlink::Error::Kernel { errno, .. }, _) => *errno == libc::ENOENT,
        _ => false,
    };
    if unknown {
        Error::Missing { option, what, error: e }
    } else {
        Error::Netlink(e)
    }
}

/// The kernel's state that [`apply`] compares with.
#[derive(Debug, Default)]
pub struct State {
    pub links: Vec<Link>,
    /// Every qdisc with its whole message payload (for the statistics).
    pub qdiscs: Vec<(Tc, Vec<u8>)>,
}

impl State {
    pub fn read(sock: &mut Socket) -> Result<State, netlink::Error> {
        let links = sock.dump(rtnetlink::get_links())?.iter().filter(|(t, _)| *t == RTM_NEWLINK).filter_map(|(_, p)| rtnetlink::parse_link(p)).collect();
        let qdiscs = sock.dump(tc::get_qdiscs())?.into_iter().filter(|(t, _)| *t == RTM_NEWQDISC).filter_map(|(_, p)| Some((tc::parse(&p)?, p))).collect();
        Ok(State { links, qdiscs })
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The root qdisc of link `index`.
    pub fn root(&self, index: u32) -> Option<&(Tc, Vec<u8>)> {
        self.qdiscs.iter().find(|(q, _)| q.ifindex == index && q.parent == TC_H_ROOT)
    }

    /// sqmd's CAKE at the root of link `index`.
    pub fn our_cake(&self, index: u32) -> Option<&(Tc, Vec<u8>)> {
        self.root(index).filter(|(q, _)| q.kind.as_deref() == Some("cake") && q.handle == HANDLE)
    }

    pub fn has_ingress(&self, index: u32) -> bool {
        self.qdiscs.iter().any(|(q, _)| q.ifindex == index && q.parent == TC_H_INGRESS)
    }
}

fn filters(sock: &mut Socket, index: u32) -> Result<Vec<Tc>, netlink::Error> {
    Ok(sock.dump(tc::get_filters(index, cake::INGRESS_HANDLE))?.iter().filter(|(t, _)| *t == RTM_NEWTFILTER).filter_map(|(_, p)| tc::parse(p)).collect())
}

/// Makes the root of link `index` sqmd's CAKE with `want`; returns what it did.
fn root_cake(sock: &mut Socket, state: &State, index: u32, name: &str, want: &Options, done: &mut Vec<String>) -> Result<(), Error> {
    match state.our_cake(index) {
        Some((q, _)) if want.matches(&Options::parse(q.options.as_deref().unwrap_or(&[]))) => {}
        Some(_) => {
            sock.request(cake::change(index, HANDLE, TC_H_ROOT, want)).map_err(|e| missing(e, "CONFIG_NET_SCH_CAKE", "CAKE qdisc"))?;
            done.push(format!("changed CAKE on {name}"));
        }
        None => {
            sock.request(cake::replace(index, HANDLE, TC_H_ROOT, want)).map_err(|e| missing(e, "CONFIG_NET_SCH_CAKE", "CAKE qdisc"))?;
            done.push(format!("added CAKE on {name}"));
        }
    }
    Ok(())
}

fn remove_root_cake(sock: &mut Socket, state: &State, index: u32, name: &str, done: &mut Vec<String>) -> Result<(), Error> {
    if state.our_cake(index).is_some() {
        sock.request(tc::del_qdisc(index, HANDLE, TC_H_ROOT))?;
        done.push(format!("removed CAKE from {name}"));
    }
    Ok(())
}

/// Brings the kernel to `plan`; returns what it changed (empty: it was so already).
pub fn apply(sock: &mut Socket, plan: &Plan) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    let mut state = State::read(sock)?;
    let ifb = ifb_name(&plan.device);
    let Some(dev) = state.link(&plan.device).map(|l| l.index) else {
        if plan.upload.is_none() && plan.download.is_none() {
            // Nothing to shape; an IFB of ours left behind still goes.
            remove_ifb(sock, &state, &ifb, &mut done)?;
            return Ok(done);
        }
        return Err(Error::NoDevice(plan.device.clone()));
    };
    match &plan.upload {
        Some(o) => root_cake(sock, &state, dev, &plan.device, o, &mut done)?,
        None => remove_root_cake(sock, &state, dev, &plan.device, &mut done)?,
    }
    let Some(down) = &plan.download else {
        remove_redirect(sock, &state, dev, &plan.device, &mut done)?;
        remove_ifb(sock, &state, &ifb, &mut done)?;
        return Ok(done);
    };
    if state.link(&ifb).is_none() {
        sock.request(rtnetlink::create_link(&ifb, "ifb", 0)).map_err(|e| missing(e, "CONFIG_IFB", "IFB device"))?;
        done.push(format!("created {ifb}"));
        state = State::read(sock)?;
    }
    let Some(ifb_link) = state.link(&ifb).cloned() else { return Err(Error::NoDevice(ifb)) };
    if !ifb_link.is_up() {
        sock.request(rtnetlink::set_link(ifb_link.index, &LinkChange { up: Some(true), ..LinkChange::default() }))?;
        done.push(format!("set {ifb} up"));
    }
    root_cake(sock, &state, ifb_link.index, &ifb, down, &mut done)?;
    if !state.has_ingress(dev) {
        sock.request(cake::add_ingress(dev)).map_err(|e| missing(e, "CONFIG_NET_SCH_INGRESS", "ingress qdisc"))?;
        done.push(format!("added the ingress qdisc of {}", plan.device));
    }
    let ours: Vec<Tc> = filters(sock, dev)?.into_iter().filter(|f| cake::filter_prio(f) == FILTER_PRIO).collect();
    if !ours.iter().any(|f| cake::redirect_target(f) == Some(ifb_link.index)) {
        if !ours.is_empty() {
            sock.request(tc::del_filter(dev, cake::INGRESS_HANDLE, FILTER_PRIO, cake::ETH_P_ALL))?;
        }
        sock.request(cake::redirect_filter(dev, FILTER_PRIO, ifb_link.index)).map_err(|e| {
            let action = matches!(&e, netlink::Error::Kernel { detail: Some(d), .. } if d.contains("action"));
            if action {
                missing(e, "CONFIG_NET_ACT_MIRRED", "mirred action")
            } else {
                missing(e, "CONFIG_NET_CLS_MATCHALL", "matchall filter")
            }
        })?;
        done.push(format!("redirected {}'s download to {ifb}", plan.device));
    }
    Ok(done)
}

fn remove_redirect(sock: &mut Socket, state: &State, dev: u32, name: &str, done: &mut Vec<String>) -> Result<(), Error> {
    if !state.has_ingress(dev) {
        return Ok(());
    }
    let all = filters(sock, dev)?;
    if all.iter().any(|f| cake::filter_prio(f) == FILTER_PRIO) {
        sock.request(tc::del_filter(dev, cake::INGRESS_HANDLE, FILTER_PRIO, cake::ETH_P_ALL))?;
        done.push(format!("removed the redirect of {name}'s download"));
        if all.iter().all(|f| cake::filter_prio(f) == FILTER_PRIO) {
            sock.request(tc::del_qdisc(dev, cake::INGRESS_HANDLE, TC_H_INGRESS))?;
            done.push(format!("removed the ingress qdisc of {name}"));
        }
    }
    Ok(())
}

fn remove_ifb(sock: &mut Socket, state: &State, ifb: &str, done: &mut Vec<String>) -> Result<(), Error> {
    if let Some(l) = state.link(ifb).filter(|l| l.kind.as_deref() == Some("ifb")) {
        sock.request(rtnetlink::delete_link(l.index))?;
        done.push(format!("deleted {ifb}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaping(down: u64, up: u64) -> Shaping {
        let s = oxwrt_config::sqm::Sqm { enabled: true, download_kbit: down as i64, upload_kbit: up as i64, ..Default::default() };
        s.shaping().unwrap()
    }

    #[test]
    fn plans_cake_per_direction_in_bytes_per_second() {
        let p = Plan::new("eth0", Some(&shaping(9500, 1900)));
        let up = p.upload.unwrap();
        let down = p.download.unwrap();
        assert_eq!((up.rate_bytes, down.rate_bytes), (Some(237_500), Some(1_187_500)));
        assert_eq!((up.ingress, down.ingress), (Some(false), Some(true)));
        assert_eq!((up.flow_mode, down.flow_mode), (Some(cake::CAKE_FLOW_DUAL_SRC), Some(cake::CAKE_FLOW_DUAL_DST)));
        assert_eq!((up.overhead, up.mpu, up.rtt_us, up.target_us), (Some(38), Some(84), Some(100_000), Some(5_000)));
        // 0 kbit: that direction unshaped; disabled: nothing.
        let p = Plan::new("eth0", Some(&shaping(9500, 0)));
        assert!(p.upload.is_none() && p.download.is_some());
        assert_eq!(Plan::new("eth0", None), Plan { device: "eth0".into(), upload: None, download: None });
        assert_eq!(ifb_name("eth0.1"), "ifb4eth0.1");
    }
}
