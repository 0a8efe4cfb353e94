//! Generic netlink (NETLINK_GENERIC): `struct genlmsghdr` (command, version, reserved),
//! requests to a family, and family resolution by name through the controller
//! ("nlctrl", id 0x10): [`Socket::resolve_family`] turns "wireguard" into the message
//! type its requests use, its version and its multicast groups.

use crate::attr::{attrs, str_of, u16_of, u32_of};
use crate::error::Error;
use crate::msg::Request;
use crate::socket::Socket;

/// The controller's family id (fixed).
pub const GENL_ID_CTRL: u16 = 0x10;
pub const GENL_HDRLEN: usize = 4;

/// Controller commands and attributes (linux/genetlink.h).
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
pub const CTRL_CMD_GETFAMILY: u8 = 3;
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
pub const CTRL_ATTR_VERSION: u16 = 3;
pub const CTRL_ATTR_HDRSIZE: u16 = 4;
pub const CTRL_ATTR_MAXATTR: u16 = 5;
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// `struct genlmsghdr`.
pub fn genlmsghdr(cmd: u8, version: u8) -> [u8; GENL_HDRLEN] {
    [cmd, version, 0, 0]
}

/// A request to `family` (its resolved id) for `cmd`; nested attributes get NLA_F_NESTED
/// (generic netlink validates it strictly).
pub fn request(family: u16, cmd: u8, version: u8, flags: u16) -> Request {
    Request::new(family, flags, &genlmsghdr(cmd, version)).with_nested_flag()
}

/// A family as the controller describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The message type of its requests.
    pub id: u16,
    pub name: String,
    pub version: u32,
    /// Length of its own header after genlmsghdr (0 for most).
    pub hdrsize: u32,
    pub maxattr: u32,
    /// (name, group number) of each multicast group, for [`Socket::add_membership`].
    pub mcast_groups: Vec<(String, u32)>,
}

/// CTRL_CMD_GETFAMILY for `name`.
pub fn get_family(name: &str) -> Request {
    let mut r = request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0).describe(format!("CTRL_CMD_GETFAMILY {name:?}"));
    r.attr_str(CTRL_ATTR_FAMILY_NAME, name);
    r
}

/// Parses the controller's CTRL_CMD_NEWFAMILY payload (genlmsghdr, attributes); None
/// without a family id.
pub fn parse_family(payload: &[u8]) -> Option<Family> {
    let mut f = Family { id: 0, name: String::new(), version: 0, hdrsize: 0, maxattr: 0, mcast_groups: Vec::new() };
    let mut id = None;
    for a in attrs(payload.get(GENL_HDRLEN..)?) {
        match a.kind {
            CTRL_ATTR_FAMILY_ID => id = u16_of(a.value),
            CTRL_ATTR_FAMILY_NAME => f.name = str_of(a.value),
            CTRL_ATTR_VERSION => f.version = u32_of(a.value).unwrap_or(0),
            CTRL_ATTR_HDRSIZE => f.hdrsize = u32_of(a.value).unwrap_or(0),
            CTRL_ATTR_MAXATTR => f.maxattr = u32_of(a.value).unwrap_or(0),
            CTRL_ATTR_MCAST_GROUPS => {
                for g in attrs(a.value) {
                    let (mut name, mut gid) = (None, None);
                    for ga in attrs(g.value) {
                        match ga.kind {
                            CTRL_ATTR_MCAST_GRP_NAME => name = Some(str_of(ga.value)),
                            CTRL_ATTR_MCAST_GRP_ID => gid = u32_of(ga.value),
                            _ => {}
                        }
                    }
                    if let (Some(n), Some(i)) = (name, gid) {
                        f.mcast_groups.push((n, i));
                    }
                }
            }
            _ => {}
        }
    }
    f.id = id?;
    Some(f)
}

impl Socket {
    /// Resolves a generic netlink family by name (a NETLINK_GENERIC socket). A family
    /// the kernel does not have is [`Error::Kernel`] with ENOENT, naming the request.
    pub fn resolve_family(&mut self, name: &str) -> Result<Family, Error> {
        let req = get_family(name);
        let what = req.what();
        let replies = self.get(req)?;
        replies
            .iter()
            .filter(|(t, _)| *t == GENL_ID_CTRL)
            .find_map(|(_, p)| parse_family(p))
            .ok_or(Error::Malformed { what, why: "no family in the controller's reply" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getfamily_layout() {
        let mut r = get_family("nlctrl");
        let b = r.finish(5).to_vec();
        // header, genlmsghdr {3, 1, 0}, CTRL_ATTR_FAMILY_NAME "nlctrl\0" (len 11, padded 12).
        assert_eq!(b.len(), 16 + 4 + 12);
        assert_eq!(&b[4..6], &GENL_ID_CTRL.to_ne_bytes());
        assert_eq!(&b[16..20], &[3, 1, 0, 0]);
        assert_eq!(&b[20..22], &11u16.to_ne_bytes());
        assert_eq!(&b[22..24], &2u16.to_ne_bytes());
        assert_eq!(&b[24..32], b"nlctrl\0\0");
    }

    #[test]
    fn family_reply_parses() {
        let mut r = request(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY, 2, 0);
        r.attr_u16(CTRL_ATTR_FAMILY_ID, 0x1b).attr_str(CTRL_ATTR_FAMILY_NAME, "wireguard").attr_u32(CTRL_ATTR_VERSION, 1);
        r.nested(CTRL_ATTR_MCAST_GROUPS, |a| {
            a.nested(1, |g| {
                g.str(CTRL_ATTR_MCAST_GRP_NAME, "notify");
                g.u32(CTRL_ATTR_MCAST_GRP_ID, 35);
            });
            a.nested(2, |g| {
                g.str(CTRL_ATTR_MCAST_GRP_NAME, "no id");
            });
        });
        let b = r.finish(1).to_vec();
        let f = parse_family(&b[16..]).unwrap();
        assert_eq!((f.id, f.name.as_str(), f.version), (0x1b, "wireguard", 1));
        assert_eq!(f.mcast_groups, vec![("notify".to_string(), 35)]);
        assert_eq!(parse_family(&[1, 2]), None);
        assert_eq!(parse_family(&[1, 2, 0, 0]), None, "no id");
    }
}
