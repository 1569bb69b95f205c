//! Before a stack with fixed ports starts: a port another procmux stack holds (another
//! checkout of the same app, most often) is an error naming that stack's directory, rather
//! than a process that fails to bind, or worse, a readiness probe that sees the other
//! stack's server.

use nix::unistd::Pid;

use super::{procfs, tree};
use crate::config::Stack;
use crate::error::Error;

/// An error for the first port of `stack` that a process of another procmux stack listens
/// on. `None` when the ports are `auto` (chosen free), or held by nobody or by strangers
/// (those show when a process fails to bind, or in a probe's check).
pub fn held_by_another_stack(stack: &Stack) -> Option<Error> {
    if stack.auto_ports.is_some() {
        return None;
    }
    // One read of the tables for the whole stack: they list every socket of the machine, and
    // a read per instance made 1,000 instances start five times slower.
    let listening = procfs::listening_sockets();
    stack.instances.iter().find_map(|spec| {
        let inodes: Vec<u64> = listening
            .iter()
            .filter(|&&(_, port)| port == spec.port)
            .map(|&(inode, _)| inode)
            .collect();
        if inodes.is_empty() {
            return None;
        }
        let (pid, name) = procfs::holder(&inodes)?;
        procfs::environ_value(pid, tree::TREE_VARIABLE)?;
        let directory = directory_of(pid);
        Some(Error::Usage(format!(
            "port {} of {} is held by another procmux stack, in {directory} (pid {pid}, {name}): \
             port = \"auto\" in procmux.toml (or --port auto) gives each checkout ports of \
             its own",
            spec.port,
            spec.label()
        )))
    })
}

/// Where a process of a stack runs: its stack's root.
fn directory_of(pid: Pid) -> String {
    procfs::cwd(pid).map_or_else(
        || "an unknown directory".to_owned(),
        |p| p.display().to_string(),
    )
}
