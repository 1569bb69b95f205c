//! procmux: run the processes of a Procfile and multiplex their output into one prefixed,
//! colourised stream on stdout.
//!
//! The crate is laid out one concept per module: pure parsers (`procfile`, `dotenv`,
//! `formation`, `line_buffer`), the resolved configuration (`cli` → `config`), the output
//! writer (`output`, `color`), the shutdown policy (`supervisor`), and the OS-facing parts
//! (`spawn`, `sys`, `process`, `event_loop`).

mod ansi;
mod cli;
mod color;
mod config;
mod config_file;
mod dotenv;
mod error;
mod event_loop;
mod formation;
mod json;
mod line_buffer;
mod output;
mod policy;
mod process;
mod procfile;
mod run;
mod source;
mod spawn;
mod supervisor;
mod sys;
mod timestamp;
mod watchdog;

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

use crate::cli::{Arguments, Command, StartArgs};
use crate::config::{RunConfig, StartConfig};
pub use crate::error::Error;

/// Runs procmux with the given command line and returns its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == watchdog::SUBCOMMAND) {
        return watchdog::run();
    }
    let arguments = match Arguments::try_parse_from(args) {
        Ok(arguments) => arguments,
        Err(error) => {
            let code = error.exit_code();
            if error.use_stderr() {
                eprint!("procmux: {}", error.render());
            } else {
                // --help and --version: stdout, exit 0.
                let _ = error.print();
            }
            return code;
        }
    };
    match execute(arguments.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("procmux: error: {error}");
            error.exit_code()
        }
    }
}

fn execute(command: Command) -> Result<i32, Error> {
    match command {
        Command::Start(args) => event_loop::run(StartConfig::resolve(&args)?),
        Command::Run(args) => run::run(RunConfig::resolve(&args)?),
        Command::Check(args) => {
            // Everything `start` would check, without starting anything.
            let config = StartConfig::resolve(&StartArgs::defaults(args))?;
            let names: Vec<&str> = config.project.procfile.names().collect();
            println!("valid procfile detected ({})", names.join(", "));
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut command = Arguments::command();
            clap_complete::generate(shell, &mut command, "procmux", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Arguments::command())
                .render(&mut std::io::stdout())
                .map_err(|e| Error::os("writing the man page", e))?;
            Ok(0)
        }
    }
}

/// Counts heap allocations per thread, so unit tests can prove the hot path allocates nothing.
#[cfg(test)]
pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    /// Allocations made so far on the calling thread.
    pub(crate) fn this_thread() -> u64 {
        ALLOCATIONS.with(Cell::get)
    }

    struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
    // const-initialised thread-local `Cell`, which itself never allocates.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            // SAFETY: same contract as ours, passed through.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours, passed through.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            // SAFETY: same contract as ours, passed through.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;
}
