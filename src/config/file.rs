//! `procmux.toml`: defaults for `start`'s options and a `[process.NAME]` table per process.
//!
//! Parsing is pure: text in, [`FileConfig`] out. Unknown keys and wrong types are errors with
//! the line and column of the offending key or value, never ignored. Paths in the file are
//! relative to the file's directory; names are checked against the Procfile by
//! [`crate::config`], which reports them with [`FileConfig::locate`].

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::duration::FileDuration;
use crate::cli::{ColorChoice, OutputFormat, PortChoice, PtyChoice, StderrMode, TimestampChoice};

/// The file's name when none is given.
pub const DEFAULT_NAME: &str = "procmux.toml";

/// Everything `procmux.toml` may say. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The Procfile, relative to this file.
    pub procfile: Option<String>,
    /// Working directory of the processes, relative to this file.
    pub root: Option<String>,
    /// Env files, in order, relative to this file.
    pub env: Option<Vec<String>>,
    /// As `-m`: `"web=2,worker=0"`.
    pub formation: Option<Spanned<String>>,
    /// A base port, or `"auto"`.
    pub port: Option<PortChoice>,
    /// Seconds between SIGTERM and SIGKILL.
    pub timeout: Option<Spanned<FileDuration>>,
    pub color: Option<ColorChoice>,
    /// `"local"`, `"utc"`, `"iso"`, `"ms"`, `"none"`; `false` is `"none"`, `true` `"local"`.
    pub timestamp: Option<TimestampSetting>,
    /// `"text"` or `"json"`.
    pub format: Option<OutputFormat>,
    /// `"auto"`, `"always"` or `"never"`.
    pub pty: Option<PtyChoice>,
    /// `"merge"` or `"mark"`.
    pub stderr: Option<StderrMode>,
    pub strip_ansi: Option<bool>,
    /// `false` is `--no-color-hint`.
    pub color_hint: Option<bool>,
    /// `false` is `--no-prefix`.
    pub prefix: Option<bool>,
    /// `false` is `--no-status-line`.
    pub status_line: Option<bool>,
    /// `false`: the status line never rings the bell.
    pub bell: Option<bool>,
    /// As `-q`: processes whose output is hidden.
    pub quiet: Option<Vec<Spanned<String>>>,
    /// `false` is `--control off`.
    pub control: Option<bool>,
    /// As `--tail-kib`.
    pub tail_kib: Option<Spanned<usize>>,
    /// Per-process settings.
    #[serde(default)]
    pub process: BTreeMap<Spanned<String>, ProcessConfig>,
    /// Named sets of processes: `start --profile NAME`, `start @NAME`.
    #[serde(default)]
    pub profile: BTreeMap<Spanned<String>, ProfileConfig>,
    /// Procfiles of other directories, their entries named `NAME.entry`.
    #[serde(default)]
    pub include: BTreeMap<Spanned<String>, IncludeConfig>,
}

/// `[include.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeConfig {
    /// The Procfile, relative to this file.
    pub procfile: Spanned<String>,
    /// Where its entries run, relative to the root (default: the Procfile's directory).
    pub cwd: Option<Spanned<String>>,
    /// Env files for its entries, relative to this file, after the project's (default: the
    /// `.env` beside its Procfile, if there is one).
    pub env_file: Option<Vec<Spanned<String>>>,
    /// Variables for its entries, after those.
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// `[profile.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Process names or globs (`api.*`), each matching at least one entry.
    pub processes: Vec<Spanned<String>>,
}

/// `[process.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Instances to run, as `-m NAME=COUNT`.
    pub count: Option<usize>,
    /// Hide this process's output, as `-q NAME`.
    pub quiet: Option<bool>,
    /// Give this process a pty (`true`) or pipes (`false`), whatever `--pty` says.
    pub pty: Option<bool>,
    /// Send what is typed into procmux's terminal to this process (its first instance).
    pub stdin: Option<bool>,
    /// `"stop-all"`, `"ignore"`, `"restart"` or `"restart-on-failure"`.
    pub on_exit: Option<Spanned<String>>,
    /// Seconds before the first restart; doubles with each quick exit.
    pub restart_delay: Option<Spanned<FileDuration>>,
    pub restart_delay_max: Option<Spanned<FileDuration>>,
    /// Seconds of running after which the restart delay starts over.
    pub stable_after: Option<Spanned<FileDuration>>,
    /// Restarts allowed within `restart_window` seconds before giving up.
    pub max_restarts: Option<u32>,
    pub restart_window: Option<Spanned<FileDuration>>,
    /// `"stop-all"` or `"leave"`.
    pub on_give_up: Option<Spanned<String>>,
    /// `"TERM"`, `"INT"`, `"QUIT"`, `"HUP"`, `"USR1"`, … (with or without `SIG`).
    pub stop_signal: Option<Spanned<String>>,
    /// Seconds between the stop signal and SIGKILL for this process.
    pub stop_timeout: Option<Spanned<FileDuration>>,
    /// Process types that must be ready first: names, or `{ name = "db", restart = true }`
    /// (also `restart_with` it).
    pub after: Option<Vec<After>>,
    /// `"tcp:$PORT"`, `"log:REGEX"`, `"exit:0"`, `"delay:2s"`, `"exec:COMMAND"`.
    pub ready: Option<Spanned<String>>,
    /// Seconds between the starts of two `exec:` readiness checks.
    pub ready_interval: Option<Spanned<FileDuration>>,
    /// Seconds to become ready before the stack is stopped.
    pub ready_timeout: Option<Spanned<FileDuration>>,
    /// Globs, relative to the root, whose changes restart this process.
    pub watch: Option<Vec<Spanned<String>>>,
    /// Globs whose changes never do.
    pub watch_ignore: Option<Vec<Spanned<String>>>,
    /// Variables for this process only, after the env files (`${OTHER}` expands as in
    /// `.env`).
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// Env files for this process only, relative to this file, read after the project's.
    pub env_file: Option<Vec<Spanned<String>>>,
    /// Its working directory, relative to the root.
    pub cwd: Option<Spanned<String>>,
    /// `"release"`: run once, before the others, which wait for its exit 0 (an entry named
    /// `release` is one unless `"run"`).
    pub phase: Option<Spanned<String>>,
    /// `false` removes the entry from the Procfile (in a local override, mostly).
    pub enabled: Option<bool>,
    /// Processes it follows: when one of them restarts, this one is stopped first and
    /// started again once it is ready (it starts `after` them too).
    pub restart_with: Option<Vec<Spanned<String>>>,
}

/// Each key `$local` sets replaces `$base`'s, and its name is said in `$said`. Every field is
/// listed in the caller's exhaustive destructuring, so a new key cannot be forgotten here.
macro_rules! overlay {
    ($base:expr, $said:expr; $($field:ident),+ $(,)?) => {
        $(
            if let Some(value) = $field {
                $base.$field = Some(value);
                $said.push(stringify!($field).to_owned());
            }
        )+
    };
}

impl FileConfig {
    /// Lays `local` (a `procmux.local.toml`) over this file: each key it sets replaces this
    /// one's, a `[process.NAME]` table key by key. What it set, as `key` and
    /// `process.NAME (key, key)`.
    pub fn overlay(&mut self, local: FileConfig) -> Vec<String> {
        let FileConfig {
            procfile,
            root,
            env,
            formation,
            port,
            timeout,
            color,
            timestamp,
            format,
            pty,
            stderr,
            strip_ansi,
            color_hint,
            prefix,
            quiet,
            control,
            tail_kib,
            status_line,
            bell,
            process,
            profile,
            include,
        } = local;
        let mut said = Vec::new();
        overlay!(self, said; procfile, root, env, formation, port, timeout, color, timestamp,
            format, pty, stderr, strip_ansi, color_hint, prefix, quiet, control, tail_kib,
            status_line, bell);
        // A profile or an include is replaced as a whole.
        for (name, table) in profile {
            said.push(format!("profile.{}", name.get_ref()));
            self.profile.remove(&name);
            self.profile.insert(name, table);
        }
        for (name, table) in include {
            said.push(format!("include.{}", name.get_ref()));
            self.include.remove(&name);
            self.include.insert(name, table);
        }
        for (name, table) in process {
            let keys = match self.process.get_mut(&name) {
                Some(base) => base.overlay(table),
                None => {
                    let mut fresh = ProcessConfig::default();
                    let keys = fresh.overlay(table);
                    self.process.insert(name.clone(), fresh);
                    keys
                }
            };
            said.push(format!("process.{} ({})", name.get_ref(), keys.join(", ")));
        }
        said
    }
}

impl ProcessConfig {
    /// Lays `local` over this table, key by key; the keys it set.
    fn overlay(&mut self, local: ProcessConfig) -> Vec<String> {
        let ProcessConfig {
            count,
            quiet,
            pty,
            stdin,
            on_exit,
            restart_delay,
            restart_delay_max,
            stable_after,
            max_restarts,
            restart_window,
            on_give_up,
            stop_signal,
            stop_timeout,
            after,
            ready,
            ready_interval,
            ready_timeout,
            watch,
            watch_ignore,
            env,
            env_file,
            cwd,
            phase,
            enabled,
            restart_with,
        } = local;
        let mut said = Vec::new();
        overlay!(self, said; count, quiet, pty, stdin, on_exit, restart_delay, restart_delay_max,
            stable_after, max_restarts, restart_window, on_give_up, stop_signal, stop_timeout,
            after, ready, ready_interval, ready_timeout, watch, watch_ignore, env, env_file, cwd,
            phase, enabled, restart_with);
        said
    }
}

/// One item of `after`, with its place in the file: a name, or a table that may also
/// follow its restarts.
pub type After = Spanned<AfterItem>;

/// `"db"` or `{ name = "db", restart = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AfterItem {
    Name(String),
    Table(AfterTable),
}

/// `{ name = "db", restart = true }`; any other key is an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterTable {
    pub name: String,
    /// Also `restart_with` it.
    #[serde(default)]
    pub restart: bool,
}

impl AfterItem {
    /// The process named.
    pub fn name(&self) -> &String {
        match self {
            AfterItem::Name(name) | AfterItem::Table(AfterTable { name, .. }) => name,
        }
    }

    /// Whether it also follows that process's restarts.
    pub fn restart(&self) -> bool {
        matches!(self, AfterItem::Table(AfterTable { restart: true, .. }))
    }
}

/// `timestamp = …`: a format, or a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TimestampSetting {
    On(bool),
    Format(TimestampChoice),
}

impl TimestampSetting {
    pub fn choice(self) -> TimestampChoice {
        match self {
            TimestampSetting::On(true) => TimestampChoice::Local,
            TimestampSetting::On(false) => TimestampChoice::None,
            TimestampSetting::Format(choice) => choice,
        }
    }
}

/// A parse error at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl FileConfig {
    /// The `[process.NAME]` table of `name`, if the file has one.
    pub fn table(&self, name: &str) -> Option<&ProcessConfig> {
        self.process
            .iter()
            .find(|(n, _)| n.get_ref() == name)
            .map(|(_, table)| table)
    }

    #[cfg(test)]
    pub fn parse(text: &str) -> Result<FileConfig, FileError> {
        Self::parse_at(text, 0)
    }

    /// Parses `text` as if it started at byte `offset` of a longer text, so that its spans
    /// never overlap those of the files before it (a `procmux.local.toml` after
    /// `procmux.toml`); errors are located in `text` itself.
    pub fn parse_at(text: &str, offset: usize) -> Result<FileConfig, FileError> {
        // Blanks before the first line's first token change nothing in TOML.
        let padded = format!("{}{text}", " ".repeat(offset));
        toml::from_str(&padded).map_err(|e| {
            let (line, column) = match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start.saturating_sub(offset));
                    (Some(line), Some(column))
                }
                None => (None, None),
            };
            let message = e.message().trim();
            // serde's word for a value neither form of `after` fits names no form.
            let message = if message.contains("untagged enum AfterItem") {
                "after: expected a process name or { name = \"NAME\", restart = true }"
            } else {
                message
            };
            FileError {
                line,
                column,
                message: message.to_owned(),
            }
        })
    }

    /// The 1-based line and column of a span, for errors found after parsing.
    pub fn locate(text: &str, span: Range<usize>) -> (usize, usize) {
        line_column(text, span.start)
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key() {
        let text = r#"
procfile = "Procfile.dev"
root = "app"
env = [".env", ".env.local"]
formation = "web=2,worker=0"
port = 3000
timeout = 2.5
color = "always"
timestamp = "iso"
format = "json"
pty = "never"
stderr = "mark"
strip_ansi = true
color_hint = false
prefix = false
quiet = ["clock"]
control = false
tail_kib = 64

[process.web]
count = 3
quiet = false
"#;
        let config = FileConfig::parse(text).unwrap();
        assert_eq!(config.procfile.as_deref(), Some("Procfile.dev"));
        assert_eq!(config.env.unwrap(), [".env", ".env.local"]);
        assert_eq!(config.formation.unwrap().into_inner(), "web=2,worker=0");
        assert_eq!(config.port, Some(PortChoice::Base(3000)));
        let auto = FileConfig::parse("port = \"auto\"\n").unwrap();
        assert_eq!(auto.port, Some(PortChoice::Auto));
        let timeout = config.timeout.unwrap().get_ref().to_duration();
        assert_eq!(timeout, Ok(std::time::Duration::from_millis(2500)));
        for (text, seconds) in [("timeout = 3\n", 3.0), ("timeout = \"1m30s\"\n", 90.0)] {
            let config = FileConfig::parse(text).unwrap();
            let timeout = config.timeout.unwrap().get_ref().to_duration().unwrap();
            assert_eq!(timeout.as_secs_f64(), seconds, "{text}");
        }
        assert_eq!(config.color, Some(ColorChoice::Always));
        assert_eq!(config.timestamp.unwrap().choice(), TimestampChoice::Iso);
        assert_eq!(config.prefix, Some(false));
        assert_eq!(config.format, Some(OutputFormat::Json));
        assert_eq!(config.pty, Some(PtyChoice::Never));
        assert_eq!(config.stderr, Some(StderrMode::Mark));
        assert_eq!(
            (config.strip_ansi, config.color_hint),
            (Some(true), Some(false))
        );
        let (name, web) = config.process.iter().next().unwrap();
        assert_eq!(name.get_ref(), "web");
        assert_eq!((web.count, web.quiet), (Some(3), Some(false)));
        let config = FileConfig::parse("timestamp = false\n").unwrap();
        assert_eq!(config.timestamp.unwrap().choice(), TimestampChoice::None);
        assert!(FileConfig::parse("").is_ok());
    }

    #[test]
    fn errors_have_line_and_column() {
        let cases: [(&str, usize, usize, &str); 5] = [
            (
                "port = 3000\ncolour = \"always\"\n",
                2,
                1,
                "unknown field `colour`",
            ),
            (
                "port = \"3000\"\n",
                1,
                8,
                "\"3000\": expected a port number or \"auto\"",
            ),
            (
                "color = \"sometimes\"\n",
                1,
                9,
                "unknown variant `sometimes`",
            ),
            (
                "[process.web]\ncount = 2\nrestart = true\n",
                3,
                1,
                "unknown field `restart`",
            ),
            ("port = \n", 1, 8, "string values must be quoted"),
        ];
        for (text, line, column, start) in cases {
            let err = FileConfig::parse(text).unwrap_err();
            assert_eq!(
                (err.line, err.column),
                (Some(line), Some(column)),
                "{text:?}: {err:?}"
            );
            assert!(err.message.starts_with(start), "{text:?}: {}", err.message);
        }
    }

    /// The README's example file is valid, so the documentation cannot drift from the parser.
    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### `procmux.toml`")
            .nth(1)
            .expect("the section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("```").next());
        let config = FileConfig::parse(example.expect("the example")).unwrap();
        assert!(
            config
                .process
                .iter()
                .any(|(name, p)| name.get_ref() == "worker" && p.ready.is_some())
        );
    }

    #[test]
    fn a_local_file_replaces_keys_one_by_one_and_keeps_its_own_places() {
        let main = "port = 3000\ncolor = \"never\"\n[process.web]\ncount = 2\nafter = [\"db\"]\n";
        let local =
            "color = \"always\"\n[process.web]\ncount = 3\n[process.debug]\nenabled = false\n";
        let mut config = FileConfig::default();
        assert_eq!(
            config.overlay(FileConfig::parse(main).unwrap()),
            ["port", "color", "process.web (count, after)"]
        );
        let offset = main.len() + 1;
        let said = config.overlay(FileConfig::parse_at(local, offset).unwrap());
        assert_eq!(
            said,
            ["color", "process.debug (enabled)", "process.web (count)"]
        );
        assert_eq!(
            (config.port, config.color),
            (Some(PortChoice::Base(3000)), Some(ColorChoice::Always))
        );
        let web = config.table("web").unwrap();
        assert_eq!(web.count, Some(3));
        let db = main.find("\"db\"").unwrap();
        assert_eq!(
            web.after.as_ref().unwrap()[0].span(),
            db..db + 4,
            "still procmux.toml's"
        );
        assert_eq!(config.table("debug").unwrap().enabled, Some(false));
        let (name, _) = config
            .process
            .iter()
            .find(|(n, _)| n.get_ref() == "debug")
            .unwrap();
        assert!(name.span().start >= offset, "the local file's own place");
        // A parse error is located in the local text itself.
        let error = FileConfig::parse_at("a = 1\nport = \"x\"\n", 500).unwrap_err();
        assert_eq!((error.line, error.column), (Some(1), Some(1)));
        let error = FileConfig::parse_at("port = 1\nport = \"x\"\n", 500).unwrap_err();
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé=", 6), (2, 3));
        assert_eq!(line_column("x", 0), (1, 1));
    }
}
