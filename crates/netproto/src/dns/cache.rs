//! Byte-level helpers for the forwarder's cache and relay. They work on a message as
//! received, without allocating or re-encoding it, so an upstream answer reaches the
//! client exactly as it came, with its ID rewritten and its TTLs aged. They check the
//! message's structure (header, names with the same guards as [`Message::parse`](super::Message::parse), record
//! bounds), not the contents of each record's data.

use super::{flag, name, rcode, rtype, DnsError, HEADER_LEN};
use crate::wire::{Reader, Truncated};

/// Where one record's fields are.
struct RecordAt {
    /// Where its owner name starts.
    start: usize,
    section: usize,
    rtype: u16,
    ttl_at: usize,
    rdata_start: usize,
    rdata_end: usize,
}

/// Walks the records of a message one at a time.
struct Walker {
    counts: [u16; 4],
    section: usize,
    left: u16,
    pos: usize,
    /// Follow and check compression pointers (else skip names' own bytes only).
    validate: bool,
}

impl Walker {
    /// Checks the whole structure, pointers included; changes nothing.
    fn validate(msg: &[u8]) -> Result<(), DnsError> {
        let mut w = Walker::new(msg)?;
        while w.next(msg)?.is_some() {}
        Ok(())
    }

    /// A walk that does not follow pointers, for a message [`Walker::validate`] passed:
    /// the caller may then change bytes behind the walk (TTLs) even where a hostile
    /// message's pointers aim at them, without changing what the walk sees.
    fn unchecked(msg: &[u8]) -> Result<Walker, DnsError> {
        let mut w = Walker::new(msg)?;
        w.validate = false;
        Ok(w)
    }

    fn skip_name(&self, msg: &[u8], pos: usize) -> Result<usize, DnsError> {
        if self.validate {
            Ok(name::walk(msg, pos, |_| {})?.0)
        } else {
            name::skip(msg, pos)
        }
    }

    fn new(msg: &[u8]) -> Result<Walker, DnsError> {
        let mut r = Reader::new(msg);
        r.take(4, "ID and flags")?;
        let mut counts = [0u16; 4];
        for (c, field) in counts.iter_mut().zip(["QDCOUNT", "ANCOUNT", "NSCOUNT", "ARCOUNT"]) {
            *c = r.u16(field)?;
        }
        let mut pos = HEADER_LEN;
        for _ in 0..counts[0] {
            let (after, _) = name::walk(msg, pos, |_| {})?;
            Reader::at(msg, after).take(4, "QTYPE and QCLASS")?;
            pos = after + 4;
        }
        Ok(Walker { counts, section: 0, left: 0, pos, validate: true })
    }

    fn next(&mut self, msg: &[u8]) -> Result<Option<RecordAt>, DnsError> {
        while self.left == 0 {
            if self.section == 3 {
                return Ok(None);
            }
            self.section += 1;
            self.left = self.counts[self.section];
        }
        self.left -= 1;
        let start = self.pos;
        let after = self.skip_name(msg, start)?;
        let mut r = Reader::at(msg, after);
        let rtype = r.u16("record type")?;
        r.u16("record class")?;
        let ttl_at = r.pos();
        r.u32("record TTL")?;
        let len = r.u16("RDLENGTH")? as usize;
        let rdata_start = r.pos();
        r.take(len, "RDATA")?;
        self.pos = r.pos();
        Ok(Some(RecordAt { start, section: self.section, rtype, ttl_at, rdata_start, rdata_end: self.pos }))
    }
}

fn u32_at(msg: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&msg[at..at + 4]);
    u32::from_be_bytes(b)
}

/// The message's ID.
pub fn id(msg: &[u8]) -> Result<u16, DnsError> {
    Ok(Reader::new(msg).u16("ID")?)
}

/// Rewrites the ID in place (the relay gives the client back its own ID).
pub fn set_id(msg: &mut [u8], id: u16) -> Result<(), DnsError> {
    let have = msg.len();
    let Some(b) = msg.get_mut(..2) else {
        return Err(Truncated { at: 0, field: "ID", need: 2, have }.into());
    };
    b.copy_from_slice(&id.to_be_bytes());
    Ok(())
}

/// Whether TC is set: the answer is incomplete, ask again over TCP ([`super::tcp`]).
pub fn is_truncated(msg: &[u8]) -> Result<bool, DnsError> {
    let flags = Reader::at(msg, 2).u16("flags")?;
    Ok(flags & flag::TC != 0)
}

/// How long the message may be cached: the smallest TTL of its records (OPT excluded);
/// for a negative answer (NXDOMAIN, or no answer records) with a SOA in the authority
/// section, no more than the SOA's MINIMUM either (RFC 2308 5). None when it has no
/// record to take a TTL from (do not cache it).
pub fn min_ttl(msg: &[u8]) -> Result<Option<u32>, DnsError> {
    let mut w = Walker::new(msg)?;
    let negative = w.counts[1] == 0 || msg[3] & 0xf == rcode::NXDOMAIN;
    let mut min: Option<u32> = None;
    while let Some(r) = w.next(msg)? {
        if r.rtype == rtype::OPT {
            continue;
        }
        let mut ttl = u32_at(msg, r.ttl_at);
        if negative && r.section == 2 && r.rtype == rtype::SOA {
            // MINIMUM is the last field, whatever the (possibly compressed) names before it.
            if r.rdata_end - r.rdata_start < 22 {
                return Err(DnsError::BadRdataLength {
                    at: r.rdata_start,
                    rtype: rtype::SOA,
                    len: r.rdata_end - r.rdata_start,
                    expected: "two names and 20 bytes",
                });
            }
            ttl = ttl.min(u32_at(msg, r.rdata_end - 4));
        }
        min = Some(min.map_or(ttl, |m| m.min(ttl)));
    }
    Ok(min)
}

/// Subtracts `elapsed` seconds from every TTL (OPT excluded), stopping at 0: a cached
/// answer served later tells the client how long it still holds.
pub fn age_ttls(msg: &mut [u8], elapsed: u32) -> Result<(), DnsError> {
    Walker::validate(msg)?;
    let mut w = Walker::unchecked(msg)?;
    while let Some(r) = w.next(msg)? {
        if r.rtype != rtype::OPT {
            let ttl = u32_at(msg, r.ttl_at).saturating_sub(elapsed);
            msg[r.ttl_at..r.ttl_at + 4].copy_from_slice(&ttl.to_be_bytes());
        }
    }
    Ok(())
}

/// Removes the OPT record when it is the last record of the message (where servers put
/// it), for a client that sent no EDNS (RFC 6891 7: no OPT in the answer then). Returns
/// whether it did; a message whose OPT is elsewhere is left alone (removing it from the
/// middle would move what later names may point at). Bytes after the last record go too.
pub fn strip_opt(msg: &mut Vec<u8>) -> Result<bool, DnsError> {
    let mut w = Walker::new(msg)?; // validates as it goes, and changes nothing until the end
    let mut last = None;
    while let Some(r) = w.next(msg)? {
        last = Some(r);
    }
    match last {
        Some(r) if r.section == 3 && r.rtype == rtype::OPT => {
            let arcount = u16::from_be_bytes([msg[10], msg[11]]) - 1;
            msg[10..12].copy_from_slice(&arcount.to_be_bytes());
            msg.truncate(r.start);
            Ok(true)
        }
        _ => Ok(false),
    }
}
