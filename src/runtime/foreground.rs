//! `procmux run`: one command in the app's environment, in the foreground.
//!
//! The command shares procmux's process group and terminal, so a REPL or debugger works and the
//! terminal's Ctrl-C and Ctrl-\ reach it directly. procmux itself ignores SIGINT and SIGQUIT
//! while it waits (as `system(3)` does), so they are not delivered twice, and forwards SIGTERM,
//! SIGHUP, SIGUSR1 and SIGUSR2 sent to procmux. It exits with the command's status, 128+N when
//! the command died of signal N.

use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use super::shell::shell_line;
use super::sys;
use crate::config::{RunCommand, RunConfig};
use crate::error::{Error, Result};

/// The exit code of a command that could not be started, as a shell reports it.
const NOT_STARTED: i32 = 127;

/// Runs the command to its end; returns its status as procmux's exit code.
pub fn execute(config: RunConfig) -> Result<i32> {
    let mut command = match &config.command {
        RunCommand::Shell(line) => {
            let mut command = Command::new("/bin/sh");
            command.arg("-c").arg(shell_line(line).as_ref());
            command
        }
        RunCommand::Program(words) => {
            let mut command = Command::new(&words[0]);
            command.args(&words[1..]);
            command
        }
    };
    command
        .current_dir(&config.root)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .env("PORT", config.port.to_string())
        .envs(config.port_env.iter().map(|(k, v)| (k, v)))
        .env("PS", "run.1");
    sys::reset_child_state(&mut command, None);

    // Installed before the spawn, so no signal falls between the two.
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGQUIT] {
        signal_hook::flag::register(signal, Arc::clone(&ignored))
            .map_err(|e| Error::os("installing signal handlers", e))?;
    }
    let mut forwarded = Signals::new([SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])
        .map_err(|e| Error::os("installing signal handlers", e))?;

    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            // stderr may be gone (a closed terminal): never panic over a message.
            let _ = writeln!(
                io::stderr(),
                "procmux: error: cannot run {}: {error}",
                describe(&config.command)
            );
            return Ok(match error.kind() {
                io::ErrorKind::PermissionDenied => 126,
                _ => NOT_STARTED,
            });
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    let handle = forwarded.handle();
    let forwarder = thread::spawn(move || {
        for signal in forwarded.forever() {
            if let Ok(signal) = Signal::try_from(signal) {
                // The command may have exited already; nothing to do then.
                let _ = kill(pid, signal);
            }
        }
    });
    let status = child
        .wait()
        .map_err(|e| Error::os("waiting for the command", e))?;
    handle.close();
    let _ = forwarder.join();
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn describe(command: &RunCommand) -> String {
    match command {
        RunCommand::Shell(line) => format!("\"{line}\""),
        RunCommand::Program(words) => format!("\"{}\"", words[0].to_string_lossy()),
    }
}
