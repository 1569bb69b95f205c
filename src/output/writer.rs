//! Where [`Output`](super::Output) writes: procmux's stdout, through a writer thread behind a
//! bounded queue, so that a stdout nobody reads (a terminal paused with Ctrl-S, `| less`
//! scrolled back, a FIFO with no reader) never blocks the poll loop: signals, the control
//! channel and the supervisor's timers go on while the output waits.
//!
//! Before [`Stdout::queue`] writes are direct (blocking), as for every command but `start`.
//! After it, a write appends to the queue and returns at once; the thread swaps the queue
//! for an empty buffer and writes it out with blocking writes, in order. Backpressure stays:
//! once [`BUDGET`] bytes wait, the loop reads no child's pipe ([`Stdout::backlogged`]) until
//! the thread has written half of them and wakes it through its `mio::Waker`, so memory stays
//! bounded, nothing is lost, and the children block on their full pipes as before.
//!
//! stdout is never made non-blocking (the flag is shared with the shell); an `O_NONBLOCK`
//! inherited from it is waited out with `poll`.
//!
//! A pipe is written from the loop itself while nothing waits for the thread: one
//! `pwritev2(RWF_NOWAIT)` writes what fits now without blocking (Linux, pipes), and only what
//! does not fit is queued. A reader that keeps up (`| cat`, a log router) then costs no copy
//! into the queue and no wake-up of the thread; one that does not is served by the thread as
//! before. Nothing can overtake: the direct write is tried only when the queue is empty and
//! the thread holds nothing. A terminal cannot do it (`Unsupported`), nor macOS: the thread
//! writes everything there. A pipe is also grown to 256 KiB where the system allows
//! (`platform::fds::grow_pipe`, which says why), so that a reader that reads in bursts finds
//! a whole batch's room at most writes.

use std::io::{self, IoSlice, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

/// Bytes that may wait for stdout before the children's pipes are left unread (past half of
/// it, each stream gets one read a turn, so one turn adds little more).
pub const BUDGET: usize = 128 * 1024;

/// procmux's stdout, written directly or through the writer thread.
#[derive(Default)]
pub struct Stdout {
    queue: Option<Arc<Shared>>,
    /// Writes may be tried from the loop without blocking (see the module's doc); off once
    /// stdout said it cannot.
    direct: bool,
}

struct Shared {
    state: Mutex<Queue>,
    /// The thread waits here for bytes; the loop, at the end, for the queue to empty.
    changed: Condvar,
    /// Wakes the poll loop once a backlog has shrunk.
    waker: mio::Waker,
}

#[derive(Default)]
struct Queue {
    /// Bytes not yet taken by the thread.
    bytes: Vec<u8>,
    /// Bytes the thread is writing now.
    in_flight: usize,
    /// The thread's write failed: nothing more is written.
    failed: Option<io::Error>,
    /// The loop waits for the queue to shrink to half the budget.
    wake_wanted: bool,
    /// The thread is waiting for bytes.
    idle: bool,
    /// The loop waits in [`Stdout::finish`] for the queue to empty.
    finishing: bool,
}

impl Queue {
    fn waiting(&self) -> usize {
        self.bytes.len() + self.in_flight
    }
}

impl Stdout {
    /// From now on, writes go through a writer thread; `waker` wakes the poll loop when a
    /// backlog has shrunk. A stdout that never blocks (a regular file, `/dev/null`) keeps
    /// direct writes: a thread would only add a copy and a wake-up per write.
    pub fn queue(&mut self, waker: mio::Waker) -> io::Result<()> {
        if never_blocks(io::stdout().as_fd()) {
            return Ok(());
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            waker,
        });
        let theirs = Arc::clone(&shared);
        thread::Builder::new()
            .name("stdout".to_owned())
            .stack_size(64 * 1024)
            .spawn(move || theirs.run())?;
        self.queue = Some(shared);
        self.direct = true;
        // A pipe's reader may take its bytes in bursts: room for several batches.
        crate::platform::fds::grow_pipe(io::stdout().as_fd());
        Ok(())
    }

    /// True while the queue holds its budget: read no more children's output. The loop is
    /// woken (its waker) once it has shrunk to half.
    pub fn backlogged(&self) -> bool {
        let Some(shared) = &self.queue else {
            return false;
        };
        let mut queue = shared.lock();
        let full = queue.bytes.len() >= BUDGET;
        queue.wake_wanted |= full;
        full
    }

    /// The thread's write error, once one happened.
    pub fn failure(&self) -> Option<io::Error> {
        let shared = self.queue.as_ref()?;
        let queue = shared.lock();
        let error = queue.failed.as_ref()?;
        Some(io::Error::new(error.kind(), error.to_string()))
    }

    /// Waits until everything queued is written, at most until `deadline`; the bytes that
    /// could not be written by then (0: all were, or the reader went away).
    pub fn finish(&self, deadline: Instant) -> usize {
        self.wait_until_below(1, deadline)
    }

    /// At the end, when the loop has nothing else to serve: waits, at most until `deadline`,
    /// until the queue has room (half its budget); false if it still has none.
    pub fn wait_for_room(&self, deadline: Instant) -> bool {
        self.wait_until_below(BUDGET / 2 + 1, deadline) == 0
    }

    /// Waits until fewer than `limit` bytes wait (or the thread failed), at most until
    /// `deadline`; the bytes waiting when it gave up, or 0.
    fn wait_until_below(&self, limit: usize, deadline: Instant) -> usize {
        let Some(shared) = &self.queue else {
            return 0;
        };
        let mut queue = shared.lock();
        queue.finishing = true;
        while queue.waiting() >= limit && queue.failed.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return queue.waiting();
            }
            queue = match shared.changed.wait_timeout(queue, left) {
                Ok((queue, _)) => queue,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        0
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue's invariants hold between statements: a panic elsewhere leaves it usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writer thread: take what is queued, write it, until a write fails.
    fn run(&self) {
        // Signals are the loop's: a write here is never interrupted by one.
        let _ = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&nix::sys::signal::SigSet::all()),
            None,
        );
        let mut writing = Vec::new();
        loop {
            let mut queue = self.lock();
            while queue.bytes.is_empty() {
                queue.idle = true;
                queue = match self.changed.wait(queue) {
                    Ok(queue) => queue,
                    Err(poisoned) => poisoned.into_inner(),
                };
            }
            queue.idle = false;
            std::mem::swap(&mut queue.bytes, &mut writing);
            queue.in_flight = writing.len();
            drop(queue);
            let result = write_blocking(&writing);
            writing.clear();
            let mut queue = self.lock();
            queue.in_flight = 0;
            if let Err(error) = result {
                queue.failed = Some(error);
                queue.bytes = Vec::new();
            }
            if queue.wake_wanted && (queue.bytes.len() <= BUDGET / 2 || queue.failed.is_some()) {
                queue.wake_wanted = false;
                let _ = self.waker.wake();
            }
            if queue.finishing {
                self.changed.notify_all();
            }
            if queue.failed.is_some() {
                return;
            }
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let Some(shared) = &self.queue else {
            return writev_blocking(bufs);
        };
        let mut queue = shared.lock();
        if let Some(error) = &queue.failed {
            return Err(io::Error::new(error.kind(), error.to_string()));
        }
        // Written directly: bytes the queue need not hold.
        let mut written = 0;
        if self.direct && queue.bytes.is_empty() && queue.in_flight == 0 {
            match crate::platform::fds::write_nowait(io::stdout().as_fd(), bufs) {
                Ok(n) => written = n,
                Err(e) if e.kind() == io::ErrorKind::Unsupported => self.direct = false,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    queue.failed = Some(io::Error::new(e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
        let mut len = 0;
        for buf in bufs {
            let skip = written.min(buf.len());
            written -= skip;
            queue.bytes.extend_from_slice(&buf[skip..]);
            len += buf.len();
        }
        if queue.idle && !queue.bytes.is_empty() {
            queue.idle = false;
            shared.changed.notify_all();
        }
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// True for a regular file or a character device that is not a terminal (`/dev/null`,
/// `/dev/full`): writes to them return at once.
fn never_blocks(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use nix::sys::stat::{SFlag, fstat};
    let Ok(stat) = fstat(fd) else {
        return false;
    };
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    kind == SFlag::S_IFREG || (kind == SFlag::S_IFCHR && !nix::unistd::isatty(fd).unwrap_or(true))
}

/// Writes all of `bytes` to stdout, blocking.
fn write_blocking(mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match writev_blocking(&[IoSlice::new(bytes)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `writev` to stdout; an inherited `O_NONBLOCK` is waited out as a blocking write would.
fn writev_blocking(bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    loop {
        match nix::sys::uio::writev(io::stdout().as_fd(), bufs) {
            Err(nix::errno::Errno::EAGAIN) => wait_writable()?,
            result => return Ok(result?),
        }
    }
}

/// Blocks until stdout can take more bytes.
fn wait_writable() -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
