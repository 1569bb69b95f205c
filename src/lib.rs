//! procmux: run the processes of a Procfile and multiplex their output into one prefixed,
//! colourised stream on stdout.
//!
//! The pipeline, one folder per stage (see `ARCHITECTURE.md`): [`cli`] parses the command
//! line; [`config`] reads the project and decides, into a `Stack` (what to run) and a `Style`
//! (how to show it); [`output`] builds the one writer of stdout from the style; [`runtime`]
//! runs the stack, asking the pure [`supervisor`] what to do at every event.

// A user or the OS can make anything fail: no panicking shortcuts outside tests, and no
// `print!`, which panics when the terminal is gone.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod cli;
mod config;
mod control;
mod error;
mod export;
mod manual;
mod output;
mod platform;
mod runtime;
mod supervisor;
mod test_support;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use clap::Parser;

use crate::cli::{Arguments, Command, StartArgs};
use crate::config::Host;
pub use crate::error::Error;
use crate::output::Output;

/// Runs procmux with the given command line and returns its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // Hidden helpers procmux runs itself, before clap sees anything.
    match args.get(1) {
        Some(a) if a == runtime::watchdog::SUBCOMMAND => {
            let detached = args
                .get(2)
                .is_some_and(|a| a == runtime::watchdog::DETACHED);
            return runtime::watchdog::serve(detached);
        }
        Some(a) if a == runtime::shell::RESTORE_SUBCOMMAND => {
            return runtime::shell::exec_restored(&args[2..]);
        }
        _ => {}
    }
    // A stack runs all day: the code the loader and libc's start-up ran is let go of before
    // clap's parse and the project's reading add theirs (`platform::memory`; the runtime lets
    // go of those before its loop), so that the peak stays low too.
    if args.get(1).is_some_and(|a| a == "start") {
        platform::memory::release_code();
    }
    let arguments = match Arguments::try_parse_from(&args) {
        Ok(arguments) => arguments,
        Err(error) => return cli::report(&error),
    };
    match execute(arguments.command, &args) {
        Ok(code) => code,
        Err(error) => {
            // stderr may be gone too (a closed terminal): never panic over a message.
            let _ = writeln!(io::stderr(), "procmux: error: {error}");
            error.exit_code()
        }
    }
}

fn execute(command: Command, raw: &[OsString]) -> Result<i32, Error> {
    let host = Host::current();
    match command {
        Command::Start(args) => {
            let (stack, style) = config::load_start(&args, &host)?;
            if args.detach && !args.detached {
                return start_detached(&args, &stack, raw);
            }
            let output = Output::stdout(&style, &stack.instances);
            runtime::supervise(stack, output)
        }
        Command::Run(args) => {
            let running = |socket: &str| {
                let target = control::Target {
                    socket,
                    procfile: "this checkout",
                };
                control::instance_ports(&target).unwrap_or_else(|error| {
                    // Still runs: the ports are computed as with no stack running.
                    let _ = writeln!(
                        io::stderr(),
                        "procmux: warning: PORT and PORT_<NAME> are computed as if no stack \
                         ran, for asking the running one failed: {error}"
                    );
                    None
                })
            };
            runtime::foreground::execute(config::load_run(&args, &host, &running)?)
        }
        Command::Check(args) => {
            // Everything `start` would check, without starting anything.
            let (stack, _) = config::load_start(&StartArgs::defaults(args), &host)?;
            let names: Vec<&str> = stack.types.iter().map(|t| t.name.as_str()).collect();
            let mut text = format!("valid procfile detected ({})\n", names.join(", "));
            text.push_str(&files_read(&stack));
            text.push_str(&stop_signals(&stack));
            text.push_str(&own_settings(&stack));
            text.push_str(&release_phase(&stack));
            for profile in &stack.profiles {
                text.push_str(&format!(
                    "profile {}: {} (start @{} adds what they wait for)\n",
                    profile.name,
                    profile.processes.join(", "),
                    profile.name
                ));
            }
            print_out(text.as_bytes())
        }
        Command::Status(args) => {
            let target = config::load_control(&args.project, &host)?;
            control::status(&control_target(&target), args.json)
        }
        Command::Restart(args) => {
            let target = config::load_control(&args.project, &host)?;
            let request = control::Request::Restart(args.names);
            control::relay(&control_target(&target), &request)
        }
        Command::Stop(args) => {
            let target = config::load_control(&args.project, &host)?;
            control::relay(
                &control_target(&target),
                &control::Request::Stop(args.names),
            )
        }
        Command::Logs(args) => {
            let target = config::load_control(&args.project, &host)?;
            let color = config::logs_color(args.color, &host);
            let zone = config::zone::local();
            let query = config::log_query(&args, jiff::Timestamp::now(), &zone)?;
            let target = control_target(&target);
            match query {
                Some(query) => control::filtered(&target, args.names, args.follow, query, color),
                None => {
                    let request = control::Request::Logs {
                        follow: args.follow,
                        names: args.names,
                        framed: false,
                    };
                    control::logs(&target, &request, color)
                }
            }
        }
        Command::Wait(args) => {
            let target = config::load_control(&args.project, &host)?;
            let timeout = config::wait_timeout(args.timeout.as_deref(), "timeout")?;
            control::wait(&control_target(&target), &args.names, timeout, args.json)
        }
        Command::Export(args) => export_stack(args, &host),
        Command::Attach(args) => {
            let target = config::load_control(&args.project, &host)?;
            control::attach(
                &control_target(&target),
                &args.name,
                &runtime::terminal_size,
            )
        }
        Command::Completions { shell } => print_out(&manual::completions(shell)),
        Command::Man { command, roff } => {
            let page = manual::page(command.as_deref())
                .map_err(|e| Error::os("writing the man page", e))?;
            if roff || !io::stdout().is_terminal() {
                return print_out(&page);
            }
            // As `git help` does: man formats it and pages it; without man, plain text.
            match manual::show(&page) {
                Ok(true) => Ok(0),
                Ok(false) | Err(_) => print_out(manual::plain(&page).as_bytes()),
            }
        }
        Command::Names(args) => {
            // For completion scripts: quiet on any error (no Procfile here).
            let Ok(project) = config::Project::load(&args, true, &host) else {
                return Ok(1);
            };
            let names: String = project.procfile.names().map(|n| format!("{n}\n")).collect();
            print_out(names.as_bytes())
        }
    }
}

/// `procmux start --detach`: the stack's status once it is up (or at once, when it runs
/// already), from a procmux started in the background for it.
fn start_detached(args: &StartArgs, stack: &config::Stack, raw: &[OsString]) -> Result<i32, Error> {
    let timeout = config::wait_timeout(args.wait_timeout.as_deref(), "wait-timeout")?;
    let socket = stack.control.as_deref().unwrap_or_default();
    let target = control::Target {
        socket,
        procfile: &stack.procfile,
    };
    if control::is_running(&target) {
        // Idempotent: a script may run `start -D` whenever it needs the stack.
        return control::status(&target, args.json);
    }
    if let Some(error) = runtime::held_by_another_stack(stack) {
        return Err(error);
    }
    // `procmux start --detached-procmux ARGS…`: the same command line, run by the copy.
    let mut copy: Vec<OsString> = raw.iter().skip(1).take(1).cloned().collect();
    copy.push(format!("--{}", cli::DETACHED_FLAG).into());
    copy.extend(raw.iter().skip(2).cloned());
    let mut detached =
        runtime::detach::spawn(&copy).map_err(|e| Error::os("starting the detached procmux", e))?;
    let outcome = control::await_ready(&target, &[], timeout, &mut || detached.ended())?;
    if matches!(outcome, control::Outcome::Gone(_)) && control::is_running(&target) {
        // Another `start -D` started it first.
        return control::status(&target, args.json);
    }
    let outcome = match outcome {
        // The stack stopped after answering: the detached procmux says which instance (or
        // the release phase) failed, with its last lines, once the rest is stopped.
        control::Outcome::Stopped(why) => {
            let stopping = stack.longest_stop() + supervisor::KILL_WAIT + Duration::from_secs(2);
            control::Outcome::Stopped(detached.report(stopping).unwrap_or(why))
        }
        // Not answering yet when the time was up (--wait-timeout 0): still starting.
        control::Outcome::Gone(_) if detached.ended().is_none() => {
            control::Outcome::TimedOut(Vec::new(), Vec::new())
        }
        outcome => outcome,
    };
    control::report_start(&outcome, timeout, args.json)
}

/// `procmux export`: resolve the stack as `start` would, render, write.
fn export_stack(args: cli::ExportArgs, host: &Host<'_>) -> Result<i32, Error> {
    let mut start = StartArgs::defaults(args.project);
    start.formation = args.formation;
    start.port = args.port.map(cli::PortChoice::Base);
    // What runs elsewhere does not depend on this terminal.
    start.pty = Some(cli::PtyChoice::Never);
    let (stack, _) = config::load_start(&start, host)?;
    let root = std::fs::canonicalize(&stack.root).map_err(|e| Error::os("reading the root", e))?;
    let options = export::Options::new(args.app, args.user, root, args.image)?;
    let export = export::render(export_format(args.format), &stack, &options)?;
    // What the target cannot say is in the files too; said here once per setting.
    for note in &export.notes {
        let kind = if note.warning {
            "warning"
        } else {
            "not expressible"
        };
        let _ = writeln!(io::stderr(), "procmux: export: {kind}: {note}");
    }
    let out = args.out_dir.filter(|d| d.as_os_str() != "-");
    let report = export::write(&export.files, out.as_deref(), args.dry_run, args.force)?;
    let text: String = report.iter().map(|l| format!("{l}\n")).collect();
    print_out(text.as_bytes())
}

/// The command line's word for a target, as `export` knows it.
fn export_format(format: cli::ExportFormat) -> export::Format {
    use cli::ExportFormat as Word;
    match format {
        Word::Systemd => export::Format::Systemd,
        Word::SystemdUser => export::Format::SystemdUser,
        Word::Supervisord => export::Format::Supervisord,
        Word::Runit => export::Format::Runit,
        Word::Launchd => export::Format::Launchd,
        Word::Compose => export::Format::Compose,
        Word::Kubernetes => export::Format::Kubernetes,
    }
}

fn control_target(target: &config::ControlTarget) -> control::Target<'_> {
    control::Target {
        socket: &target.socket,
        procfile: &target.procfile,
    }
}

/// `procmux check`'s table of the signal each process type is stopped with, and why.
fn stop_signals(stack: &config::Stack) -> String {
    let width = stack.types.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut text = String::from("stop signals (then SIGKILL after the stop timeout):\n");
    for kind in &stack.types {
        let policy = &kind.policy;
        let signal = policy.stop_signal.as_str();
        let why = match policy.stop_signal_from {
            config::SignalSource::Given => format!(
                "{signal}, {} after Ctrl-C",
                policy
                    .stop_signal_after(nix::sys::signal::Signal::SIGINT)
                    .as_str()
            ),
            config::SignalSource::Configured => format!("{signal}, its stop_signal"),
            config::SignalSource::Known(known) => {
                format!("{signal}, as for {}: {}", known.server, known.why)
            }
        };
        text.push_str(&format!("  {:<width$}  {why}\n", kind.name));
    }
    text
}

/// `procmux check`'s list of the files read, in order, and what each set or changed.
fn files_read(stack: &config::Stack) -> String {
    let mut text = String::from("files read, in order:\n");
    for source in &stack.sources {
        let said = if source.said.is_empty() {
            "nothing".to_owned()
        } else {
            source.said.join(", ")
        };
        let line = format!("{}: {said}", source.file);
        text.push_str(&format!("  {}\n", printable(&line)));
    }
    text
}

/// `procmux check`'s list of the processes with a directory or variables of their own (the
/// keys only: values may be secrets); empty when none has.
fn own_settings(stack: &config::Stack) -> String {
    let own: Vec<&config::ProcessType> = stack
        .types
        .iter()
        .filter(|t| t.cwd.is_some() || !t.env_files.is_empty() || !t.env_keys.is_empty())
        .collect();
    if own.is_empty() {
        return String::new();
    }
    let width = own.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut text = String::from("directories and variables of their own:\n");
    for kind in own {
        let mut parts = Vec::new();
        if kind.cwd.is_some() {
            let dir = kind.dir.display().to_string();
            parts.push(format!("runs in {}", printable(&dir)));
        }
        if !kind.env_files.is_empty() {
            let files = kind.env_files.join(", ");
            parts.push(format!("env_file {}", printable(&files)));
        }
        if !kind.env_keys.is_empty() {
            parts.push(format!("env {}", kind.env_keys.join(", ")));
        }
        text.push_str(&format!("  {:<width$}  {}\n", kind.name, parts.join("; ")));
    }
    text
}

/// `procmux check`'s line about the release phase, if the stack has one.
fn release_phase(stack: &config::Stack) -> String {
    let mut text = String::new();
    for kind in stack.types.iter().filter(|t| t.release) {
        let needs = if kind.after.is_empty() {
            String::new()
        } else {
            format!(" after {}", kind.after.join(", "))
        };
        text.push_str(&format!(
            "release phase: {}{needs} runs once, before the others, which wait for its exit 0 \
             (--no-release skips it)\n",
            kind.name
        ));
    }
    text
}

/// `text` on one line of a report: control characters (a newline in a directory's name) as
/// escapes, everything else as it is.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Writes a command's whole output to stdout: exit 0, also when the reader went away.
fn print_out(bytes: &[u8]) -> Result<i32, Error> {
    output::print_document(bytes).map(|_| 0)
}
