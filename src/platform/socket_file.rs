//! A control socket as a file (macOS has no abstract sockets): `DIR/procmux-UID/HASH`, in a
//! directory made mode 0700 and checked to be the user's own and private before use (a socket
//! in a directory others may write could be replaced). The file is removed when the listener's
//! [`SocketFile`] is dropped, if it is still the one bound; one left by a procmux that was
//! killed is stale — a refused connection proves it — and the next bind replaces it. A live
//! one (its connection is taken) means the name is in use.
//!
//! macOS's, but plain std and `nix`, so it is compiled and unit-tested on every OS.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The longest path a Unix socket address holds on macOS (`sun_path`, NUL included).
const PATH_MAX: usize = 104;

/// The socket file of a listener: removed when dropped, if it is still the one bound.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    identity: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // A socket with the same identity (an inode number may be reused for a new file).
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The socket file of `name` (`procmux/HASH`, as `config` names it) for user `uid` under the
/// temporary directory `temporary`.
pub fn socket_path(temporary: &Path, uid: u32, name: &str) -> PathBuf {
    let hash = name.rsplit('/').next().unwrap_or(name);
    temporary.join(format!("procmux-{uid}")).join(hash)
}

/// Listens at `path` (blocking), making its private directory and replacing a stale file.
/// `AddrInUse` when something listens there already.
pub fn bind(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    private_directory(path.parent().unwrap_or(Path::new("/")))?;
    if path.as_os_str().len() >= PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the control socket's path {} is longer than a socket address holds ({} bytes): \
                 set TMPDIR to a shorter directory, or use --control off",
                path.display(),
                PATH_MAX - 1
            ),
        ));
    }
    let listener = match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            remove_if_stale(path)?;
            UnixListener::bind(path)?
        }
        other => other?,
    };
    let metadata = fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        identity: (metadata.dev(), metadata.ino()),
    };
    Ok((listener, file))
}

/// A file is at `path`: `AddrInUse` if something answers there; removed if it is a socket
/// nobody listens on; an error naming it if it is something else.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not a socket: remove it", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::ErrorKind::AddrInUse.into()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// Makes `dir` (mode 0700), or checks that the one there is a directory of this user's that
/// nobody else may enter.
fn private_directory(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot make {} for the control socket: {e}", dir.display()),
            ));
        }
    }
    let metadata = fs::symlink_metadata(dir)?;
    let me = nix::unistd::getuid().as_raw();
    if !metadata.is_dir() || metadata.uid() != me || metadata.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of yours (it must be a directory, owned by uid \
                 {me}, mode 0700): remove it, or use --control off",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn path_in(temporary: &Path) -> PathBuf {
        socket_path(temporary, 501, "procmux/0123456789abcdef")
    }

    #[test]
    fn named_by_user_and_hash() {
        assert_eq!(
            path_in(Path::new("/var/folders/x/T")),
            Path::new("/var/folders/x/T/procmux-501/0123456789abcdef")
        );
    }

    #[test]
    fn a_private_directory_is_made_and_the_file_removed_at_the_end() {
        let temporary = tempfile::tempdir().unwrap();
        let path = path_in(temporary.path());
        let (listener, file) = bind(&path).unwrap();
        let mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(UnixStream::connect(&path).is_ok());
        // A second procmux of the same stack: the name is in use, the file left alone.
        assert_eq!(bind(&path).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        assert!(path.exists());
        drop((listener, file));
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_file_is_replaced() {
        let temporary = tempfile::tempdir().unwrap();
        let path = path_in(temporary.path());
        let (listener, file) = bind(&path).unwrap();
        // Killed: the file stays, nobody listens.
        std::mem::forget(file);
        drop(listener);
        assert!(path.exists());
        let (_listener, _file) = bind(&path).unwrap();
        assert!(UnixStream::connect(&path).is_ok());
    }

    #[test]
    fn a_file_replaced_meanwhile_is_not_removed() {
        let temporary = tempfile::tempdir().unwrap();
        let path = path_in(temporary.path());
        let (listener, file) = bind(&path).unwrap();
        drop(listener);
        fs::remove_file(&path).unwrap();
        fs::write(&path, "another's").unwrap();
        drop(file);
        assert_eq!(fs::read_to_string(&path).unwrap(), "another's");
    }

    #[test]
    fn what_is_not_a_private_directory_or_a_socket_is_refused_by_name() {
        let temporary = tempfile::tempdir().unwrap();
        let path = path_in(temporary.path());
        let dir = path.parent().unwrap();
        // Open to others.
        fs::create_dir(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let error = bind(&path).unwrap_err().to_string();
        assert!(error.contains("not a private directory") && error.contains("procmux-501"));
        // A symlink to a private directory.
        fs::remove_dir(dir).unwrap();
        let elsewhere = temporary.path().join("elsewhere");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&elsewhere)
            .unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir).unwrap();
        assert!(
            bind(&path)
                .unwrap_err()
                .to_string()
                .contains("not a private directory")
        );
        // A regular file where the socket goes.
        fs::remove_file(dir).unwrap();
        fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
        fs::write(&path, "").unwrap();
        let error = bind(&path).unwrap_err().to_string();
        assert!(error.contains("is not a socket"), "{error}");
        assert!(path.exists());
    }

    #[test]
    fn a_path_too_long_for_an_address_is_said() {
        let temporary = tempfile::tempdir().unwrap();
        let long = temporary.path().join("d".repeat(100));
        fs::create_dir(&long).unwrap();
        let error = bind(&path_in(&long)).unwrap_err().to_string();
        assert!(
            error.contains("set TMPDIR to a shorter directory"),
            "{error}"
        );
    }
}
