//! A bounds-checked cursor over a packet: every read names the field it wants, so running
//! out of bytes becomes a [`Truncated`] that says where and what, never a panic.

use std::fmt;

/// The packet ended inside a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated {
    /// Offset in the packet where the field starts.
    pub at: usize,
    /// What was being read ("xid", "option 53 length", ...).
    pub field: &'static str,
    /// Bytes the field needs.
    pub need: usize,
    /// Bytes that were left.
    pub have: usize,
}

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "truncated at byte {}: {} needs {} bytes, {} left", self.at, self.field, self.need, self.have)
    }
}

/// Reads big-endian fields from `buf`, starting at `pos`.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Truncated> {
        let have = self.remaining();
        if n > have {
            return Err(Truncated { at: self.pos, field, need: n, have });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Truncated> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_the_short_field() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5]);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let e = r.u32("xid").unwrap_err();
        assert_eq!(e, Truncated { at: 2, field: "xid", need: 4, have: 3 });
        assert_eq!(e.to_string(), "truncated at byte 2: xid needs 4 bytes, 3 left");
        assert_eq!(r.pos(), 2, "a failed read consumes nothing");
    }
}
