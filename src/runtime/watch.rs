//! Restart on file change, in the same poll loop: the platform's file events
//! (`platform::watch`: inotify on Linux, a watch per directory under the root; FSEvents on
//! macOS) wake it with `Token::Watch`, and a debounce timer runs only while changes are
//! pending, so an idle project costs no wake-up. The rules below are the same on every OS.
//!
//! What never counts: `.git/`, paths the `.gitignore` files ignore (the `ignore` crate, from
//! ripgrep), editor swap and backup files (`*.swp`, `*~`, `4913`, `.#*`), and each process's
//! own `watch_ignore`. A burst of changes (an editor's write-rename-chmod, a `git checkout` of
//! 500 files) gives one restart: the restart waits until [`QUIET`] passed without a change
//! (at most [`MAX_WAIT`] after the first), and the file named is the first that changed.
//!
//! Nothing is missed: a new directory's files already there when its watch was added (a `tar
//! -x`, a `mkdir -p a/b && echo > a/b/x.py`) count, found by a scan once the watch exists;
//! a queue overflow (inotify's `IN_Q_OVERFLOW`, FSEvents' rescan: events were lost while
//! procmux was busy or stopped) rescans the tree and restarts every watching process once, saying so. A directory
//! deleted or moved away takes its watches and `.gitignore` matchers with it; a directory
//! added again gets them once.
//!
//! The crates: `globset` for the globs and `ignore` for `.gitignore`, both ripgrep's.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use mio::Registry;

use super::token::Token;
use crate::config::Stack;
use crate::platform::watch::{FileEvent, FileEvents, LOSS};

/// A change waits this long for the next one before it restarts anything.
const QUIET: Duration = Duration::from_millis(300);
/// ...but not longer than this after the first.
const MAX_WAIT: Duration = Duration::from_secs(2);

pub struct Watcher {
    /// The OS's events, and its watches.
    events: FileEvents,
    root: PathBuf,
    /// One matcher per `.gitignore` file found under the root, rooted at its directory.
    gitignores: Vec<Gitignore>,
    /// Per type index, for the types that watch: its directory (canonical, under the root;
    /// its globs are relative to it) and its globs and ignores.
    types: Vec<Option<(PathBuf, crate::config::Watch)>>,
    /// Per type index: the first changed file and when the burst began and last changed.
    pending: Vec<Option<Pending>>,
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
        if !stack.types.iter().any(|t| t.watch.is_some() && t.count > 0) {
            return Ok(None);
        }
        let root = std::fs::canonicalize(&stack.root)?;
        let mut types = Vec::with_capacity(stack.types.len());
        for kind in &stack.types {
            let Some(watch) = kind.watch.clone().filter(|_| kind.count > 0) else {
                types.push(None);
                continue;
            };
            let dir = std::fs::canonicalize(&kind.dir)?;
            if !dir.starts_with(&root) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} watches files under its cwd {}, outside the root {}: only the \
                         root's tree is watched",
                        kind.name,
                        dir.display(),
                        root.display()
                    ),
                ));
            }
            types.push(Some((dir, watch)));
        }
        let events = FileEvents::new(&root)?;
        events.register(registry, Token::Watch.into())?;
        let mut watcher = Watcher {
            events,
            gitignores: Vec::new(),
            root: root.clone(),
            pending: types.iter().map(|_| None).collect(),
            types,
        };
        watcher.add_tree(&root)?;
        Ok(Some(watcher))
    }

    /// Watches `dir` and every directory below it that is not ignored, and learns their
    /// `.gitignore` files (once each). Returns the files found there.
    fn add_tree(&mut self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let walk = ignore::WalkBuilder::new(dir)
            .hidden(false)
            .filter_entry(|e| e.file_name() != OsStr::new(".git"))
            .build();
        for entry in walk.flatten() {
            let path = entry.path();
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                self.events.watch(path)?;
            } else {
                if entry.file_name() == OsStr::new(".gitignore")
                    && let Some(parent) = path.parent()
                {
                    // A .gitignore's patterns are relative to its own directory.
                    let mut builder = GitignoreBuilder::new(parent);
                    let _ = builder.add(path);
                    if let Ok(matcher) = builder.build() {
                        self.gitignores.retain(|g| g.path() != parent);
                        self.gitignores.push(matcher);
                    }
                }
                files.push(path.to_path_buf());
            }
        }
        Ok(files)
    }

    /// A directory was deleted or moved away: its watches (and those below it) and its
    /// `.gitignore` matchers are forgotten.
    fn forget_tree(&mut self, dir: &Path) {
        self.events.forget(dir);
        self.gitignores.retain(|g| !g.path().starts_with(dir));
    }

    /// Events were lost: watch what is new, forget what is gone, and restart every process
    /// that watches, once.
    fn rescan(&mut self, now: Instant) -> io::Result<()> {
        let gone: Vec<PathBuf> = self
            .events
            .watched()
            .filter(|d| !d.is_dir())
            .map(Path::to_path_buf)
            .collect();
        for dir in gone {
            self.forget_tree(&dir);
        }
        let root = self.root.clone();
        self.add_tree(&root)?;
        for (index, watch) in self.types.iter().enumerate() {
            if watch.is_some() && self.pending[index].is_none() {
                self.pending[index] = Some(Pending {
                    file: "the watched tree".to_owned(),
                    first: now,
                    last: now,
                });
            }
        }
        Ok(())
    }

    /// Reads what the OS has; new directories are watched at once. Returns what went wrong
    /// watching them (the watch limit reached), to be said, never ignored.
    pub fn read(&mut self, now: Instant) -> Vec<String> {
        let mut problems = Vec::new();
        let mut events = Vec::new();
        let overflowed = self.events.read(&mut events);
        for event in &events {
            if let FileEvent::Unwatched(dir) = event {
                // Its directory is gone (or unwatched): so are its matchers.
                self.gitignores.retain(|g| g.path() != dir);
            }
        }
        if overflowed {
            problems.push(format!(
                "events were lost ({LOSS}): rescanned the tree, restarting what watches it"
            ));
            if let Err(e) = self.rescan(now) {
                problems.push(e.to_string());
            }
            return problems;
        }
        for event in events {
            match event {
                FileEvent::File(path) => self.changed(&path, now),
                FileEvent::DirectoryLeft(path) => self.forget_tree(&path),
                FileEvent::DirectoryCame(path) if path.is_dir() && !self.ignored(&path, true) => {
                    // Watched from now on, and what it already holds counts (it arrived
                    // before its watch existed).
                    match self.add_tree(&path) {
                        Ok(files) => {
                            for file in files {
                                self.changed(&file, now);
                            }
                        }
                        Err(e) => problems.push(e.to_string()),
                    }
                }
                FileEvent::DirectoryCame(_) | FileEvent::Unwatched(_) => {}
            }
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
            let Some((dir, watch)) = watch else { continue };
            let Ok(own) = path.strip_prefix(dir) else {
                continue;
            };
            if !watch.matches.is_match(own) || watch.ignores.is_match(own) {
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

    /// A watcher on `root` watching everything, outside a poll loop.
    fn watcher(root: &Path) -> Watcher {
        let all = globset::GlobSetBuilder::new()
            .add(globset::Glob::new("**").unwrap())
            .build()
            .unwrap();
        let watch = crate::config::Watch {
            globs: vec!["**".to_owned()],
            matches: all,
            ignores: globset::GlobSet::empty(),
        };
        let mut watcher = Watcher {
            events: FileEvents::new(root).unwrap(),
            root: root.to_path_buf(),
            gitignores: Vec::new(),
            types: vec![Some((root.to_path_buf(), watch))],
            pending: vec![None],
        };
        watcher.add_tree(root).unwrap();
        watcher
    }

    /// Reads until the kernel has nothing more (bounded).
    fn settle(watcher: &mut Watcher, now: Instant) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(50));
        watcher.read(now)
    }

    #[test]
    fn watches_and_matchers_follow_their_directories_and_are_never_duplicated() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/.gitignore"), "*.log\n").unwrap();
        let mut w = watcher(&root);
        assert_eq!((w.events.watched().count(), w.gitignores.len()), (3, 1));
        // The same tree again: the same watches, one matcher.
        w.add_tree(&root.join("a")).unwrap();
        assert_eq!((w.events.watched().count(), w.gitignores.len()), (3, 1));
        // Deleted: forgotten with their matchers.
        std::fs::remove_dir_all(root.join("a")).unwrap();
        let now = Instant::now();
        assert!(settle(&mut w, now).is_empty());
        assert_eq!((w.events.watched().count(), w.gitignores.len()), (1, 0));
        // A tree moved in counts, its files and its .gitignore too.
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("c/d")).unwrap();
        std::fs::write(outside.path().join("c/d/x.py"), "x\n").unwrap();
        std::fs::write(outside.path().join("c/.gitignore"), "tmp/\n").unwrap();
        std::fs::rename(outside.path().join("c"), root.join("c")).unwrap();
        settle(&mut w, now);
        assert_eq!((w.events.watched().count(), w.gitignores.len()), (3, 1));
        assert!(w.pending[0].is_some());
        // Moved away: forgotten, though it still exists.
        std::fs::rename(root.join("c"), outside.path().join("c")).unwrap();
        settle(&mut w, now);
        assert_eq!((w.events.watched().count(), w.gitignores.len()), (1, 0));
    }

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
