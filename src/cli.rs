//! The command line, as clap sees it, and the words the user may choose from (colour, format,
//! timestamp, pty, stderr) shared with `procmux.toml`. [`crate::config`] turns both (with the
//! environment) into plain values; nothing past that boundary knows about clap.
//!
//! Every `start` option has an environment-variable form (`PROCMUX_PORT`, …). Options are
//! `Option`s with no clap default, so that [`crate::config`] can apply the documented
//! precedence: flag > environment variable > `procmux.toml` > built-in default.
//!
//! This module depends on nothing else in the crate.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use serde::Deserialize;

const EXAMPLES: &str = "\
Examples:
  procmux start                         run every process of ./Procfile
  procmux start web worker              run only web and worker
  procmux start -m web=2,worker=0       two web instances, no worker
  procmux start -f Procfile.dev -p 3000 another Procfile, ports from 3000
  procmux start --no-prefix -q clock    raw lines, clock's output hidden
  procmux run rails console             a one-off command in the app's environment
  procmux run web                       the web entry's command, in the foreground
  procmux check                         validate Procfile, env files and procmux.toml
  procmux restart worker                from another terminal: restart one process
  procmux logs -f web                   follow one process's lines
  procmux start -D                      in the background: returns once every process is ready
  procmux wait web --timeout 30s        block until web is ready (exit 1 if it failed)
  procmux logs --since 5m --grep ERROR  what went wrong lately
  procmux attach web                    type into web (a debugger); Ctrl-] detaches
  procmux export systemd out/           units for systemd (or supervisord, runit, compose, …)
  procmux completions bash > /etc/bash_completion.d/procmux";

/// Run the processes of a Procfile and multiplex their output into one prefixed stream.
///
/// procmux starts every process of a Procfile, prefixes each line they write with the time and
/// the process name, and writes one stream to stdout. It writes nothing to disk (but for
/// `export`, asked to). Ctrl-C stops every process and every process they started: SIGTERM
/// first, SIGKILL after --timeout. From another terminal, `status`, `restart`, `stop`, `logs`
/// and `attach` talk to the running stack.
#[derive(Debug, Parser)]
#[command(name = "procmux", version, propagate_version = true, after_help = EXAMPLES)]
pub struct Arguments {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the processes (all types, or the NAMEs given) and stream their output
    Start(Box<StartArgs>),
    /// Run one command in the app's environment, in the foreground
    ///
    /// The command gets the environment `start` would give it (env files, PORT, PORT_<NAME>,
    /// PS=run.1; the running stack's ports while this checkout's runs), the terminal's stdin,
    /// stdout and stderr, and procmux exits with its status (128+N when it dies of signal N).
    /// A lone argument naming a Procfile entry runs that entry's command.
    Run(RunArgs),
    /// Validate the Procfile, env files and procmux.toml without starting anything
    Check(ProjectArgs),
    /// Show the instances of the running stack (from another terminal, same directory or -f)
    #[command(visible_alias = "ps")]
    Status(StatusArgs),
    /// Restart instances of the running stack: a type (all its instances), web.2, or a glob
    ///
    /// Each instance gets its own stop signal and stop timeout, then starts again. A restart
    /// asked for is never a crash: it does not stop the stack or use the restart budget. A
    /// stopped instance is started.
    Restart(NamesArgs),
    /// Stop instances of the running stack and leave them stopped; with no NAME, stop the stack
    Stop(StopArgs),
    /// Print the running stack's recent lines, and with -f follow them
    Logs(LogsArgs),
    /// Wait until instances of the running stack are ready (for scripts, CI and agents)
    ///
    /// Exits 0 once every instance named (default: all) is ready: its readiness seen, running
    /// with none to wait for, or exited with code 0. Exits 1 at the first failure (exited
    /// otherwise, given up, stopped, or the stack ended), naming it with its last lines, or
    /// when --timeout passes first. A stack not running yet is waited for too.
    Wait(WaitArgs),
    /// Write the stack for systemd, supervisord, runit, launchd, Compose or Kubernetes
    ///
    /// OUT_DIR receives the files (created if need be); `-` or none prints a one-file format
    /// to stdout. Every command, env value and the root reach the process byte for byte, in
    /// each target's own quoting; what a target cannot express is said in the file and on
    /// stderr (`procmux: export: not expressible: …`), and a loopback address in an env value
    /// exported to Compose or Kubernetes gets a warning. Files are written all or nothing (checked,
    /// then staged beside their targets, then renamed), with modes from the umask, owner-only
    /// when they hold env values. A file procmux export did not write (or a link) is never
    /// replaced without --force; --dry-run checks the same and writes nothing.
    Export(ExportArgs),
    /// Type into one instance of the running stack: a debugger, a REPL, a prompt
    ///
    /// Keys go to the instance's pty (for an instance on pipes: lines to its stdin), and its
    /// output comes back unprefixed (it still goes to the main stream). The terminal's size
    /// follows. Ctrl-] detaches; the terminal is restored on any exit.
    Attach(AttachArgs),
    /// Print a shell completion script to stdout (it completes process names too)
    Completions {
        /// The shell to complete for
        shell: Shell,
    },
    /// Show the man page: procmux(1), or procmux-COMMAND(1)
    ///
    /// On a terminal it is formatted by man(1) (`man -l -`, its pager), or shown as plain
    /// text without man; piped, or with --roff, the roff source is printed.
    Man {
        /// A command whose page to show
        #[arg(value_parser = MAN_PAGES)]
        command: Option<String>,
        /// Print the roff source, even on a terminal
        #[arg(long)]
        roff: bool,
    },
    /// The process names of the Procfile, one per line (for completion scripts)
    #[command(name = "__names", hide = true)]
    Names(ProjectArgs),
}

/// `procmux status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// One JSON object per instance instead of a table
    #[arg(long = "json")]
    pub json: bool,
}

/// `procmux restart NAME…`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Instances: a type (web), one instance (web.2), or a shell-style glob (w*)
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// `procmux stop [NAME…]`.
#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Instances to stop [default: the whole stack, as SIGTERM would]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// `procmux logs [-f] [NAME…]`: `-f` follows, as in docker compose (the Procfile is
/// `--procfile` here).
#[derive(Debug, Args)]
#[command(mut_arg("procfile", |a| a.short(None)))]
pub struct LogsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Keep printing new lines as they come
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,

    /// Keep the stream's colours [default: auto: when stdout is a terminal, NO_COLOR unset]
    #[arg(long = "color", value_name = "WHEN")]
    pub color: Option<ColorChoice>,

    /// Only lines written since WHEN: a duration ago (5m, 1h30m, 90s, 2d), a time of day
    /// today (14:05, 14:05:30), or an RFC 3339 time (2026-11-30T14:05:00Z)
    #[arg(long = "since", value_name = "WHEN")]
    pub since: Option<String>,

    /// Only lines written before WHEN (as for --since); not with -f
    #[arg(long = "until", value_name = "WHEN")]
    pub until: Option<String>,

    /// Only lines whose text (prefix and colours left out) matches REGEX (Rust syntax, matched
    /// in linear time)
    #[arg(long = "grep", value_name = "REGEX")]
    pub grep: Option<String>,

    /// Only the last N lines selected (with -f: then the new ones)
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,

    /// One JSON object per line: time, instance, stream (stdout, stderr, system), text
    #[arg(long = "json")]
    pub json: bool,

    /// Only these instances' lines (types, web.2, globs) [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// `procmux wait [NAME…]`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// How long to wait at most: 90s, 1h30m, 500ms, or seconds [default: 60s]
    #[arg(long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Print one JSON document: ok, why not (failed, timeout), the failure and the rows
    #[arg(long = "json")]
    pub json: bool,

    /// Instances to wait for (types, web.2, globs) [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// `procmux export FORMAT [OUT_DIR]`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The target
    #[arg(value_name = "FORMAT")]
    pub format: ExportFormat,

    /// Where to write the files; `-` (or none) prints a one-file format to stdout
    #[arg(value_name = "OUT_DIR")]
    pub out_dir: Option<PathBuf>,

    #[command(flatten)]
    pub project: ProjectArgs,

    /// Instances per process type, as for start [default: 1 each]
    #[arg(short = 'm', long = "formation", value_name = "FORMATION")]
    pub formation: Option<String>,

    /// Base port, as for start
    #[arg(short = 'p', long = "port", value_name = "N")]
    pub port: Option<u16>,

    /// The application's name, the prefix of every unit, program or service [default: the root directory's name]
    #[arg(long = "app", value_name = "NAME")]
    pub app: Option<String>,

    /// The user the processes run as (system units, supervisord, runit, launchd)
    #[arg(long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// The container image the processes run in (Kubernetes, Compose; required there)
    #[arg(long = "image", value_name = "IMAGE")]
    pub image: Option<String>,

    /// List what would be written, write nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Replace files procmux export did not write
    #[arg(long = "force")]
    pub force: bool,
}

/// `procmux export`'s targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// systemd system units: APP.target and a service per instance
    Systemd,
    /// systemd user units, wanted by default.target
    SystemdUser,
    /// a supervisord program per type, numprocs its formation
    Supervisord,
    /// a runit service directory per instance
    Runit,
    /// a launchd property list per instance (macOS)
    Launchd,
    /// a Compose file: a service per type, replicas its formation (needs --image)
    Compose,
    /// Kubernetes: a Deployment per type, a Service, a ConfigMap and a Secret (needs --image)
    Kubernetes,
}

/// `procmux attach NAME`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// One instance: web.1, or a type that has one instance
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// The commands with a man page of their own, `procmux-COMMAND(1)`.
pub const MAN_PAGES: [&str; 12] = [
    "start",
    "run",
    "check",
    "status",
    "restart",
    "stop",
    "logs",
    "wait",
    "attach",
    "export",
    "completions",
    "man",
];

/// Where the app is: options shared by every subcommand that reads it.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Procfile to read [default: ./Procfile]
    #[arg(
        short = 'f',
        long = "procfile",
        value_name = "FILE",
        env = "PROCMUX_PROCFILE"
    )]
    pub procfile: Option<PathBuf>,

    /// Working directory of the processes, where .env is looked up [default: the Procfile's directory]
    #[arg(short = 'd', long = "root", value_name = "DIR", env = "PROCMUX_ROOT")]
    pub root: Option<PathBuf>,

    /// Env files to load, in order, later values winning [default: .env in the root, if present]
    #[arg(
        short = 'e',
        long = "env",
        value_name = "FILE",
        value_delimiter = ',',
        env = "PROCMUX_ENV"
    )]
    pub env: Vec<PathBuf>,

    /// Config file [default: procmux.toml next to the Procfile, if present]
    #[arg(long = "config", value_name = "FILE", env = "PROCMUX_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Instances per process type, e.g. web=2,worker=0; all=N sets the default [default: 1 each]
    #[arg(
        short = 'm',
        long = "formation",
        value_name = "FORMATION",
        env = "PROCMUX_FORMATION"
    )]
    pub formation: Option<String>,

    /// Base port: PORT is base + 100 × type index + instance − 1; `auto`: a block of ports
    /// of this checkout's own, from its path (the next free block when one is held)
    /// [default: PORT from the env files or the environment, else 5000]
    #[arg(short = 'p', long = "port", value_name = "N|auto", env = "PROCMUX_PORT", value_parser = parse_port)]
    pub port: Option<PortChoice>,

    /// How long to wait after SIGTERM before SIGKILL: seconds, or 500ms, 1m30s [default: 5]
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "DURATION",
        env = "PROCMUX_TIMEOUT"
    )]
    pub timeout: Option<String>,

    /// Leave the timestamp out of each line (same as --timestamp none)
    #[arg(long = "no-timestamp", env = "PROCMUX_NO_TIMESTAMP")]
    pub no_timestamp: bool,

    /// How to stamp each line: local HH:MM:SS, utc HH:MM:SS, iso (RFC 3339 with ms), ms (HH:MM:SS.mmm), none [default: local]
    #[arg(long = "timestamp", value_name = "FORMAT", env = "PROCMUX_TIMESTAMP")]
    pub timestamp: Option<TimestampChoice>,

    /// Output format: prefixed text lines, or one JSON object per line [default: text]
    #[arg(long = "format", value_name = "FORMAT", env = "PROCMUX_FORMAT")]
    pub format: Option<OutputFormat>,

    /// Give each process a pseudo-terminal (line-buffered output, colours kept) [default: auto: when stdout is a terminal]
    #[arg(long = "pty", value_name = "WHEN", env = "PROCMUX_PTY")]
    pub pty: Option<PtyChoice>,

    /// stderr handling: merge (one stream, order kept) or mark (stderr lines marked with `!`) [default: merge]
    #[arg(long = "stderr", value_name = "MODE", env = "PROCMUX_STDERR")]
    pub stderr: Option<StderrMode>,

    /// Remove terminal escape sequences (colours, cursor moves) from the processes' lines
    #[arg(long = "strip-ansi", env = "PROCMUX_STRIP_ANSI")]
    pub strip_ansi: bool,

    /// Do not pass FORCE_COLOR=1 and CLICOLOR_FORCE=1 to processes on pipes when procmux colours
    #[arg(long = "no-color-hint", env = "PROCMUX_NO_COLOR_HINT")]
    pub no_color_hint: bool,

    /// No status line under the stream (shown on a terminal, not with TERM=dumb or JSON)
    #[arg(long = "no-status-line", env = "PROCMUX_NO_STATUS_LINE")]
    pub no_status_line: bool,

    /// Write the processes' lines as they are, without time or name (for another log tool)
    #[arg(long = "no-prefix", env = "PROCMUX_NO_PREFIX")]
    pub no_prefix: bool,

    /// When to colour the output [default: auto]
    #[arg(long = "color", value_name = "WHEN", env = "PROCMUX_COLOR")]
    pub color: Option<ColorChoice>,

    /// Run these processes but hide their output (their start and exit are still shown)
    #[arg(
        short = 'q',
        long = "quiet",
        value_name = "NAME",
        value_delimiter = ',',
        env = "PROCMUX_QUIET"
    )]
    pub quiet: Vec<String>,

    /// These processes may exit without stopping the others
    #[arg(
        long = "may-exit",
        value_name = "NAME",
        value_delimiter = ',',
        env = "PROCMUX_MAY_EXIT"
    )]
    pub may_exit: Vec<String>,

    /// Restart these processes whenever they exit (with backoff)
    #[arg(
        long = "restart",
        value_name = "NAME",
        value_delimiter = ',',
        env = "PROCMUX_RESTART"
    )]
    pub restart: Vec<String>,

    /// Restart these processes after a failure (non-zero exit or a signal); a clean exit is let be
    #[arg(
        long = "restart-on-failure",
        value_name = "NAME",
        value_delimiter = ',',
        env = "PROCMUX_RESTART_ON_FAILURE"
    )]
    pub restart_on_failure: Vec<String>,

    /// Run until NAME exits and exit with its code (for CI: procmux start --exit-code-from tests)
    #[arg(
        long = "exit-code-from",
        value_name = "NAME",
        env = "PROCMUX_EXIT_CODE_FROM"
    )]
    pub exit_code_from: Option<String>,

    /// Restart NAME when a file matching GLOB (relative to the root) changes; repeatable, or
    /// comma-separated (commas inside `{a,b}` belong to the glob)
    #[arg(long = "watch", value_name = "NAME=GLOB", env = "PROCMUX_WATCH")]
    pub watch: Vec<String>,

    /// Send what is typed into procmux's terminal to this instance (web, or web.2), line by line
    #[arg(long = "stdin", value_name = "NAME", env = "PROCMUX_STDIN")]
    pub stdin: Option<String>,

    /// The control channel that status, restart, stop and logs talk to (an abstract socket on
    /// Linux: no file; a socket file in a private directory on macOS) [default: on]
    #[arg(long = "control", value_name = "WHEN", env = "PROCMUX_CONTROL")]
    pub control: Option<Switch>,

    /// KiB of recent output kept in memory for `procmux logs`; 0 keeps none [default: 256;
    /// 4096 with --detach]
    #[arg(long = "tail-kib", value_name = "N", env = "PROCMUX_TAIL_KIB")]
    pub tail_kib: Option<usize>,

    /// With NAMEs: start only those, not the processes they wait for (`after`); their
    /// readiness is then not waited for
    #[arg(long = "no-deps", env = "PROCMUX_NO_DEPS")]
    pub no_deps: bool,

    /// Start the stack in the background and return once every instance is ready (or one
    /// failed, or --wait-timeout passed), printing the status table; output goes only to the
    /// in-memory tail (`procmux logs`), nothing to disk; `procmux stop` ends it. Run again
    /// while the stack runs, it prints the status and exits 0
    #[arg(short = 'D', long = "detach")]
    pub detach: bool,

    /// With --detach: how long to wait for readiness: 90s, 1h30m, 500ms, or seconds [default: 60s]
    #[arg(long = "wait-timeout", value_name = "DURATION", requires = "detach")]
    pub wait_timeout: Option<String>,

    /// With --detach: print the status as JSON lines (as `status --json`)
    #[arg(long = "json", requires = "detach")]
    pub json: bool,

    /// The detached procmux itself (run by `start --detach`)
    #[arg(long = DETACHED_FLAG, hide = true)]
    pub detached: bool,

    /// Skip the release phase (an entry named `release`, or with `phase = "release"`): the
    /// others start without waiting for it
    #[arg(long = "no-release", env = "PROCMUX_NO_RELEASE")]
    pub no_release: bool,

    /// Start the processes of this profile (`[profile.NAME] processes` in procmux.toml),
    /// with what they wait for; repeatable, or comma-separated. `start @NAME` is the same
    #[arg(
        long = "profile",
        value_name = "NAME",
        value_delimiter = ',',
        env = "PROCMUX_PROFILE"
    )]
    pub profile: Vec<String>,

    /// Process types to start, with the types they wait for (`after`), or `@PROFILE`
    /// [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// The hidden flag that makes a `start` the detached procmux.
pub const DETACHED_FLAG: &str = "detached-procmux";

impl StartArgs {
    /// What `check` validates: `start` with no option but the project's.
    pub fn defaults(project: ProjectArgs) -> StartArgs {
        StartArgs {
            project,
            formation: None,
            port: None,
            timeout: None,
            no_timestamp: false,
            timestamp: None,
            format: None,
            pty: None,
            stderr: None,
            strip_ansi: false,
            no_color_hint: false,
            no_prefix: false,
            no_status_line: false,
            color: None,
            quiet: Vec::new(),
            may_exit: Vec::new(),
            restart: Vec::new(),
            restart_on_failure: Vec::new(),
            exit_code_from: None,
            watch: Vec::new(),
            stdin: None,
            control: None,
            tail_kib: None,
            no_deps: false,
            detach: false,
            wait_timeout: None,
            json: false,
            detached: false,
            no_release: false,
            profile: Vec::new(),
            names: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Base port for PORT; `auto`: this checkout's block. While this checkout's stack runs,
    /// PORT and PORT_<NAME> are the ones it uses (unless a number is given here)
    /// [default: PORT from the env files or the environment, else 5000]
    #[arg(short = 'p', long = "port", value_name = "N|auto", env = "PROCMUX_PORT", value_parser = parse_port)]
    pub port: Option<PortChoice>,

    /// The command and its arguments, or the name of a Procfile entry
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// Reports a command-line error (or prints `--help` and `--version`, which clap treats as
/// errors) and returns the exit code.
pub fn report(error: &clap::Error) -> i32 {
    use std::io::Write;
    let code = error.exit_code();
    if error.use_stderr() {
        // stderr may be gone (a closed terminal): never panic over a message.
        let _ = write!(std::io::stderr(), "procmux: {}", error.render());
    } else {
        // --help and --version: stdout, exit 0.
        let _ = error.print();
    }
    code
}

/// `--port N|auto`, `port = N` or `port = "auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortChoice {
    Base(u16),
    Auto,
}

fn parse_port(text: &str) -> Result<PortChoice, String> {
    match text.trim() {
        "auto" => Ok(PortChoice::Auto),
        number => number
            .parse()
            .map(PortChoice::Base)
            .map_err(|_| "expected a port number (0-65535) or auto".to_owned()),
    }
}

impl<'de> Deserialize<'de> for PortChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PortChoice;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a port number or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PortChoice, E> {
                u16::try_from(v)
                    .map(PortChoice::Base)
                    .map_err(|_| E::custom(format!("{v} is not a port number (0-65535)")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PortChoice, E> {
                match v {
                    "auto" => Ok(PortChoice::Auto),
                    _ => Err(E::custom(format!(
                        "\"{v}\": expected a port number or \"auto\""
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `--color`, `color = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--timestamp`, `timestamp = "…"`: how each line is stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TimestampChoice {
    /// `HH:MM:SS` local time (foreman's).
    Local,
    /// `HH:MM:SS` in UTC.
    Utc,
    /// RFC 3339 with milliseconds and the offset: `2026-11-25T12:00:01.234+01:00`.
    Iso,
    /// `HH:MM:SS.mmm` local time.
    Ms,
    /// No timestamp.
    None,
}

/// `--format`, `format = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--pty`, `pty = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PtyChoice {
    Auto,
    Always,
    Never,
}

/// `--control on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// `--stderr`, `stderr = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StderrMode {
    Merge,
    Mark,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Arguments::command().debug_assert();
    }
}
