//! `procmux attach NAME`: an interactive session with one instance of a running stack.
//!
//! After the request line and the server's `ok pty` (or `ok pipe`), the client sends frames
//! and the server sends the instance's output as it is, unprefixed (it still goes to the main
//! stream too). A frame is a kind byte, then:
//! - `d`, a 4-byte big-endian length and that many bytes: input (keys, for a pty);
//! - `w`, rows and columns as 2-byte big-endian numbers: the terminal's size, which the
//!   instance's pty follows.
//!
//! For a pty the terminal goes raw, so a debugger's line editing works; [`DETACH`] (Ctrl-])
//! ends the session, and the terminal is restored on any exit. For a pipe the terminal stays
//! as it is and lines go to the instance's stdin.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{self, SetArg, Termios};

use super::client::{Header, explain};
use super::commands::Target;
use super::{Request, connect};
use crate::error::Error;
use crate::output::print_document;

/// Ctrl-]: detaches, as in telnet.
pub const DETACH: u8 = 0x1d;

/// Encodes input bytes as a frame.
pub fn input_frame(bytes: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(5 + bytes.len());
    frame.push(b'd');
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(bytes);
    frame
}

/// Encodes a window size as a frame.
pub fn size_frame(rows: u16, cols: u16) -> Vec<u8> {
    let mut frame = vec![b'w'];
    frame.extend_from_slice(&rows.to_be_bytes());
    frame.extend_from_slice(&cols.to_be_bytes());
    frame
}

/// One decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Input(Vec<u8>),
    Size { rows: u16, cols: u16 },
}

/// The frames complete in `buffer`, removed from it. `Err` for a malformed stream (the
/// server then closes the connection); an input frame longer than `max` is malformed.
pub(super) fn take_frames(buffer: &mut Vec<u8>, max: usize) -> Result<Vec<Frame>, String> {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buffer[at..];
        match rest.first() {
            None => break,
            Some(b'd') if rest.len() >= 5 => {
                let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                if len > max {
                    return Err("input frame too long".to_owned());
                }
                if rest.len() < 5 + len {
                    break;
                }
                frames.push(Frame::Input(rest[5..5 + len].to_vec()));
                at += 5 + len;
            }
            Some(b'w') if rest.len() >= 5 => {
                frames.push(Frame::Size {
                    rows: u16::from_be_bytes([rest[1], rest[2]]),
                    cols: u16::from_be_bytes([rest[3], rest[4]]),
                });
                at += 5;
            }
            Some(b'd' | b'w') => break,
            Some(_) => return Err("malformed frame".to_owned()),
        }
    }
    buffer.drain(..at);
    Ok(frames)
}

/// Puts the terminal back as it was, whatever way the session ends: a return, a signal (the
/// loop sees the flag and returns), or a panic (a hook, as procmux aborts on panic and no
/// destructor runs then).
struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw input (keys one by one, no echo, no signals from Ctrl-C: they go to the
    /// instance), output processing kept: the child's `\n` still starts a line at column 0.
    fn enter() -> Option<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        raw.output_flags = saved.output_flags;
        let restore = std::sync::Mutex::new(saved.clone());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(saved) = restore.lock() {
                let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &saved);
            }
            previous(info);
        }));
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Signals that end a session: the terminal is restored before procmux exits with 128 + N.
const ENDING: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];

/// `procmux attach NAME`. `terminal_size` gives the terminal's (rows, columns).
pub fn attach(
    target: &Target<'_>,
    name: &str,
    terminal_size: &dyn Fn() -> Option<(u16, u16)>,
) -> Result<i32, Error> {
    let client = connect(target.socket)
        .map_err(|e| Error::os("connecting to procmux", e))?
        .ok_or_else(|| Error::Usage(format!("no procmux is running for {}", target.procfile)))?;
    let pid = client.pid();
    let (header, mut stream) = client
        .ask(&Request::Attach(name.to_owned()))
        .map_err(|e| Error::os("talking to procmux", e))?;
    let pty = match header {
        Header::Ok(kind) => kind == "pty",
        Header::Error(message) => return Err(super::commands::refusal(message)),
    };
    // The session lasts as long as the user wants: only writes keep their timeout.
    stream
        .set_read_timeout(None)
        .map_err(|e| Error::os("talking to procmux", e))?;
    let stdin = io::stdin();
    let is_tty = nix::unistd::isatty(stdin.as_fd()).unwrap_or(false);
    let resized = Arc::new(AtomicBool::new(true));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGWINCH, Arc::clone(&resized));
    let ended = Arc::new(AtomicUsize::new(0));
    for signal in ENDING {
        let _ = signal_hook::flag::register_usize(signal, Arc::clone(&ended), signal as usize);
    }
    let raw = (pty && is_tty).then(RawMode::enter).flatten();
    if is_tty {
        let _ = write!(
            io::stderr(),
            "procmux: attached to {name}; Ctrl-] detaches\r\n"
        );
    }
    let mut buf = [0u8; 16 * 1024];
    let mut stdin_open = true;
    let code = loop {
        let signal = ended.load(Ordering::Relaxed);
        if signal != 0 {
            break 128 + signal as i32;
        }
        if pty
            && is_tty
            && resized.swap(false, Ordering::Relaxed)
            && let Some((rows, cols)) = terminal_size()
        {
            let _ = stream.write_all(&size_frame(rows, cols));
        }
        let mut fds = vec![PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::os("waiting for input", e.into())),
        }
        let socket_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = stdin_open && fds[1].revents().is_some_and(|r| !r.is_empty());
        if socket_ready {
            match stream.read(&mut buf) {
                Ok(0) => break 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break 0,
                Ok(n) => {
                    if !print_document(&buf[..n])? {
                        break 0;
                    }
                }
            }
        }
        if stdin_ready {
            let n = match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => 0,
            };
            if n == 0 {
                stdin_open = false;
                continue;
            }
            // Raw keys or a cooked line: Ctrl-] anywhere in it detaches, and is not sent.
            if is_tty && buf[..n].contains(&DETACH) {
                drop(raw);
                let _ = writeln!(io::stderr(), "\nprocmux: detached from {name}");
                return Ok(0);
            }
            if let Err(e) = stream.write_all(&input_frame(&buf[..n])) {
                drop(raw);
                return Err(Error::Refused(explain(e, pid).to_string()));
            }
        }
    };
    drop(raw);
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut stream = input_frame(b"p x\r");
        stream.extend(size_frame(40, 120));
        stream.extend(input_frame(b"c\r"));
        let mut buffer = Vec::new();
        let mut frames = Vec::new();
        for byte in stream {
            buffer.push(byte);
            frames.extend(take_frames(&mut buffer, 1024).unwrap());
        }
        assert_eq!(
            frames,
            [
                Frame::Input(b"p x\r".to_vec()),
                Frame::Size {
                    rows: 40,
                    cols: 120
                },
                Frame::Input(b"c\r".to_vec()),
            ]
        );
        assert!(buffer.is_empty());
        assert!(take_frames(&mut b"x".to_vec(), 1024).is_err());
        assert!(take_frames(&mut input_frame(&[0; 2048]), 1024).is_err());
    }
}
