//! The control socket a running procmux listens on, found from outside as a user would
//! (`/proc/net/unix`): shared by the tests and the benchmark (`#[path]`).

use std::fs;

/// The abstract socket name procmux `pid` listens on, `@procmux/…` as `/proc/net/unix`
/// shows it (the `@` stands for the leading NUL).
pub fn abstract_name_of(pid: nix::unistd::Pid) -> Option<String> {
    let inodes: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let table = fs::read_to_string("/proc/net/unix").ok()?;
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (inode, path) = (fields.get(6)?, fields.get(7)?);
        (inodes.iter().any(|i| i == inode) && path.starts_with("@procmux/"))
            .then(|| path.to_string())
    })
}
