//! nfnetlink (NETLINK_NETFILTER): `struct nfgenmsg` (family, version, resource id), the
//! transaction batch (NFNL_MSG_BATCH_BEGIN ... END, which the kernel commits or aborts as
//! a whole), [`Socket::transact`] which sends one and collects the ack of every message,
//! and the nf_tables message types.

use crate::attr::Attrs;
use crate::error::Error;
use crate::msg::Header;
use crate::reply::{BatchAcks, Progress};
use crate::socket::Socket;
use crate::{NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST};

pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
/// Subsystems (the high byte of a message type; the batch's resource id).
pub const NFNL_SUBSYS_NFTABLES: u8 = 10;

/// Protocol families (NFPROTO_*).
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

/// nf_tables message types (NFT_MSG_*), without the subsystem byte.
pub mod nft {
    pub const NEWTABLE: u16 = 0;
    pub const GETTABLE: u16 = 1;
    pub const DELTABLE: u16 = 2;
    pub const NEWCHAIN: u16 = 3;
    pub const GETCHAIN: u16 = 4;
    pub const DELCHAIN: u16 = 5;
    pub const NEWRULE: u16 = 6;
    pub const GETRULE: u16 = 7;
    pub const DELRULE: u16 = 8;
    pub const NEWSET: u16 = 9;
    pub const GETSET: u16 = 10;
    pub const DELSET: u16 = 11;
    pub const NEWSETELEM: u16 = 12;
    pub const GETSETELEM: u16 = 13;
    pub const DELSETELEM: u16 = 14;
}

/// `struct nfgenmsg`: family, version 0, resource id (big-endian).
pub fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, 0, r[0], r[1]]
}

/// One batch under construction: BEGIN, the messages (each with NLM_F_ACK and a
/// description for errors), END when finished. Sequence numbers count from 1 here; the
/// socket renumbers the batch from its own sequence when it sends it.
pub struct Batch {
    buf: Vec<u8>,
    subsys: u8,
    seq: u32,
    /// (sequence number, message type, what it does) of every message asking for an ack.
    acked: Vec<(u32, u16, String)>,
    oversize: bool,
}

impl Batch {
    /// A batch for `subsys` ([`NFNL_SUBSYS_NFTABLES`]).
    pub fn new(subsys: u8) -> Batch {
        let mut b = Batch { buf: Vec::with_capacity(8192), subsys, seq: 0, acked: Vec::new(), oversize: false };
        b.control(NFNL_MSG_BATCH_BEGIN);
        b
    }

    /// How many messages ask for an ack (BEGIN and END not counted).
    pub fn len(&self) -> usize {
        self.acked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    fn control(&mut self, ty: u16) {
        let start = self.header(ty, NLM_F_REQUEST, 0, self.subsys as u16);
        self.close(start);
    }

    /// Writes nlmsghdr + nfgenmsg; returns where the message starts.
    fn header(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> usize {
        self.seq += 1;
        let start = self.buf.len();
        self.buf.extend_from_slice(&Header { len: 0, msg_type: ty, flags, seq: self.seq, pid: 0 }.encode());
        self.buf.extend_from_slice(&nfgenmsg(family, res_id));
        start
    }

    fn close(&mut self, start: usize) {
        match u32::try_from(self.buf.len() - start) {
            Ok(len) => self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes()),
            Err(_) => self.oversize = true,
        }
    }

    /// Appends one message of the subsystem (NLM_F_REQUEST and NLM_F_ACK added to
    /// `flags`), its attributes written by `attrs` (nested ones with NLA_F_NESTED).
    pub fn message(&mut self, ty: u16, flags: u16, family: u8, what: String, attrs: impl FnOnce(&mut Attrs)) {
        let msg_type = ((self.subsys as u16) << 8) | ty;
        let start = self.header(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, family, 0);
        attrs(&mut Attrs::new(&mut self.buf, true, &mut self.oversize));
        self.close(start);
        self.acked.push((self.seq, msg_type, what));
    }

    /// The bytes to send, END included, numbered from `first_seq`; the acked messages;
    /// the batch's sequence numbers. None when a message was too long to encode.
    #[allow(clippy::type_complexity)] // the three parts of a finished batch, used once
    pub fn finish(mut self, first_seq: u32) -> Option<(Vec<u8>, Vec<(u32, u16, String)>, std::ops::RangeInclusive<u32>)> {
        self.control(NFNL_MSG_BATCH_END);
        if self.oversize {
            return None;
        }
        let offset = first_seq.wrapping_sub(1);
        let mut at = 0;
        while let Some(h) = self.buf.get(at..).and_then(Header::parse) {
            let seq = h.seq.wrapping_add(offset);
            self.buf[at + 8..at + 12].copy_from_slice(&seq.to_ne_bytes());
            at += crate::align(h.len.max(NLMSG_HDRLEN as u32) as usize);
        }
        let acked = self.acked.into_iter().map(|(s, t, w)| (s.wrapping_add(offset), t, w)).collect();
        Some((self.buf, acked, first_seq..=self.seq.wrapping_add(offset)))
    }
}

impl Socket {
    /// Sends `batch` in one datagram and waits for the ack of each of its messages. A
    /// refusal is [`Error::Kernel`] naming the refused message (its `what`); the kernel
    /// then applied none of the batch.
    pub fn transact(&mut self, batch: Batch) -> Result<(), Error> {
        let what = "the nfnetlink batch";
        let n = batch.seq + 1; // END
        let first = self.reserve_seqs(n);
        let (bytes, acked, range) = batch.finish(first).ok_or_else(|| Error::TooLong { what: what.into() })?;
        self.send_bytes(&bytes)?;
        let mut acks = BatchAcks::new(acked, range);
        while !acks.is_done() {
            let datagram = self.recv_datagram(what)?;
            if acks.feed(datagram)? == Progress::Done {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NLM_F_CREATE;

    #[test]
    fn batch_layout() {
        let mut b = Batch::new(NFNL_SUBSYS_NFTABLES);
        b.message(nft::NEWTABLE, NLM_F_CREATE, NFPROTO_INET, "table".into(), |a| {
            a.str(1, "oxwrt");
        });
        let (bytes, acked, range) = b.finish(1).unwrap();
        assert_eq!(acked, vec![(2, 0x0a00, "table".to_string())]);
        assert_eq!(range, 1..=3);
        // BEGIN: 20 bytes, res_id = NFNL_SUBSYS_NFTABLES big-endian.
        assert_eq!(&bytes[0..4], &20u32.to_ne_bytes());
        assert_eq!(&bytes[4..6], &0x10u16.to_ne_bytes());
        assert_eq!(&bytes[16..20], &[0, 0, 0, 10]);
        // NEWTABLE: header, nfgenmsg inet, "oxwrt\0" padded to 8.
        let m = &bytes[20..];
        assert_eq!(&m[0..4], &(16 + 4 + 4 + 8u32).to_ne_bytes());
        assert_eq!(&m[4..6], &0x0a00u16.to_ne_bytes());
        assert_eq!(&m[6..8], &(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE).to_ne_bytes());
        assert_eq!(&m[8..12], &2u32.to_ne_bytes());
        assert_eq!(m[16], NFPROTO_INET);
        assert_eq!(&m[20..22], &10u16.to_ne_bytes());
        assert_eq!(&m[24..32], b"oxwrt\0\0\0");
        // END.
        assert_eq!(&bytes[52..56], &20u32.to_ne_bytes());
        assert_eq!(&bytes[56..58], &0x11u16.to_ne_bytes());
        assert_eq!(&bytes[60..64], &3u32.to_ne_bytes());
        assert_eq!(bytes.len(), 72);
    }

    #[test]
    fn renumbering_moves_every_sequence_number() {
        let mut b = Batch::new(NFNL_SUBSYS_NFTABLES);
        b.message(nft::NEWTABLE, 0, NFPROTO_INET, "a".into(), |_| {});
        b.message(nft::DELTABLE, 0, NFPROTO_INET, "b".into(), |_| {});
        let (bytes, acked, range) = b.finish(1000).unwrap();
        let seqs: Vec<u32> = crate::messages(&bytes).map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1000, 1001, 1002, 1003]);
        assert_eq!(acked.iter().map(|a| a.0).collect::<Vec<_>>(), vec![1001, 1002]);
        assert_eq!(range, 1000..=1003);
        let mut big = Batch::new(NFNL_SUBSYS_NFTABLES);
        big.message(nft::NEWTABLE, 0, NFPROTO_INET, "big".into(), |a| {
            a.bytes(1, &[0; 70_000]);
        });
        assert!(big.finish(1).is_none(), "an attribute over 64 KiB is refused, not cut");
    }
}
