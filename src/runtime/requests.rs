//! Answers to the control channel's requests (see `crate::control`): what `status`,
//! `restart`, `stop`, `logs` and `attach` do to the running stack, through the supervisor.

use std::time::Instant;

use nix::pty::Winsize;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::EventLoop;
use super::control::{Follower, Incoming};
use super::sys;
use crate::control::{self as control_names, Request};
use crate::supervisor::{Action, Supervisor};

impl EventLoop {
    /// A control client's connection is ready: read its request (and answer it) or an
    /// attached session's input.
    pub(super) fn serve(&mut self, slot: usize) {
        let Some(control) = &mut self.control else {
            return;
        };
        let registry = self.poll.registry();
        control.flush(slot, registry);
        for incoming in control.read(slot, registry) {
            match incoming {
                Incoming::Request(request) => {
                    let answer = self.answer(slot, request);
                    if let (Some(control), Some(answer)) = (&mut self.control, answer) {
                        control.answer(slot, answer.as_bytes(), self.poll.registry());
                    }
                }
                Incoming::Input(instance, bytes) => self.send_input(instance, &bytes),
                Incoming::Size {
                    instance,
                    rows,
                    cols,
                } => {
                    if let Some(pty) = self.streams.pty_of(instance) {
                        let size = Winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let _ = sys::set_window_size(pty, &size);
                    }
                }
                Incoming::Detached(instance) => {
                    let still = self
                        .control
                        .as_ref()
                        .is_some_and(|c| c.is_attached(instance));
                    if !still {
                        self.streams.set_mirror(instance, false);
                        self.resize_ptys();
                    }
                }
            }
        }
    }

    /// Writes input for `instance`: to its pty, or its stdin pipe. What the child does not
    /// take now (its buffer is full) is dropped rather than stall the loop.
    pub(super) fn send_input(&mut self, instance: usize, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let written = match self.streams.pty_of(instance) {
                Some(pty) => nix::unistd::write(pty, rest),
                None => match self.children.stdin_of(instance) {
                    Some(stdin) => nix::unistd::write(stdin, rest),
                    None => return,
                },
            };
            match written {
                Ok(n) if n > 0 => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }

    /// Carries out a control request; the text to answer, unless the client now follows.
    fn answer(&mut self, slot: usize, request: Request) -> Option<String> {
        let now = Instant::now();
        let instances: Vec<(&str, usize)> = self
            .stack
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.number))
            .collect();
        let selected = |names: &[String]| control_names::select(names, &instances);
        let error = |message: String| Some(format!("error\t{message}\n"));
        match request {
            Request::Pid => Some(format!("{}\n", std::process::id())),
            Request::Status => Some(self.status_rows(now)),
            Request::Stop(names) if names.is_empty() => {
                if self.supervisor.is_stopping() {
                    return error("the stack is already stopping".to_owned());
                }
                let actions = self.supervisor.stop_all(now);
                self.execute(actions);
                Some("stopping the stack\n".to_owned())
            }
            Request::Restart(_) | Request::Stop(_) if self.supervisor.is_stopping() => {
                error("the stack is stopping".to_owned())
            }
            Request::Restart(names) => match selected(&names) {
                Ok(chosen) => Some(self.each(&chosen, "restarting", Supervisor::restart)),
                Err(message) => error(message),
            },
            Request::Stop(names) => match selected(&names) {
                Ok(chosen) => Some(self.each(&chosen, "stopping", Supervisor::stop)),
                Err(message) => error(message),
            },
            Request::Attach(name) => {
                let chosen = match selected(std::slice::from_ref(&name)) {
                    Ok(chosen) => chosen,
                    Err(message) => return error(message),
                };
                let [instance] = chosen[..] else {
                    let labels: Vec<String> = chosen
                        .iter()
                        .map(|&i| self.stack.instances[i].label())
                        .collect();
                    return error(format!("attach takes one instance: {}", labels.join(", ")));
                };
                let pty = self.stack.type_of(instance).pty;
                self.streams.set_mirror(instance, true);
                let control = self.control.as_mut()?;
                control.attach(slot, instance, pty, self.poll.registry());
                None
            }
            Request::Logs { follow, names } => {
                let chosen = if names.is_empty() {
                    Vec::new()
                } else {
                    match selected(&names) {
                        Ok(chosen) => chosen,
                        Err(message) => return error(message),
                    }
                };
                let follower = Follower {
                    instances: chosen,
                    next: 0,
                };
                if follow {
                    self.control.as_mut()?.follow(slot, follower);
                    return None;
                }
                let (_, writes) = self.output.tail().since(0);
                let text: Vec<u8> = writes
                    .filter(|&(_, owner, _)| follower.wants(owner))
                    .flat_map(|(_, _, bytes)| bytes.iter().copied())
                    .collect();
                Some(String::from_utf8_lossy(&text).into_owned())
            }
        }
    }

    /// Asks the supervisor `what` for each of `chosen`, and says so (`restarting web.1`).
    fn each(
        &mut self,
        chosen: &[usize],
        verb: &str,
        what: fn(&mut Supervisor, usize, Instant) -> Vec<Action>,
    ) -> String {
        let mut text = String::new();
        // Dependants first: a dependency's stop waits for theirs.
        for instance in self.supervisor.stop_order(chosen) {
            let actions = what(&mut self.supervisor, instance, Instant::now());
            self.execute(actions);
            let label = self.stack.instances[instance].label();
            text.push_str(&format!("{verb} {label}\n"));
        }
        text
    }

    /// `procmux status`: one row per instance.
    fn status_rows(&self, now: Instant) -> String {
        let mut text = String::new();
        for (index, spec) in self.stack.instances.iter().enumerate() {
            let (state, since, restarts) = self.supervisor.status(index);
            let policy = &self.stack.type_of(index).policy;
            let row = crate::control::Row {
                name: spec.label(),
                pid: self.children.pid_of(index).map(Pid::as_raw),
                state: state.to_string(),
                uptime_ms: since.map(|s| now.saturating_duration_since(s).as_millis() as u64),
                restarts,
                port: spec.port,
                stop_signal: policy.stop_signal.as_str().to_owned(),
                interrupt_signal: policy.stop_signal_after(Signal::SIGINT).as_str().to_owned(),
                watch: self
                    .stack
                    .type_of(index)
                    .watch
                    .as_ref()
                    .map(|w| w.globs.join(","))
                    .unwrap_or_default(),
            };
            text.push_str(&row.line());
            text.push('\n');
        }
        text
    }
}
