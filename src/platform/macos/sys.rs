//! The macOS side's only `unsafe` (`#[allow(unsafe_code)]` on its `mod` line): a `sysctl`
//! the crates do not wrap, and the one arm of a union the kernel filled. Each block says why
//! it is sound in a `// SAFETY:` comment.

use std::ptr;

use libproc::libproc::net_info::{SocketFDInfo, SocketInfoKind, TcpSockInfo};
use nix::libc::{self, c_int, c_void};
use nix::unistd::Pid;

/// `sysctl(KERN_PROCARGS2)` of `pid`: its argument count, executable path, arguments and
/// environment (parsed by `platform::procargs`). `None` when the kernel says no (another
/// user's process, a zombie, a pid gone).
pub fn process_arguments(pid: Pid) -> Option<Vec<u8>> {
    let mut argmax: c_int = 0;
    let mut size = std::mem::size_of::<c_int>();
    let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
    // SAFETY: `mib` names two valid ints; `argmax` is a writable int and `size` says so; no
    // new value is set (null, 0).
    let result = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&mut argmax as *mut c_int).cast::<c_void>(),
            &mut size,
            ptr::null_mut(),
            0,
        )
    };
    let capacity = usize::try_from(argmax)
        .ok()
        .filter(|&n| result == 0 && n > 0)?;
    let mut buffer = vec![0u8; capacity];
    let mut size = buffer.len();
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid.as_raw()];
    // SAFETY: `mib` names three valid ints; `buffer` is writable for `size` bytes, which the
    // kernel never exceeds and updates to what it wrote; no new value is set.
    let result = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buffer.as_mut_ptr().cast::<c_void>(),
            &mut size,
            ptr::null_mut(),
            0,
        )
    };
    if result != 0 {
        return None;
    }
    buffer.truncate(size);
    Some(buffer)
}

/// The TCP part of a socket's information, when the kernel says it is a TCP socket.
pub fn tcp_info(info: &SocketFDInfo) -> Option<TcpSockInfo> {
    if !matches!(SocketInfoKind::from(info.psi.soi_kind), SocketInfoKind::Tcp) {
        return None;
    }
    // SAFETY: `soi_kind` is SOCKINFO_TCP, so the kernel filled the union's `pri_tcp` arm
    // (`proc_pidfdinfo`'s contract); it is plain integers, valid for any bit pattern.
    Some(unsafe { info.psi.soi_proto.pri_tcp })
}
