//! DNS over TCP framing (RFC 1035 4.2.2, RFC 7766): each message preceded by its length
//! as 2 bytes. netd falls back to it when an upstream UDP answer has TC set.

use super::EncodeError;
use std::io::{self, Read, Write};

/// The longest message a frame can carry.
pub const MAX_LEN: usize = u16::MAX as usize;

/// `msg` with its length prefix.
pub fn frame(msg: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let len = u16::try_from(msg.len()).map_err(|_| EncodeError::TooLong { len: msg.len() })?;
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// The first whole message in `buf` and the bytes it took (prefix included), or None
/// while more bytes are needed.
pub fn unframe(buf: &[u8]) -> Option<(&[u8], usize)> {
    let len = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]) as usize;
    let msg = buf.get(2..2 + len)?;
    Some((msg, 2 + len))
}

/// Reads one framed message from a blocking stream (at most [`MAX_LEN`] bytes are
/// allocated, whatever the peer sends). EOF before a whole frame is `UnexpectedEof`.
pub fn read_message(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut msg)?;
    Ok(msg)
}

/// Writes `msg` framed, in one write call (prefix and message in one segment).
pub fn write_message(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let framed = frame(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(&framed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_unframes() {
        let f = frame(b"abc").unwrap();
        assert_eq!(f, b"\x00\x03abc");
        assert_eq!(unframe(&f), Some((&b"abc"[..], 5)));
        let mut two = f.clone();
        two.extend_from_slice(b"\x00\x01z\x00");
        let (m, used) = unframe(&two).unwrap();
        assert_eq!((m, used), (&b"abc"[..], 5));
        assert_eq!(unframe(&two[used..]), Some((&b"z"[..], 3)));
        assert_eq!(unframe(&two[used + 3..]), None, "one byte of a prefix");
        assert_eq!(unframe(b"\x00\x05abc"), None, "message not all here yet");
        assert_eq!(frame(&vec![0; 65536]), Err(EncodeError::TooLong { len: 65536 }));
    }

    #[test]
    fn reads_and_writes_streams() {
        let mut wire = Vec::new();
        write_message(&mut wire, b"hello").unwrap();
        write_message(&mut wire, b"").unwrap();
        let mut r = &wire[..];
        assert_eq!(read_message(&mut r).unwrap(), b"hello");
        assert_eq!(read_message(&mut r).unwrap(), b"");
        assert_eq!(read_message(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let mut short: &[u8] = b"\x00\x09abc";
        assert_eq!(read_message(&mut short).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
