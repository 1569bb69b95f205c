//! The listening TCP sockets, asked of the kernel's socket monitoring interface
//! (`NETLINK_SOCK_DIAG`, what `ss -lt` reads) rather than read from `/proc/net/tcp`.
//!
//! Why: for `/proc/net/tcp` the kernel walks every bucket of its established-connection
//! table at each read, listening or not, and that table is sized by the machine's memory: on
//! a 24 GiB machine the two tables (IPv4 and IPv6) took ~4 ms to read, at every `start`
//! with fixed ports and every `status`. Asked for the listening state only, the kernel walks
//! its listening table alone: ~0.05 ms.
//!
//! `None` when the interface cannot answer (a kernel without `inet_diag`, a sandbox that
//! forbids netlink, an answer that does not parse): the caller reads `/proc/net/tcp` then.
//! Encoding the request and reading the answer are pure, apart from the one exchange.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, send, setsockopt, socket,
    sockopt,
};
use nix::sys::time::TimeVal;

/// `SOCK_DIAG_BY_FAMILY`: the request type of `inet_diag_req_v2`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `TCP_LISTEN`, as a bit of the request's state mask.
const LISTEN_STATE: u32 = 1 << 10;
/// `struct nlmsghdr`.
const HEADER: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, extensions, padding, states, socket id.
const REQUEST: usize = 8 + SOCKET_ID;
/// `struct inet_diag_sockid`: ports, addresses, interface, cookie.
const SOCKET_ID: usize = 48;
/// `struct inet_diag_msg`: family, state, timer, retransmits, socket id, expiry, queues,
/// uid, inode.
const MESSAGE: usize = 4 + SOCKET_ID + 20;
/// The kernel fills a dump's datagrams up to 32 KiB (`SKB_WITH_OVERHEAD(32768)`).
const DATAGRAM: usize = 32 * 1024;
/// The kernel answers at once; this bounds the whole exchange should it not (every wait
/// together: datagrams that never end the dump are no answer).
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// Every listening TCP socket, IPv4 and IPv6, in procmux's network namespace: (inode, port).
pub fn listening() -> Option<Vec<(u64, u16)>> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut found = Vec::new();
    let mut datagram = vec![0u8; DATAGRAM];
    for (seq, family) in [(1, nix::libc::AF_INET), (2, nix::libc::AF_INET6)] {
        let request = request(family as u8, seq);
        if send(fd.as_raw_fd(), &request, MsgFlags::empty()).ok()? != request.len() {
            return None;
        }
        loop {
            // Each wait gets what is left of the second, so the whole exchange is bounded.
            let left = deadline.checked_duration_since(Instant::now())?;
            let left = TimeVal::new(left.as_secs() as _, left.subsec_micros().max(1) as _);
            setsockopt(&fd, sockopt::ReceiveTimeout, &left).ok()?;
            let n = match recv(fd.as_raw_fd(), &mut datagram, MsgFlags::empty()) {
                Ok(n) => n,
                // A socket with a receive timeout is not restarted after a signal
                // (SA_RESTART or not): wait again, within the deadline.
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            };
            if n == 0 || n == datagram.len() {
                // Nothing, or possibly cut: not an answer to trust.
                return None;
            }
            match read_answer(&datagram[..n], seq, &mut found)? {
                Answer::More => {}
                Answer::Done => break,
            }
        }
    }
    Some(found)
}

/// A dump request for `family`'s TCP sockets in the listening state.
fn request(family: u8, seq: u32) -> [u8; HEADER + REQUEST] {
    let mut bytes = [0u8; HEADER + REQUEST];
    bytes[0..4].copy_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    bytes[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    bytes[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
    // Port id 0: the kernel fills in the socket's.
    bytes[HEADER] = family;
    bytes[HEADER + 1] = nix::libc::IPPROTO_TCP as u8;
    bytes[HEADER + 4..HEADER + 8].copy_from_slice(&LISTEN_STATE.to_ne_bytes());
    bytes
}

#[derive(Debug, PartialEq)]
enum Answer {
    More,
    Done,
}

/// Reads one datagram of the dump answering request `seq` into `found`: whether the dump
/// goes on. `None` for an error from the kernel or bytes that do not parse.
fn read_answer(mut datagram: &[u8], seq: u32, found: &mut Vec<(u64, u16)>) -> Option<Answer> {
    while !datagram.is_empty() {
        let header = datagram.get(..HEADER)?;
        let len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(header[4..6].try_into().ok()?);
        let message_seq = u32::from_ne_bytes(header[8..12].try_into().ok()?);
        let message = datagram.get(HEADER..len)?;
        if message_seq != seq {
            return None;
        }
        match kind {
            NLMSG_DONE => return Some(Answer::Done),
            NLMSG_ERROR => return None,
            SOCK_DIAG_BY_FAMILY => {
                let message = message.get(..MESSAGE)?;
                // The socket id's source port, in network order.
                let port = u16::from_be_bytes([message[4], message[5]]);
                let inode = u32::from_ne_bytes(message[MESSAGE - 4..].try_into().ok()?);
                found.push((u64::from(inode), port));
            }
            _ => return None,
        }
        // Messages are aligned to 4 bytes.
        let next = len.checked_add(3)? & !3;
        datagram = datagram.get(next.min(datagram.len())..)?;
    }
    Some(Answer::More)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as the kernel writes it: a header, then an `inet_diag_msg` for a socket on
    /// `port` with `inode`, then `extra` bytes of attributes.
    fn message(seq: u32, port: u16, inode: u32, extra: usize) -> Vec<u8> {
        let len = HEADER + MESSAGE + extra;
        let mut bytes = vec![0u8; len];
        bytes[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        bytes[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        bytes[HEADER + 4..HEADER + 6].copy_from_slice(&port.to_be_bytes());
        bytes[HEADER + MESSAGE - 4..HEADER + MESSAGE].copy_from_slice(&inode.to_ne_bytes());
        bytes.resize((len + 3) & !3, 0);
        bytes
    }

    fn control(kind: u16, seq: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER + 4];
        bytes[0..4].copy_from_slice(&((HEADER + 4) as u32).to_ne_bytes());
        bytes[4..6].copy_from_slice(&kind.to_ne_bytes());
        bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        bytes
    }

    #[test]
    fn the_request_asks_for_listening_tcp_sockets_of_one_family() {
        let bytes = request(nix::libc::AF_INET6 as u8, 7);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(bytes[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(bytes[16], nix::libc::AF_INET6 as u8);
        assert_eq!(bytes[17], nix::libc::IPPROTO_TCP as u8);
        assert_eq!(
            u32::from_ne_bytes(bytes[20..24].try_into().unwrap()),
            1 << 10
        );
    }

    #[test]
    fn messages_with_attributes_and_odd_lengths_are_read_in_turn() {
        let mut datagram = message(3, 8080, 1076, 5);
        datagram.extend(message(3, 443, 99, 0));
        let mut found = Vec::new();
        assert_eq!(read_answer(&datagram, 3, &mut found), Some(Answer::More));
        assert_eq!(found, [(1076, 8080), (99, 443)]);
        datagram.extend(control(NLMSG_DONE, 3));
        found.clear();
        assert_eq!(read_answer(&datagram, 3, &mut found), Some(Answer::Done));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn an_error_a_stranger_or_a_cut_message_is_no_answer() {
        let mut found = Vec::new();
        assert_eq!(read_answer(&control(NLMSG_ERROR, 1), 1, &mut found), None);
        assert_eq!(read_answer(&message(9, 80, 1, 0), 1, &mut found), None);
        let whole = message(1, 80, 1, 0);
        for cut in 1..whole.len() - 1 {
            assert_eq!(read_answer(&whole[..cut], 1, &mut found), None, "{cut}");
        }
        let mut lying = message(1, 80, 1, 0);
        lying[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(read_answer(&lying, 1, &mut found), None);
        assert!(found.is_empty());
    }

    #[test]
    fn the_kernel_lists_what_proc_net_tcp_lists() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0");
        let mut asked = listening().expect("NETLINK_SOCK_DIAG answers on Linux");
        let port = v4.local_addr().unwrap().port();
        assert!(asked.iter().any(|&(_, p)| p == port), "{asked:?}");
        if let Ok(v6) = &v6 {
            let port = v6.local_addr().unwrap().port();
            assert!(asked.iter().any(|&(_, p)| p == port), "{asked:?}");
        }
        let mut read = super::super::process::listening_in_proc_net();
        asked.sort_unstable();
        read.sort_unstable();
        // Other tests open listeners meanwhile: ours must be in both, with the same inode.
        for ours in asked.iter().filter(|(_, p)| *p == port) {
            assert!(read.contains(ours), "{ours:?} not in {read:?}");
        }
    }
}
