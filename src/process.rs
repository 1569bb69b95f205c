//! One supervised instance at run time: its spec, its state and its process group.

use nix::unistd::Pid;

use crate::config::ProcessSpec;
use crate::output::Prefix;
use crate::supervisor::Exit;

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet (or never, when an earlier spawn failed).
    Pending,
    Running {
        pid: Pid,
    },
    Exited(Exit),
}

pub struct Process {
    pub spec: ProcessSpec,
    /// Written before procmux's own lines about this process (`started with pid N`).
    pub label: Prefix,
    pub state: State,
    /// The process group, kept after the leader exits: other members may live on.
    pub pgid: Option<Pid>,
    /// Groups of earlier runs (restarts), signalled too at shutdown.
    pub old_groups: Vec<Pid>,
    /// Indices of its output streams in the event loop's sources.
    pub sources: Vec<usize>,
    /// The source that is a pty, whose window size follows procmux's terminal.
    pub pty: Option<usize>,
}

impl Process {
    pub fn new(spec: ProcessSpec, label: Prefix) -> Process {
        Process {
            spec,
            label,
            state: State::Pending,
            pgid: None,
            old_groups: Vec::new(),
            sources: Vec::new(),
            pty: None,
        }
    }
}
