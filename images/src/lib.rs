//! oxwrt's image formats: the byte layouts that `cargo xtask` writes into firmware
//! images and that the device reads back when it upgrades itself.
//!
//! Formats:
//! - [`gpt`]: GUID Partition Table disk labels (UEFI spec, chapter 5): a writer for
//!   the x86-64 disk image and a strict reader/verifier the device reuses on upgrade.
//! - `fat` (cargo feature `esp`, on by default): FAT16/FAT32 EFI System Partition
//!   images, built deterministically (fixed timestamps, label and volume id).
//!
//! Every encoder is reproducible: the same inputs give the same bytes.
//! The device links only [`gpt`]; it turns the `esp` feature off to stay small.

#[cfg(feature = "esp")]
pub mod fat;
pub mod gpt;
mod size;
