//! File events on macOS: one FSEvents stream on the root, recursive (through `notify`, whose
//! FSEvents thread calls back with each event). The callback queues what it heard, within a
//! budget ([`MAX_QUEUED`]; past it the queue is dropped and the loss reported, so the runtime
//! rescans), and wakes the poll through a pipe whose read end is registered with the runtime's
//! token. FSEvents needs no watch per directory; the directories the runtime walked are kept
//! only to tell a directory that moved away from a file that did (a rename does not say which).

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mio::unix::SourceFd;
use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry, Token};
use notify::event::{CreateKind, ModifyKind, RemoveKind};
use notify::{Config, Event, EventKind, FsEventWatcher, RecursiveMode, Watcher};

/// What a lost batch of events is called, in the message that says so.
pub const LOSS: &str = "FSEvents dropped some, or procmux's queue of them was full";

/// Raw events waiting for the runtime at most; more are dropped and reported as a loss.
const MAX_QUEUED: usize = 16 * 1024;

/// One change, as FSEvents tells it.
#[derive(Debug, PartialEq, Eq)]
pub enum FileEvent {
    /// A file was written, created, deleted, or moved in or out.
    File(PathBuf),
    /// A directory was created or moved in.
    DirectoryCame(PathBuf),
    /// A directory was deleted or moved away.
    DirectoryLeft(PathBuf),
    /// The watch of this directory is gone: never on macOS (FSEvents watches the root), but
    /// the runtime's rules read the same events on every OS.
    #[allow(dead_code)]
    Unwatched(PathBuf),
}

/// What the callback queued: an event reduced to what the rules need.
enum Heard {
    Created {
        path: PathBuf,
        directory: bool,
    },
    Removed {
        path: PathBuf,
        directory: bool,
    },
    /// Moved in or out (FSEvents does not say which, nor whether a directory).
    Renamed(PathBuf),
    Written(PathBuf),
}

#[derive(Default)]
struct Queue {
    heard: Vec<Heard>,
    lost: bool,
}

pub struct FileEvents {
    /// Stops the stream (and its thread) when dropped.
    _stream: FsEventWatcher,
    queue: Arc<Mutex<Queue>>,
    wake: Receiver,
    /// The directories the runtime walked (see the module's documentation).
    dirs: HashSet<PathBuf>,
}

impl FileEvents {
    /// Events under `root`, from now on.
    pub fn new(root: &Path) -> io::Result<FileEvents> {
        let (sender, wake) = mio::unix::pipe::new()?;
        let queue = Arc::new(Mutex::new(Queue::default()));
        let shared = Arc::clone(&queue);
        let handler = move |result: notify::Result<Event>| hear(&shared, &sender, result);
        let mut stream = FsEventWatcher::new(handler, Config::default()).map_err(failed)?;
        stream
            .watch(root, RecursiveMode::Recursive)
            .map_err(failed)?;
        Ok(FileEvents {
            _stream: stream,
            queue,
            wake,
            dirs: HashSet::new(),
        })
    }

    /// Makes the poll wake with `token` when events wait.
    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        let fd = self.wake.as_raw_fd();
        registry.register(&mut SourceFd(&fd), token, Interest::READABLE)
    }

    /// Notes that `dir` is watched (the stream on the root already covers it).
    pub fn watch(&mut self, dir: &Path) -> io::Result<()> {
        self.dirs.insert(dir.to_path_buf());
        Ok(())
    }

    /// Forgets `dir` and every directory below it.
    pub fn forget(&mut self, dir: &Path) {
        self.dirs.retain(|d| !d.starts_with(dir));
    }

    /// The directories watched.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(PathBuf::as_path)
    }

    /// Appends what FSEvents said to `events`, in its order; true when events were lost (the
    /// caller rescans).
    pub fn read(&mut self, events: &mut Vec<FileEvent>) -> bool {
        let mut byte = [0u8; 64];
        // Edge-triggered: empty the pipe before taking the queue, so a later event wakes.
        while matches!((&self.wake).read(&mut byte), Ok(n) if n > 0) {}
        let queue = std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        for heard in queue.heard {
            events.push(match heard {
                Heard::Created {
                    path,
                    directory: true,
                } => FileEvent::DirectoryCame(path),
                Heard::Removed {
                    path,
                    directory: true,
                } => FileEvent::DirectoryLeft(path),
                Heard::Created { path, .. }
                | Heard::Removed { path, .. }
                | Heard::Written(path) => FileEvent::File(path),
                Heard::Renamed(path) if path.is_dir() => FileEvent::DirectoryCame(path),
                Heard::Renamed(path) if self.dirs.contains(&path) => FileEvent::DirectoryLeft(path),
                Heard::Renamed(path) => FileEvent::File(path),
            });
        }
        queue.lost
    }
}

/// The callback, on FSEvents' thread: queue what counts (a change of metadata alone does not,
/// as on Linux), within the budget, and wake the poll when the queue was empty.
fn hear(queue: &Mutex<Queue>, wake: &Sender, result: notify::Result<Event>) {
    let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
    let was_empty = queue.heard.is_empty() && !queue.lost;
    match result {
        Ok(event) if event.need_rescan() => queue.lost = true,
        Ok(event) => {
            for path in event.paths {
                let heard = match event.kind {
                    EventKind::Create(kind) => Heard::Created {
                        path,
                        directory: kind == CreateKind::Folder,
                    },
                    EventKind::Remove(kind) => Heard::Removed {
                        path,
                        directory: kind == RemoveKind::Folder,
                    },
                    EventKind::Modify(ModifyKind::Name(_)) => Heard::Renamed(path),
                    EventKind::Modify(ModifyKind::Metadata(_)) | EventKind::Access(_) => continue,
                    EventKind::Modify(_) | EventKind::Any | EventKind::Other => {
                        Heard::Written(path)
                    }
                };
                if queue.heard.len() < MAX_QUEUED {
                    queue.heard.push(heard);
                } else {
                    queue.heard.clear();
                    queue.lost = true;
                }
            }
        }
        // An error from the stream: what it missed is unknown, so everything is looked at.
        Err(_) => queue.lost = true,
    }
    if was_empty && (queue.lost || !queue.heard.is_empty()) {
        // Full means a wake-up is already waiting.
        let _ = (&*wake).write(&[1]);
    }
}

fn failed(error: notify::Error) -> io::Error {
    io::Error::other(format!("cannot watch files with FSEvents: {error}"))
}
