//! The properties the fuzz targets (fuzz/) and the seeded mutation test
//! (tests/mutations.rs) check on arbitrary bytes: one definition for both. Each panics
//! when a property fails, which is how a fuzzer sees a bug. Not for netd.

use crate::{dhcp, dhcpv6, dns, ndp};

/// DHCP: parse never panics; what parses encodes, and reads back equal.
pub fn dhcp_parse(data: &[u8]) {
    match dhcp::Message::parse(data) {
        Ok(m) => {
            let bytes = m.encode().unwrap_or_else(|e| panic!("parsed message does not encode: {e}: {m:?}"));
            let back = dhcp::Message::parse(&bytes).unwrap_or_else(|e| panic!("re-encoded message does not parse: {e}"));
            assert_eq!(back, m, "DHCP round trip changed the message");
            let _ = (m.reply(dhcp::MessageType::Nak).encode(), m.options.routers(), m.options.dns_servers());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// DNS: parse and the byte-level helpers never panic; the helpers accept what parses;
/// replies built from a parsed query encode.
pub fn dns_parse(data: &[u8]) {
    let walked = dns::cache::min_ttl(data);
    let mut copy = data.to_vec();
    let aged = dns::cache::age_ttls(&mut copy, 30);
    let mut stripped = data.to_vec();
    let strip = dns::cache::strip_opt(&mut stripped);
    let _ = (dns::cache::is_truncated(data), dns::cache::id(data), dns::answer::formerr(data), dns::tcp::unframe(data));
    match dns::Message::parse(data) {
        Ok(m) => {
            assert!(walked.is_ok() && aged.is_ok(), "parse accepted what the cache walker refused: {walked:?} {aged:?}");
            if strip == Ok(true) {
                let mut want = m.clone();
                want.additional.pop();
                assert_eq!(dns::Message::parse(&stripped).as_ref(), Ok(&want), "strip_opt removed more than the OPT record");
            } else {
                assert_eq!(strip, Ok(false), "parse accepted what strip_opt refused");
                assert_eq!(stripped, data, "strip_opt changed a message it did not strip");
            }
            if let Some(q) = m.questions.first() {
                let _ = (q.name.to_string(), dns::parse_reverse_name(&q.name));
            }
            m.answer_a(&[std::net::Ipv4Addr::LOCALHOST], 60).encode_truncated(dns::UDP_LEN).ok();
            m.nxdomain(None).encode().ok();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// DNS: what parses encodes (compressed and not) and reads back equal.
pub fn dns_roundtrip(data: &[u8]) {
    let Ok(m) = dns::Message::parse(data) else { return };
    for compress in [true, false] {
        let bytes = match if compress { m.encode() } else { m.encode_uncompressed() } {
            Ok(b) => b,
            // Names written out in full can exceed 64 KiB; nothing else may fail.
            Err(dns::EncodeError::TooLong { .. }) => continue,
            Err(e) => panic!("parsed message does not encode (compress {compress}): {e}"),
        };
        let back = dns::Message::parse(&bytes).unwrap_or_else(|e| panic!("re-encoded message does not parse (compress {compress}): {e}"));
        assert_eq!(back, m, "DNS round trip changed the message (compress {compress})");
        if compress {
            let mut aged = bytes.clone();
            dns::cache::age_ttls(&mut aged, 1).expect("encoded message walks");
        }
    }
}

/// DHCPv6 and neighbour discovery: parse never panics; what parses encodes and reads back
/// equal; the accessors a client uses never panic.
pub fn dhcpv6_parse(data: &[u8]) {
    match dhcpv6::Message::parse(data) {
        Ok(m) => {
            let bytes = m.encode().unwrap_or_else(|e| panic!("parsed DHCPv6 message does not encode: {e}: {m:?}"));
            let back = dhcpv6::Message::parse(&bytes).unwrap_or_else(|e| panic!("re-encoded DHCPv6 message does not parse: {e}"));
            assert_eq!(back, m, "DHCPv6 round trip changed the message");
            let _ = (m.client_id(), m.server_id(), m.preference(), m.status(), m.dns_servers());
            if let Some(ia) = m.ia_pd(1).or_else(|| m.ia_na(1)) {
                let _ = (ia.prefixes().count(), ia.addrs().count(), ia.status());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = ndp::parse_solicit(data).map_err(|e| e.to_string());
    if let Ok(ra) = ndp::RouterAdvert::parse(data) {
        let again = ndp::RouterAdvert::parse(&ra.encode()).unwrap_or_else(|e| panic!("re-encoded RA does not parse: {e}"));
        // Encoding keeps the options it knows, at most 127 servers per RDNSS, none empty.
        assert_eq!(again.prefixes, ra.prefixes, "RA round trip changed the prefixes");
    }
}
