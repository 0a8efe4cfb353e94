//! WireGuard keys on the device: private keys from the kernel's CSPRNG (getrandom(2),
//! nothing else: no fallback that could make a guessable key), public keys by X25519
//! (RFC 7748, crate `x25519-dalek`), key files of mode 0600.
//!
//! Private and preshared keys are [`Secret`]s: they are never printed, logged or put in
//! an error message; the only places they are written out are their own files and a
//! generated client's configuration.

use oxwrt_config::vpn::{Key, Secret};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// 32 bytes from getrandom(2); an error (never a weaker source) when the kernel has none.
pub fn random32() -> io::Result<[u8; 32]> {
    let mut buf = [0u8; 32];
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is valid for writing rest.len() bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io::Error::new(e.kind(), format!("getrandom(2) failed: {e}; no key was made")));
        }
        done += n as usize;
    }
    Ok(buf)
}

/// A new private key, clamped as RFC 7748 section 5 (and `wg genkey`) does.
pub fn generate() -> io::Result<Secret> {
    let mut k = random32()?;
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    Ok(Secret(k))
}

/// A new preshared key: 32 random bytes.
pub fn generate_psk() -> io::Result<Secret> {
    random32().map(Secret)
}

/// The public key of a private key: X25519(k, 9).
pub fn public_of(private: &Secret) -> Key {
    Key(x25519_dalek::x25519(private.0, x25519_dalek::X25519_BASEPOINT_BYTES))
}

/// Reads a key file: base64, mode 0600 or stricter (a key others can read is refused,
/// with the chmod that fixes it). Errors name the file, never its contents.
pub fn read_key_file(path: &Path) -> Result<Secret, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key file {} has mode {mode:04o}: others can read the key; `chmod 600 {}` (or remove it: vpnd makes a new one)",
            path.display(),
            path.display()
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    Secret::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a key file atomically with mode 0600 (temporary file, fsync, rename), owned by
/// `owner` (uid, gid) when given (the root-run `vpn` command hands files to vpnd).
pub fn write_key_file(path: &Path, key: &Secret, owner: Option<(u32, u32)>) -> Result<(), String> {
    let fail = |e: io::Error| format!("cannot write the key file {}: {e}", path.display());
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(format!("{}\n", key.expose_base64()).as_bytes())?;
        f.sync_all()?;
        drop(f);
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))?;
        }
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// The owner of a directory: who the files written into it should belong to.
pub fn owner_of(dir: &Path) -> Option<(u32, u32)> {
    fs::metadata(dir).ok().map(|m| (m.uid(), m.gid()))
}

/// The key in `path`, made (and written, owned by `owner` when given) when the file does
/// not exist. Returns whether it was made.
pub fn ensure_key_file(path: &Path, owner: Option<(u32, u32)>) -> Result<(Secret, bool), String> {
    match fs::symlink_metadata(path) {
        Ok(_) => read_key_file(path).map(|k| (k, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let k = generate().map_err(|e| e.to_string())?;
            write_key_file(path, &k, owner)?;
            Ok((k, true))
        }
        Err(e) => Err(format!("cannot read the key file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> [u8; 32] {
        let v: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect();
        v.try_into().unwrap()
    }

    /// RFC 7748 section 6.1: Alice's and Bob's key pairs and their shared secret.
    #[test]
    fn rfc7748_key_pairs() {
        let alice = Secret(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        let bob = Secret(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        assert_eq!(public_of(&alice).0, hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
        assert_eq!(public_of(&bob).0, hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(x25519_dalek::x25519(alice.0, public_of(&bob).0), shared);
        assert_eq!(x25519_dalek::x25519(bob.0, public_of(&alice).0), shared);
    }

    /// RFC 7748 section 5.2: the function itself on an arbitrary point.
    #[test]
    fn rfc7748_function_vector() {
        let k = hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
        let u = hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
        assert_eq!(x25519_dalek::x25519(k, u), hex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));
    }

    #[test]
    fn generated_keys_are_clamped_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.0[0] & 7, 0);
        assert_eq!(a.0[31] & 0xc0, 0x40);
        assert_ne!(public_of(&a), public_of(&b));
    }

    #[test]
    fn key_files_are_0600_and_others_are_refused() {
        let dir = std::env::temp_dir().join(format!("vpnd-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("wg0.key");
        let (k, made) = ensure_key_file(&p, None).unwrap();
        assert!(made);
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(ensure_key_file(&p, None).unwrap(), (k.clone(), false));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&p).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains(&k.expose_base64()));
        fs::write(dir.join("bad.key"), "secret-looking-garbage\n").unwrap();
        fs::set_permissions(dir.join("bad.key"), fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_key_file(&dir.join("bad.key")).unwrap_err();
        assert!(e.contains("not a WireGuard key") && !e.contains("garbage"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
