//! DHCP options (RFC 2132): the option-area codec (pad, end, RFC 3396 concatenation of a
//! repeated code, long values split on output) and typed accessors for what netd uses.

use super::DhcpError;
use crate::wire::Reader;
use std::net::Ipv4Addr;

/// Option codes (RFC 2132 unless noted).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    /// NTP servers (RFC 2132 8.3).
    pub const NTP_SERVERS: u8 = 42;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    /// Option overload: the `file` and/or `sname` fields carry options. Consumed by the
    /// parser, never stored in [`Options`](super::Options), never written.
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Error text, in a DHCPNAK or DHCPDECLINE.
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// T1.
    pub const RENEWAL_TIME: u8 = 58;
    /// T2.
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS_ID: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// DHCP message type (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    /// 9 and up (FORCERENEW, LEASEQUERY, ...): carried, not interpreted.
    Other(u8),
}

impl MessageType {
    /// None for 0, which no RFC defines.
    pub fn from_u8(v: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match v {
            0 => return None,
            1 => Discover,
            2 => Offer,
            3 => Request,
            4 => Decline,
            5 => Ack,
            6 => Nak,
            7 => Release,
            8 => Inform,
            n => Other(n),
        })
    }

    pub fn to_u8(self) -> u8 {
        use MessageType::*;
        match self {
            Discover => 1,
            Offer => 2,
            Request => 3,
            Decline => 4,
            Ack => 5,
            Nak => 6,
            Release => 7,
            Inform => 8,
            // `Other(0..=8)` cannot come from the parser; written as it is.
            Other(n) => n,
        }
    }
}

/// The options of a message, in order, each code once (a code repeated on the wire is one
/// value, its parts concatenated, RFC 3396). Pad, end and overload are not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    entries: Vec<(u8, Vec<u8>)>,
}

/// What a known option's value must look like; `Err(expected)` describes it.
pub(super) fn check(code: u8, value: &[u8]) -> Result<(), &'static str> {
    use code::*;
    let n = value.len();
    let ok = match code {
        SUBNET_MASK | BROADCAST_ADDRESS | REQUESTED_IP | SERVER_ID => n == 4,
        LEASE_TIME | RENEWAL_TIME | REBINDING_TIME => n == 4,
        ROUTER | DNS_SERVERS => n >= 4 && n.is_multiple_of(4),
        MESSAGE_TYPE => return if n == 1 && value[0] != 0 { Ok(()) } else { Err("1 byte, not 0") },
        MAX_MESSAGE_SIZE => return if n == 2 && u16::from_be_bytes([value[0], value[1]]) >= 576 { Ok(()) } else { Err("2 bytes, at least 576") },
        CLIENT_ID => n >= 2,
        HOSTNAME | DOMAIN_NAME | PARAMETER_REQUEST_LIST | MESSAGE | VENDOR_CLASS_ID => n >= 1,
        OVERLOAD => return if n == 1 && (1..=3).contains(&value[0]) { Ok(()) } else { Err("1 byte: 1 (file), 2 (sname) or 3 (both)") },
        PAD | END => return Err("no value (pad and end are single bytes)"),
        _ => true,
    };
    if ok {
        return Ok(());
    }
    Err(match code {
        ROUTER | DNS_SERVERS => "a non-empty multiple of 4 bytes",
        CLIENT_ID => "at least 2 bytes",
        HOSTNAME | DOMAIN_NAME | PARAMETER_REQUEST_LIST | MESSAGE | VENDOR_CLASS_ID => "at least 1 byte",
        _ => "4 bytes",
    })
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }

    /// Reads an option area `buf[start..end]` (positions are packet offsets, for errors)
    /// into `self`, concatenating repeated codes. Stops at END (returns true) or at `end`
    /// (returns false).
    pub(super) fn read_area(&mut self, buf: &[u8], start: usize, end: usize, overload_allowed: bool) -> Result<bool, DhcpError> {
        let mut r = Reader::at(&buf[..end], start);
        while r.remaining() > 0 {
            let at = r.pos();
            let c = r.u8("option code")?;
            match c {
                code::PAD => continue,
                code::END => return Ok(true),
                code::OVERLOAD if !overload_allowed => return Err(DhcpError::NestedOverload { at }),
                _ => {}
            }
            let len = r.u8("option length")?;
            let left = r.remaining();
            let value = r.take(len as usize, "option value").map_err(|_| DhcpError::OptionPastEnd { at, code: c, len, left })?;
            match self.entries.iter_mut().find(|(k, _)| *k == c) {
                Some((_, v)) => v.extend_from_slice(value),
                None => self.entries.push((c, value.to_vec())),
            }
        }
        Ok(false)
    }

    /// Checks every known option's length (and the few values that have a range).
    pub(super) fn validate(&self) -> Result<(), DhcpError> {
        for (c, v) in &self.entries {
            check(*c, v).map_err(|expected| DhcpError::BadOption { code: *c, len: v.len(), expected })?;
        }
        Ok(())
    }

    /// Removes and returns the overload value, if any.
    pub(super) fn take_overload(&mut self) -> Option<Vec<u8>> {
        let i = self.entries.iter().position(|(c, _)| *c == code::OVERLOAD)?;
        Some(self.entries.remove(i).1)
    }

    /// Appends the option area: each value in parts of at most 255 bytes (RFC 3396), then END.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        for (c, v) in &self.entries {
            if v.is_empty() {
                out.extend_from_slice(&[*c, 0]);
            }
            for part in v.chunks(255) {
                out.push(*c);
                out.push(part.len() as u8);
                out.extend_from_slice(part);
            }
        }
        out.push(code::END);
    }

    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.entries.iter().find(|(c, _)| *c == code).map(|(_, v)| v.as_slice())
    }

    /// Replaces the value of `code`, or appends it. Values are checked when the message is
    /// encoded ([`EncodeError::BadOption`](super::EncodeError::BadOption)).
    pub fn set(&mut self, code: u8, value: &[u8]) {
        match self.entries.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => {
                v.clear();
                v.extend_from_slice(value);
            }
            None => self.entries.push((code, value.to_vec())),
        }
    }

    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let i = self.entries.iter().position(|(c, _)| *c == code)?;
        Some(self.entries.remove(i).1)
    }

    /// (code, value) in message order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.entries.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn ip(&self, code: u8) -> Option<Ipv4Addr> {
        let v: [u8; 4] = self.get(code)?.try_into().ok()?;
        Some(Ipv4Addr::from(v))
    }

    fn u32(&self, code: u8) -> Option<u32> {
        Some(u32::from_be_bytes(self.get(code)?.try_into().ok()?))
    }

    fn ips(&self, code: u8) -> Vec<Ipv4Addr> {
        let v = self.get(code).unwrap_or_default();
        v.chunks_exact(4).map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3])).collect()
    }

    fn set_ips(&mut self, code: u8, ips: &[Ipv4Addr]) {
        let v: Vec<u8> = ips.iter().flat_map(|ip| ip.octets()).collect();
        self.set(code, &v);
    }

    /// Option 53. A value of the wrong length reads as None.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.get(code::MESSAGE_TYPE)? {
            [v] => MessageType::from_u8(*v),
            _ => None,
        }
    }

    /// Sets option 53 and moves it first, where clients and servers put it.
    pub fn set_message_type(&mut self, t: MessageType) {
        self.remove(code::MESSAGE_TYPE);
        self.entries.insert(0, (code::MESSAGE_TYPE, vec![t.to_u8()]));
    }

    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ip(code::REQUESTED_IP)
    }
    pub fn set_requested_ip(&mut self, ip: Ipv4Addr) {
        self.set(code::REQUESTED_IP, &ip.octets())
    }
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ip(code::SERVER_ID)
    }
    pub fn set_server_id(&mut self, ip: Ipv4Addr) {
        self.set(code::SERVER_ID, &ip.octets())
    }
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.ip(code::SUBNET_MASK)
    }
    pub fn set_subnet_mask(&mut self, mask: Ipv4Addr) {
        self.set(code::SUBNET_MASK, &mask.octets())
    }
    pub fn broadcast_address(&self) -> Option<Ipv4Addr> {
        self.ip(code::BROADCAST_ADDRESS)
    }
    pub fn set_broadcast_address(&mut self, ip: Ipv4Addr) {
        self.set(code::BROADCAST_ADDRESS, &ip.octets())
    }
    /// Lease time in seconds (0xffffffff: infinite).
    pub fn lease_time(&self) -> Option<u32> {
        self.u32(code::LEASE_TIME)
    }
    pub fn set_lease_time(&mut self, secs: u32) {
        self.set(code::LEASE_TIME, &secs.to_be_bytes())
    }
    /// T1, seconds.
    pub fn renewal_time(&self) -> Option<u32> {
        self.u32(code::RENEWAL_TIME)
    }
    pub fn set_renewal_time(&mut self, secs: u32) {
        self.set(code::RENEWAL_TIME, &secs.to_be_bytes())
    }
    /// T2, seconds.
    pub fn rebinding_time(&self) -> Option<u32> {
        self.u32(code::REBINDING_TIME)
    }
    pub fn set_rebinding_time(&mut self, secs: u32) {
        self.set(code::REBINDING_TIME, &secs.to_be_bytes())
    }
    /// Option 3, in preference order; empty when absent.
    pub fn routers(&self) -> Vec<Ipv4Addr> {
        self.ips(code::ROUTER)
    }
    pub fn set_routers(&mut self, ips: &[Ipv4Addr]) {
        self.set_ips(code::ROUTER, ips)
    }
    /// Option 6, in preference order; empty when absent.
    pub fn dns_servers(&self) -> Vec<Ipv4Addr> {
        self.ips(code::DNS_SERVERS)
    }
    pub fn set_dns_servers(&mut self, ips: &[Ipv4Addr]) {
        self.set_ips(code::DNS_SERVERS, ips)
    }
    /// Option 42, in preference order; empty when absent.
    pub fn ntp_servers(&self) -> Vec<Ipv4Addr> {
        self.ips(code::NTP_SERVERS)
    }
    pub fn set_ntp_servers(&mut self, ips: &[Ipv4Addr]) {
        self.set_ips(code::NTP_SERVERS, ips)
    }
    /// Option 15, as sent (not necessarily ASCII: check before use).
    pub fn domain_name(&self) -> Option<&[u8]> {
        self.get(code::DOMAIN_NAME)
    }
    pub fn set_domain_name(&mut self, name: &[u8]) {
        self.set(code::DOMAIN_NAME, name)
    }
    /// Option 12, as sent (not necessarily a valid DNS label: check before use).
    pub fn hostname(&self) -> Option<&[u8]> {
        self.get(code::HOSTNAME)
    }
    pub fn set_hostname(&mut self, name: &[u8]) {
        self.set(code::HOSTNAME, name)
    }
    /// Option 61: type byte then identifier (type 1: Ethernet MAC; 255: RFC 4361 IAID+DUID).
    pub fn client_id(&self) -> Option<&[u8]> {
        self.get(code::CLIENT_ID)
    }
    pub fn set_client_id(&mut self, id: &[u8]) {
        self.set(code::CLIENT_ID, id)
    }
    /// Option 55: the option codes the client asks for.
    pub fn parameter_request_list(&self) -> Option<&[u8]> {
        self.get(code::PARAMETER_REQUEST_LIST)
    }
    pub fn set_parameter_request_list(&mut self, codes: &[u8]) {
        self.set(code::PARAMETER_REQUEST_LIST, codes)
    }
    /// Option 57: the largest DHCP message (IP header included) the client accepts.
    pub fn max_message_size(&self) -> Option<u16> {
        Some(u16::from_be_bytes(self.get(code::MAX_MESSAGE_SIZE)?.try_into().ok()?))
    }
    pub fn set_max_message_size(&mut self, size: u16) {
        self.set(code::MAX_MESSAGE_SIZE, &size.to_be_bytes())
    }
    /// Option 56: error text of a DHCPNAK.
    pub fn message(&self) -> Option<&[u8]> {
        self.get(code::MESSAGE)
    }
    pub fn set_message(&mut self, text: &[u8]) {
        self.set(code::MESSAGE, text)
    }
}
