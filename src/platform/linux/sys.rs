//! Linux's only `unsafe` (`#[allow(unsafe_code)]` on its `mod` line): `pwritev2`, which nix
//! does not wrap.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// One `pwritev2(fd, bufs, -1, RWF_NOWAIT)`: what fits into `fd` now, written without
/// blocking and without touching the file's flags (shared with the shell).
pub fn write_nowait(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // More than IOV_MAX slices is EINVAL, which the caller takes as "write them another way".
    let count = libc::c_int::try_from(bufs.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` (std documents it), `bufs` holds
    // `count` of them and outlives the call, and `fd` is open while it is borrowed.
    let written = unsafe {
        libc::pwritev2(
            fd.as_raw_fd(),
            bufs.as_ptr().cast::<libc::iovec>(),
            count,
            -1,
            libc::RWF_NOWAIT,
        )
    };
    usize::try_from(written).map_err(|_| io::Error::last_os_error())
}
