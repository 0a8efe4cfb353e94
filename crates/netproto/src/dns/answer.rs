//! The forwarder's own answers: A records for LAN hosts, PTR for their reverse names,
//! NXDOMAIN and other error responses, and the in-addr.arpa mapping.

use super::{class, flag, rcode, Message, Name, Question, RData, Record, HEADER_LEN};
use std::net::Ipv4Addr;

/// The UDP payload size netd advertises in its OPT records (the DNS flag day 2020 value:
/// no IP fragmentation on any path).
pub const EDNS_UDP_LEN: u16 = 1232;

impl Message {
    /// A standard query for `name`, `qtype`, class IN, with RD set.
    pub fn query(id: u16, name: Name, qtype: u16) -> Message {
        let mut m = Message::default();
        m.header.id = id;
        m.header.set(flag::RD, true);
        m.questions.push(Question { name, qtype, qclass: class::IN });
        m
    }

    /// An empty NOERROR response to the query `self`: ID, opcode, RD and CD copied; QR and
    /// RA set; the questions copied; an OPT record advertising [`EDNS_UDP_LEN`] when the
    /// query had one (RFC 6891 7).
    pub fn response(&self) -> Message {
        let mut m = Message::default();
        m.header.id = self.header.id;
        m.header.flags = self.header.flags & (0x7800 | flag::RD | flag::CD);
        m.header.set(flag::QR, true);
        m.header.set(flag::RA, true);
        m.questions = self.questions.clone();
        if self.edns().is_some() {
            m.additional.push(Record::opt(EDNS_UDP_LEN));
        }
        m
    }

    /// An authoritative answer: one record per `data`, owned by the first question's name
    /// (NODATA when `data` is empty).
    pub fn answer(&self, ttl: u32, data: impl IntoIterator<Item = RData>) -> Message {
        let mut m = self.response();
        m.header.set(flag::AA, true);
        if let Some(q) = self.questions.first() {
            m.answers.extend(data.into_iter().map(|d| Record::new(q.name.clone(), ttl, d)));
        }
        m
    }

    /// A records for a LAN host.
    pub fn answer_a(&self, addrs: &[Ipv4Addr], ttl: u32) -> Message {
        self.answer(ttl, addrs.iter().map(|a| RData::A(*a)))
    }

    /// The PTR record of a LAN host's reverse name.
    pub fn answer_ptr(&self, host: &Name, ttl: u32) -> Message {
        self.answer(ttl, [RData::Ptr(host.clone())])
    }

    /// Authoritative NXDOMAIN; `soa` (the local zone's) goes in the authority section so
    /// that clients may cache the answer (RFC 2308).
    pub fn nxdomain(&self, soa: Option<Record>) -> Message {
        let mut m = self.response();
        m.header.set(flag::AA, true);
        m.header.set_rcode(rcode::NXDOMAIN);
        m.authority.extend(soa);
        m
    }

    /// An error response (SERVFAIL, REFUSED, NOTIMP, ...) with the questions.
    pub fn error(&self, rcode: u8) -> Message {
        let mut m = self.response();
        m.header.set_rcode(rcode);
        m
    }
}

/// FORMERR for a query that does not parse: its ID, QR set, no sections. None when there
/// is no whole header or it is already a response (never answer a response).
pub fn formerr(query: &[u8]) -> Option<[u8; HEADER_LEN]> {
    let h = query.get(..HEADER_LEN)?;
    if h[2] & 0x80 != 0 {
        return None;
    }
    let mut out = [0u8; HEADER_LEN];
    out[..2].copy_from_slice(&h[..2]);
    out[2] = 0x80 | (h[2] & 0x79); // QR, opcode, RD
    out[3] = rcode::FORMERR;
    Some(out)
}

/// `192.168.1.10` -> `10.1.168.192.in-addr.arpa`.
pub fn reverse_name(ip: Ipv4Addr) -> Name {
    let [a, b, c, d] = ip.octets();
    let text = format!("{d}.{c}.{b}.{a}.in-addr.arpa");
    // Digits and fixed labels: always a valid name.
    Name::from_ascii(&text).unwrap_or_else(|_| Name::root())
}

/// The address of a host's reverse name (`d.c.b.a.in-addr.arpa`, any case, octets in
/// plain decimal); None for any other name, zones like `1.168.192.in-addr.arpa` included.
pub fn parse_reverse_name(name: &Name) -> Option<Ipv4Addr> {
    let labels: Vec<&[u8]> = name.labels().collect();
    let [d, c, b, a, inaddr, arpa] = labels.as_slice() else { return None };
    if !inaddr.eq_ignore_ascii_case(b"in-addr") || !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    let octet = |l: &[u8]| -> Option<u8> {
        if l.is_empty() || l.len() > 3 || (l.len() > 1 && l[0] == b'0') || !l.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(l).ok()?.parse().ok()
    };
    Some(Ipv4Addr::new(octet(a)?, octet(b)?, octet(c)?, octet(d)?))
}
