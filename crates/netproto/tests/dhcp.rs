//! DHCPv4 with real packets: the DISCOVER/OFFER/REQUEST/ACK exchange of udhcpc and
//! dhclient against this crate's server-side builder, overload, and every way to break them.

mod common;

use common::*;
use netproto::dhcp::{code, DhcpError, EncodeError, HwAddr, Message, MessageType, Op, FLAG_BROADCAST};
use netproto::Truncated;
use std::net::Ipv4Addr;

#[test]
fn udhcpc_discover_offer_request_ack() {
    // DISCOVER from the client.
    let disc = Message::parse(&udhcpc_discover()).unwrap();
    assert_eq!(disc.op, Op::Request);
    assert_eq!(disc.xid, XID);
    assert!(disc.broadcast());
    assert_eq!(disc.chaddr, HwAddr::ethernet(MAC));
    assert_eq!(disc.chaddr.to_string(), "52:54:00:12:34:56");
    assert_eq!(disc.message_type(), Some(MessageType::Discover));
    let o = &disc.options;
    assert_eq!(o.client_id(), Some(&[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56][..]));
    assert_eq!(o.max_message_size(), Some(576));
    assert_eq!(disc.max_reply_len(), 548);
    assert_eq!(o.parameter_request_list(), Some(&[1, 3, 6, 12, 15, 28, 42][..]));
    assert_eq!(o.hostname(), Some(&b"laptop"[..]));
    assert_eq!(o.get(code::VENDOR_CLASS_ID), Some(&b"udhcp 1.36.1"[..]));
    assert_eq!(o.requested_ip(), None);
    assert_eq!(o.iter().map(|(c, _)| c).collect::<Vec<_>>(), [53, 61, 57, 55, 12, 60]);

    // OFFER from the server, checked byte by byte where RFC 2131 puts things.
    let offer_bytes = offer(&disc).encode().unwrap();
    assert_eq!(offer_bytes.len(), 300, "padded to the BOOTP minimum");
    assert_eq!(&offer_bytes[..4], &[2, 1, 6, 0]);
    assert_eq!(&offer_bytes[4..8], &XID.to_be_bytes());
    assert_eq!(&offer_bytes[10..12], &[0x80, 0], "broadcast flag echoed");
    assert_eq!(&offer_bytes[12..16], &[0; 4], "ciaddr");
    assert_eq!(&offer_bytes[16..20], &[192, 168, 1, 100], "yiaddr");
    assert_eq!(&offer_bytes[28..34], &MAC);
    assert_eq!(&offer_bytes[236..240], &[99, 130, 83, 99]);
    #[rustfmt::skip]
    let options: &[u8] = &[
        53, 1, 2,
        54, 4, 192, 168, 1, 1,
        51, 4, 0, 0, 0xa8, 0xc0,
        58, 4, 0, 0, 0x54, 0x60,
        59, 4, 0, 0, 0x93, 0xa8,
        1, 4, 255, 255, 255, 0,
        3, 4, 192, 168, 1, 1,
        6, 4, 192, 168, 1, 1,
        15, 3, b'l', b'a', b'n',
        255,
    ];
    assert_eq!(&offer_bytes[240..240 + options.len()], options);
    assert!(offer_bytes[240 + options.len()..].iter().all(|&b| b == 0));

    // The client reads the offer.
    let off = Message::parse(&offer_bytes).unwrap();
    assert_eq!(off.op, Op::Reply);
    assert_eq!(off.message_type(), Some(MessageType::Offer));
    assert_eq!(off.yiaddr, OFFERED);
    assert_eq!(off.options.server_id(), Some(SERVER));
    assert_eq!(off.options.lease_time(), Some(43200));
    assert_eq!(off.options.renewal_time(), Some(21600));
    assert_eq!(off.options.rebinding_time(), Some(37800));
    assert_eq!(off.options.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(off.options.routers(), [SERVER]);
    assert_eq!(off.options.dns_servers(), [SERVER]);
    assert_eq!(off.options.domain_name(), Some(&b"lan"[..]));

    // REQUEST for the offered address, then ACK.
    let req = Message::parse(&udhcpc_request()).unwrap();
    assert_eq!(req.message_type(), Some(MessageType::Request));
    assert_eq!(req.options.requested_ip(), Some(OFFERED));
    assert_eq!(req.options.server_id(), Some(SERVER));
    let ack = Message::parse(&ack(&req).encode().unwrap()).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!((ack.xid, ack.yiaddr, ack.chaddr), (XID, OFFERED, HwAddr::ethernet(MAC)));

    // Renewal: ciaddr set, unicast.
    let renew = Message::parse(&udhcpc_renew()).unwrap();
    assert_eq!(renew.ciaddr, OFFERED);
    assert!(!renew.broadcast());
    assert_eq!(renew.options.requested_ip(), None);

    let nak = Message::parse(&nak(&req).encode().unwrap()).unwrap();
    assert_eq!(nak.message_type(), Some(MessageType::Nak));
    assert_eq!(nak.options.message(), Some(&b"requested address not available"[..]));
}

#[test]
fn dhclient_discover() {
    let d = Message::parse(&common::dhclient_discover()).unwrap();
    assert_eq!(d.message_type(), Some(MessageType::Discover));
    assert_eq!(d.options.requested_ip(), Some(OFFERED));
    assert_eq!(d.options.parameter_request_list().unwrap().len(), 13);
    assert_eq!(d.max_reply_len(), 548, "no option 57: RFC 2131's 576");
    assert!(!d.broadcast());
}

#[test]
fn client_side_builder() {
    let mut m = Message::request(MessageType::Discover, 7, MAC);
    m.flags = FLAG_BROADCAST;
    m.options.set_client_id(&[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    m.options.set_max_message_size(576);
    m.options.set_parameter_request_list(&[1, 3, 6, 12, 15, 28, 42]);
    m.options.set_hostname(b"laptop");
    m.options.set(code::VENDOR_CLASS_ID, b"udhcp 1.36.1");
    m.xid = XID;
    assert_eq!(m.encode().unwrap(), udhcpc_discover(), "the same bytes as udhcpc");
}

#[test]
fn overload_reads_file_then_sname_and_concatenates() {
    let m = Message::parse(&overloaded_ack()).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.options.server_id(), Some(SERVER));
    assert_eq!(m.options.lease_time(), Some(3600));
    assert_eq!(m.options.dns_servers(), [SERVER, Ipv4Addr::new(8, 8, 8, 8)], "file's part first, then sname's");
    assert_eq!(m.options.routers(), [SERVER]);
    assert_eq!(m.options.get(code::OVERLOAD), None);
    assert!(m.sname.is_empty() && m.file.is_empty());
    // Re-encoded without overload, it reads the same.
    assert_eq!(Message::parse(&m.encode().unwrap()).unwrap(), m);
}

#[test]
fn long_values_are_split_and_joined() {
    let mut m = Message::request(MessageType::Inform, 1, MAC);
    let servers: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    m.options.set_dns_servers(&servers);
    let bytes = m.encode().unwrap();
    assert_eq!(&bytes[243..245], &[6, 255], "first part 255 bytes");
    assert_eq!(&bytes[243 + 257..243 + 259], &[6, 145], "then the other 145");
    assert_eq!(Message::parse(&bytes).unwrap().options.dns_servers(), servers);
}

#[test]
fn sname_and_file_text() {
    let mut m = Message::parse(&udhcpc_discover()).unwrap().reply(MessageType::Offer);
    m.sname = b"gw".to_vec();
    m.file = b"pxelinux.0".to_vec();
    let back = Message::parse(&m.encode().unwrap()).unwrap();
    assert_eq!((back.sname.as_slice(), back.file.as_slice()), (&b"gw"[..], &b"pxelinux.0"[..]));
    m.sname = vec![b'a'; 65];
    assert_eq!(m.encode(), Err(EncodeError::FieldTooLong { field: "sname", len: 65, max: 64 }));
    m.sname = b"a\0b".to_vec();
    assert_eq!(m.encode(), Err(EncodeError::NulInField { field: "sname" }));
}

#[test]
fn encoder_refuses_what_the_parser_would() {
    let mut m = Message::request(MessageType::Discover, 1, MAC);
    m.options.set(code::MESSAGE_TYPE, &[1, 2]);
    assert_eq!(m.encode(), Err(EncodeError::BadOption { code: 53, len: 2, expected: "1 byte, not 0" }));
    m.options.set_message_type(MessageType::Discover);
    m.options.set(code::OVERLOAD, &[1]);
    assert!(matches!(m.encode(), Err(EncodeError::BadOption { code: 52, .. })));
    m.options.remove(code::OVERLOAD);
    m.chaddr = HwAddr::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(m.encode(), Err(EncodeError::BadHlen { htype: 1, hlen: 8 }));
    assert_eq!(HwAddr::new(&[0; 17]), None);
}

/// Every prefix shorter than the END option is an error; from END on, padding is optional.
#[test]
fn every_truncation_is_an_error() {
    for p in [udhcpc_discover(), udhcpc_request(), common::dhclient_discover(), overloaded_ack()] {
        let full = Message::parse(&p).unwrap();
        let end = 240 + p[240..].iter().position(|&b| b == 255).unwrap();
        for n in 0..p.len() {
            let r = Message::parse(&p[..n]);
            if n <= end {
                assert!(r.is_err(), "a {n}-byte prefix parsed");
            } else {
                assert_eq!(r.as_ref(), Ok(&full), "{n}-byte prefix");
            }
        }
    }
    assert_eq!(Message::parse(&udhcpc_discover()[..100]), Err(DhcpError::Truncated(Truncated { at: 44, field: "sname", need: 64, have: 56 })));
    assert_eq!(Message::parse(&udhcpc_discover()[..250]), Err(DhcpError::OptionPastEnd { at: 243, code: 61, len: 7, left: 5 }));
    assert_eq!(Message::parse(&udhcpc_discover()[..252]), Err(DhcpError::MissingEnd { len: 252 }));
    assert_eq!(Message::parse(&udhcpc_discover()[..244]), Err(DhcpError::Truncated(Truncated { at: 244, field: "option length", need: 1, have: 0 })));
}

#[test]
fn malformed_fields_say_what_is_wrong() {
    let good = udhcpc_discover();
    let with = |at: usize, bytes: &[u8]| {
        let mut p = good.clone();
        p[at..at + bytes.len()].copy_from_slice(bytes);
        Message::parse(&p)
    };
    assert_eq!(with(0, &[3]), Err(DhcpError::BadOp(3)));
    assert_eq!(with(2, &[7]), Err(DhcpError::BadHlen { htype: 1, hlen: 7 }));
    assert_eq!(with(1, &[6, 17]), Err(DhcpError::BadHlen { htype: 6, hlen: 17 }));
    assert_eq!(with(1, &[32, 0]).unwrap().chaddr.as_bytes(), &[] as &[u8], "InfiniBand: no chaddr");
    assert_eq!(with(236, &[99, 130, 83, 98]), Err(DhcpError::BadMagicCookie([99, 130, 83, 98])));
    assert_eq!(with(240, &[53, 1, 0]), Err(DhcpError::BadOption { code: 53, len: 1, expected: "1 byte, not 0" }));
    assert_eq!(with(252, &[57, 2, 0x01, 0xff]), Err(DhcpError::BadOption { code: 57, len: 2, expected: "2 bytes, at least 576" }));
    assert_eq!(with(240, &[50, 1, 9]), Err(DhcpError::BadOption { code: 50, len: 1, expected: "4 bytes" }));
    let overload_4 = DhcpError::BadOption { code: 52, len: 1, expected: "1 byte: 1 (file), 2 (sname) or 3 (both)" };
    assert_eq!(with(240, &[52, 1, 4]), Err(overload_4));
    // Overloading a `file` of pads only adds nothing (and the message type was replaced).
    let m = with(240, &[52, 1, 1]).unwrap();
    assert_eq!((m.message_type(), m.options.len()), (None, 5));
    let mut p = overloaded_ack();
    p[108..111].copy_from_slice(&[52, 1, 1]);
    assert_eq!(Message::parse(&p), Err(DhcpError::NestedOverload { at: 108 }));
    // Messages read well.
    assert_eq!(DhcpError::BadMagicCookie([1, 2, 3, 4]).to_string(), "bad magic cookie 1.2.3.4 at byte 236 (not 99.130.83.99)");
    assert_eq!(
        DhcpError::OptionPastEnd { at: 243, code: 61, len: 7, left: 5 }.to_string(),
        "option 61 at byte 243 has length 7, past the end of its area (5 bytes left)"
    );
}
