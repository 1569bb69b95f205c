//! The name of a stack's control socket (an abstract socket on Linux, a socket file in a
//! private directory on macOS: `platform::socket`), a hash of the user id, the mount namespace
//! (Linux's; macOS has none) and the canonical root and Procfile paths, so that it is short
//! and no path shows in `/proc/net/unix`. Two checkouts get two names; two users,
//! or two containers sharing a network namespace, too.

use std::path::Path;

/// The abstract socket name of the stack run from `procfile` in `root`, for this user and
/// mount namespace. Paths that cannot be canonicalized are hashed as given.
pub fn socket_name(procfile: &Path, root: &Path) -> String {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let namespace = crate::platform::socket::namespace();
    let mut key = Vec::new();
    key.extend_from_slice(&nix::unistd::getuid().as_raw().to_le_bytes());
    for part in [namespace, canonical(root), canonical(procfile)] {
        key.extend_from_slice(part.as_os_str().as_encoded_bytes());
        key.push(0);
    }
    format!("procmux/{:016x}", fnv1a(&key))
}

/// FNV-1a, 64 bits: stable across builds and processes (std's hashers promise neither).
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_short_and_path_free() {
        let a = socket_name(Path::new("/srv/app/Procfile"), Path::new("/srv/app"));
        let b = socket_name(Path::new("/srv/app/Procfile"), Path::new("/srv/app"));
        let c = socket_name(Path::new("/srv/other/Procfile"), Path::new("/srv/other"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() < 107 && !a.contains("srv"), "{a}");
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
