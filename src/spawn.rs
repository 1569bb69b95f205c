//! Starting one process instance: `/bin/sh -c`, its own process group, one output pipe.

use std::borrow::Cow;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::unistd::{Pid, pipe2};

use crate::sys;

/// A started process: its pid (also its process-group id) and the read end of its output.
pub struct Spawned {
    pub pid: Pid,
    pub output: OwnedFd,
}

/// What a process needs besides its command.
pub struct Launch<'a> {
    pub root: &'a Path,
    /// Variables overlaid on procmux's inherited environment (`.env`, then `PORT` and `PS`).
    pub env: &'a [(String, String)],
    pub port: u16,
    pub ps: &'a str,
}

/// Spawns `command` with stdin from `/dev/null` and stdout and stderr into one pipe, so their
/// relative order is kept. The child leads a new process group, so a terminal's Ctrl-C reaches
/// only procmux and procmux can signal the whole group. The child starts with an empty signal
/// mask (std) and every disposition at its default ([`sys::reset_signal_dispositions`]).
pub fn spawn(command: &str, launch: &Launch<'_>) -> io::Result<Spawned> {
    let (reader, writer) = pipe2(OFlag::O_CLOEXEC)?;
    sys::set_nonblocking(&reader)?;
    let stderr = writer.try_clone()?;
    // `Command` owns the write ends; it is dropped on return so procmux holds none of them and
    // sees EOF once every writer in the child's tree is gone.
    let mut command_line = Command::new("/bin/sh");
    sys::reset_signal_dispositions(&mut command_line);
    let child = command_line
        .arg("-c")
        .arg(shell_line(command).as_ref())
        .current_dir(launch.root)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env("PORT", launch.port.to_string())
        .env("PS", launch.ps)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .spawn()?;
    // procmux reaps with waitpid(-1); the `Child` handle is not used to wait.
    Ok(Spawned {
        pid: Pid::from_raw(child.id() as i32),
        output: reader,
    })
}

/// The text handed to `sh -c`: `exec COMMAND` when the command is one simple command, so the
/// program itself (not a shell waiting for it) receives procmux's signals.
pub fn shell_line(command: &str) -> Cow<'_, str> {
    if is_simple(command) {
        Cow::Owned(format!("exec {command}"))
    } else {
        Cow::Borrowed(command)
    }
}

/// Words that make `exec` wrong in first position: shell keywords and builtins with no program.
const NOT_EXECABLE: &[&str] = &[
    "!", ".", ":", "[[", "{", "alias", "break", "case", "cd", "continue", "eval", "exec", "exit",
    "export", "for", "function", "if", "local", "readonly", "return", "set", "shift", "source",
    "time", "trap", "ulimit", "umask", "unset", "until", "wait", "while",
];

fn is_simple(command: &str) -> bool {
    const OPERATORS: &[char] = &[';', '&', '|', '<', '>', '(', ')', '`', '\n'];
    if command.contains(OPERATORS) {
        return false;
    }
    match command.split_whitespace().next() {
        Some(first) => !first.contains('=') && !NOT_EXECABLE.contains(&first),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_only_for_simple_commands() {
        let cases = [
            ("python3 -m http.server $PORT", true),
            ("puma -p ${PORT:-5000} 'a;b'", false),
            ("sleep 1 && echo hi", false),
            ("a | b", false),
            ("a > log", false),
            ("sleep 1000 & sleep 1000", false),
            ("echo $(date)", false),
            ("FOO=1 ruby app.rb", false),
            ("cd web && npm start", false),
            ("exit 3", false),
            ("trap '' TERM; sleep 100", false),
            ("while true; do date; done", false),
            ("bundle exec puma -C config/puma.rb", true),
        ];
        for (command, simple) in cases {
            assert_eq!(is_simple(command), simple, "{command}");
        }
        assert_eq!(shell_line("sleep 5"), "exec sleep 5");
        assert_eq!(shell_line("a; b"), "a; b");
    }
}
