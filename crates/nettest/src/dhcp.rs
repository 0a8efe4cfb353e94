//! DHCPv4 on the harness hosts: the ISP's server ([`DhcpServer`]: a pool, one lease per
//! MAC, every ACK recorded with the client's hostname) and the LAN client's service
//! ([`DhcpClient`]: smoltcp's client socket, sending a hostname, applying the lease to
//! the interface). Packets through `smoltcp::wire::DhcpRepr`.

use crate::stack::{Service, Stack};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;
const OPT_HOSTNAME: u8 = 12;
const OPT_DNS: u8 = 6;
const OPT_RENEWAL: u8 = 58;
const OPT_REBINDING: u8 = 59;

/// What the ISP's DHCP server hands out.
#[derive(Debug, Clone)]
pub struct DhcpServerConfig {
    /// The server's own address (server identifier, source of the replies).
    pub server: Ipv4Address,
    pub prefix_len: u8,
    /// The pool: `pool_size` consecutive addresses from `pool_first`.
    pub pool_first: Ipv4Address,
    pub pool_size: u32,
    pub router: Option<Ipv4Address>,
    pub dns: Vec<Ipv4Address>,
    /// Lease time (T1 is half of it, T2 seven eighths).
    pub lease_time: Duration,
}

/// An address the server acknowledged (a first lease, a renewal or a rebind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenLease {
    pub mac: EthernetAddress,
    pub address: Ipv4Address,
    /// The client's hostname option (12), if it sent one.
    pub hostname: Option<String>,
    pub lease_time: Duration,
    /// The client already had the address (it sent ciaddr): a renewal or a rebind.
    pub renewal: bool,
    /// On the ISP host's clock.
    pub at: Instant,
}

/// A DHCP message the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSeen {
    pub message_type: DhcpMessageType,
    pub mac: EthernetAddress,
    pub hostname: Option<String>,
    pub at: Instant,
}

/// What the server did, shared with the test.
#[derive(Debug, Default)]
pub struct DhcpServerLog {
    pub leases: Vec<GivenLease>,
    pub received: Vec<DhcpSeen>,
}

pub struct DhcpServer {
    config: DhcpServerConfig,
    socket: SocketHandle,
    bindings: BTreeMap<EthernetAddress, Ipv4Address>,
    log: Arc<Mutex<DhcpServerLog>>,
}

impl DhcpServer {
    /// Adds the server to a stack (UDP port 67); returns its log.
    pub fn install(stack: &mut Stack, config: DhcpServerConfig) -> Arc<Mutex<DhcpServerLog>> {
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 * 1500]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 * 1500]),
        );
        socket.bind(SERVER_PORT).expect("port 67 is free");
        let socket = stack.sockets.add(socket);
        let log = Arc::new(Mutex::new(DhcpServerLog::default()));
        stack.add_service(DhcpServer { config, socket, bindings: BTreeMap::new(), log: log.clone() });
        log
    }

    fn in_pool(&self, a: Ipv4Address) -> bool {
        let (first, a) = (u32::from(self.config.pool_first), u32::from(a));
        a >= first && a - first < self.config.pool_size
    }

    /// The client's address: the one it has, else the one it asks for if free, else the
    /// first free one.
    fn address_for(&self, mac: EthernetAddress, requested: Option<Ipv4Address>) -> Option<Ipv4Address> {
        if let Some(a) = self.bindings.get(&mac) {
            return Some(*a);
        }
        let free = |a: Ipv4Address| self.in_pool(a) && !self.bindings.values().any(|b| *b == a);
        if let Some(r) = requested.filter(|r| free(*r)) {
            return Some(r);
        }
        (0..self.config.pool_size).map(|i| Ipv4Address::from(u32::from(self.config.pool_first) + i)).find(|a| free(*a))
    }

    /// The reply to one client message, and where it goes.
    fn answer(&mut self, now: Instant, req: &DhcpRepr, hostname: Option<String>) -> Option<(DhcpMessageType, Ipv4Address, IpEndpoint)> {
        let mac = req.client_hardware_address;
        self.log.lock().unwrap().received.push(DhcpSeen { message_type: req.message_type, mac, hostname: hostname.clone(), at: now });
        let to_client = if req.client_ip.is_unspecified() {
            IpEndpoint::new(Ipv4Address::BROADCAST.into(), CLIENT_PORT)
        } else {
            IpEndpoint::new(req.client_ip.into(), CLIENT_PORT)
        };
        match req.message_type {
            DhcpMessageType::Discover => {
                let address = self.address_for(mac, req.requested_ip)?;
                Some((DhcpMessageType::Offer, address, to_client))
            }
            DhcpMessageType::Request => {
                if req.server_identifier.is_some_and(|s| s != self.config.server) {
                    return None; // the client chose another server
                }
                let wanted = req.requested_ip.unwrap_or(req.client_ip);
                match self.address_for(mac, Some(wanted)) {
                    Some(address) if address == wanted => {
                        self.bindings.insert(mac, address);
                        let renewal = !req.client_ip.is_unspecified();
                        self.log.lock().unwrap().leases.push(GivenLease { mac, address, hostname, lease_time: self.config.lease_time, renewal, at: now });
                        Some((DhcpMessageType::Ack, address, to_client))
                    }
                    _ => Some((DhcpMessageType::Nak, Ipv4Address::UNSPECIFIED, IpEndpoint::new(Ipv4Address::BROADCAST.into(), CLIENT_PORT))),
                }
            }
            DhcpMessageType::Release => {
                self.bindings.remove(&mac);
                None
            }
            _ => None,
        }
    }

    fn encode(&self, kind: DhcpMessageType, address: Ipv4Address, req: &DhcpRepr) -> Vec<u8> {
        let lease = self.config.lease_time.as_secs().min(u64::from(u32::MAX)) as u32;
        let dns: Vec<u8> = self.config.dns.iter().flat_map(|a| a.octets()).collect();
        let (t1, t2) = ((lease / 2).to_be_bytes(), (lease / 8 * 7).to_be_bytes());
        let mut extra = vec![DhcpOption { kind: OPT_RENEWAL, data: &t1 }, DhcpOption { kind: OPT_REBINDING, data: &t2 }];
        if !dns.is_empty() {
            extra.push(DhcpOption { kind: OPT_DNS, data: &dns });
        }
        let nak = kind == DhcpMessageType::Nak;
        let mask = Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, self.config.prefix_len).netmask();
        let repr = DhcpRepr {
            message_type: kind,
            transaction_id: req.transaction_id,
            secs: 0,
            client_hardware_address: req.client_hardware_address,
            client_ip: if kind == DhcpMessageType::Ack { req.client_ip } else { Ipv4Address::UNSPECIFIED },
            your_ip: address,
            server_ip: Ipv4Address::UNSPECIFIED,
            router: if nak { None } else { self.config.router },
            subnet_mask: (!nak).then_some(mask),
            relay_agent_ip: req.relay_agent_ip,
            broadcast: req.broadcast,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(self.config.server),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: (!nak).then_some(lease),
            renew_duration: None,
            rebind_duration: None,
            additional_options: if nak { &[] } else { &extra },
        };
        // BOOTP's minimum of 300 bytes: some clients drop shorter replies. The rest is PAD.
        let mut buf = vec![0; repr.buffer_len().max(300)];
        repr.emit(&mut DhcpPacket::new_unchecked(&mut buf)).expect("the buffer holds the reply");
        buf
    }
}

/// The hostname option of a DHCP packet.
fn hostname(packet: &DhcpPacket<&[u8]>) -> Option<String> {
    packet.options().find(|o| o.kind == OPT_HOSTNAME).map(|o| String::from_utf8_lossy(o.data).into_owned())
}

impl Service for DhcpServer {
    fn poll(&mut self, now: Instant, _iface: &mut Interface, sockets: &mut SocketSet<'static>) {
        loop {
            let socket = sockets.get_mut::<udp::Socket>(self.socket);
            let Ok((payload, _meta)) = socket.recv() else { break };
            let payload = payload.to_vec();
            let Ok(packet) = DhcpPacket::new_checked(&payload[..]) else { continue };
            let Ok(req) = DhcpRepr::parse(&packet) else { continue };
            let Some((kind, address, to)) = self.answer(now, &req, hostname(&packet)) else { continue };
            let reply = self.encode(kind, address, &req);
            let meta = udp::UdpMetadata { local_address: Some(self.config.server.into()), ..to.into() };
            let _ = sockets.get_mut::<udp::Socket>(self.socket).send_slice(&reply, meta);
        }
    }
}

/// A lease the harness client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Cidr,
    pub router: Option<Ipv4Address>,
    pub dns_servers: Vec<Ipv4Address>,
    /// The server's identifier.
    pub server: Ipv4Address,
    pub lease_time: Option<Duration>,
}

/// The client's state, shared with the test: the current lease and every one it got.
#[derive(Debug, Default)]
pub struct DhcpClientState {
    pub lease: Option<Lease>,
    pub history: Vec<Lease>,
}

/// smoltcp's DHCP client socket, applying what it gets to the interface (address, default
/// route) and recording it.
pub struct DhcpClient {
    socket: SocketHandle,
    state: Arc<Mutex<DhcpClientState>>,
}

impl DhcpClient {
    /// Adds a DHCP client to a stack; it sends `hostname` (option 12) if given.
    pub fn install(stack: &mut Stack, hostname: Option<&str>) -> Arc<Mutex<DhcpClientState>> {
        let mut socket = dhcpv4::Socket::new();
        if let Some(name) = hostname {
            // smoltcp keeps a borrow for the socket's lifetime ('static in a host): leak the
            // few bytes, once per client.
            let data: &'static [u8] = Box::leak(name.as_bytes().to_vec().into_boxed_slice());
            let options: &'static [DhcpOption<'static>] = Box::leak(Box::new([DhcpOption { kind: OPT_HOSTNAME, data }]));
            socket.set_outgoing_options(options);
        }
        // Keeps the ACK, to read its lease time (leaked like the options: one per client).
        socket.set_receive_packet_buffer(Box::leak(vec![0u8; 1500].into_boxed_slice()));
        let socket = stack.sockets.add(socket);
        let state = Arc::new(Mutex::new(DhcpClientState::default()));
        stack.add_service(DhcpClient { socket, state: state.clone() });
        state
    }
}

impl Service for DhcpClient {
    fn poll(&mut self, _now: Instant, iface: &mut Interface, sockets: &mut SocketSet<'static>) {
        let event = match sockets.get_mut::<dhcpv4::Socket>(self.socket).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(config)) => {
                let lease_time =
                    config.packet.as_ref().and_then(|p| DhcpRepr::parse(p).ok()).and_then(|r| r.lease_duration).map(|s| Duration::from_secs(s.into()));
                Some(Lease {
                    address: config.address,
                    router: config.router,
                    dns_servers: config.dns_servers.iter().copied().collect(),
                    server: config.server.identifier,
                    lease_time,
                })
            }
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        iface.update_ip_addrs(|addrs| {
            addrs.retain(|a| !matches!(a, IpCidr::Ipv4(_)));
            if let Some(lease) = &event {
                let _ = addrs.push(IpCidr::Ipv4(lease.address));
            }
        });
        iface.routes_mut().remove_default_ipv4_route();
        if let Some(router) = event.as_ref().and_then(|l| l.router) {
            let _ = iface.routes_mut().add_default_ipv4_route(router);
        }
        let mut state = self.state.lock().unwrap();
        state.history.extend(event.clone());
        state.lease = event;
    }
}
