//! Why an EFI System Partition image could not be built, each with what to change.

use crate::size::human;

/// An ESP that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("an ESP of {size} bytes is not a whole number of 512-byte sectors: make the esp partition size a multiple of 512")]
    NotWholeSectors { size: u64 },
    #[error("an ESP of {} cannot be formatted as FAT ({reason}): choose an esp partition size between 1 MiB and 4 GiB", human(*size))]
    UnformattableSize { size: u64, reason: String },
    #[error("volume label `{label}` {reason}: a FAT label is at most 11 characters of A-Z, 0-9, space and ! # $ % & ' ( ) - @ ^ _ ` {{ }} ~")]
    BadLabel { label: String, reason: &'static str },
    #[error("ESP file path `{path}` {reason}: use a relative path of FAT-safe names, like EFI/BOOT/BOOTX64.EFI")]
    BadPath { path: String, reason: String },
    #[error("ESP file path `{path}` clashes with `{other}` (FAT names ignore case): list each file once, and no file where a directory must be")]
    PathClash { path: String, other: String },
    #[error(
        "ESP of {} cannot hold {path} ({}; {} free after the files before it): raise the esp partition size in targets/<board>.toml",
        human(*esp_size),
        human(*file_size),
        human(*free)
    )]
    DoesNotFit { esp_size: u64, path: String, file_size: u64, free: u64 },
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
