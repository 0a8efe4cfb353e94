//! Default network.toml for a board, from its Ethernet switch (if any).
//!
//! - A board with a VLAN switch (WRT54G-class: `[switch]` in `targets/<board>.toml`): the CPU
//!   port is tagged in both VLANs, so the LAN is the VLAN device `<device>.<lan_vlan>`
//!   (e.g. `eth0.0`) and the WAN `<device>.<wan_vlan>` (e.g. `eth0.1`).
//! - A board without one (QEMU): the WAN is the first NIC, `eth0`, the LAN the second, `eth1`.
//!   The test harness and `cargo xtask run` give QEMU the WAN NIC first and the LAN NIC second.
//!
//! This crate does not depend on xtask: xtask fills in a [`SwitchLayout`] from its board.

use crate::network::Network;
/// The QEMU convention lives with the defaults it is (network.rs): this module builds on
/// network.rs, never the other way.
pub use crate::network::{QEMU_LAN, QEMU_WAN};

/// What the defaults need of a board's `[switch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchLayout {
    /// The network device the switch's CPU port appears as, e.g. "eth0".
    pub device: String,
    /// VLAN of the LAN ports (CPU port tagged).
    pub lan_vlan: u16,
    /// VLAN of the WAN port (CPU port tagged).
    pub wan_vlan: u16,
}

impl SwitchLayout {
    /// The LAN's VLAN device, e.g. "eth0.0".
    pub fn lan_device(&self) -> String {
        format!("{}.{}", self.device, self.lan_vlan)
    }

    /// The WAN's VLAN device, e.g. "eth0.1".
    pub fn wan_device(&self) -> String {
        format!("{}.{}", self.device, self.wan_vlan)
    }
}

/// The default network configuration of a board: every key at its default except the LAN
/// ports and the WAN device, which come from the switch (or the QEMU convention).
/// `defaults_for(None)` equals `Network::default()`.
pub fn defaults_for(switch: Option<&SwitchLayout>) -> Network {
    let mut n = Network::default();
    if let Some(sw) = switch {
        n.lan.ports = vec![sw.lan_device()];
        n.wan.device = sw.wan_device();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_board_bridges_the_lan_vlan_and_routes_the_wan_vlan() {
        let wrt54gl = SwitchLayout { device: "eth0".into(), lan_vlan: 0, wan_vlan: 1 };
        let n = defaults_for(Some(&wrt54gl));
        assert_eq!(n.lan.ports, ["eth0.0"]);
        assert_eq!(n.wan.device, "eth0.1");
        assert_eq!(n.lan.bridge, "br-lan");
        let text = n.to_toml();
        assert!(text.contains("ports = [\"eth0.0\"]") && text.contains("device = \"eth0.1\""), "{text}");
    }

    #[test]
    fn a_board_without_a_switch_uses_the_qemu_convention() {
        let n = defaults_for(None);
        assert_eq!((n.lan.ports.as_slice(), n.wan.device.as_str()), (&["eth1".to_string()][..], "eth0"));
        assert_eq!(n, Network::default());
    }
}
