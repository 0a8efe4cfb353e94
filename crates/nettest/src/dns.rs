//! The DNS messages the harness needs (RFC 1035), and nothing more: a query, a response
//! with A records, NXDOMAIN and the TC bit; a parser that follows name compression. Kept
//! in this one module so it can be swapped for `oxwrt-netproto`'s codec.

use std::net::Ipv4Addr;

pub const DNS_PORT: u16 = 53;
pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_NXDOMAIN: u8 = 3;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower case, without the final dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: Vec<u8>,
}

impl Record {
    /// The address of an A record.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        (self.rtype == TYPE_A && self.data.len() == 4).then(|| Ipv4Addr::new(self.data[0], self.data[1], self.data[2], self.data[3]))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// The header's flag word: QR, opcode, AA, TC, RD, RA, rcode.
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
}

impl Message {
    /// A recursive query for one name.
    pub fn query(id: u16, name: &str, qtype: u16) -> Message {
        Message { id, flags: FLAG_RD, questions: vec![Question { name: normalize(name), qtype, qclass: CLASS_IN }], answers: Vec::new() }
    }

    /// The response to `query` with these answers and rcode (authoritative, recursion
    /// available), truncated (TC, no answers) if asked.
    pub fn response(query: &Message, rcode: u8, answers: Vec<Record>, truncated: bool) -> Message {
        let mut flags = FLAG_QR | FLAG_AA | FLAG_RA | (query.flags & FLAG_RD) | u16::from(rcode & 0xf);
        let answers = if truncated {
            flags |= FLAG_TC;
            Vec::new()
        } else {
            answers
        };
        Message { id: query.id, flags, questions: query.questions.clone(), answers }
    }

    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
    pub fn ipv4_answers(&self) -> Vec<Ipv4Addr> {
        self.answers.iter().filter_map(Record::ipv4).collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for count in [self.questions.len(), self.answers.len(), 0, 0] {
            out.extend_from_slice(&(count as u16).to_be_bytes());
        }
        for q in &self.questions {
            encode_name(&mut out, &q.name);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for r in &self.answers {
            encode_name(&mut out, &r.name);
            out.extend_from_slice(&r.rtype.to_be_bytes());
            out.extend_from_slice(&r.class.to_be_bytes());
            out.extend_from_slice(&r.ttl.to_be_bytes());
            out.extend_from_slice(&(r.data.len() as u16).to_be_bytes());
            out.extend_from_slice(&r.data);
        }
        out
    }

    /// Parses the header, the questions and the answers (the other sections are ignored).
    pub fn parse(bytes: &[u8]) -> Result<Message, String> {
        let mut r = Reader { bytes, pos: 0 };
        let id = r.u16()?;
        let flags = r.u16()?;
        let (qd, an) = (r.u16()?, r.u16()?);
        r.u16()?;
        r.u16()?;
        let mut questions = Vec::new();
        for _ in 0..qd {
            let name = r.name()?;
            questions.push(Question { name, qtype: r.u16()?, qclass: r.u16()? });
        }
        let mut answers = Vec::new();
        for _ in 0..an {
            let name = r.name()?;
            let (rtype, class, ttl) = (r.u16()?, r.u16()?, r.u32()?);
            let len = r.u16()? as usize;
            let data = r.take(len)?.to_vec();
            answers.push(Record { name, rtype, class, ttl, data });
        }
        Ok(Message { id, flags, questions, answers })
    }
}

/// An A record.
pub fn a_record(name: &str, address: Ipv4Addr, ttl: u32) -> Record {
    Record { name: normalize(name), rtype: TYPE_A, class: CLASS_IN, ttl, data: address.octets().to_vec() }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let label = &label.as_bytes()[..label.len().min(63)];
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("message ends at byte {} (wanted {n} more from {})", self.bytes.len(), self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name at the current position, following compression pointers (at most 64 jumps).
    fn name(&mut self) -> Result<String, String> {
        let mut labels: Vec<String> = Vec::new();
        let mut pos = self.pos;
        let mut jumped = false;
        for _ in 0..64 {
            let len = *self.bytes.get(pos).ok_or("name runs past the end")? as usize;
            match len {
                0 => {
                    if !jumped {
                        self.pos = pos + 1;
                    }
                    return Ok(labels.join(".").to_ascii_lowercase());
                }
                l if l & 0xc0 == 0xc0 => {
                    let low = *self.bytes.get(pos + 1).ok_or("pointer runs past the end")? as usize;
                    if !jumped {
                        self.pos = pos + 2;
                    }
                    jumped = true;
                    pos = ((l & 0x3f) << 8) | low;
                }
                l if l < 64 => {
                    let label = self.bytes.get(pos + 1..pos + 1 + l).ok_or("label runs past the end")?;
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    pos += 1 + l;
                }
                l => return Err(format!("bad label length {l:#x}")),
            }
        }
        Err("name compression loop".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_and_its_answer_round_trip() {
        let q = Message::query(0x1234, "Example.TEST.", TYPE_A);
        let bytes = q.encode();
        assert_eq!(&bytes[..12], &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[12..], b"\x07example\x04test\x00\x00\x01\x00\x01");
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed, Message::query(0x1234, "example.test", TYPE_A));
        let r = Message::response(&parsed, RCODE_NOERROR, vec![a_record("example.test", Ipv4Addr::new(203, 0, 113, 80), 60)], false);
        let r = Message::parse(&r.encode()).unwrap();
        assert!(r.is_response() && !r.truncated());
        assert_eq!((r.id, r.rcode(), r.ipv4_answers()), (0x1234, 0, vec![Ipv4Addr::new(203, 0, 113, 80)]));
    }

    #[test]
    fn compressed_names_are_followed_and_loops_rejected() {
        // Header, question example.test A IN, answer whose name is a pointer to offset 12.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x04test\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let r = Message::parse(&m).unwrap();
        assert_eq!(r.answers[0].name, "example.test");
        assert_eq!(r.ipv4_answers(), [Ipv4Addr::new(1, 2, 3, 4)]);
        let mut looped = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12]);
        assert_eq!(Message::parse(&looped).unwrap_err(), "name compression loop");
        assert!(Message::parse(&m[..m.len() - 2]).is_err());
    }

    #[test]
    fn truncated_response_has_tc_and_no_answers() {
        let q = Message::query(7, "example.test", TYPE_A);
        let r = Message::response(&q, RCODE_NOERROR, vec![a_record("example.test", Ipv4Addr::LOCALHOST, 1)], true);
        let r = Message::parse(&r.encode()).unwrap();
        assert!(r.truncated() && r.answers.is_empty());
    }
}
