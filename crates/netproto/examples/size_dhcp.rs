//! Size measurement (see the crate docs): parse a DHCPDISCOVER from stdin, write the
//! DHCPOFFER a server would send. `cargo run --example size_dhcp < fuzz/corpus/dhcp_parse/udhcpc-discover`
use netproto::dhcp::{code, Message, MessageType};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
fn main() {
    let mut buf = Vec::new();
    std::io::stdin().read_to_end(&mut buf).unwrap();
    let msg = match Message::parse(&buf) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bad: {e}");
            std::process::exit(1)
        }
    };
    let host = msg.options.get(code::HOSTNAME).map(|o| format!("{o:?}"));
    let mut r = msg.reply(MessageType::Offer);
    r.yiaddr = Ipv4Addr::new(192, 168, 1, 100);
    r.options.set_server_id(Ipv4Addr::new(192, 168, 1, 1));
    r.options.set_lease_time(43200);
    r.options.set_subnet_mask(Ipv4Addr::new(255, 255, 255, 0));
    r.options.set_routers(&[Ipv4Addr::new(192, 168, 1, 1)]);
    r.options.set_dns_servers(&[Ipv4Addr::new(192, 168, 1, 1)]);
    let out = r.encode().unwrap();
    std::io::stdout().write_all(&out).unwrap();
    eprintln!("{host:?}");
}
