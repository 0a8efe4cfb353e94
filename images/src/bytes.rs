//! Panic-free reads of fixed-width integers and strings out of byte slices, shared by the
//! header parsers. Every read returns `None` when the slice is too short, so a parser
//! turns a short input into an error instead of an out-of-bounds panic.

/// `N` bytes at `off`, or `None` if the slice ends before `off + N`.
pub(crate) fn array<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    data.get(off..end)?.try_into().ok()
}

pub(crate) fn le_u16(data: &[u8], off: usize) -> Option<u16> {
    array(data, off).map(u16::from_le_bytes)
}

pub(crate) fn le_u32(data: &[u8], off: usize) -> Option<u32> {
    array(data, off).map(u32::from_le_bytes)
}

pub(crate) fn le_u64(data: &[u8], off: usize) -> Option<u64> {
    array(data, off).map(u64::from_le_bytes)
}

pub(crate) fn be_u16(data: &[u8], off: usize) -> Option<u16> {
    array(data, off).map(u16::from_be_bytes)
}

pub(crate) fn be_u32(data: &[u8], off: usize) -> Option<u32> {
    array(data, off).map(u32::from_be_bytes)
}

pub(crate) fn be_u64(data: &[u8], off: usize) -> Option<u64> {
    array(data, off).map(u64::from_be_bytes)
}

/// A fixed-size, NUL-padded text field as a string: up to the first NUL, non-UTF-8
/// bytes replaced.
pub(crate) fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Bytes shown as text where they are printable ASCII, else as `\xNN` escapes: for
/// error messages about magics and patterns.
pub(crate) fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none_not_panics() {
        let d = [1u8, 2, 3, 4, 5];
        assert_eq!(le_u32(&d, 0), Some(0x0403_0201));
        assert_eq!(be_u32(&d, 1), Some(0x0203_0405));
        assert_eq!(le_u32(&d, 2), None);
        assert_eq!(le_u16(&d, usize::MAX), None);
        assert_eq!(be_u64(&d, 0), None);
        assert_eq!(c_string(b"ab\0cd"), "ab");
        assert_eq!(show(b"HD\x00R"), "HD\\x00R");
    }
}
