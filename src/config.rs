//! Turns the command line, the environment and `procmux.toml` into plain values: files read and
//! parsed, formation expanded into instances, ports assigned, colour decided. Every user
//! mistake is found here, before any process starts.
//!
//! Precedence, for every option: flag > environment variable (clap reads both) >
//! `procmux.toml` > built-in default.

use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::cli::{ProjectArgs, RunArgs, StartArgs};
use crate::color::{self, ColorChoice};
use crate::config_file::{self, FileConfig, OutputFormat, PtyChoice, StderrMode, TimestampSetting};
use crate::dotenv;
use crate::error::{Error, Result};
use crate::formation::Formation;
use crate::policy::{ReadySpec, link_instances, resolve_types};
use crate::procfile::Procfile;
use crate::supervisor::Policy;
use crate::timestamp::TimestampFormat;

const DEFAULT_PORT: u16 = 5000;
const DEFAULT_TIMEOUT: f64 = 5.0;

/// The app as files describe it: the Procfile, where it runs, its `.env` variables and its
/// `procmux.toml`.
#[derive(Debug)]
pub struct Project {
    pub procfile: Procfile,
    /// The Procfile path as the user named it, for messages.
    pub procfile_name: String,
    pub root: PathBuf,
    /// Variables from the env files, each key once, later files winning.
    pub env: Vec<(String, String)>,
    pub file: Option<ConfigFile>,
}

/// A `procmux.toml` that was found and parsed.
#[derive(Debug)]
pub struct ConfigFile {
    pub name: String,
    text: String,
    pub config: FileConfig,
}

impl ConfigFile {
    /// An error located at `span` of this file.
    pub(crate) fn error_at(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Error {
        let (line, column) = FileConfig::locate(&self.text, span);
        Error::input(&self.name, Some(line), message).with_column(column)
    }
}

/// How the event loop detects a `Reported` readiness.
#[derive(Debug, Clone)]
pub enum Probe {
    None,
    /// A TCP connect to 127.0.0.1 on this port succeeds.
    Tcp(u16),
    /// A line of the process's output matches.
    Log(regex::bytes::Regex),
}

/// One instance to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The process type (Procfile entry name).
    pub name: String,
    /// 1-based instance number: `web.2` is instance 2.
    pub instance: usize,
    pub command: String,
    pub port: u16,
    /// Index of the type in the Procfile, which picks its colour.
    pub type_index: usize,
    /// Run it, but do not show its output.
    pub quiet: bool,
    /// Give it a pseudo-terminal instead of pipes.
    pub pty: bool,
    pub policy: Policy,
    pub probe: Probe,
}

impl ProcessSpec {
    /// `web.1`: the label in the output and the value of `PS`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.name, self.instance)
    }
}

/// Everything `procmux start` needs, resolved.
#[derive(Debug)]
pub struct StartConfig {
    pub project: Project,
    pub processes: Vec<ProcessSpec>,
    pub color: bool,
    pub timestamp: TimestampFormat,
    /// `--format json`.
    pub json: bool,
    pub strip_ansi: bool,
    /// `--stderr mark`: stderr on its own pipe, its lines marked.
    pub mark_stderr: bool,
    /// Pass `FORCE_COLOR=1` and `CLICOLOR_FORCE=1` to processes on pipes.
    pub color_hint: bool,
    /// False for `--no-prefix`: child lines are written as they are.
    pub prefix: bool,
    /// Width that labels are padded to.
    pub width: usize,
    /// `--exit-code-from`: the instance whose exit decides procmux's code.
    pub exit_code_from: Option<usize>,
}

/// What `procmux run` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// A Procfile entry's command or a single command line: through `/bin/sh -c`.
    Shell(String),
    /// A program and its arguments, executed directly.
    Program(Vec<OsString>),
}

/// Everything `procmux run` needs, resolved.
#[derive(Debug)]
pub struct RunConfig {
    pub project: Project,
    pub port: u16,
    pub command: RunCommand,
}

impl Project {
    /// Reads the config file, the Procfile and the env files. `run` works without a Procfile
    /// (`procfile_required` false) unless one was named.
    pub fn load(args: &ProjectArgs, procfile_required: bool) -> Result<Project> {
        let file = find_config_file(args)?;
        let from_file = |pick: fn(&FileConfig) -> Option<&String>| {
            let file = file.as_ref()?;
            let value = pick(&file.config)?;
            Some(relative_to(Path::new(&file.name).parent(), value))
        };
        let named = args
            .procfile
            .clone()
            .or_else(|| from_file(|c| c.procfile.as_ref()));
        let procfile_path = named.clone().unwrap_or_else(|| PathBuf::from("Procfile"));
        let procfile_name = procfile_path.display().to_string();
        let procfile = if procfile_required || named.is_some() || procfile_path.exists() {
            let text = read_text(&procfile_path, &procfile_name)?;
            Procfile::parse(&text).map_err(|e| e.in_file(&procfile_name))?
        } else {
            Procfile {
                entries: Vec::new(),
            }
        };
        let root = match args.root.clone().or_else(|| from_file(|c| c.root.as_ref())) {
            Some(root) => root,
            None => relative_to(procfile_path.parent(), "."),
        };
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "--root {}: not a directory",
                root.display()
            )));
        }
        let env_files = if !args.env.is_empty() {
            args.env.clone()
        } else if let Some(list) = file
            .as_ref()
            .and_then(|f| f.config.env.as_ref().map(|e| (f, e)))
        {
            let (file, names) = list;
            names
                .iter()
                .map(|n| relative_to(Path::new(&file.name).parent(), n))
                .collect()
        } else {
            let default = relative_to(Some(&root), ".env");
            if default.exists() {
                vec![default]
            } else {
                Vec::new()
            }
        };
        let env = load_env(&env_files)?;
        let project = Project {
            procfile,
            procfile_name,
            root,
            env,
            file,
        };
        project.check_file_names()?;
        Ok(project)
    }

    /// The value of `name` from the env files.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        dotenv::lookup(&self.env, name)
    }

    /// Every process name the config file mentions must be in the Procfile.
    fn check_file_names(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let quiet = file.config.quiet.iter().flatten();
        for name in file.config.process.keys().chain(quiet) {
            if self.procfile.position(name.get_ref()).is_none() {
                return Err(file.error_at(name.span(), self.unknown_message(name.get_ref())));
            }
        }
        Ok(())
    }

    /// `no process named "wrker" (did you mean "worker"?)`.
    pub(crate) fn unknown_message(&self, name: &str) -> String {
        let known: Vec<&str> = self.procfile.names().collect();
        let hint = match closest(name, &known) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None if known.is_empty() => "the Procfile defines none".to_owned(),
            None => format!("defined: {}", known.join(", ")),
        };
        format!("no process named \"{name}\" ({hint})")
    }

    pub(crate) fn unknown_name(&self, name: &str, context: &str) -> Error {
        Error::input(
            &self.procfile_name,
            None,
            format!("{context}{}", self.unknown_message(name)),
        )
    }

    /// `-p`/`PROCMUX_PORT`, else the config file's `port`, else `PORT` from the env files, else
    /// from the environment, else 5000.
    fn base_port(&self, flag: Option<u16>) -> Result<u32> {
        if let Some(port) = flag.or(self.file.as_ref().and_then(|f| f.config.port)) {
            return Ok(port.into());
        }
        let (value, source) = match self.env_value("PORT") {
            Some(value) => (value.to_owned(), "the env file"),
            None => match std::env::var("PORT") {
                Ok(value) => (value, "the environment"),
                Err(_) => return Ok(DEFAULT_PORT.into()),
            },
        };
        value.trim().parse::<u16>().map(u32::from).map_err(|_| {
            Error::Usage(format!(
                "PORT from {source} is not a port number: \"{value}\""
            ))
        })
    }
}

impl StartConfig {
    pub fn resolve(args: &StartArgs) -> Result<StartConfig> {
        let project = Project::load(&args.project, true)?;
        let settings = project.file.as_ref().map(|f| &f.config);
        let formation = resolve_formation(&project, args.formation.as_deref())?;
        for name in &args.names {
            if project.procfile.position(name).is_none() {
                return Err(project.unknown_name(name, ""));
            }
        }
        let quiet = resolve_quiet(&project, &args.quiet)?;
        let default_timeout = match (args.timeout, settings.and_then(|s| s.timeout.as_ref())) {
            (Some(seconds), _) => seconds,
            (None, Some(seconds)) => file_seconds(&project, seconds, "timeout")?,
            (None, None) => DEFAULT_TIMEOUT,
        };
        let types = resolve_types(&project, args, Duration::from_secs_f64(default_timeout))?;
        let stdout_is_tty = io::stdout().is_terminal();
        let pty_default = match args.pty.or(settings.and_then(|s| s.pty)) {
            Some(PtyChoice::Always) => true,
            Some(PtyChoice::Never) => false,
            Some(PtyChoice::Auto) | None => stdout_is_tty,
        };
        let pty_for = |name: &str| {
            let per_process = settings
                .and_then(|s| s.process.iter().find(|(n, _)| n.get_ref() == name))
                .and_then(|(_, p)| p.pty);
            // The flag beats the file's per-process setting, which beats the file's default.
            match args.pty {
                Some(_) => pty_default,
                None => per_process.unwrap_or(pty_default),
            }
        };
        let base = project.base_port(args.port)?;
        let mut processes = Vec::new();
        let mut largest_count = 0;
        for (type_index, entry) in project.procfile.entries.iter().enumerate() {
            let count = formation.count(&entry.name, &args.names);
            largest_count = largest_count.max(count);
            for instance in 1..=count {
                let port = base + 100 * type_index as u32 + instance as u32 - 1;
                let port = u16::try_from(port).map_err(|_| {
                    Error::Usage(format!(
                        "{}.{instance} would get port {port}, above 65535",
                        entry.name
                    ))
                })?;
                processes.push(ProcessSpec {
                    name: entry.name.clone(),
                    instance,
                    command: entry.command.clone(),
                    port,
                    type_index,
                    quiet: quiet.contains(&entry.name),
                    pty: pty_for(&entry.name),
                    policy: types[type_index].policy.clone(),
                    probe: match &types[type_index].ready {
                        ReadySpec::Tcp(p) => Probe::Tcp(p.unwrap_or(port)),
                        ReadySpec::Log(re) => Probe::Log(re.clone()),
                        _ => Probe::None,
                    },
                });
            }
        }
        if processes.is_empty() {
            return Err(Error::Usage("the formation starts no process".to_owned()));
        }
        let longest_name = project.procfile.names().map(str::len).max().unwrap_or(0);
        let width = (longest_name + largest_count.to_string().len() + 1).max(6);
        let choice = args
            .color
            .or(settings.and_then(|s| s.color))
            .unwrap_or(ColorChoice::Auto);
        let color = color::enabled(choice, &|name| std::env::var(name).ok(), stdout_is_tty);
        link_instances(&project, &types, &mut processes)?;
        let exit_code_from = match &args.exit_code_from {
            Some(name) => {
                if project.procfile.position(name).is_none() {
                    return Err(project.unknown_name(name, "--exit-code-from: "));
                }
                let index = processes.iter().position(|p| &p.name == name);
                Some(index.ok_or_else(|| {
                    Error::Usage(format!(
                        "--exit-code-from {name}: the formation runs no {name}"
                    ))
                })?)
            }
            None => None,
        };
        let timestamp = match (args.no_timestamp, args.timestamp) {
            (true, _) => TimestampFormat::None,
            (false, Some(format)) => format,
            (false, None) => settings
                .and_then(|s| s.timestamp)
                .map_or(TimestampFormat::Local, TimestampSetting::format),
        };
        let prefix = !args.no_prefix && settings.and_then(|s| s.prefix).unwrap_or(true);
        let json = args.format.or(settings.and_then(|s| s.format)) == Some(OutputFormat::Json);
        let mark_stderr = args.stderr.or(settings.and_then(|s| s.stderr)) == Some(StderrMode::Mark);
        let strip_ansi = args.strip_ansi || settings.and_then(|s| s.strip_ansi).unwrap_or(false);
        let hint_wanted =
            !args.no_color_hint && settings.and_then(|s| s.color_hint).unwrap_or(true);
        // The user's own setting, in the environment or an env file, always wins.
        let user_set = ["FORCE_COLOR", "CLICOLOR_FORCE"]
            .iter()
            .any(|name| std::env::var_os(name).is_some() || project.env_value(name).is_some());
        let color_hint = hint_wanted && color && !json && !strip_ansi && !user_set;
        Ok(StartConfig {
            project,
            processes,
            color: color && !json,
            timestamp,
            json,
            strip_ansi,
            mark_stderr,
            color_hint,
            prefix,
            width,
            exit_code_from,
        })
    }
}

impl RunConfig {
    pub fn resolve(args: &RunArgs) -> Result<RunConfig> {
        let project = Project::load(&args.project, false)?;
        let base = project.base_port(args.port)?;
        let port = u16::try_from(base).unwrap_or(DEFAULT_PORT);
        let command = match args.command.as_slice() {
            [single] => {
                let text = single.to_string_lossy();
                match project.procfile.entries.iter().find(|e| e.name == text) {
                    Some(entry) => RunCommand::Shell(entry.command.clone()),
                    None if text.contains(char::is_whitespace) => {
                        RunCommand::Shell(text.into_owned())
                    }
                    None => RunCommand::Program(args.command.clone()),
                }
            }
            _ => RunCommand::Program(args.command.clone()),
        };
        Ok(RunConfig {
            project,
            port,
            command,
        })
    }
}

/// `-m`, else the file's `formation` with its `[process.NAME] count`s, else one of each.
fn resolve_formation(project: &Project, flag: Option<&str>) -> Result<Formation> {
    if let Some(spec) = flag {
        let formation =
            Formation::parse(spec).map_err(|e| Error::Usage(format!("--formation {e}")))?;
        if let Some(name) = formation.unknown_names(&project.procfile).next() {
            return Err(project.unknown_name(name, "--formation: "));
        }
        return Ok(formation);
    }
    let Some(file) = &project.file else {
        return Ok(Formation::default());
    };
    let mut formation = match &file.config.formation {
        Some(spec) => {
            let parsed = Formation::parse(spec.get_ref())
                .map_err(|e| file.error_at(spec.span(), format!("formation {e}")))?;
            if let Some(name) = parsed.unknown_names(&project.procfile).next() {
                return Err(file.error_at(
                    spec.span(),
                    format!("formation: {}", project.unknown_message(name)),
                ));
            }
            parsed
        }
        None => Formation::default(),
    };
    for (name, process) in &file.config.process {
        if let Some(count) = process.count {
            formation.set(name.get_ref(), count);
        }
    }
    Ok(formation)
}

/// `-q`, else the file's `quiet` list and `[process.NAME] quiet = true`.
fn resolve_quiet(project: &Project, flag: &[String]) -> Result<Vec<String>> {
    if !flag.is_empty() {
        for name in flag {
            if project.procfile.position(name).is_none() {
                return Err(project.unknown_name(name, "--quiet: "));
            }
        }
        return Ok(flag.to_vec());
    }
    let Some(file) = &project.file else {
        return Ok(Vec::new());
    };
    let listed = file
        .config
        .quiet
        .iter()
        .flatten()
        .map(|n| n.get_ref().clone());
    let marked = file
        .config
        .process
        .iter()
        .filter(|(_, p)| p.quiet == Some(true))
        .map(|(n, _)| n.get_ref().clone());
    Ok(listed.chain(marked).collect())
}

pub(crate) fn file_seconds(project: &Project, seconds: &Spanned<f64>, key: &str) -> Result<f64> {
    check_seconds(Some(*seconds.get_ref())).map_err(|message| {
        let file = project.file.as_ref().expect("a value from the file");
        file.error_at(seconds.span(), format!("{key}: {message}"))
    })
}

/// A timeout must be a number of seconds between 0 and a day.
pub fn check_seconds(seconds: Option<f64>) -> Result<f64, String> {
    match seconds {
        Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err("expected a number of seconds between 0 and 86400".to_owned()),
    }
}

/// `--config FILE`, else `procmux.toml` next to the named Procfile, else in the current
/// directory; `None` when there is none.
fn find_config_file(args: &ProjectArgs) -> Result<Option<ConfigFile>> {
    let path = match &args.config {
        Some(path) => path.clone(),
        None => {
            let dir = args.procfile.as_deref().and_then(Path::parent);
            let candidate = relative_to(dir, config_file::DEFAULT_NAME);
            if !candidate.exists() {
                return Ok(None);
            }
            candidate
        }
    };
    let name = path.display().to_string();
    let text = read_text(&path, &name)?;
    let config = FileConfig::parse(&text).map_err(|e| {
        let error = Error::input(&name, e.line, e.message);
        match e.column {
            Some(column) => error.with_column(column),
            None => error,
        }
    })?;
    Ok(Some(ConfigFile { name, text, config }))
}

/// `dir/rest`, without a leading `./` when `dir` is the current directory.
fn relative_to(dir: Option<&Path>, rest: &str) -> PathBuf {
    match dir {
        Some(dir) if !dir.as_os_str().is_empty() && dir != Path::new(".") => dir.join(rest),
        _ => PathBuf::from(rest),
    }
}

/// The known name within edit distance 2 of `name`, if one is.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Edit distance counting an adjacent transposition as one edit (`wbe` → `web` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Reads the env files in order into one list, each key once (the last value).
fn load_env(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = read_text(file, &name)?;
        dotenv::parse_into(&text, &mut vars, &|key| std::env::var(key).ok())
            .map_err(|e| e.in_file(&name))?;
    }
    let mut merged: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (key, value) in vars {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => merged.push((key, value)),
        }
    }
    Ok(merged)
}

/// Reads a user file as UTF-8, naming the file (and the line of a bad byte) on failure.
fn read_text(path: &Path, name: &str) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| {
        let message = match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_owned(),
            _ => format!("cannot read: {e}"),
        };
        Error::input(name, None, message)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::input(name, Some(line), "not valid UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_hint() {
        assert_eq!(closest("wrker", &["web", "worker"]), Some("worker"));
        assert_eq!(closest("zzzzzz", &["web", "worker"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("wbe", "web"), 1);
        assert_eq!(closest("wbe", &["db", "web"]), Some("web"));
    }

    #[test]
    fn relative_paths_skip_the_current_directory() {
        assert_eq!(
            relative_to(Some(Path::new(".")), ".env"),
            PathBuf::from(".env")
        );
        assert_eq!(
            relative_to(Some(Path::new("")), ".env"),
            PathBuf::from(".env")
        );
        assert_eq!(relative_to(None, "Procfile"), PathBuf::from("Procfile"));
        assert_eq!(
            relative_to(Some(Path::new("app")), ".env"),
            PathBuf::from("app/.env")
        );
    }
}
