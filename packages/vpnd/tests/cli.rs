//! The `vpn` command's changes to vpn.toml on the host, in a scratch directory: a site
//! added with its networks and endpoint, refused when it overlaps a phone or its key is
//! not a key (nothing written then), removal, disable and enable, and an import of a
//! wg-quick file with several peers keeping every key (PSK files 0600).

use oxwrt_config::vpn::Vpn;
use std::os::unix::fs::PermissionsExt;
use vpnd::cli::{add_site, import, run, AddSite, Dirs};

const K1: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const K2: &str = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
const K3: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

fn scratch() -> (tempfile::TempDir, Dirs) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("vpnd");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        dir.path().join("vpn.toml"),
        format!(
            "[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\"]\nprivate_key_file = \"{}/wg0.key\"\n\n[[peer]]\nname = \"phone\"\npublic_key = \"{K1}\"\nallowed_ips = [\"10.8.0.2/32\"]\n",
            keys.display()
        ),
    )
    .unwrap();
    let dirs = Dirs { config: dir.path().to_path_buf(), run: dir.path().join("run") };
    (dir, dirs)
}

#[test]
fn sites_are_added_with_their_networks_or_refused_whole() {
    let (_dir, dirs) = scratch();
    let site = AddSite {
        name: "office".into(),
        public_key: K2.into(),
        tunnel_address: Some("10.9.0.2".into()),
        networks: vec!["192.168.2.0/24".into()],
        endpoint: Some("office.example.org:51820".into()),
        keepalive: 25,
        ..Default::default()
    };
    let p = add_site(&dirs, &site).unwrap();
    assert_eq!(p.allowed_ips.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["10.9.0.2/32", "192.168.2.0/24"]);
    let vpn = Vpn::load(&dirs.config).unwrap();
    assert_eq!(vpn.peers[1].endpoint.as_ref().unwrap().to_string(), "office.example.org:51820");
    assert_eq!(vpn.peers[1].persistent_keepalive, 25);
    let before = std::fs::read_to_string(dirs.config.join("vpn.toml")).unwrap();
    // Overlaps the phone: refused, the file unchanged.
    let e = add_site(&dirs, &AddSite { name: "bad".into(), public_key: K3.into(), networks: vec!["10.8.0.0/24".into()], ..Default::default() }).unwrap_err();
    assert!(e.contains("overlaps 10.8.0.2/32 of peer `phone`"), "{e}");
    let e =
        add_site(&dirs, &AddSite { name: "bad".into(), public_key: "nope".into(), networks: vec!["10.7.0.0/24".into()], ..Default::default() }).unwrap_err();
    assert!(e.contains("--public-key") && e.contains("not a WireGuard key"), "{e}");
    assert_eq!(std::fs::read_to_string(dirs.config.join("vpn.toml")).unwrap(), before);
    // Disable, enable, remove.
    assert_eq!(run(&dirs, &["disable", "office"]), 0);
    assert!(!Vpn::load(&dirs.config).unwrap().peers[1].enabled);
    assert_eq!(run(&dirs, &["enable", "office"]), 0);
    assert!(Vpn::load(&dirs.config).unwrap().peers[1].enabled);
    assert_eq!(run(&dirs, &["remove-peer", "office"]), 0);
    assert_eq!(Vpn::load(&dirs.config).unwrap().peers.len(), 1);
    assert_eq!(run(&dirs, &["remove-peer", "office"]), 1, "no such peer any more");
    assert_eq!(run(&dirs, &["frobnicate"]), 2);
}

#[test]
fn import_keeps_every_peer_and_key() {
    let (dir, dirs) = scratch();
    let text = format!(
        "[Interface]\nPrivateKey = {K3}\nListenPort = 51820\nAddress = 10.8.0.1/24\n\n# laptop\n[Peer]\nPublicKey = {K2}\nPresharedKey = {K1}\nAllowedIPs = 10.8.0.3/32\n\n# phone\n[Peer]\nPublicKey = {K3}\nAllowedIPs = 10.8.0.4/32\n"
    );
    let summary = import(&dirs, &text, "wg0").unwrap();
    assert!(summary.contains("imported 2 peers into wg0: laptop, phone-2"), "{summary}");
    assert!(summary.contains("wg0 exists: the file's [Interface] (key, addresses, port) was not applied"), "{summary}");
    let vpn = Vpn::load(&dirs.config).unwrap();
    assert_eq!(vpn.peers.len(), 3);
    assert_eq!(vpn.peers[1].public_key.to_string(), K2);
    assert_eq!(vpn.peers[2].public_key.to_string(), K3);
    let psk = vpn.peers[1].preshared_key_file.clone().unwrap();
    assert!(psk.starts_with(&dir.path().join("vpnd").display().to_string()), "{psk}");
    assert_eq!(std::fs::metadata(&psk).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(vpnd::keys::read_key_file(std::path::Path::new(&psk)).unwrap().expose_base64(), K1);
    // A second import of the same peers overlaps them: refused whole.
    let e = import(&dirs, &text, "wg0").unwrap_err();
    assert!(e.contains("nothing was changed") && e.contains("same public key"), "{e}");
    let e = import(&dirs, "[Peer]\nPublicKey = x\n", "wg0").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
}

/// With the router's ULA /48 (netd's file), `vpn init` takes its 8th /64, and a phone added
/// through the control socket's handler (the web interface's way; the console's function)
/// gets a /32 and a /128, ::/0, and the router's LAN ULA address as a second DNS server;
/// `--lan-only` gets the LAN and the ULA /48.
#[test]
fn an_ipv6_road_warrior() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs { config: dir.path().to_path_buf(), run: dir.path().join("run") };
    std::fs::create_dir(dir.path().join("netd")).unwrap();
    std::fs::write(dir.path().join("netd/ula-prefix"), "fd12:3456:789a::/48\n").unwrap();
    let addrs = vpnd::cli::default_addresses(&dirs);
    assert_eq!(addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(), ["10.8.0.1/24", "fd12:3456:789a:8::1/64"]);
    let mut iface = oxwrt_config::vpn::Interface::new("wg0", addrs);
    iface.private_key_file = Some(dir.path().join("wg0.key").display().to_string());
    iface.endpoint = Some("home.example.org".into());
    Vpn { interfaces: vec![iface], peers: vec![] }.save(&dirs.config).unwrap();
    let a = vpnd::control::handle(&dirs, &vpnd::control::Request::AddPeer { name: "phone".into(), lan_only: false });
    assert!(a.ok, "{a:?}");
    let c = a.config.unwrap();
    for line in [
        "Address = 10.8.0.2/32, fd12:3456:789a:8::2/128\n",
        "DNS = 192.168.1.1, fd12:3456:789a::1\n",
        "AllowedIPs = 0.0.0.0/0, ::/0\n",
        "Endpoint = home.example.org:51820\n",
    ] {
        assert!(c.contains(line), "{line:?} in\n{c}");
    }
    let a = vpnd::control::handle(&dirs, &vpnd::control::Request::AddPeer { name: "laptop".into(), lan_only: true });
    let c = a.config.unwrap();
    assert!(
        c.contains("Address = 10.8.0.3/32, fd12:3456:789a:8::3/128\n") && c.contains("AllowedIPs = 192.168.1.0/24, 10.8.0.0/24, fd12:3456:789a::/48\n"),
        "{c}"
    );
    let psk = std::fs::metadata(dir.path().join("phone.psk")).unwrap();
    assert_eq!(psk.permissions().mode() & 0o777, 0o600);
    // Without IPv6 on the router (no ULA yet): IPv4 only.
    std::fs::remove_file(dir.path().join("netd/ula-prefix")).unwrap();
    assert_eq!(vpnd::cli::default_addresses(&dirs).len(), 1);
    let a = vpnd::control::handle(&dirs, &vpnd::control::Request::Remove { name: "nobody".into() });
    assert!(!a.ok && a.message.contains("no peer named nobody"), "{a:?}");
}
