//! The ISP on the router's WAN ([`Isp`]): one harness host answering as the gateway
//! (DHCP server), the DNS server and the web server of the addressing plan, optionally
//! behind the link model; it records what it handed out and who connected.

use crate::dhcp::{DhcpSeen, DhcpServer, DhcpServerConfig, DhcpServerLog, GivenLease};
use crate::dns_server::{DnsQuery, DnsServer, DnsZone};
use crate::host::Host;
use crate::http::{HttpConnection, HttpServer};
use crate::model::LinkModel;
use crate::plan;
use crate::stack::HostConfig;
use crate::wire::Wire;
use smoltcp::wire::{EthernetAddress, Ipv4Address};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct IspConfig {
    pub mac: EthernetAddress,
    /// The gateway and DHCP server address; the DNS and web server addresses. All on the
    /// WAN prefix, all answered by the one host.
    pub gateway: Ipv4Address,
    pub dns_address: Ipv4Address,
    pub http_address: Ipv4Address,
    pub prefix_len: u8,
    pub pool_first: Ipv4Address,
    pub pool_size: u32,
    pub lease_time: Duration,
    /// What the DNS server knows (A records).
    pub names: Vec<(String, Ipv4Address)>,
    /// Set TC on every UDP answer (clients must retry over TCP).
    pub truncate_udp: bool,
    /// The body of every HTTP response (except `/bytes/<n>`).
    pub http_body: Vec<u8>,
    /// A link model between the router and the ISP.
    pub model: Option<LinkModel>,
}

impl Default for IspConfig {
    /// The addressing plan ([`crate::plan`]): gateway .1, DNS .53, web .80, pool from .10,
    /// `example.test` -> .80, one-hour leases, no link model.
    fn default() -> Self {
        IspConfig {
            mac: plan::ISP_MAC,
            gateway: plan::ISP_GATEWAY,
            dns_address: plan::ISP_DNS,
            http_address: plan::ISP_HTTP,
            prefix_len: plan::WAN_PREFIX_LEN,
            pool_first: plan::WAN_POOL_FIRST,
            pool_size: 40,
            lease_time: Duration::from_secs(3600),
            names: vec![(plan::EXAMPLE_NAME.to_string(), plan::ISP_HTTP)],
            truncate_udp: false,
            http_body: b"hello from the ISP\n".to_vec(),
            model: None,
        }
    }
}

pub struct Isp {
    host: Host,
    dhcp: Arc<Mutex<DhcpServerLog>>,
    zone: Arc<Mutex<DnsZone>>,
    http: Arc<Mutex<Vec<HttpConnection>>>,
    model: Option<LinkModel>,
}

impl Isp {
    /// Starts the ISP on the wire that leads to the router's WAN NIC.
    pub fn spawn(wire: impl Wire + 'static, config: IspConfig) -> Isp {
        let wire: Box<dyn Wire> = match &config.model {
            Some(model) => Box::new(model.shape(wire)),
            None => Box::new(wire),
        };
        let mut host_config = HostConfig::new("isp", config.mac);
        for a in [config.gateway, config.dns_address, config.http_address] {
            host_config = host_config.with_address(a, config.prefix_len);
        }
        let host = Host::spawn(wire, host_config);
        let mut zone = DnsZone { ttl: 60, truncate_udp: config.truncate_udp, ..DnsZone::default() };
        for (name, a) in &config.names {
            zone.insert(name, *a);
        }
        let zone = Arc::new(Mutex::new(zone));
        let (dhcp, http) = host.with(|s| {
            let dhcp = DhcpServer::install(
                s,
                DhcpServerConfig {
                    server: config.gateway,
                    prefix_len: config.prefix_len,
                    pool_first: config.pool_first,
                    pool_size: config.pool_size,
                    router: Some(config.gateway),
                    dns: vec![config.dns_address],
                    lease_time: config.lease_time,
                },
            );
            DnsServer::install(s, config.dns_address, zone.clone());
            let http = HttpServer::install(s, Some(config.http_address), 80, &config.http_body);
            (dhcp, http)
        });
        Isp { host, dhcp, zone, http, model: config.model }
    }

    /// The leases acknowledged so far (renewals included), oldest first.
    pub fn leases(&self) -> Vec<GivenLease> {
        self.dhcp.lock().unwrap().leases.clone()
    }

    /// Waits for the first lease (the router took its WAN address).
    pub fn wait_for_lease(&self, timeout: Duration) -> Option<GivenLease> {
        self.host.wait_until(timeout, |_| self.dhcp.lock().unwrap().leases.first().cloned())
    }

    /// Every DHCP message received.
    pub fn dhcp_received(&self) -> Vec<DhcpSeen> {
        self.dhcp.lock().unwrap().received.clone()
    }

    /// Every DNS query received (UDP and TCP).
    pub fn dns_queries(&self) -> Vec<DnsQuery> {
        self.zone.lock().unwrap().queries.clone()
    }

    pub fn set_name(&self, name: &str, address: Ipv4Address) {
        self.zone.lock().unwrap().insert(name, address);
    }

    pub fn set_truncate_udp(&self, truncate: bool) {
        self.zone.lock().unwrap().truncate_udp = truncate;
    }

    /// Every HTTP connection accepted, with its source address as the ISP saw it.
    pub fn http_connections(&self) -> Vec<HttpConnection> {
        self.http.lock().unwrap().clone()
    }

    pub fn model(&self) -> Option<&LinkModel> {
        self.model.as_ref()
    }
}

/// The ISP is a host: it can ping and connect towards the router too.
impl Deref for Isp {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}
