//! One supervised instance at run time: its state, its pipe and its line buffer.

use std::io::{self, Read};
use std::time::Instant;

use mio::Registry;
use mio::unix::pipe::Receiver;
use nix::unistd::Pid;

use crate::config::ProcessSpec;
use crate::line_buffer::{LineBuffer, ReadBuffer};
use crate::output::{Output, Prefix};
use crate::supervisor::Exit;

/// Bytes asked for per read; a pipe holds 64 KiB by default.
pub const READ_SIZE: usize = 64 * 1024;
/// Longest line written whole: 1 MiB plus its newline. Longer lines are cut into pieces.
pub const MAX_LINE: usize = 1024 * 1024 + 1;

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

/// What one `pump` call left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pump {
    /// The pipe said `WouldBlock`: wait for the next readiness event.
    Drained,
    /// The read budget ran out with data possibly left: come back without waiting.
    More,
    /// EOF or no pipe: every writer is gone.
    Closed,
}

pub struct Process {
    pub spec: ProcessSpec,
    /// Written before procmux's own lines about this process (`started with pid N`).
    pub label: Prefix,
    /// Written before the child's lines, when it differs from `label` (`--no-prefix`).
    bare: Option<Prefix>,
    pub state: State,
    /// The process group, kept after the leader exits: other members may live on.
    pub pgid: Option<Pid>,
    pipe: Option<Receiver>,
    buffer: LineBuffer,
    /// Bytes read from the pipe so far, to tell whether a read brought anything.
    bytes_read: u64,
    /// When the partial line is printed if no more bytes arrive.
    pub flush_at: Option<Instant>,
    /// Queued in the event loop's list of pipes with data possibly left.
    pub queued: bool,
}

impl Process {
    pub fn new(spec: ProcessSpec, label: Prefix, bare: Option<Prefix>) -> Process {
        Process {
            spec,
            label,
            bare,
            state: State::Pending,
            pgid: None,
            pipe: None,
            buffer: LineBuffer::new(MAX_LINE),
            bytes_read: 0,
            flush_at: None,
            queued: false,
        }
    }

    pub fn attach(&mut self, pid: Pid, pipe: Receiver) {
        self.state = State::Running { pid };
        self.pgid = Some(pid);
        self.pipe = Some(pipe);
    }

    pub fn pipe_mut(&mut self) -> Option<&mut Receiver> {
        self.pipe.as_mut()
    }

    /// Reads at most `max_reads` times into the shared `scratch`, writing every complete line
    /// straight from it. A line that reaches [`MAX_LINE`] is written as a piece of its own.
    pub fn pump<W: io::Write>(
        &mut self,
        scratch: &mut ReadBuffer,
        output: &mut Output<W>,
        max_reads: usize,
    ) -> Pump {
        let Some(pipe) = &self.pipe else {
            return Pump::Closed;
        };
        let scratch = scratch.as_mut_slice();
        let mut reads = 0;
        while reads < max_reads {
            if self.buffer.is_full() {
                if !self.spec.quiet {
                    output.piece(
                        self.bare.as_mut().unwrap_or(&mut self.label),
                        self.buffer.partial(),
                    );
                }
                self.buffer.consume_cut();
            }
            reads += 1;
            let (held, room) = self.buffer.load(scratch, READ_SIZE);
            match (&*pipe).read(&mut scratch[held..held + room]) {
                Ok(0) => return Pump::Closed,
                Ok(n) => {
                    self.bytes_read += n as u64;
                    let lines = self.buffer.split(scratch, held, n);
                    if !self.spec.quiet {
                        output.lines(
                            self.bare.as_mut().unwrap_or(&mut self.label),
                            &scratch[lines],
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pump::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Any other read error ends this pipe as EOF would.
                Err(_) => return Pump::Closed,
            }
        }
        Pump::More
    }

    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes of the line still waiting for its newline.
    pub fn partial_len(&self) -> usize {
        self.buffer.partial().len()
    }

    /// Writes the partial line as a line of its own (idle prompt, exit, EOF).
    pub fn flush_partial<W: io::Write>(&mut self, output: &mut Output<W>) {
        if self.partial_len() > 0 {
            if !self.spec.quiet {
                output.piece(
                    self.bare.as_mut().unwrap_or(&mut self.label),
                    self.buffer.partial(),
                );
            }
            self.buffer.consume_partial();
        }
        self.flush_at = None;
    }

    /// Closes the pipe after EOF: flushes the partial line and stops polling it.
    pub fn close<W: io::Write>(&mut self, registry: &Registry, output: &mut Output<W>) {
        if let Some(mut pipe) = self.pipe.take() {
            // Deregistering a pipe that is about to be closed cannot meaningfully fail.
            let _ = registry.deregister(&mut pipe);
        }
        self.flush_partial(output);
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use nix::fcntl::OFlag;

    use super::*;
    use crate::alloc_count;
    use crate::output::Clock;

    /// A sink that only counts bytes, so the sink itself never allocates.
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            let n = bufs.iter().map(|b| b.len()).sum();
            self.0 += n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn process_on_pipe() -> (Process, OwnedFd) {
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        crate::sys::set_nonblocking(&reader).unwrap();
        let spec = ProcessSpec {
            name: "w".into(),
            instance: 1,
            command: String::new(),
            port: 5000,
            type_index: 0,
            quiet: false,
        };
        let prefix = Prefix::new("w.1", 6, Some(nu_ansi_term::Color::Cyan), true);
        let mut process = Process::new(spec, prefix, None);
        process.attach(Pid::this(), Receiver::from(reader));
        (process, writer)
    }

    /// Lines of 100 bytes that do not end on a line boundary, so partial lines are carried.
    fn chunk() -> Vec<u8> {
        let line: Vec<u8> = [b'x'; 99].iter().copied().chain([b'\n']).collect();
        line.iter().copied().cycle().take(50_050).collect()
    }

    #[test]
    fn pumping_lines_allocates_nothing_per_line() {
        let (mut process, writer) = process_on_pipe();
        let mut scratch = ReadBuffer::new(READ_SIZE, MAX_LINE);
        let mut output = Output::new(Counter(0), Clock::local());
        let chunk = chunk();
        let mut pump_all = |process: &mut Process, output: &mut Output<Counter>| {
            nix::unistd::write(&writer, &chunk).unwrap();
            while process.pump(&mut scratch, output, 4) == Pump::More {}
        };
        // Warm up: the partial line gets its capacity, the clock its first second.
        pump_all(&mut process, &mut output);
        pump_all(&mut process, &mut output);
        let before = alloc_count::this_thread();
        for _ in 0..200 {
            pump_all(&mut process, &mut output);
        }
        let allocations = alloc_count::this_thread() - before;
        assert_eq!(allocations, 0, "allocations while relaying 100,100 lines");
    }
}
