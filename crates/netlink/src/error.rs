//! [`Error`], and the parsing of `NLMSG_ERROR` (`struct nlmsgerr`: a negative errno, or 0
//! for an ack; then the request's header, or all of it; then, with
//! [`crate::NLM_F_ACK_TLVS`], extended-ack attributes such as the kernel's error text).

use crate::attr::attrs;
use crate::{align, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use std::{fmt, io};

/// What went wrong with a request. Every variant but `Io` names the request.
#[derive(Debug)]
pub enum Error {
    /// A socket call failed (`op`: socket, bind, send, recv, ...); a receive timeout is
    /// `io::ErrorKind::WouldBlock`.
    Io { op: &'static str, error: io::Error },
    /// The kernel refused the request `what` (of type `msg_type`) with `errno`
    /// (positive: libc::EEXIST, ...), and maybe said why (extended ack).
    Kernel { what: String, msg_type: u16, errno: i32, detail: Option<String> },
    /// A reply to `what` that is not valid netlink (`why`).
    Malformed { what: String, why: &'static str },
    /// A reply to `what` of `len` bytes did not fit the receive buffer of `buf` bytes.
    Truncated { what: String, len: usize, buf: usize },
    /// `what` has an attribute too long for netlink's 16-bit lengths; nothing was sent.
    TooLong { what: String },
    /// The dump `what` was interrupted by changes (NLM_F_DUMP_INTR) every time it was tried.
    DumpInterrupted { what: String },
}

impl Error {
    /// The errno of a kernel refusal or failed socket call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { error, .. } => error.raw_os_error(),
            _ => None,
        }
    }

    /// The request the error is about (None for a socket call).
    pub fn request(&self) -> Option<&str> {
        match self {
            Error::Io { .. } => None,
            Error::Kernel { what, .. }
            | Error::Malformed { what, .. }
            | Error::Truncated { what, .. }
            | Error::TooLong { what }
            | Error::DumpInterrupted { what } => Some(what),
        }
    }

    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |error| Error::Io { op, error }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, error } => write!(f, "netlink {op}: {error}"),
            Error::Kernel { what, errno, detail, .. } => {
                write!(f, "the kernel refused {what}: {}", io::Error::from_raw_os_error(*errno))?;
                match detail {
                    Some(d) => write!(f, " ({d})"),
                    None => Ok(()),
                }
            }
            Error::Malformed { what, why } => write!(f, "malformed netlink reply to {what}: {why}"),
            Error::Truncated { what, len, buf } => write!(f, "netlink reply to {what} of {len} bytes is larger than the {buf}-byte buffer"),
            Error::TooLong { what } => write!(f, "{what}: an attribute is longer than netlink allows (65,531 bytes); not sent"),
            Error::DumpInterrupted { what } => write!(f, "{what}: the dump was interrupted by changes every time (NLM_F_DUMP_INTR)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// Keeps the kind (a kernel errno's, WouldBlock of a timeout); the text is the
    /// whole error, request included.
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io { error, .. } => error,
            Error::Kernel { errno, .. } => io::Error::new(io::Error::from_raw_os_error(errno).kind(), e),
            _ => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// An NLMSG_ERROR message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// 0: success (an ack); else a negative errno.
    pub error: i32,
    /// The header of the request it answers (its type and sequence number).
    pub request: Option<crate::Header>,
    /// Extended ack: the kernel's text.
    pub msg: Option<String>,
    /// Extended ack: the offset in the request of the attribute it refused.
    pub offset: Option<u32>,
}

/// Parses an NLMSG_ERROR payload (`flags`: its message's flags); None when it is
/// shorter than the errno.
pub fn parse_ack(flags: u16, payload: &[u8]) -> Option<Ack> {
    let error = i32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?);
    let echoed = payload.get(4..).unwrap_or(&[]);
    let request = crate::Header::parse(echoed);
    let mut ack = Ack { error, request, msg: None, offset: None };
    if flags & NLM_F_ACK_TLVS == 0 {
        return Some(ack);
    }
    // The request's header (and its payload, unless capped), then TLVs.
    let req_len = if flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { request.map_or(NLMSG_HDRLEN, |h| (h.len as usize).max(NLMSG_HDRLEN)) };
    let tlvs = echoed.get(align(req_len)..).unwrap_or(&[]);
    for a in attrs(tlvs) {
        match a.kind {
            NLMSGERR_ATTR_MSG => ack.msg = Some(crate::attr::str_of(a.value)),
            NLMSGERR_ATTR_OFFS => ack.offset = crate::attr::u32_of(a.value),
            _ => {}
        }
    }
    Some(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Header;

    #[test]
    fn error_replies_give_errno_request_and_text() {
        // errno -22, capped request header, then NLMSGERR_ATTR_MSG "bad", ATTR_OFFS 36.
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        p.extend_from_slice(&Header { len: 40, msg_type: 16, flags: 5, seq: 3, pid: 99 }.encode());
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(b"bad\0");
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&2u16.to_ne_bytes());
        p.extend_from_slice(&36u32.to_ne_bytes());
        let ack = parse_ack(NLM_F_CAPPED | NLM_F_ACK_TLVS, &p).unwrap();
        assert_eq!((ack.error, ack.msg.as_deref(), ack.offset), (-22, Some("bad"), Some(36)));
        assert_eq!(ack.request.map(|h| (h.msg_type, h.seq)), Some((16, 3)));
        let plain = parse_ack(0, &0i32.to_ne_bytes()).unwrap();
        assert_eq!((plain.error, plain.request, plain.msg), (0, None, None));
        assert!(parse_ack(0, &[1, 2]).is_none());
        // Uncapped with a lying echoed length: no TLVs found, no panic.
        let mut lie = (-1i32).to_ne_bytes().to_vec();
        lie.extend_from_slice(&Header { len: u32::MAX, ..Header::default() }.encode());
        assert_eq!(parse_ack(NLM_F_ACK_TLVS, &lie).unwrap().msg, None);
    }

    #[test]
    fn errors_name_the_request_and_keep_the_errno() {
        let e = Error::Kernel { what: "RTM_NEWLINK create bridge br0".into(), msg_type: 16, errno: libc::EEXIST, detail: None };
        assert!(e.to_string().starts_with("the kernel refused RTM_NEWLINK create bridge br0: "), "{e}");
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert_eq!(e.request(), Some("RTM_NEWLINK create bridge br0"));
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::AlreadyExists);
        assert!(io.to_string().contains("br0"));
    }
}
