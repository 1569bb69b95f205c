//! One supervised instance at run time: its spec, its process group and its output streams.
//! Where it is in its life is the supervisor's business (`supervisor::Supervisor`).

use nix::unistd::Pid;

use crate::config::ProcessSpec;
use crate::output::Prefix;

pub struct Process {
    pub spec: ProcessSpec,
    /// Written before procmux's own lines about this process (`started with pid N`).
    pub label: Prefix,
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
            pgid: None,
            old_groups: Vec::new(),
            sources: Vec::new(),
            pty: None,
        }
    }
}
