//! Starting one process instance: `/bin/sh -c`, its own process group (or session, with a pty),
//! and its output wired to pipes or a pseudo-terminal.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::pty::Winsize;
use nix::sys::termios::{OutputFlags, SetArg, tcgetattr, tcsetattr};
use nix::unistd::Pid;

use super::{shell, sys};
use crate::output::Stream;
use crate::platform;

/// How a child's output reaches procmux.
#[derive(Debug, Clone, Copy)]
pub enum Wiring {
    /// stdout and stderr into one pipe, so their relative order is kept; stdin a pipe that
    /// stays open (see [`Spawned::stdin`]).
    Merged,
    /// stdout and stderr into separate pipes (`--stderr mark`); stdin as for `Merged`.
    Split,
    /// A pseudo-terminal as stdin, stdout and (unless `split_stderr`) stderr, so the child
    /// line-buffers and keeps its colours.
    Pty { size: Winsize, split_stderr: bool },
    /// stdout and stderr into one pipe, stdin `/dev/null`: a readiness check
    /// (`ready = "exec:…"`), which nobody types into.
    Check,
}

/// A started process: its pid (also its process-group id) and the read ends of its output.
pub struct Spawned {
    pub pid: Pid,
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// The stream of `outputs` that is a pty master.
    pub pty: Option<Stream>,
    /// The write end of a pipe child's stdin. procmux holds it and writes nothing, so the
    /// child's stdin never ends while procmux lives, and ends (EOF) when procmux dies:
    /// watchers such as `esbuild --watch` take EOF on stdin for "my parent died" and exit.
    pub stdin: Option<OwnedFd>,
}

/// What a process needs besides its command.
pub struct Launch<'a> {
    /// Its working directory.
    pub root: &'a Path,
    /// Variables overlaid on procmux's inherited environment (the process's env files and
    /// `env`), before `PORT` and `PS`.
    pub env: &'a [(String, String)],
    /// More variables after those (colour hints).
    pub extra_env: &'a [(&'a str, &'a str)],
    pub port: u16,
    pub ps: &'a str,
    /// The open-files limit procmux was started with, for the child.
    pub fd_limit: Option<sys::FdLimit>,
}

/// Spawns `command`. Without a pty the child leads a new process group, so a terminal's Ctrl-C
/// reaches only procmux and procmux can signal the whole group; with one it leads a new
/// session (and so a new group) with the pty as its controlling terminal. The child starts
/// with an empty signal mask (std) and every disposition at its default.
pub fn spawn(command: &str, launch: &Launch<'_>, wiring: Wiring) -> io::Result<Spawned> {
    let helper = std::env::current_exe().ok();
    let (line, carried) = shell::prepare(command, launch.env, helper.as_deref());
    let mut child = Command::new("/bin/sh");
    child
        .arg("-c")
        .arg(line.as_ref())
        .current_dir(launch.root)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .envs(launch.extra_env.iter().copied())
        .env("PORT", launch.port.to_string())
        .env("PS", launch.ps);
    if let Some((name, value)) = carried {
        child.env(name, value);
    }
    sys::reset_child_state(&mut child, launch.fd_limit);
    let mut outputs = Vec::new();
    let mut pty = None;
    let mut stdin = None;
    // The write ends live in `child` (the Command), dropped on return: procmux keeps none, so
    // it sees EOF once every writer in the child's tree is gone.
    match wiring {
        Wiring::Merged => {
            let (reader, writer) = output_pipe()?;
            let (input, keeper) = input_pipe()?;
            child
                .stdin(input)
                .stderr(writer.try_clone()?)
                .stdout(writer);
            stdin = Some(keeper);
            child.process_group(0);
            outputs.push((Stream::Stdout, reader));
        }
        Wiring::Split => {
            let (out_reader, out_writer) = output_pipe()?;
            let (err_reader, err_writer) = output_pipe()?;
            let (input, keeper) = input_pipe()?;
            child.stdin(input).stdout(out_writer).stderr(err_writer);
            stdin = Some(keeper);
            child.process_group(0);
            outputs.push((Stream::Stdout, out_reader));
            outputs.push((Stream::Stderr, err_reader));
        }
        Wiring::Pty { size, split_stderr } => {
            let (master, slave) = open_pty(&size)?;
            child.stdin(slave.try_clone()?).stdout(slave.try_clone()?);
            outputs.push((Stream::Stdout, master));
            pty = Some(Stream::Stdout);
            if split_stderr {
                let (err_reader, err_writer) = output_pipe()?;
                child.stderr(err_writer);
                outputs.push((Stream::Stderr, err_reader));
            } else {
                child.stderr(slave);
            }
            sys::make_controlling_terminal(&mut child);
        }
        Wiring::Check => {
            let (reader, writer) = output_pipe()?;
            child
                .stdin(std::process::Stdio::null())
                .stderr(writer.try_clone()?)
                .stdout(writer);
            child.process_group(0);
            outputs.push((Stream::Stdout, reader));
        }
    }
    let spawned = child.spawn()?;
    // procmux reaps with waitpid(-1); the `Child` handle is not used to wait.
    Ok(Spawned {
        pid: Pid::from_raw(spawned.id() as i32),
        outputs,
        pty,
        stdin,
    })
}

/// Kills the group `pid` leads (its own, from [`spawn`]): a child just started whose output
/// could not be watched. The reap (`waitpid(-1)`) then takes it like any untracked child.
pub fn kill_unwatched(pid: Pid) {
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
}

/// A pipe whose read end is non-blocking and neither end leaks into other children.
fn output_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = platform::fds::pipe()?;
    sys::set_nonblocking(&reader)?;
    Ok((reader, writer))
}

/// A pipe for a child's stdin: (read end for the child, write end for procmux). Neither end
/// leaks into other children (`O_CLOEXEC`; std dups the read end onto the child's fd 0).
fn input_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = platform::fds::pipe()?;
    // procmux's end only (a pipe's ends are separate open files): input for a child that
    // does not read waits in procmux, never blocks it.
    sys::set_nonblocking(&writer)?;
    Ok((reader, writer))
}

/// A pty pair sized `size`, the master non-blocking, the slave's output processing off (no
/// `\n` → `\r\n`, no tab expansion: bytes arrive as the program wrote them, and the kernel
/// does less per byte).
fn open_pty(size: &Winsize) -> io::Result<(OwnedFd, OwnedFd)> {
    let pair = nix::pty::openpty(Some(size), None)?;
    sys::set_cloexec(&pair.master)?;
    sys::set_cloexec(&pair.slave)?;
    sys::set_nonblocking(&pair.master)?;
    let mut termios = tcgetattr(&pair.slave)?;
    termios
        .output_flags
        .remove(OutputFlags::OPOST | OutputFlags::ONLCR);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios)?;
    Ok((pair.master, pair.slave))
}
