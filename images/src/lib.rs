//! oxwrt's image formats: the byte layouts that `cargo xtask` writes into firmware
//! images and that the device reads back when it upgrades itself.
//!
//! Formats:
//! - [`gpt`]: GUID Partition Table disk labels (UEFI spec, chapter 5): a writer for
//!   the x86-64 disk image and a strict reader/verifier the device reuses on upgrade.
//! - `fat` (cargo feature `esp`, on by default): FAT16/FAT32 EFI System Partition
//!   images, built deterministically (fixed timestamps, label and volume id).
//! - [`trx`]: Broadcom TRX images (CFE, BCM47xx routers): builder and verifying parser.
//! - [`linksys`]: the Linksys/CyberTAN code pattern header of factory `.bin` images.
//! - [`chk`]: Netgear CHK images; [`uimage`]: U-Boot legacy uImage headers.
//! - [`elf`]: ELF headers and program headers (reader), one-segment executables (writer).
//! - [`detect`]: names what a byte slice starts with (the above, squashfs, gzip, LZMA,
//!   xz, ELF, GPT, FAT, ext4, JFFS2, erased flash), for `cargo xtask inspect`.
//!
//! Every encoder is reproducible: the same inputs give the same bytes.
//! The device links only [`gpt`]; it turns the `esp` feature off to stay small.

mod bytes;
pub mod chk;
pub mod detect;
pub mod elf;
#[cfg(feature = "esp")]
pub mod fat;
pub mod gpt;
pub mod linksys;
pub mod size;
pub mod trx;
pub mod uimage;
