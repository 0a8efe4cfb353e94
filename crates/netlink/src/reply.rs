//! The replies to one request, without a socket (so the fuzzers and unit tests drive it
//! with bytes): [`Exchange`] for a request answered by an ack, by replies then an ack, or
//! by a dump (`NLM_F_MULTI` parts until `NLMSG_DONE`); [`BatchAcks`] for an nfnetlink
//! batch, one ack per message. Only messages carrying the request's sequence number
//! count: a stale reply to an earlier request (one that timed out) is skipped.

use crate::error::{parse_ack, Error};
use crate::msg::{try_messages, Message};
use crate::{NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_DUMP_INTR};

/// Whether the exchange is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More datagrams are to come.
    More,
    /// The ack, error or NLMSG_DONE arrived.
    Done,
}

/// A positive errno from NLMSG_ERROR's negative one (a positive or i32::MIN value, which
/// the kernel never sends, stays nonzero).
fn errno_of(error: i32) -> i32 {
    if error < 0 {
        error.saturating_neg()
    } else {
        error
    }
}

/// The replies to the request `what` sent with sequence number `seq`.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub seq: u32,
    pub msg_type: u16,
    pub what: String,
    /// A part of the dump had NLM_F_DUMP_INTR: the kernel's state changed during it.
    pub interrupted: bool,
}

impl Exchange {
    pub fn new(seq: u32, msg_type: u16, what: String) -> Exchange {
        Exchange { seq, msg_type, what, interrupted: false }
    }

    fn malformed(&self, why: &'static str) -> Error {
        Error::Malformed { what: self.what.clone(), why }
    }

    fn refused(&self, errno: i32, detail: Option<String>) -> Error {
        Error::Kernel { what: self.what.clone(), msg_type: self.msg_type, errno, detail }
    }

    /// Reads one datagram: each reply message goes to `out`; Done at the ack (error 0) or
    /// NLMSG_DONE, an error for a refusal or a message that does not parse.
    pub fn feed<'a>(&mut self, datagram: &'a [u8], mut out: impl FnMut(Message<'a>)) -> Result<Progress, Error> {
        for m in try_messages(datagram) {
            let m = m.map_err(|_| self.malformed("a message length does not fit the datagram"))?;
            if m.msg_type == NLMSG_OVERRUN {
                return Err(self.malformed("NLMSG_OVERRUN: the kernel lost data"));
            }
            if m.seq != self.seq {
                continue;
            }
            if m.flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            match m.msg_type {
                NLMSG_ERROR => {
                    let ack = parse_ack(m.flags, m.payload).ok_or_else(|| self.malformed("NLMSG_ERROR shorter than its errno"))?;
                    return if ack.error == 0 { Ok(Progress::Done) } else { Err(self.refused(errno_of(ack.error), ack.msg)) };
                }
                NLMSG_DONE => {
                    // A dump's end may carry its error (an int; extended-ack TLVs after it).
                    let error = m.payload.get(0..4).and_then(|b| b.try_into().ok()).map_or(0, i32::from_ne_bytes);
                    if error < 0 {
                        let detail = crate::attr::attrs(m.payload.get(4..).unwrap_or(&[]))
                            .find(|a| a.kind == crate::NLMSGERR_ATTR_MSG)
                            .map(|a| crate::attr::str_of(a.value));
                        return Err(self.refused(errno_of(error), detail));
                    }
                    return Ok(Progress::Done);
                }
                NLMSG_NOOP => {}
                _ => out(m),
            }
        }
        Ok(Progress::More)
    }
}

/// The acks of an nfnetlink batch: every message sent with NLM_F_ACK is acked (or the
/// first refusal ends the batch, which the kernel then aborts as a whole).
#[derive(Debug, Clone)]
pub struct BatchAcks {
    /// (sequence number, message type, what) of each message still to be acked.
    waiting: Vec<(u32, u16, String)>,
    /// The sequence numbers of the batch, BEGIN and END included.
    range: std::ops::RangeInclusive<u32>,
}

impl BatchAcks {
    pub fn new(acked: Vec<(u32, u16, String)>, range: std::ops::RangeInclusive<u32>) -> BatchAcks {
        BatchAcks { waiting: acked, range }
    }

    pub fn is_done(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Reads one datagram of acks.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<Progress, Error> {
        let what = || "the nfnetlink batch".to_string();
        for m in try_messages(datagram) {
            let m = m.map_err(|_| Error::Malformed { what: what(), why: "a message length does not fit the datagram" })?;
            if m.msg_type != NLMSG_ERROR || !self.range.contains(&m.seq) {
                continue;
            }
            let ack = parse_ack(m.flags, m.payload).ok_or_else(|| Error::Malformed { what: what(), why: "NLMSG_ERROR shorter than its errno" })?;
            if ack.error == 0 {
                self.waiting.retain(|(s, _, _)| *s != m.seq);
                continue;
            }
            let (msg_type, what) = match self.waiting.iter().find(|(s, _, _)| *s == m.seq) {
                Some((_, t, w)) => (*t, w.clone()),
                None => (ack.request.map_or(0, |h| h.msg_type), format!("message {} of the batch", m.seq)),
            };
            return Err(Error::Kernel { what, msg_type, errno: errno_of(ack.error), detail: ack.msg });
        }
        Ok(if self.is_done() { Progress::Done } else { Progress::More })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, NLM_F_MULTI};

    fn msg(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (16 + payload.len()) as u32;
        let mut v = Header { len, msg_type, flags, seq, pid: 0 }.encode().to_vec();
        v.extend_from_slice(payload);
        v.resize(crate::align(v.len()), 0);
        v
    }

    fn err(seq: u32, errno: i32) -> Vec<u8> {
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&Header { len: 16, msg_type: 16, flags: 5, seq, pid: 1 }.encode());
        msg(NLMSG_ERROR, crate::NLM_F_CAPPED, seq, &p)
    }

    #[test]
    fn a_dump_collects_parts_of_its_own_sequence_until_done() {
        let mut x = Exchange::new(7, 18, "dump links".into());
        let mut got = Vec::new();
        let d1 = [msg(16, NLM_F_MULTI, 7, b"aaaa"), msg(16, NLM_F_MULTI, 6, b"stale"), msg(16, NLM_F_MULTI | NLM_F_DUMP_INTR, 7, b"bb")].concat();
        assert_eq!(x.feed(&d1, |m| got.push(m.payload.to_vec())).unwrap(), Progress::More);
        let d2 = [msg(16, NLM_F_MULTI, 7, b"cc"), msg(NLMSG_DONE, NLM_F_MULTI, 7, &0i32.to_ne_bytes())].concat();
        assert_eq!(x.feed(&d2, |m| got.push(m.payload.to_vec())).unwrap(), Progress::Done);
        assert_eq!(got, vec![b"aaaa".to_vec(), b"bb".to_vec(), b"cc".to_vec()]);
        assert!(x.interrupted);
    }

    #[test]
    fn refusals_name_the_request() {
        let mut x = Exchange::new(3, 16, "RTM_NEWLINK create veth a".into());
        assert_eq!(x.feed(&err(2, libc::EPERM), |_| {}).unwrap(), Progress::More, "stale");
        let e = x.feed(&err(3, libc::EEXIST), |_| {}).unwrap_err();
        assert!(matches!(&e, Error::Kernel { what, msg_type: 16, errno, .. } if what == "RTM_NEWLINK create veth a" && *errno == libc::EEXIST), "{e:?}");
        assert_eq!(x.feed(&err(3, 0), |_| {}).unwrap(), Progress::Done);
        let done_err = msg(NLMSG_DONE, NLM_F_MULTI, 3, &(-libc::EINVAL).to_ne_bytes());
        assert_eq!(x.feed(&done_err, |_| {}).unwrap_err().errno(), Some(libc::EINVAL));
        assert!(matches!(x.feed(&[20, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1], |_| {}), Err(Error::Malformed { .. })));
        assert!(matches!(x.feed(&msg(NLMSG_ERROR, 0, 3, &[1]), |_| {}), Err(Error::Malformed { .. })));
    }

    #[test]
    fn batch_acks_wait_for_every_message_and_name_the_refused_one() {
        let mut b = BatchAcks::new(vec![(2, 0xa00, "table".into()), (3, 0xa03, "chain input".into())], 1..=4);
        assert_eq!(b.feed(&err(2, 0)).unwrap(), Progress::More);
        assert_eq!(b.feed(&err(9, libc::EPERM)).unwrap(), Progress::More, "not ours");
        let e = b.feed(&err(3, libc::ENOENT)).unwrap_err();
        assert_eq!((e.request(), e.errno()), (Some("chain input"), Some(libc::ENOENT)));
        let e = b.feed(&err(1, libc::EPERM)).unwrap_err();
        assert_eq!(e.request(), Some("message 1 of the batch"));
        assert_eq!(b.feed(&err(3, 0)).unwrap(), Progress::Done);
    }
}
