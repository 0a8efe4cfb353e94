//! Checks of what the caller names in an ESP: the volume label and the file paths.

use super::error::{Error, Result};
use std::collections::HashMap;

/// Characters a FAT long file name must not contain (besides control characters).
const FORBIDDEN_IN_NAMES: &str = "\\/:*?\"<>|";
/// Punctuation allowed in a FAT volume label, besides A-Z, 0-9 and space.
const LABEL_PUNCTUATION: &str = "!#$%&'()-@^_`{}~";

/// The 11-byte, space-padded label field for `label`, upper-cased (FAT labels are
/// case-insensitive and stored upper-case). `None` for an empty label ("NO NAME").
pub(crate) fn label_field(label: &str) -> Result<Option<[u8; 11]>> {
    let bad = |reason| Error::BadLabel { label: label.to_string(), reason };
    if label.is_empty() {
        return Ok(None);
    }
    if label.len() > 11 {
        return Err(bad("is longer than 11 characters"));
    }
    if label.starts_with(' ') {
        return Err(bad("starts with a space"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || c == ' ' || LABEL_PUNCTUATION.contains(c);
    if !label.chars().all(ok) {
        return Err(bad("has a character FAT labels do not allow"));
    }
    let mut field = [b' '; 11];
    field[..label.len()].copy_from_slice(label.to_ascii_uppercase().as_bytes());
    Ok(Some(field))
}

/// Checks every path: relative, '/'-separated, components that FAT can name, and no two
/// paths that FAT would confuse (same name up to case, or a file where another path
/// needs a directory).
pub(crate) fn check_paths<'p>(paths: impl IntoIterator<Item = &'p str>) -> Result<()> {
    // Upper-cased path -> (the path as given, whether it is a file).
    let mut seen: HashMap<String, (&str, bool)> = HashMap::new();
    for path in paths {
        check_path(path)?;
        let components: Vec<&str> = path.split('/').collect();
        for depth in 1..=components.len() {
            let is_file = depth == components.len();
            let key = components[..depth].join("/").to_uppercase();
            match seen.get(&key) {
                Some(&(other, other_is_file)) if is_file || other_is_file => {
                    return Err(Error::PathClash { path: path.to_string(), other: other.to_string() });
                }
                Some(_) => {}
                None => {
                    seen.insert(key, (path, is_file));
                }
            }
        }
    }
    Ok(())
}

fn check_path(path: &str) -> Result<()> {
    let bad = |reason: String| Error::BadPath { path: path.to_string(), reason };
    if path.is_empty() {
        return Err(bad("is empty".into()));
    }
    if path.starts_with('/') {
        return Err(bad("is absolute".into()));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(bad("has an empty component (`//` or a trailing `/`)".into())),
            "." | ".." => return Err(bad(format!("has a `{component}` component"))),
            _ if component.encode_utf16().count() > 255 => {
                return Err(bad("has a name longer than 255 characters".into()));
            }
            _ => {}
        }
        if let Some(c) = component.chars().find(|&c| c.is_control() || FORBIDDEN_IN_NAMES.contains(c)) {
            return Err(bad(format!("has the character {c:?}, which FAT names cannot hold")));
        }
        if component.ends_with('.') || component.ends_with(' ') || component.starts_with(' ') {
            return Err(bad(format!("has the name `{component}`, which starts with a space or ends with a dot or space")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_padded_upper_cased_and_checked() {
        assert_eq!(&label_field("oxwrt").unwrap().unwrap(), b"OXWRT      ");
        assert_eq!(&label_field("EFI-SYSTEM1").unwrap().unwrap(), b"EFI-SYSTEM1");
        assert_eq!(label_field("").unwrap(), None);
        assert!(matches!(label_field("EFISYSTEMPART"), Err(Error::BadLabel { reason, .. }) if reason.contains("11")));
        assert!(matches!(label_field("A.B"), Err(Error::BadLabel { .. })));
        assert!(matches!(label_field("ÉFI"), Err(Error::BadLabel { .. })));
        assert!(matches!(label_field(" EFI"), Err(Error::BadLabel { .. })));
    }

    #[test]
    fn good_paths_pass() {
        check_paths(["EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/startup.nsh", "loader/entries/oxwrt.conf", "README"]).unwrap();
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        for (path, reason) in [
            ("/EFI/BOOT/BOOTX64.EFI", "is absolute"),
            ("EFI//BOOTX64.EFI", "empty component"),
            ("EFI/BOOT/", "empty component"),
            ("EFI/../x", "`..`"),
            ("EFI/BO:OT/x", "':'"),
            ("EFI/BOOT/x.", "ends with a dot"),
            ("", "is empty"),
        ] {
            let err = check_paths([path]).unwrap_err().to_string();
            assert!(err.contains(reason), "{path}: {err}");
        }
    }

    #[test]
    fn clashing_paths_are_rejected() {
        let err = check_paths(["EFI/BOOT/BOOTX64.EFI", "efi/boot/bootx64.efi"]).unwrap_err();
        assert!(matches!(err, Error::PathClash { .. }), "{err}");
        let err = check_paths(["EFI/BOOT", "EFI/BOOT/BOOTX64.EFI"]).unwrap_err();
        assert!(matches!(err, Error::PathClash { .. }), "{err}");
        let err = check_paths(["EFI/BOOT/BOOTX64.EFI", "EFI/BOOT"]).unwrap_err();
        assert!(matches!(err, Error::PathClash { .. }), "{err}");
    }
}
