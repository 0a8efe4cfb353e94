//! The harness against itself, no QEMU: a client host joined to the ISP by a socket pair
//! (the link framing) takes a lease, resolves names (with the TCP fallback), fetches a
//! page, uploads, pings, is refused on a closed port, serves a page the ISP fetches; and
//! the same through the link model.
//!
//! smoltcp sends at most one ARP request per second per host, so each extra on-link
//! neighbour a host talks to costs up to a second here (behind a router there is one).

use nettest::smoltcp::wire::IpAddress;
use nettest::{plan, Host, HostConfig, Isp, IspConfig, LinkModel, NetError, PipeConfig, StreamWire};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn a_client_gets_a_lease_resolves_fetches_and_pings_on_the_isp() {
    let (isp_end, client_end) = StreamWire::pair().unwrap();
    let isp = Isp::spawn(isp_end, IspConfig { lease_time: Duration::from_secs(600), ..IspConfig::default() });
    let client = Host::spawn(client_end, HostConfig::new("router", plan::CLIENT_MAC));

    let lease = client.dhcp(Some("oxwrt"), T).unwrap();
    assert_eq!(lease.address.address(), plan::WAN_POOL_FIRST);
    assert_eq!(lease.address.prefix_len(), plan::WAN_PREFIX_LEN);
    assert_eq!(lease.router, Some(plan::ISP_GATEWAY));
    assert_eq!(lease.dns_servers, [plan::ISP_DNS]);
    assert_eq!(lease.lease_time, Some(Duration::from_secs(600)));
    let given = isp.wait_for_lease(T).unwrap();
    assert_eq!((given.mac, given.address, given.hostname.as_deref()), (plan::CLIENT_MAC, plan::WAN_POOL_FIRST, Some("oxwrt")));
    assert_eq!(client.lease(), Some(lease.clone()));

    let answer = client.resolve(plan::ISP_DNS, "Example.Test", T).unwrap();
    assert_eq!((answer.rcode, answer.addresses.as_slice(), answer.over_tcp), (0, &[plan::ISP_HTTP][..], false));
    let answer = client.resolve(plan::ISP_DNS, "nowhere.test", T).unwrap();
    assert!(answer.is_nxdomain() && answer.addresses.is_empty(), "{answer:?}");
    isp.set_truncate_udp(true);
    let answer = client.resolve(plan::ISP_DNS, plan::EXAMPLE_NAME, T).unwrap();
    assert_eq!((answer.addresses.as_slice(), answer.over_tcp), (&[plan::ISP_HTTP][..], true));
    let queries = isp.dns_queries();
    assert_eq!(
        queries.iter().map(|q| (q.name.as_str(), q.over_tcp)).collect::<Vec<_>>(),
        [("example.test", false), ("nowhere.test", false), ("example.test", false), ("example.test", true)]
    );
    assert!(queries.iter().all(|q| q.from.addr == IpAddress::Ipv4(plan::WAN_POOL_FIRST)), "{queries:?}");

    let page = client.http_get((plan::ISP_HTTP, 80), "/", T).unwrap();
    assert_eq!((page.status, page.text().as_str()), (200, "hello from the ISP\n"));
    let big = client.http_get((plan::ISP_HTTP, 80), "/bytes/300000", T).unwrap();
    assert_eq!(big.body.len(), 300_000);
    assert!(big.body.starts_with(b"abcdefghijklmnopqrstuvwxyzabc"));
    let conns = isp.http_connections();
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert_eq!(conns[0].from.addr, IpAddress::Ipv4(plan::WAN_POOL_FIRST));
    assert_eq!(conns[1].request_line.as_deref(), Some("GET /bytes/300000 HTTP/1.1"));

    let upload = client.http_post((plan::ISP_HTTP, 80), "/upload", 200_000, T).unwrap();
    assert_eq!((upload.status, upload.text().as_str()), (200, "received 200000 bytes\n"));
    let conns = isp.http_connections();
    assert_eq!((conns[2].request_line.as_deref(), conns[2].request_body), (Some("POST /upload HTTP/1.1"), 200_000));

    client.ping(plan::ISP_GATEWAY, T).unwrap();
    isp.ping(plan::WAN_POOL_FIRST, T).unwrap();
    assert_eq!(client.tcp_connect((plan::ISP_HTTP, 81), T), Err(NetError::Refused((plan::ISP_HTTP, 81).into())));
    client.tcp_connect((plan::ISP_HTTP, 80), T).unwrap();

    // The other way, as through a port forward: the ISP fetches from the client.
    let served = client.serve_http(8080, b"from the LAN\n");
    let page = isp.http_get((plan::WAN_POOL_FIRST, 8080), "/", T).unwrap();
    assert_eq!(page.text(), "from the LAN\n");
    // From the ISP's first address.
    assert_eq!(served.lock().unwrap()[0].from.addr, IpAddress::Ipv4(plan::ISP_GATEWAY));
}

#[test]
fn traffic_between_the_router_and_the_isp_goes_through_the_link_model() {
    let line = PipeConfig::rate(50_000_000).queue_packets(1000).delay(Duration::from_millis(2));
    let model = LinkModel::symmetric(line);
    let (isp_end, client_end) = StreamWire::pair().unwrap();
    let isp = Isp::spawn(isp_end, IspConfig { model: Some(model.clone()), ..IspConfig::default() });
    let router = Host::spawn(client_end, HostConfig::new("router", plan::CLIENT_MAC));
    router.dhcp(None, T).unwrap();
    assert_eq!(router.http_get((plan::ISP_HTTP, 80), "/bytes/100000", T).unwrap().body.len(), 100_000);
    router.http_post((plan::ISP_HTTP, 80), "/", 100_000, T).unwrap();
    let stats = model.stats();
    assert!(stats.down.bytes_out > 100_000 && stats.up.bytes_out > 100_000, "{stats:?}");
    assert_eq!((stats.up.dropped, stats.down.dropped), (0, 0), "{stats:?}");
    assert!(isp.model().is_some());
}

#[test]
fn silence_times_out_with_what_was_awaited() {
    let (isp_end, _unplugged) = StreamWire::pair().unwrap();
    let host = Host::spawn(isp_end, HostConfig::new("alone", plan::ISP_MAC).with_address(plan::ISP_GATEWAY, 24));
    let e = host.tcp_connect((plan::WAN_POOL_FIRST, 80), Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.to_string(), "timed out waiting for TCP connection to 203.0.113.10:80 to be accepted");
    let e = host.ping(plan::WAN_POOL_FIRST, Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.to_string(), "timed out waiting for an echo reply from 203.0.113.10");
}
