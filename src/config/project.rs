//! Reading the project: the config file, the Procfile and the env files, each parsed by its own
//! pure module, and the hints for a misspelt process name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use toml::Spanned;

use super::Host;
use super::dotenv;
use super::duration::FileDuration;
use super::file::{self, FileConfig};
use super::procfile::{self, Procfile};
use crate::cli::{PortChoice, ProjectArgs};
use crate::error::{Error, Result};

pub(crate) const DEFAULT_PORT: u16 = 5000;

/// The app as files describe it: the Procfile, where it runs, its `.env` variables and its
/// `procmux.toml`.
#[derive(Debug)]
pub struct Project {
    pub procfile: Procfile,
    /// The Procfile path as the user named it, for messages.
    pub procfile_name: String,
    pub root: PathBuf,
    /// Variables from the env files, each key once, later files winning, expanded before
    /// procmux's own (`PORT`, `PORT_<NAME>`) are known: for the base port and what is set.
    pub env: Vec<(String, String)>,
    /// The env files read, to expand again once procmux's own variables are known.
    pub env_steps: Vec<EnvStep>,
    pub file: Option<ConfigFile>,
    /// Per Procfile entry (same order): its environment and directory, after its
    /// `[process.NAME]` `env_file`, `env` and `cwd`.
    pub process_env: Vec<ProcessEnv>,
    /// The files read, in order, and what each set or changed (for `check`).
    pub sources: Vec<Source>,
    /// Entries a local override removed, and which file removed them.
    pub removed: Vec<(String, String)>,
    /// The included Procfiles, in the order read.
    pub includes: Vec<Include>,
}

/// A file read and what it did: `Procfile.local`: `web replaced`, `worker removed`.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub said: Vec<String>,
}

/// Where one process runs and with what: the project's env files, then its own `env_file`s,
/// then its `env` table, later winning; its `cwd` under the root.
#[derive(Debug, Clone)]
pub struct ProcessEnv {
    /// Each key once.
    pub env: Vec<(String, String)>,
    /// Its working directory: the root, or the root joined with `cwd`.
    pub dir: PathBuf,
    /// `cwd` as written, relative to the root.
    pub cwd: Option<String>,
    /// Its own env files, as named in messages, in the order read.
    pub env_files: Vec<String>,
    /// The keys of its `env` table, in file order.
    pub env_keys: Vec<String>,
    /// What `env` is made of, in order, to expand again once procmux's own variables are
    /// known ([`expand`]).
    pub steps: Vec<EnvStep>,
}

/// Environment variables, in order, each key once.
pub type Vars = Vec<(String, String)>;

/// One source of a process's variables, kept as written: `env` is expanded before procmux
/// knows the ports, and again, by [`expand`], once it does.
#[derive(Debug, Clone)]
pub enum EnvStep {
    /// An env file: its name in messages, its text (shared by every process reading it).
    File { shown: String, text: Rc<str> },
    /// A value of an `env` table, as written (checked where it was read).
    Value { name: String, value: String },
}

impl EnvStep {
    /// Whether it may look a name up (`$` anywhere): if not, its values are the same
    /// whatever procmux gives.
    pub fn interpolates(&self) -> bool {
        match self {
            EnvStep::File { text, .. } => text.contains('$'),
            EnvStep::Value { value, .. } => value.contains('$'),
        }
    }
}

/// The variables `steps` make, `${NAME}` looked up in `scope` (procmux's own variables
/// first), each key once with its last value.
pub fn expand(steps: &[EnvStep], scope: &dotenv::Scope<'_>) -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for step in steps {
        match step {
            EnvStep::File { shown, text } => {
                dotenv::parse_into(text, &mut vars, scope).map_err(|e| e.in_file(shown))?;
            }
            EnvStep::Value { name, value } => {
                let expanded = dotenv::expand(value, &|n| scope.find(&vars, n))
                    .map_err(|m| Error::Usage(format!("env: {name}: {m}")))?;
                vars.push((name.clone(), expanded));
            }
        }
    }
    Ok(merge(vars))
}

/// Where `${NAME}` looks before procmux's own variables are known: the keys defined before
/// it, then procmux's environment.
fn before_ports<'a>(host: &Host<'a>) -> dotenv::Scope<'a> {
    fn nothing(_: &str) -> Option<String> {
        None
    }
    dotenv::Scope {
        given: &nothing,
        inherited: host.var,
    }
}

/// The settings a table lays over an environment: `env_file`, `env`, `cwd`.
struct Layer<'a> {
    env_file: &'a Option<Vec<Spanned<String>>>,
    env: &'a Option<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    cwd: &'a Option<Spanned<String>>,
}

/// An included Procfile, read: its entries are in the project's Procfile as `NAME.entry`.
#[derive(Debug)]
pub struct Include {
    /// Its key in `procmux.toml` (`[include.NAME]`).
    key: Spanned<String>,
    pub name: String,
    /// Where its entries run unless its `cwd` says otherwise: its Procfile's directory.
    dir: PathBuf,
    /// The `.env` beside its Procfile, when it has no `env_file` and there is one.
    default_env: Vec<PathBuf>,
}

/// A `procmux.toml` that was found and parsed, with its local override laid over it.
#[derive(Debug)]
pub struct ConfigFile {
    /// The first file read (its directory is where paths in either file start).
    pub name: String,
    /// Each file read, in order; spans of later files start after those of earlier ones.
    parts: Vec<Part>,
    pub config: FileConfig,
}

/// One file of a [`ConfigFile`]: its name, its text, where its spans start.
#[derive(Debug)]
struct Part {
    name: String,
    text: String,
    offset: usize,
}

impl ConfigFile {
    /// An error located at `span`, in the file that holds it.
    pub(crate) fn error_at(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Error {
        let part = self
            .parts
            .iter()
            .rev()
            .find(|p| p.offset <= span.start)
            .unwrap_or(&self.parts[0]);
        let start = span.start - part.offset.min(span.start);
        let (line, column) = FileConfig::locate(&part.text, start..start);
        Error::input(&part.name, Some(line), message).with_column(column)
    }

    /// A duration from this file, checked, or an error at its place naming `key`.
    pub(crate) fn duration(
        &self,
        value: &Spanned<FileDuration>,
        key: &str,
    ) -> Result<std::time::Duration> {
        value
            .get_ref()
            .to_duration()
            .map_err(|message| self.error_at(value.span(), format!("{key}: {message}")))
    }
}

impl Project {
    /// The file an entry of the Procfile was read from, as the user named it: an included
    /// Procfile for `NAME.entry`, else the project's.
    pub fn entry_file(&self, entry: &str) -> &str {
        let included = |source: &&Source| source.said.iter().any(|said| said == entry);
        match entry.split_once('.') {
            Some((prefix, _)) if self.includes.iter().any(|i| i.name == prefix) => self
                .sources
                .iter()
                .find(included)
                .map_or(&self.procfile_name, |source| &source.file),
            _ => &self.procfile_name,
        }
    }

    /// Reads the config file, the Procfile and the env files. `run` works without a Procfile
    /// (`procfile_required` false) unless one was named.
    pub fn load(args: &ProjectArgs, procfile_required: bool, host: &Host<'_>) -> Result<Project> {
        let mut sources = Vec::new();
        let file = find_config_file(args, &mut sources)?;
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
        let mut procfile = if procfile_required || named.is_some() || procfile_path.exists() {
            let text = read_text(&procfile_path, &procfile_name)?;
            let procfile = Procfile::parse(&text).map_err(|e| e.in_file(&procfile_name))?;
            sources.push(Source {
                file: procfile_name.clone(),
                said: procfile.names().map(str::to_owned).collect(),
            });
            procfile
        } else {
            Procfile {
                entries: Vec::new(),
            }
        };
        let mut removed = Vec::new();
        if !procfile.entries.is_empty() {
            let mut local = procfile_path.clone().into_os_string();
            local.push(LOCAL_PROCFILE_SUFFIX);
            let local = PathBuf::from(local);
            // Present, even as a dangling link or a directory: read, so a broken override
            // is an error rather than silently nothing.
            if present(&local) {
                let name = local.display().to_string();
                let text = read_text(&local, &name)?;
                let changes = procfile::parse_changes(&text).map_err(|e| e.in_file(&name))?;
                for change in &changes {
                    if let procfile::Change::Remove { name: gone, .. } = change {
                        removed.push((gone.clone(), name.clone()));
                    }
                }
                let said = procfile.apply(changes).map_err(|e| e.in_file(&name))?;
                sources.push(Source { file: name, said });
            }
        }
        let mut includes = Vec::new();
        if let Some(file) = &file {
            includes = include(&mut procfile, &procfile_path, file, &mut sources)?;
            disable(&mut procfile, file, &mut sources, &mut removed);
        }
        let root_from_file =
            args.root.is_none() && file.as_ref().is_some_and(|f| f.config.root.is_some());
        let root = match args.root.clone().or_else(|| from_file(|c| c.root.as_ref())) {
            Some(root) => root,
            None => relative_to(procfile_path.parent(), "."),
        };
        if !root.is_dir() {
            let message = format!("{}: not a directory", root.display());
            // The error names what the user wrote: the flag, or the file's key.
            return Err(match (&file, root_from_file) {
                (Some(file), true) => Error::input(&file.name, None, format!("root: {message}")),
                _ => Error::Usage(format!("--root {message}")),
            });
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
        let (env, env_steps) = load_env(&env_files, host, &mut sources)?;
        let mut project = Project {
            procfile,
            procfile_name,
            root,
            env,
            env_steps,
            file,
            process_env: Vec::new(),
            sources,
            removed,
            includes,
        };
        if project.procfile.entries.is_empty() && procfile_required {
            return Err(Error::input(
                &project.procfile_name,
                None,
                "no processes left (the local overrides removed them all)",
            ));
        }
        project.check_file_names()?;
        project.process_env = project.resolve_process_env(host)?;
        Ok(project)
    }

    /// A project from texts instead of files, for tests of the resolution: `env` as values
    /// taken as they are.
    #[cfg(test)]
    pub fn from_text(
        procfile: &str,
        config: Option<&str>,
        env: Vec<(String, String)>,
    ) -> Result<Project> {
        // The pairs as a `.env` of double-quoted values, which keeps every character.
        let text: String = env
            .iter()
            .map(|(k, v)| {
                let quoted = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('$', "\\$")
                    .replace('\n', "\\n")
                    .replace('\r', "\\r");
                format!("{k}=\"{quoted}\"\n")
            })
            .collect();
        Project::from_texts(procfile, config, &text)
    }

    /// A project from texts instead of files: `env` is the text of its `.env`.
    #[cfg(test)]
    pub fn from_texts(procfile: &str, config: Option<&str>, env: &str) -> Result<Project> {
        let host = Host {
            var: &|_| None,
            stdout_is_tty: false,
            port_free: &|_| true,
        };
        let env_steps = vec![EnvStep::File {
            shown: ".env".to_owned(),
            text: env.into(),
        }];
        let env = expand(&env_steps, &before_ports(&host))?;
        let file = match config {
            Some(text) => Some(ConfigFile {
                name: file::DEFAULT_NAME.to_owned(),
                parts: vec![Part {
                    name: file::DEFAULT_NAME.to_owned(),
                    text: text.to_owned(),
                    offset: 0,
                }],
                config: FileConfig::parse(text)
                    .map_err(|e| Error::input("procmux.toml", e.line, e.message))?,
            }),
            None => None,
        };
        let mut project = Project {
            procfile: Procfile::parse(procfile).map_err(|e| e.in_file("Procfile"))?,
            procfile_name: "Procfile".to_owned(),
            root: PathBuf::from("."),
            env,
            env_steps,
            file,
            process_env: Vec::new(),
            sources: Vec::new(),
            removed: Vec::new(),
            includes: Vec::new(),
        };
        project.check_file_names()?;
        project.process_env = project.resolve_process_env(&host)?;
        Ok(project)
    }

    /// What `port = "auto"` derives a checkout's block from: its canonical root.
    pub fn port_key(&self) -> Vec<u8> {
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        root.into_os_string().into_encoded_bytes()
    }

    /// The control socket name of this project's stack.
    pub fn socket_name(&self) -> String {
        super::socket::socket_name(Path::new(&self.procfile_name), &self.root)
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
            // A table of an entry an override removed is not a mistake.
            let gone = self.removed.iter().any(|(n, _)| n == name.get_ref());
            if !gone && self.procfile.position(name.get_ref()).is_none() {
                return Err(file.error_at(name.span(), self.unknown_message(name.get_ref())));
            }
        }
        Ok(())
    }

    /// Each Procfile entry's environment and directory: the project's (or, for an included
    /// entry, its include's), then its own `[process.NAME]` settings. A file that is missing,
    /// a directory that is not one, a bad name or value: an error at its place in
    /// `procmux.toml`.
    fn resolve_process_env(&self, host: &Host<'_>) -> Result<Vec<ProcessEnv>> {
        let root = ProcessEnv {
            env: self.env.clone(),
            dir: self.root.clone(),
            cwd: None,
            env_files: Vec::new(),
            env_keys: Vec::new(),
            steps: self.env_steps.clone(),
        };
        let mut included = Vec::with_capacity(self.includes.len());
        if let Some(file) = &self.file {
            for include in &self.includes {
                let table = &file.config.include[&include.key];
                let layer = Layer {
                    env_file: &table.env_file,
                    env: &table.env,
                    cwd: &table.cwd,
                };
                let mut base = root.clone();
                base.dir = include.dir.clone();
                base.cwd = Some(self.relative_to_root(&include.dir));
                for path in &include.default_env {
                    let shown = path.display().to_string();
                    let text: Rc<str> = read_text(path, &shown)?.into();
                    dotenv::parse_into(&text, &mut base.env, &before_ports(host))
                        .map_err(|e| e.in_file(&shown))?;
                    base.env = merge(std::mem::take(&mut base.env));
                    base.steps.push(EnvStep::File {
                        shown: shown.clone(),
                        text,
                    });
                    for name in ["PORT", "PS"] {
                        if dotenv::lookup(&base.env, name) != self.env_value(name) {
                            return Err(Error::input(
                                &shown,
                                None,
                                format!(
                                    "sets {name}, which procmux gives each process (the base port is `port` or -p)"
                                ),
                            ));
                        }
                    }
                    base.env_files.push(shown);
                }
                included.push(self.layer(file, base, layer, host)?);
            }
        }
        let mut all = Vec::with_capacity(self.procfile.entries.len());
        for entry in &self.procfile.entries {
            let base = match entry.name.split_once('.') {
                Some((prefix, _)) => self
                    .includes
                    .iter()
                    .position(|i| i.name == prefix)
                    .map_or_else(|| root.clone(), |k| included[k].clone()),
                None => root.clone(),
            };
            let table = self
                .file
                .as_ref()
                .and_then(|f| f.config.table(&entry.name).map(|t| (f, t)));
            let Some((file, table)) = table else {
                all.push(base);
                continue;
            };
            let layer = Layer {
                env_file: &table.env_file,
                env: &table.env,
                cwd: &table.cwd,
            };
            all.push(self.layer(file, base, layer, host)?);
        }
        Ok(all)
    }

    /// `dir` as a `cwd` relative to the root (absolute when it is elsewhere).
    fn relative_to_root(&self, dir: &Path) -> String {
        let (Ok(dir), Ok(root)) = (fs::canonicalize(dir), fs::canonicalize(&self.root)) else {
            return dir.display().to_string();
        };
        match dir.strip_prefix(&root) {
            Ok(relative) if relative.as_os_str().is_empty() => ".".to_owned(),
            Ok(relative) => relative.display().to_string(),
            Err(_) => dir.display().to_string(),
        }
    }

    /// `base` with a table's `env_file`s, `env` and `cwd` laid over it.
    fn layer(
        &self,
        file: &ConfigFile,
        base: ProcessEnv,
        layer: Layer<'_>,
        host: &Host<'_>,
    ) -> Result<ProcessEnv> {
        let ProcessEnv {
            env: before,
            mut dir,
            mut cwd,
            mut env_files,
            mut env_keys,
            mut steps,
        } = base;
        for name in layer.env_file.iter().flatten() {
            let path = relative_to(Path::new(&file.name).parent(), name.get_ref());
            let shown = path.display().to_string();
            if !path.is_file() {
                let what = if path.exists() {
                    "not a file"
                } else {
                    "no such file"
                };
                return Err(file.error_at(name.span(), format!("env_file: {shown}: {what}")));
            }
            let text = read_text(&path, &shown)?;
            steps.push(EnvStep::File {
                shown: shown.clone(),
                text: text.into(),
            });
            env_files.push(shown);
        }
        let mut entries: Vec<_> = layer.env.iter().flatten().collect();
        // In file order, so that `${A}` may name a key written above it.
        entries.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in entries {
            let name = key.get_ref();
            if !dotenv::is_name(name) {
                return Err(file.error_at(
                    key.span(),
                    format!("env: invalid name \"{name}\" (expected [A-Za-z_][A-Za-z0-9_.-]*)"),
                ));
            }
            if name == "PORT" || name == "PS" {
                return Err(file.error_at(
                    key.span(),
                    format!("env: {name} is procmux's to give each process (the base port is `port` or -p)"),
                ));
            }
            // An env file may hold one (it is shared with other tools, and procmux's wins);
            // written here, it would be ignored.
            let owner = self
                .procfile
                .names()
                .find(|n| super::ports::variable(n) == *name);
            if let Some(owner) = owner {
                return Err(file.error_at(
                    key.span(),
                    format!("env: {name} is procmux's to give every process ({owner}'s port)"),
                ));
            }
            if value.get_ref().contains('\0') {
                return Err(
                    file.error_at(value.span(), format!("env: {name}: contains a NUL byte"))
                );
            }
            // Expanded with the others below; a mistake is said here, at its place.
            dotenv::expand(value.get_ref(), &|_| None).map_err(|message| {
                file.error_at(value.span(), format!("env: {name}: {message}"))
            })?;
            steps.push(EnvStep::Value {
                name: name.clone(),
                value: value.get_ref().clone(),
            });
            env_keys.push(name.clone());
        }
        let env = expand(&steps, &before_ports(host))?;
        // The env files may not set them either: procmux would silently override them.
        for name in ["PORT", "PS"] {
            if dotenv::lookup(&env, name) != dotenv::lookup(&before, name)
                && let Some(first) = layer.env_file.iter().flatten().next()
            {
                return Err(file.error_at(
                    first.span(),
                    format!("env_file: sets {name}, which procmux gives each process (the base port is `port` or -p)"),
                ));
            }
        }
        if let Some(written) = layer.cwd {
            dir = relative_to(Some(&self.root), written.get_ref());
            if !dir.is_dir() {
                return Err(file.error_at(
                    written.span(),
                    format!("cwd: {}: not a directory", dir.display()),
                ));
            }
            cwd = Some(written.get_ref().clone());
        }
        Ok(ProcessEnv {
            env,
            dir,
            cwd,
            env_files,
            env_keys,
            steps,
        })
    }

    /// `no process named "wrker" (did you mean "worker"?)`.
    pub(crate) fn unknown_message(&self, name: &str) -> String {
        if let Some((_, by)) = self.removed.iter().find(|(n, _)| n == name) {
            return format!("no process named \"{name}\" (removed by {by})");
        }
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

    /// The base port (`None`: `auto`): the flag, the file's `port`, `PORT` from the env files
    /// or the environment, else 5000. Port 0 is refused wherever it comes from: a server given
    /// it listens where the kernel picks, which no other process (nor a readiness probe) can
    /// know.
    pub(crate) fn base_port(
        &self,
        flag: Option<PortChoice>,
        host: &Host<'_>,
    ) -> Result<Option<u32>> {
        const ZERO: &str = "port 0 lets a server listen where the kernel picks, which the \
                            others cannot know: give 1-65535, or auto";
        let file = self
            .file
            .as_ref()
            .and_then(|f| f.config.port.map(|p| (f, p)));
        match (flag, file) {
            (Some(PortChoice::Base(0)), _) => {
                return Err(Error::Usage(format!("--port 0: {ZERO}")));
            }
            (None, Some((file, PortChoice::Base(0)))) => {
                return Err(Error::input(&file.name, None, format!("port = 0: {ZERO}")));
            }
            (Some(PortChoice::Base(port)), _) | (None, Some((_, PortChoice::Base(port)))) => {
                return Ok(Some(port.into()));
            }
            (Some(PortChoice::Auto), _) | (None, Some((_, PortChoice::Auto))) => return Ok(None),
            (None, None) => {}
        }
        let (value, source) = match self.env_value("PORT") {
            Some(value) => (value.to_owned(), "the env file"),
            None => match host.var("PORT") {
                Some(value) => (value, "the environment"),
                None => return Ok(Some(DEFAULT_PORT.into())),
            },
        };
        match value.trim().parse::<u16>() {
            Ok(0) => Err(Error::Usage(format!("PORT from {source} is 0: {ZERO}"))),
            Ok(port) => Ok(Some(port.into())),
            Err(_) => Err(Error::Usage(format!(
                "PORT from {source} is not a port number: \"{value}\""
            ))),
        }
    }
}

/// Appends the entries of every `[include.NAME]` Procfile, in file order, as `NAME.entry`. A
/// Procfile included twice (or the project's own), or an include named like an entry of the
/// Procfile, is an error naming both files.
fn include(
    procfile: &mut Procfile,
    main: &Path,
    file: &ConfigFile,
    sources: &mut Vec<Source>,
) -> Result<Vec<Include>> {
    let mut tables: Vec<_> = file.config.include.iter().collect();
    tables.sort_by_key(|(key, _)| key.span().start);
    let mut read: Vec<(PathBuf, String)> = Vec::new();
    if let Ok(path) = fs::canonicalize(main) {
        read.push((path, main.display().to_string()));
    }
    let mut includes = Vec::new();
    for (key, table) in tables {
        let name = key.get_ref();
        if !procfile::is_name(name) {
            return Err(file.error_at(
                key.span(),
                format!(
                    "include.{name}: use letters, digits, '_' and '-' (at most {} of them)",
                    procfile::MAX_NAME
                ),
            ));
        }
        if let Some(entry) = procfile.entries.iter().find(|e| e.name == *name) {
            return Err(file.error_at(
                key.span(),
                format!(
                    "include.{name}: {} has an entry named {name} too (line {}): `start {name}` would mean both",
                    main.display(),
                    entry.line
                ),
            ));
        }
        let path = relative_to(Path::new(&file.name).parent(), table.procfile.get_ref());
        let shown = path.display().to_string();
        let canonical = fs::canonicalize(&path).map_err(|e| {
            file.error_at(
                table.procfile.span(),
                format!("include.{name}: {shown}: {e}"),
            )
        })?;
        if let Some((_, first)) = read.iter().find(|(p, _)| *p == canonical) {
            return Err(file.error_at(
                table.procfile.span(),
                format!(
                    "include.{name}: {shown} is {first}, already read: a Procfile is read once"
                ),
            ));
        }
        let text = read_text(&path, &shown)?;
        let included = Procfile::parse(&text).map_err(|e| e.in_file(&shown))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dotenv = dir.join(".env");
        let default_env = if table.env_file.is_none() && dotenv.is_file() {
            vec![dotenv]
        } else {
            Vec::new()
        };
        let mut said = Vec::new();
        for mut entry in included.entries {
            entry.name = format!("{name}.{}", entry.name);
            said.push(entry.name.clone());
            procfile.entries.push(entry);
        }
        sources.push(Source {
            file: shown.clone(),
            said,
        });
        read.push((canonical, shown));
        includes.push(Include {
            key: key.clone(),
            name: name.clone(),
            dir,
            default_env,
        });
    }
    Ok(includes)
}

/// What a local override of the Procfile is named: `Procfile.local` beside `Procfile`.
const LOCAL_PROCFILE_SUFFIX: &str = ".local";

/// `--config FILE`, else `procmux.toml` next to the named Procfile, else in the current
/// directory, with its local override (`procmux.local.toml`, `ci.local.toml` for `ci.toml`)
/// laid over it when there is one; `None` when there is neither. Each file read is said in
/// `sources`, with what it set.
fn find_config_file(args: &ProjectArgs, sources: &mut Vec<Source>) -> Result<Option<ConfigFile>> {
    let path = match &args.config {
        Some(path) => path.clone(),
        None => {
            let dir = args.procfile.as_deref().and_then(Path::parent);
            relative_to(dir, file::DEFAULT_NAME)
        }
    };
    let local = local_config_path(&path);
    let mut files = Vec::new();
    if args.config.is_some() || path.exists() {
        files.push(path);
    }
    if present(&local) {
        files.push(local);
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut config = FileConfig::default();
    for path in files {
        let name = path.display().to_string();
        let text = read_text(&path, &name)?;
        let offset = parts.last().map_or(0, |p| p.offset + p.text.len() + 1);
        let read = FileConfig::parse_at(&text, offset).map_err(|e| {
            let error = Error::input(&name, e.line, e.message);
            match e.column {
                Some(column) => error.with_column(column),
                None => error,
            }
        })?;
        let said = config.overlay(read);
        sources.push(Source {
            file: name.clone(),
            said,
        });
        parts.push(Part { name, text, offset });
    }
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    Ok(Some(ConfigFile {
        name: first.name.clone(),
        parts,
        config,
    }))
}

/// True when something is at `path`, a dangling symlink included (`exists` and `is_file`
/// follow links, and say no).
fn present(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// `procmux.local.toml` for `procmux.toml`; `NAME.local` for a name without `.toml`.
fn local_config_path(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    match text.strip_suffix(".toml") {
        Some(stem) => PathBuf::from(format!("{stem}.local.toml")),
        None => PathBuf::from(format!("{text}.local")),
    }
}

/// Removes the entries whose `[process.NAME]` says `enabled = false`, saying so under the
/// last config file that set `enabled` for it.
fn disable(
    procfile: &mut Procfile,
    file: &ConfigFile,
    sources: &mut [Source],
    removed: &mut Vec<(String, String)>,
) {
    for (name, table) in &file.config.process {
        let name = name.get_ref();
        if table.enabled != Some(false) {
            continue;
        }
        let Some(index) = procfile.position(name) else {
            continue;
        };
        procfile.entries.remove(index);
        let setting = format!("process.{name} (");
        let by = sources.iter_mut().rev().find(|s| {
            s.said
                .iter()
                .any(|said| said.starts_with(&setting) && said.contains("enabled"))
        });
        if let Some(source) = by {
            source
                .said
                .push(format!("{name} removed (enabled = false)"));
            removed.push((name.clone(), source.file.clone()));
        }
    }
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

/// Reads the env files in order into one list, each key once (the last value), with the
/// steps to expand them again; each file is said in `sources` with the keys it set.
fn load_env(
    files: &[PathBuf],
    host: &Host<'_>,
    sources: &mut Vec<Source>,
) -> Result<(Vars, Vec<EnvStep>)> {
    let mut vars = Vec::new();
    let mut steps = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text: Rc<str> = read_text(file, &name)?.into();
        let before = vars.len();
        dotenv::parse_into(&text, &mut vars, &before_ports(host)).map_err(|e| e.in_file(&name))?;
        let said = vars[before..].iter().map(|(k, _)| k.clone()).collect();
        sources.push(Source {
            file: name.clone(),
            said,
        });
        steps.push(EnvStep::File { shown: name, text });
    }
    Ok((merge(vars), steps))
}

/// Each key once, at its first place, with its last value.
fn merge(vars: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (key, value) in vars {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => merged.push((key, value)),
        }
    }
    merged
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
    decode_text(bytes).map_err(|(line, message)| Error::input(name, Some(line), message))
}

/// A user file's bytes as text: UTF-8, a byte-order mark at the start skipped (editors on
/// Windows write one), and no NUL byte (it cannot be passed to a process; better said now,
/// with its line, than at spawn time). Errors carry the 1-based line.
fn decode_text(bytes: Vec<u8>) -> Result<String, (usize, &'static str)> {
    let line_of = |bytes: &[u8], at: usize| 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err((line_of(&bytes, at), "contains a NUL byte"));
    }
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        (line_of(e.as_bytes(), valid), "not valid UTF-8")
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_files_skip_a_bom_and_refuse_nul_bytes() {
        assert_eq!(
            decode_text(b"\xef\xbb\xbfweb: a\n".to_vec()).unwrap(),
            "web: a\n"
        );
        assert_eq!(
            decode_text(b"web: a\nworker: b\0\n".to_vec()),
            Err((2, "contains a NUL byte"))
        );
        assert_eq!(
            decode_text(b"a\n\nb\xff".to_vec()),
            Err((3, "not valid UTF-8"))
        );
    }

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
