//! Restart on file change, in the same poll loop: one inotify fd (`Token::Watch`), a watch
//! per directory under the root, and a debounce timer only while changes are pending, so an
//! idle project costs no wake-up.
//!
//! What never counts: `.git/`, paths the `.gitignore` files ignore (the `ignore` crate, from
//! ripgrep), editor swap and backup files (`*.swp`, `*~`, `4913`, `.#*`), and each process's
//! own `watch_ignore`. A burst of changes (an editor's write-rename-chmod, a `git checkout` of
//! 500 files) gives one restart: the restart waits until [`QUIET`] passed without a change
//! (at most [`MAX_WAIT`] after the first), and the file named is the first that changed.
//!
//! The crates: `inotify` for the fd (no thread; `notify` runs a thread per watcher), `globset`
//! for the globs and `ignore` for `.gitignore`, both ripgrep's.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::token::Token;
use crate::config::Stack;

/// A change waits this long for the next one before it restarts anything.
const QUIET: Duration = Duration::from_millis(300);
/// ...but not longer than this after the first.
const MAX_WAIT: Duration = Duration::from_secs(2);

pub struct Watcher {
    inotify: Inotify,
    root: PathBuf,
    /// The directory each watch is on.
    dirs: HashMap<WatchDescriptor, PathBuf>,
    /// One matcher per `.gitignore` file found under the root, rooted at its directory.
    gitignores: Vec<Gitignore>,
    /// Per type index: (its globs, its ignores), for the types that watch.
    types: Vec<Option<crate::config::Watch>>,
    /// Per type index: the first changed file and when the burst began and last changed.
    pending: Vec<Option<Pending>>,
    buffer: Vec<u8>,
}

struct Pending {
    file: String,
    first: Instant,
    last: Instant,
}

/// What changed, once a burst settled: a type to restart and the file that triggered it.
pub struct Change {
    pub type_index: usize,
    pub file: String,
}

impl Watcher {
    /// Watches the root for the stack's types that have `watch` globs; `None` when none has.
    /// A watch limit reached is an error that says how to raise it.
    pub fn start(stack: &Stack, registry: &Registry) -> io::Result<Option<Watcher>> {
        let types: Vec<Option<crate::config::Watch>> = stack
            .types
            .iter()
            .map(|t| t.watch.clone().filter(|_| t.count > 0))
            .collect();
        if types.iter().all(Option::is_none) {
            return Ok(None);
        }
        let root = std::fs::canonicalize(&stack.root)?;
        let inotify = Inotify::init()?;
        let fd = inotify.as_raw_fd();
        registry.register(&mut SourceFd(&fd), Token::Watch.into(), Interest::READABLE)?;
        let mut watcher = Watcher {
            inotify,
            gitignores: Vec::new(),
            root: root.clone(),
            dirs: HashMap::new(),
            pending: types.iter().map(|_| None).collect(),
            types,
            buffer: vec![0; 64 * 1024],
        };
        watcher.add_tree(&root)?;
        Ok(Some(watcher))
    }

    /// Watches `dir` and every directory below it that is not ignored, and learns their
    /// `.gitignore` files.
    fn add_tree(&mut self, dir: &Path) -> io::Result<()> {
        let walk = ignore::WalkBuilder::new(dir)
            .hidden(false)
            .filter_entry(|e| e.file_name() != OsStr::new(".git"))
            .build();
        for entry in walk.flatten() {
            let path = entry.path();
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                let mask = WatchMask::CLOSE_WRITE
                    | WatchMask::CREATE
                    | WatchMask::DELETE
                    | WatchMask::MOVED_FROM
                    | WatchMask::MOVED_TO
                    | WatchMask::ONLYDIR;
                match self.inotify.watches().add(path, mask) {
                    Ok(wd) => {
                        self.dirs.insert(wd, path.to_path_buf());
                    }
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!(
                                "the inotify watch limit is reached watching {} \
                                 (fs.inotify.max_user_watches = {}); raise it: \
                                 sudo sysctl fs.inotify.max_user_watches=524288",
                                path.display(),
                                std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                                    .unwrap_or_default()
                                    .trim()
                            ),
                        ));
                    }
                    // Gone meanwhile, or unreadable: nothing to watch there.
                    Err(_) => {}
                }
            } else if entry.file_name() == OsStr::new(".gitignore")
                && let Some(parent) = path.parent()
            {
                // A .gitignore's patterns are relative to its own directory.
                let mut builder = GitignoreBuilder::new(parent);
                let _ = builder.add(path);
                if let Ok(matcher) = builder.build() {
                    self.gitignores.push(matcher);
                }
            }
        }
        Ok(())
    }

    /// Reads what inotify has; new directories are watched at once. Returns what went wrong
    /// watching them (the watch limit reached), to be said, never ignored.
    pub fn read(&mut self, now: Instant) -> Vec<String> {
        let mut problems = Vec::new();
        let mut changed: Vec<(PathBuf, bool)> = Vec::new();
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut any = false;
            for event in events {
                any = true;
                let (Some(dir), Some(name)) = (self.dirs.get(&event.wd), event.name) else {
                    continue;
                };
                changed.push((dir.join(name), event.mask.contains(EventMask::ISDIR)));
            }
            if !any {
                break;
            }
        }
        for (path, is_dir) in changed {
            if is_dir {
                if path.is_dir()
                    && !self.ignored(&path, true)
                    && let Err(e) = self.add_tree(&path)
                {
                    problems.push(e.to_string());
                }
                continue;
            }
            self.changed(&path, now);
        }
        problems
    }

    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return true;
        };
        relative.components().any(|c| c.as_os_str() == ".git")
            || self.gitignores.iter().any(|g| {
                // A matcher answers only for paths under its own directory (it panics else).
                path.starts_with(g.path())
                    && g.matched_path_or_any_parents(path, is_dir).is_ignore()
            })
    }

    /// A file changed: every type whose globs match it gets (or keeps) a pending restart.
    fn changed(&mut self, path: &Path, now: Instant) {
        let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
        if is_editor_file(name) || self.ignored(path, false) {
            return;
        }
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return;
        };
        for (index, watch) in self.types.iter().enumerate() {
            let Some(watch) = watch else { continue };
            if !watch.matches.is_match(relative) || watch.ignores.is_match(relative) {
                continue;
            }
            match &mut self.pending[index] {
                Some(pending) => pending.last = now,
                slot => {
                    *slot = Some(Pending {
                        file: relative.display().to_string(),
                        first: now,
                        last: now,
                    });
                }
            }
        }
    }

    /// When a pending burst settles, if any is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .iter()
            .flatten()
            .map(|p| (p.last + QUIET).min(p.first + MAX_WAIT))
            .min()
    }

    /// The bursts that settled by `now`.
    pub fn settled(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for (type_index, slot) in self.pending.iter_mut().enumerate() {
            let due = slot
                .as_ref()
                .is_some_and(|p| now >= (p.last + QUIET).min(p.first + MAX_WAIT));
            if due && let Some(pending) = slot.take() {
                changes.push(Change {
                    type_index,
                    file: pending.file,
                });
            }
        }
        changes
    }
}

/// Editors' swap, backup and probe files: vim's `.x.swp` and `4913`, `x~`, emacs' `.#x`.
fn is_editor_file(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with('~')
        || name == "4913"
        || name.starts_with(".#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_files() {
        for name in [".app.rb.swp", "app.rb~", "4913", ".#app.rb", "x.swx"] {
            assert!(is_editor_file(name), "{name}");
        }
        for name in ["app.rb", "swp.rb", "a4913"] {
            assert!(!is_editor_file(name), "{name}");
        }
    }
}
