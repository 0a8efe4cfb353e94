//! ELF files, as far as firmware needs them: the file header ([`Elf::parse`]: class, byte
//! order, type, machine, flags, entry point; what [`crate::detect`] reports), the program
//! headers ([`Elf::segments`], [`Elf::loads`]), where the file's bytes end ([`Elf::extent`]:
//! `cargo xtask inspect` sizes an embedded ELF with it) and a one-segment ELF32
//! little-endian executable ([`executable32`]: how QEMU's -kernel is told to do what CFE
//! does with a raw binary). 32- and 64-bit, either byte order; nothing here panics on any
//! input, and offsets from the file never overflow.

use crate::bytes::{be_u16, be_u32, be_u64, le_u16, le_u32, le_u64};

/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;

/// An ELF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elf {
    /// 64-bit (else 32-bit).
    pub class64: bool,
    pub big_endian: bool,
    /// e_type: 2 executable, 3 shared object / PIE, 1 relocatable, 4 core.
    pub elf_type: u16,
    /// e_machine: 8 MIPS, 40 ARM, 62 x86-64, ...
    pub machine: u16,
    /// e_flags (on MIPS: the ABI and ISA level).
    pub flags: u32,
    pub entry: u64,
}

/// One program header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// p_type ([`PT_LOAD`], ...).
    pub kind: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// Why the program headers cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("the program headers run past the end of the file")]
    Truncated,
    #[error("segment {index} (offset {offset:#x}, {filesz} bytes) runs past the end of the file")]
    SegmentPastEnd { index: usize, offset: u64, filesz: u64 },
}

/// The header fields that locate the program and section header tables.
struct Tables {
    phoff: u64,
    phentsize: u64,
    phnum: u64,
    shoff: u64,
    shentsize: u64,
    shnum: u64,
}

impl Elf {
    /// The ELF header at the start of `data` (None: not an ELF file, or a header too short).
    pub fn parse(data: &[u8]) -> Option<Elf> {
        if !data.starts_with(b"\x7fELF") || data.len() < 52 {
            return None;
        }
        let class64 = match data[4] {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match data[5] {
            1 => false,
            2 => true,
            _ => return None,
        };
        if data[6] != 1 {
            return None;
        }
        let e = Elf { class64, big_endian, elf_type: 0, machine: 0, flags: 0, entry: 0 };
        let entry = e.word(data, 24)?;
        let flags = e.u32(data, if class64 { 48 } else { 36 })?;
        Some(Elf { elf_type: e.u16(data, 16)?, machine: e.u16(data, 18)?, flags, entry, ..e })
    }

    /// The machine's name.
    pub fn machine_name(&self) -> &'static str {
        match self.machine {
            3 => "x86",
            8 => "MIPS",
            20 => "PowerPC",
            40 => "ARM",
            62 => "x86-64",
            183 => "AArch64",
            243 => "RISC-V",
            _ => "unknown machine",
        }
    }

    /// The type's name.
    pub fn type_name(&self) -> &'static str {
        match self.elf_type {
            1 => "relocatable",
            2 => "executable",
            3 => "shared object",
            4 => "core",
            _ => "unknown type",
        }
    }

    /// Every program header, in file order.
    pub fn segments(&self, data: &[u8]) -> Result<Vec<Segment>, ElfError> {
        let t = self.tables(data).ok_or(ElfError::Truncated)?;
        let mut out = Vec::new();
        for i in 0..t.phnum {
            // Checked in tables(): phoff + phnum * phentsize does not overflow.
            let ph = t.phoff + i * t.phentsize;
            out.push(self.segment(data, ph).ok_or(ElfError::Truncated)?);
        }
        Ok(out)
    }

    /// The loadable (PT_LOAD) segments, each checked to lie inside the file.
    pub fn loads(&self, data: &[u8]) -> Result<Vec<Segment>, ElfError> {
        let mut out = Vec::new();
        for (index, s) in self.segments(data)?.into_iter().enumerate() {
            if s.kind != PT_LOAD {
                continue;
            }
            if s.offset.checked_add(s.filesz).is_none_or(|end| end > data.len() as u64) {
                return Err(ElfError::SegmentPastEnd { index, offset: s.offset, filesz: s.filesz });
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Where the file's bytes end: past its section headers, program headers and the last
    /// segment's file bytes (None when the headers do not fit in 64 bits or in `data`).
    pub fn extent(&self, data: &[u8]) -> Option<usize> {
        let t = self.tables(data)?;
        let mut end = t.shoff.checked_add(t.shentsize * t.shnum)?;
        end = end.max(t.phoff + t.phentsize * t.phnum);
        for i in 0..t.phnum {
            let s = self.segment(data, t.phoff + i * t.phentsize)?;
            end = end.max(s.offset.checked_add(s.filesz)?);
        }
        usize::try_from(end).ok()
    }

    fn tables(&self, data: &[u8]) -> Option<Tables> {
        let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if self.class64 {
            (self.word(data, 32)?, self.word(data, 40)?, self.u16(data, 54)?, self.u16(data, 56)?, self.u16(data, 58)?, self.u16(data, 60)?)
        } else {
            (self.word(data, 28)?, self.word(data, 32)?, self.u16(data, 42)?, self.u16(data, 44)?, self.u16(data, 46)?, self.u16(data, 48)?)
        };
        let (phentsize, phnum, shentsize, shnum) = (phentsize as u64, phnum as u64, shentsize as u64, shnum as u64);
        // The sizes are u16 products (no overflow); the offsets come from the file.
        phoff.checked_add(phentsize * phnum)?;
        Some(Tables { phoff, phentsize, phnum, shoff, shentsize, shnum })
    }

    fn segment(&self, data: &[u8], ph: u64) -> Option<Segment> {
        let at = |o: u64| ph.checked_add(o);
        Some(if self.class64 {
            Segment {
                kind: self.u32(data, ph)?,
                offset: self.word(data, at(8)?)?,
                vaddr: self.word(data, at(16)?)?,
                filesz: self.word(data, at(32)?)?,
                memsz: self.word(data, at(40)?)?,
            }
        } else {
            Segment {
                kind: self.u32(data, ph)?,
                offset: self.word(data, at(4)?)?,
                vaddr: self.word(data, at(8)?)?,
                filesz: self.word(data, at(16)?)?,
                memsz: self.word(data, at(20)?)?,
            }
        })
    }

    fn u16(&self, data: &[u8], off: impl TryInto<usize>) -> Option<u16> {
        let off = off.try_into().ok()?;
        if self.big_endian {
            be_u16(data, off)
        } else {
            le_u16(data, off)
        }
    }

    fn u32(&self, data: &[u8], off: impl TryInto<usize>) -> Option<u32> {
        let off = off.try_into().ok()?;
        if self.big_endian {
            be_u32(data, off)
        } else {
            le_u32(data, off)
        }
    }

    /// An address or offset: 8 bytes in a 64-bit file, 4 in a 32-bit one.
    fn word(&self, data: &[u8], off: impl TryInto<usize>) -> Option<u64> {
        let off = off.try_into().ok()?;
        match (self.class64, self.big_endian) {
            (true, true) => be_u64(data, off),
            (true, false) => le_u64(data, off),
            (false, true) => be_u32(data, off).map(u64::from),
            (false, false) => le_u32(data, off).map(u64::from),
        }
    }
}

/// An ELF32 little-endian executable with one segment holding `payload` at `addr` (both the
/// virtual and the physical address), starting there.
pub fn executable32(payload: &[u8], addr: u32, machine: u16, flags: u32) -> Vec<u8> {
    const EHSIZE: u16 = 52;
    const PHSIZE: u16 = 32;
    let offset = u32::from(EHSIZE + PHSIZE);
    let mut e = Vec::with_capacity(offset as usize + payload.len());
    e.extend_from_slice(b"\x7fELF\x01\x01\x01\x00");
    e.extend_from_slice(&[0; 8]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&machine.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&addr.to_le_bytes()); // entry
    e.extend_from_slice(&u32::from(EHSIZE).to_le_bytes()); // phoff
    e.extend_from_slice(&0u32.to_le_bytes()); // shoff
    e.extend_from_slice(&flags.to_le_bytes());
    for v in [EHSIZE, PHSIZE, 1, 40, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    for v in [PT_LOAD, offset, addr, addr, payload.len() as u32, payload.len() as u32, 7, 4] {
        e.extend_from_slice(&v.to_le_bytes()); // PT_LOAD, RWX, 4-byte aligned
    }
    e.extend_from_slice(payload);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executable_parses_back() {
        let payload = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let e = executable32(&payload, 0x8000_1000, 8, 0x5000_1001);
        let h = Elf::parse(&e).unwrap();
        assert_eq!((h.class64, h.big_endian, h.elf_type, h.machine, h.flags, h.entry), (false, false, 2, 8, 0x5000_1001, 0x8000_1000));
        let loads = h.loads(&e).unwrap();
        assert_eq!(loads, [Segment { kind: PT_LOAD, offset: 84, vaddr: 0x8000_1000, filesz: 8, memsz: 8 }]);
        assert_eq!(h.extent(&e), Some(e.len()));
        // A segment that runs past the end, and program headers that do.
        let mut short = e.clone();
        short.truncate(90);
        assert_eq!(h.loads(&short), Err(ElfError::SegmentPastEnd { index: 0, offset: 84, filesz: 8 }));
        short.truncate(70);
        assert_eq!(h.segments(&short), Err(ElfError::Truncated));
    }

    #[test]
    fn extents_never_overflow() {
        let mut e = vec![0u8; 128];
        e[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        let elf = Elf::parse(&e).unwrap();
        // No headers: the extent is 0 (the caller takes at least the ELF header).
        assert_eq!(elf.extent(&e), Some(0));
        // Program headers at the very end of the address space: no panic, no extent.
        e[32..40].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        e[54..56].copy_from_slice(&56u16.to_le_bytes());
        e[56..58].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(elf.extent(&e), None);
        // One program header at 64 whose segment ends at 0x1000.
        e[32..40].copy_from_slice(&64u64.to_le_bytes());
        e[56..58].copy_from_slice(&1u16.to_le_bytes());
        e[64 + 8..64 + 16].copy_from_slice(&0x800u64.to_le_bytes());
        e[64 + 32..64 + 40].copy_from_slice(&0x800u64.to_le_bytes());
        assert_eq!(elf.extent(&e), Some(0x1000));
    }

    #[test]
    fn never_panics_on_prefixes() {
        let e = executable32(&[0; 16], 0x1000, 8, 0);
        for n in 0..e.len() {
            if let Some(h) = Elf::parse(&e[..n]) {
                let _ = (h.segments(&e[..n]), h.loads(&e[..n]), h.extent(&e[..n]));
            }
        }
    }
}
