//! File events on Linux: one inotify fd (no thread; `notify` runs one per watcher), a watch
//! per directory, as inotify is not recursive: the caller adds one for each directory it
//! walks or that comes, and forgets those of a directory that leaves.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// What a lost batch of events is called, in the message that says so.
pub const LOSS: &str = "the inotify queue overflowed";

/// One change, as the kernel tells it.
#[derive(Debug, PartialEq, Eq)]
pub enum FileEvent {
    /// A file was written and closed, created, deleted, or moved in or out.
    File(PathBuf),
    /// A directory was created or moved in: watch it (and what it holds) to hear of it.
    DirectoryCame(PathBuf),
    /// A directory was deleted or moved away.
    DirectoryLeft(PathBuf),
    /// The watch of this directory is gone (so is the directory, or it was unwatched).
    Unwatched(PathBuf),
}

pub struct FileEvents {
    inotify: Inotify,
    /// The directory each watch is on.
    dirs: HashMap<WatchDescriptor, PathBuf>,
    buffer: Vec<u8>,
}

impl FileEvents {
    /// Events under `root`, once its directories are watched ([`FileEvents::watch`]).
    pub fn new(_root: &Path) -> io::Result<FileEvents> {
        Ok(FileEvents {
            inotify: Inotify::init()?,
            dirs: HashMap::new(),
            buffer: vec![0; 64 * 1024],
        })
    }

    /// Makes the poll wake with `token` when events wait.
    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        let fd = self.inotify.as_raw_fd();
        registry.register(&mut SourceFd(&fd), token, Interest::READABLE)
    }

    /// Watches `dir` itself. A directory gone meanwhile, or unreadable, is not an error (there
    /// is nothing to watch); the watch limit reached is, saying how to raise it.
    pub fn watch(&mut self, dir: &Path) -> io::Result<()> {
        let mask = WatchMask::CLOSE_WRITE
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ONLYDIR;
        match self.inotify.watches().add(dir, mask) {
            Ok(wd) => {
                self.dirs.insert(wd, dir.to_path_buf());
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => Err(io::Error::new(
                e.kind(),
                format!(
                    "the inotify watch limit is reached watching {} \
                     (fs.inotify.max_user_watches = {}); raise it: \
                     sudo sysctl fs.inotify.max_user_watches=524288",
                    dir.display(),
                    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                        .unwrap_or_default()
                        .trim()
                ),
            )),
            // Gone meanwhile, or unreadable: nothing to watch there.
            Err(_) => Ok(()),
        }
    }

    /// Forgets the watches of `dir` and of every directory below it.
    pub fn forget(&mut self, dir: &Path) {
        let gone: Vec<WatchDescriptor> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.starts_with(dir))
            .map(|(wd, _)| wd.clone())
            .collect();
        for wd in gone {
            self.dirs.remove(&wd);
            // Moved away, it still exists: stop watching it. Deleted, the kernel did.
            let _ = self.inotify.watches().remove(wd);
        }
    }

    /// The directories watched.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.dirs.values().map(PathBuf::as_path)
    }

    /// Appends what the kernel has to `events`, in its order; true when events were lost
    /// (`IN_Q_OVERFLOW`: the caller rescans).
    pub fn read(&mut self, events: &mut Vec<FileEvent>) -> bool {
        let mut overflowed = false;
        loop {
            let batch = match self.inotify.read_events(&mut self.buffer) {
                Ok(batch) => batch,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut any = false;
            for event in batch {
                any = true;
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    overflowed = true;
                    continue;
                }
                if event.mask.contains(EventMask::IGNORED) {
                    // Its directory is gone (or unwatched): so is the watch.
                    if let Some(dir) = self.dirs.remove(&event.wd) {
                        events.push(FileEvent::Unwatched(dir));
                    }
                    continue;
                }
                let (Some(dir), Some(name)) = (self.dirs.get(&event.wd), event.name) else {
                    continue;
                };
                let path = dir.join(name);
                events.push(if !event.mask.contains(EventMask::ISDIR) {
                    FileEvent::File(path)
                } else if event
                    .mask
                    .intersects(EventMask::DELETE | EventMask::MOVED_FROM)
                {
                    FileEvent::DirectoryLeft(path)
                } else {
                    FileEvent::DirectoryCame(path)
                });
            }
            if !any {
                break;
            }
        }
        overflowed
    }
}
