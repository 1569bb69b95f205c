//! Stage one: read the project and decide. The command line, the environment, `procmux.toml`,
//! the Procfile and the env files become a [`Stack`] (what to run) and a [`Style`] (how to show
//! it), in plain types. Every user mistake is found here, before any process starts; nothing
//! after this stage sees clap.
//!
//! Precedence, for every option: flag > environment variable (clap reads both) >
//! `procmux.toml` > built-in default.
//!
//! The machine is reached through a [`Host`] (environment variables, whether stdout is a
//! terminal) and the file system (in [`Project::load`] only), so resolution itself is tested
//! with a fake host and a project built from text.

pub mod command;
mod dotenv;
mod duration;
mod file;
mod formation;
pub mod pattern;
pub mod policy;
mod ports;
mod procfile;
mod profile;
mod project;
mod query;
mod release;
pub mod servers;
mod socket;
mod stack;
mod style;
pub mod zone;

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use self::formation::Formation;
pub use self::pattern::LinePattern;
pub use self::policy::{OnExit, OnGiveUp, Policy, Ready, SignalSource};
pub use self::profile::Profile;
pub use self::project::Project;
use self::project::Vars;
pub use self::query::{LogQuery, log_query};
pub use self::stack::{InstanceSpec, ProcessType, Stack, Watch};
pub use self::style::{Style, TimestampFormat};
use crate::cli::{
    ColorChoice, OutputFormat, PortChoice, ProjectArgs, PtyChoice, RunArgs, StartArgs, StderrMode,
    Switch,
};
use crate::error::{Error, Result};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TAIL_KIB: usize = 256;
/// A detached stack's output is only in its tail: more of it is kept (memory is taken as it
/// fills).
const DETACHED_TAIL_KIB: usize = 4096;
/// How long `procmux wait` waits unless told.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// The largest `tail_kib`: 64 MiB of memory for `procmux logs`.
pub const MAX_TAIL_KIB: usize = 64 * 1024;

/// What resolution may ask of the machine besides files.
pub struct Host<'a> {
    /// An environment variable of procmux's own environment.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub stdout_is_tty: bool,
    /// Whether a TCP port is free to listen on (`port = "auto"` picks a free block).
    pub port_free: &'a dyn Fn(u16) -> bool,
}

impl Host<'static> {
    /// This process's environment and stdout.
    pub fn current() -> Host<'static> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok()
        }
        /// Free on IPv4 and IPv6: a server listening on `::1` only (Node's `localhost`
        /// since v17) leaves `0.0.0.0` bindable. A machine without IPv6 fails the second
        /// bind otherwise than "in use": nothing can hold the port there.
        fn port_free(port: u16) -> bool {
            use std::net::{Ipv6Addr, TcpListener};
            TcpListener::bind(("0.0.0.0", port)).is_ok()
                && !matches!(
                    TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)),
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse
                )
        }
        Host {
            var: &var,
            stdout_is_tty: io::stdout().is_terminal(),
            port_free: &port_free,
        }
    }
}

impl Host<'_> {
    pub fn var(&self, name: &str) -> Option<String> {
        (self.var)(name)
    }
}

/// Everything `procmux start` needs: the files read, then [`resolve_start`].
pub fn load_start(args: &StartArgs, host: &Host<'_>) -> Result<(Stack, Style)> {
    let project = Project::load(&args.project, true, host)?;
    resolve_start(project, args, host)
}

/// Turns a loaded project and `start`'s options into the stack and its style.
pub fn resolve_start(
    project: Project,
    args: &StartArgs,
    host: &Host<'_>,
) -> Result<(Stack, Style)> {
    let settings = project.file.as_ref().map(|f| &f.config);
    let formation = resolve_formation(&project, args.formation.as_deref())?;
    let profiles = profile::resolve(&project)?;
    let names = with_includes(
        &project,
        profile::expand(&profiles, &args.names, &args.profile)?,
    );
    for name in &names {
        if project.procfile.position(name).is_none() {
            return Err(project.unknown_name(name, ""));
        }
    }
    let quiet = resolve_quiet(&project, &args.quiet)?;
    // A bad value in the file is an error even when a flag overrides it.
    let file_timeout = match &project.file {
        Some(file) => match &file.config.timeout {
            Some(value) => Some(file.duration(value, "timeout")?),
            None => None,
        },
        None => None,
    };
    let flag_timeout = args
        .timeout
        .as_deref()
        .map(|text| {
            duration::parse_duration(text).map_err(|e| Error::Usage(format!("--timeout: {e}")))
        })
        .transpose()?;
    let default_timeout = flag_timeout.or(file_timeout).unwrap_or(DEFAULT_TIMEOUT);
    let mut resolved = policy::resolve_types(&project, args, default_timeout)?;
    let release = release::apply(&project, args, &mut resolved)?;
    let pty_default = match args.pty.or(settings.and_then(|s| s.pty)) {
        Some(PtyChoice::Always) => true,
        Some(PtyChoice::Never) => false,
        Some(PtyChoice::Auto) | None => host.stdout_is_tty,
    };
    let pty_for = |name: &str| {
        let per_process = settings.and_then(|s| s.table(name)).and_then(|p| p.pty);
        // The flag beats the file's per-process setting, which beats the file's default.
        match args.pty {
            Some(_) => pty_default,
            None => per_process.unwrap_or(pty_default),
        }
    };
    let selected = with_dependencies(&project, &names, &resolved, args.no_deps);
    let offsets: Vec<u32> = project
        .procfile
        .entries
        .iter()
        .enumerate()
        .flat_map(|(index, entry)| {
            let count = formation.count(&entry.name, &selected) as u32;
            (0..count).map(move |n| 100 * index as u32 + n)
        })
        .collect();
    let (base, auto_ports) = resolve_base(&project, args.port, &offsets, host)?;
    let port_env = port_variables(&project, base)?;
    let mut types = Vec::new();
    let mut instances = Vec::new();
    let entries = project
        .procfile
        .entries
        .iter()
        .zip(resolved)
        .zip(&project.process_env);
    for (type_index, ((entry, resolved), setup)) in entries.enumerate() {
        let release = release[type_index];
        let count = match formation.count(&entry.name, &selected) {
            _ if release && args.no_release => 0,
            count if release && count > 1 => {
                return Err(Error::Usage(format!(
                    "{}: a release phase runs once, and the formation asks for {count}",
                    entry.name
                )));
            }
            count => count,
        };
        for number in 1..=count {
            let port = base + 100 * type_index as u32 + number as u32 - 1;
            let port = u16::try_from(port).map_err(|_| {
                Error::Usage(format!(
                    "{}.{number} would get port {port}, above 65535",
                    entry.name
                ))
            })?;
            instances.push(InstanceSpec {
                type_index,
                name: entry.name.clone(),
                number,
                port,
            });
        }
        let (env, instance_env) = instance_envs(
            setup,
            &entry.name,
            base + 100 * type_index as u32,
            count,
            &port_env,
            host,
        )?;
        types.push(ProcessType {
            name: entry.name.clone(),
            command: entry.command.clone(),
            count,
            quiet: quiet.contains(&entry.name),
            pty: pty_for(&entry.name),
            policy: resolved.policy,
            after: resolved.after,
            restart_with: resolved.restart_with,
            release,
            watch: resolve_watch(&project, &entry.name, &args.watch)?,
            env,
            instance_env,
            dir: setup.dir.clone(),
            cwd: setup.cwd.clone(),
            env_files: setup.env_files.clone(),
            env_keys: setup.env_keys.clone(),
        });
    }
    if instances.is_empty() {
        return Err(Error::Usage("the formation starts no process".to_owned()));
    }
    if !args.no_deps {
        check_after_runs(&types)?;
    }
    if let Some(name) = &args.exit_code_from {
        if project.procfile.position(name).is_none() {
            return Err(project.unknown_name(name, "--exit-code-from: "));
        }
        if !instances.iter().any(|i| &i.name == name) {
            return Err(Error::Usage(format!(
                "--exit-code-from {name}: the formation runs no {name}"
            )));
        }
    }
    let style = resolve_style(&project, args, &types, host);
    let hint_wanted = !args.no_color_hint && settings.and_then(|s| s.color_hint).unwrap_or(true);
    // The user's own setting, in the environment or an env file, always wins.
    let user_set = ["FORCE_COLOR", "CLICOLOR_FORCE"]
        .iter()
        .any(|name| host.var(name).is_some() || project.env_value(name).is_some());
    let color_hint = hint_wanted && style.color && !style.strip_ansi && !user_set;
    let split_stderr = args.stderr.or(settings.and_then(|s| s.stderr)) == Some(StderrMode::Mark);
    let control_on = match args.control {
        Some(switch) => switch == Switch::On,
        None => settings.and_then(|s| s.control).unwrap_or(true),
    };
    let control = control_on.then(|| project.socket_name());
    // Checked in the file even when the flag overrides it, as every other value there.
    let too_big = |kib: usize| {
        (kib > MAX_TAIL_KIB).then(|| format!("tail_kib {kib}: at most {MAX_TAIL_KIB} (64 MiB)"))
    };
    let file_tail = match &project.file {
        Some(file) => match &file.config.tail_kib {
            Some(kib) => match too_big(*kib.get_ref()) {
                Some(message) => return Err(file.error_at(kib.span(), message)),
                None => Some(*kib.get_ref()),
            },
            None => None,
        },
        None => None,
    };
    if let Some(message) = args.tail_kib.and_then(too_big) {
        return Err(Error::Usage(
            format!("--{message}").replace("tail_kib", "tail-kib"),
        ));
    }
    let detached = args.detach || args.detached;
    let tail_default = if detached {
        DETACHED_TAIL_KIB
    } else {
        DEFAULT_TAIL_KIB
    };
    let tail_kib = args.tail_kib.or(file_tail).unwrap_or(tail_default);
    let stdin = resolve_stdin(&project, args.stdin.as_deref(), &instances)?;
    if detached && stdin.is_some() {
        return Err(Error::Usage(
            "--stdin: a detached stack has no terminal to read (procmux attach NAME types \
             into one instance)"
                .to_owned(),
        ));
    }
    if detached && control.is_none() {
        return Err(Error::Usage(
            "--detach needs the control channel (status, logs and stop reach the stack through \
             it): leave out --control off"
                .to_owned(),
        ));
    }
    // The project's own variables (Kubernetes shares them): `PORT_<NAME>` known, and `PORT`
    // and `PS` as each process has its own, left as they were.
    let (env, _) = expand_env(&project.env_steps, &project.env, None, &port_env, host)?;
    let stack = Stack {
        stdin,
        procfile: project.procfile_name.clone(),
        control,
        tail_bytes: tail_kib.saturating_mul(1024),
        port_env,
        auto_ports,
        root: project.root,
        env,
        types,
        instances,
        exit_code_from: args.exit_code_from.clone(),
        split_stderr,
        color_hint,
        sources: project.sources,
        profiles,
        detached: args.detached,
    };
    Ok((stack, style))
}

/// `[process.NAME] watch`/`watch_ignore`, and `--watch NAME=GLOB` flags (added to the
/// file's). Every glob is compiled here, so `check` finds a bad one at its line.
fn resolve_watch(project: &Project, name: &str, flags: &[String]) -> Result<Option<Watch>> {
    let compile = |pattern: &str| {
        globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
    };
    let mut globs = Vec::new();
    let mut matches = globset::GlobSetBuilder::new();
    let mut ignores = globset::GlobSetBuilder::new();
    if let Some(file) = &project.file
        && let Some(table) = file.config.table(name)
    {
        for (list, set, key) in [
            (&table.watch, &mut matches, "watch"),
            (&table.watch_ignore, &mut ignores, "watch_ignore"),
        ] {
            for pattern in list.iter().flatten() {
                let glob = compile(pattern.get_ref())
                    .map_err(|e| file.error_at(pattern.span(), format!("{key}: {}", e.kind())))?;
                set.add(glob);
                if key == "watch" {
                    globs.push(pattern.get_ref().clone());
                }
            }
        }
    }
    for flag in flags.iter().flat_map(|f| split_outside_braces(f)) {
        let Some((flag_name, pattern)) = flag.split_once('=') else {
            return Err(Error::Usage(format!("--watch {flag}: expected NAME=GLOB")));
        };
        if project.procfile.position(flag_name).is_none() {
            return Err(project.unknown_name(flag_name, "--watch: "));
        }
        if flag_name == name {
            let glob = compile(pattern)
                .map_err(|e| Error::Usage(format!("--watch {flag}: {}", e.kind())))?;
            matches.add(glob);
            globs.push(pattern.to_owned());
        }
    }
    if globs.is_empty() {
        return Ok(None);
    }
    let build = |set: globset::GlobSetBuilder| {
        set.build()
            .map_err(|e| Error::Usage(format!("watch globs of {name}: {e}")))
    };
    Ok(Some(Watch {
        globs,
        matches: build(matches)?,
        ignores: build(ignores)?,
    }))
}

/// `web=a/*.rb,worker=b/**/*.{py,toml}` → its items: commas split, except inside braces.
fn split_outside_braces(list: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    list.split(move |c| {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == ',' && depth == 0
    })
    .filter(|item| !item.is_empty())
}

/// `--stdin NAME` (a type: its first instance; or `web.2`), else the file's
/// `[process.NAME] stdin = true`.
fn resolve_stdin(
    project: &Project,
    flag: Option<&str>,
    instances: &[InstanceSpec],
) -> Result<Option<usize>> {
    let find = |name: &str| {
        instances
            .iter()
            .position(|i| i.name == name || i.label() == name)
    };
    if let Some(name) = flag {
        return find(name).map(Some).ok_or_else(|| {
            let kind = name.rsplit_once('.').map_or(name, |(kind, _)| kind);
            match project.procfile.position(kind) {
                Some(_) => Error::Usage(format!("--stdin {name}: the formation runs no {name}")),
                None => project.unknown_name(kind, "--stdin: "),
            }
        });
    }
    let Some(file) = &project.file else {
        return Ok(None);
    };
    let marked: Vec<_> = file
        .config
        .process
        .iter()
        .filter(|(_, p)| p.stdin == Some(true))
        .collect();
    match marked[..] {
        [] => Ok(None),
        [(name, _)] => Ok(find(name.get_ref())),
        [_, (second, _), ..] => Err(file.error_at(
            second.span(),
            "stdin: only one process can read procmux's terminal",
        )),
    }
}

/// Colour, timestamps, format and label width, from the flags, the file and the host.
fn resolve_style(
    project: &Project,
    args: &StartArgs,
    types: &[ProcessType],
    host: &Host<'_>,
) -> Style {
    let settings = project.file.as_ref().map(|f| &f.config);
    let longest_name = types.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let largest_count = types.iter().map(|t| t.count).max().unwrap_or(0);
    let width = (longest_name + largest_count.to_string().len() + 1).max(6);
    let choice = args
        .color
        .or(settings.and_then(|s| s.color))
        .unwrap_or(ColorChoice::Auto);
    let color = style::color_enabled(choice, host.var, host.stdout_is_tty);
    let timestamp = match (args.no_timestamp, args.timestamp) {
        (true, _) => TimestampFormat::None,
        (false, Some(choice)) => choice.into(),
        (false, None) => settings
            .and_then(|s| s.timestamp)
            .map_or(TimestampFormat::Local, |t| t.choice().into()),
    };
    let json = args.format.or(settings.and_then(|s| s.format)) == Some(OutputFormat::Json);
    let dumb = host.var("TERM").is_none_or(|t| t.is_empty() || t == "dumb");
    let status_line = host.stdout_is_tty
        && !json
        && !dumb
        && !args.no_status_line
        && settings.and_then(|s| s.status_line).unwrap_or(true);
    Style {
        status_line,
        bell: settings.and_then(|s| s.bell).unwrap_or(true),
        color: color && !json,
        timestamp,
        json,
        prefix: !args.no_prefix && settings.and_then(|s| s.prefix).unwrap_or(true),
        strip_ansi: args.strip_ansi || settings.and_then(|s| s.strip_ansi).unwrap_or(false),
        width,
        terminal: host.stdout_is_tty,
    }
}

/// The names with each include's name (`api`) replaced by its entries (`api.web`, …).
fn with_includes(project: &Project, names: Vec<String>) -> Vec<String> {
    let mut expanded = Vec::with_capacity(names.len());
    for name in names {
        let prefix = format!("{name}.");
        let members: Vec<&str> = project
            .procfile
            .names()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        if project.procfile.position(&name).is_some() || members.is_empty() {
            expanded.push(name);
        } else {
            expanded.extend(members.into_iter().map(str::to_owned));
        }
    }
    expanded
}

/// The `start NAME…` list, with every type those wait for (`after`, transitively), as
/// `docker compose up web` starts web's dependencies; with `--no-deps` just the names.
fn with_dependencies(
    project: &Project,
    names: &[String],
    types: &[policy::TypeSettings],
    no_deps: bool,
) -> Vec<String> {
    let mut selected = names.to_vec();
    if no_deps {
        return selected;
    }
    let mut next = 0;
    while next < selected.len() {
        if let Some(index) = project.procfile.position(&selected[next]) {
            for dependency in &types[index].after {
                if !selected.contains(dependency) {
                    selected.push(dependency.clone());
                }
            }
        }
        next += 1;
    }
    selected
}

/// A type that runs must find an instance of every type it waits for.
fn check_after_runs(types: &[ProcessType]) -> Result<()> {
    for waiting in types.iter().filter(|t| t.count > 0) {
        for name in &waiting.after {
            if let Some(left_out) = types.iter().find(|t| &t.name == name && t.count == 0) {
                let hint = if left_out.release {
                    " (--no-release skips the release phase)"
                } else {
                    ""
                };
                return Err(Error::Usage(format!(
                    "{} starts after {name}, but the formation runs no {name}{hint}",
                    waiting.name
                )));
            }
        }
    }
    Ok(())
}

/// Where a running stack listens, for `status`, `restart`, `stop`, `logs`, `attach`.
pub struct ControlTarget {
    /// The Procfile as the user named it (or as found above), for messages.
    pub procfile: String,
    pub socket: String,
}

/// The control socket of the stack of this project. Run from a subdirectory of the project
/// (no Procfile, no `procmux.toml` here, none named), the project is the nearest ancestor
/// holding either, as git and `docker compose` find theirs.
pub fn load_control(args: &ProjectArgs, host: &Host<'_>) -> Result<ControlTarget> {
    let found;
    let args = match discover(args, &std::env::current_dir().unwrap_or_default()) {
        Some(discovered) => {
            found = discovered;
            &found
        }
        None => args,
    };
    let project = Project::load(args, true, host)?;
    Ok(ControlTarget {
        socket: project.socket_name(),
        procfile: project.procfile_name,
    })
}

/// Whether `procmux logs` keeps the stream's colours: as `start` decides for its own.
pub fn logs_color(choice: Option<ColorChoice>, host: &Host<'_>) -> bool {
    style::color_enabled(
        choice.unwrap_or(ColorChoice::Auto),
        host.var,
        host.stdout_is_tty,
    )
}

/// The base port, and for `auto` the block chosen (first and last port): `offsets` are the
/// ports the instances take past the base, which must be free for a block to be chosen.
fn resolve_base(
    project: &Project,
    flag: Option<PortChoice>,
    offsets: &[u32],
    host: &Host<'_>,
) -> Result<(u32, Option<(u16, u16)>)> {
    if let Some(base) = project.base_port(flag, host)? {
        return Ok((base, None));
    }
    let span = 100 * project.procfile.entries.len() as u32;
    let base = ports::auto_base(&project.port_key(), span, offsets, host.port_free)
        .map_err(Error::Usage)?;
    let last = offsets.iter().map(|o| o + 1).fold(span, u32::max) + base - 1;
    Ok((base, Some((base as u16, last.min(65_535) as u16))))
}

/// `PORT_<NAME>` for every process type of the Procfile: its first instance's port (none for
/// a type whose port would be above 65535: it cannot run, and a number that is no port would
/// mislead). Two names that make one variable (`my-svc`, `my_svc`) are an error: one would
/// silently get the other's port.
fn port_variables(project: &Project, base: u32) -> Result<Vec<(String, String)>> {
    let mut taken: std::collections::HashMap<String, &procfile::Entry> =
        std::collections::HashMap::new();
    let mut variables = Vec::new();
    for (index, entry) in project.procfile.entries.iter().enumerate() {
        let variable = ports::variable(&entry.name);
        if let Some(first) = taken.insert(variable.clone(), entry) {
            return Err(Error::Usage(format!(
                "{}:{}: {:?} would be given {variable}, as {:?} ({}:{}) is: rename one",
                project.entry_file(&entry.name),
                entry.line,
                entry.name,
                first.name,
                project.entry_file(&first.name),
                first.line
            )));
        }
        let port = base + 100 * index as u32;
        if port <= u32::from(u16::MAX) {
            variables.push((variable, port.to_string()));
        }
    }
    Ok(variables)
}

/// A process's variables with procmux's own known: `steps` expanded where `${PORT_<NAME>}`
/// is that type's port and, with `process` (its `PORT` and `PS`), `${PORT}` and `${PS}`
/// are its own, as the process sees them. The flag says whether `PORT` or `PS` was looked
/// up: the values then differ from one instance to the next. `read` is what the steps made
/// when read: the same when none holds a `$` (most projects), so it is taken as it is.
fn expand_env(
    steps: &[project::EnvStep],
    read: &Vars,
    process: Option<(u32, &str)>,
    port_env: &[(String, String)],
    host: &Host<'_>,
) -> Result<(Vec<(String, String)>, bool)> {
    if !steps.iter().any(project::EnvStep::interpolates) {
        return Ok((read.clone(), false));
    }
    let asked = std::cell::Cell::new(false);
    let given = |name: &str| match name {
        "PORT" | "PS" => {
            asked.set(true);
            let (port, ps) = process?;
            Some(if name == "PORT" {
                port.to_string()
            } else {
                ps.to_owned()
            })
        }
        _ => dotenv::lookup(port_env, name).map(str::to_owned),
    };
    let scope = dotenv::Scope {
        given: &given,
        inherited: host.var,
    };
    let env = project::expand(steps, &scope)?;
    Ok((env, asked.get()))
}

/// A type's variables (its first instance's) and, when a value names `PORT` or `PS`, those
/// of its instances past the first, in order.
fn instance_envs(
    setup: &project::ProcessEnv,
    name: &str,
    first_port: u32,
    count: usize,
    port_env: &[(String, String)],
    host: &Host<'_>,
) -> Result<(Vars, Vec<Vars>)> {
    let first = (first_port, format!("{name}.1"));
    let (steps, read) = (&setup.steps, &setup.env);
    let (env, varies) = expand_env(steps, read, Some((first.0, &first.1)), port_env, host)?;
    let mut others = Vec::new();
    if varies {
        for number in 2..=count {
            let ps = format!("{name}.{number}");
            let port = first_port + number as u32 - 1;
            others.push(expand_env(steps, read, Some((port, &ps)), port_env, host)?.0);
        }
    }
    Ok((env, others))
}

/// How long `procmux wait` (`--timeout`) or `start --detach` (`--wait-timeout`) waits for
/// readiness: 60 s by default.
pub fn wait_timeout(text: Option<&str>, flag: &str) -> Result<Duration> {
    match text {
        None => Ok(DEFAULT_WAIT),
        Some(text) => {
            duration::parse_duration(text).map_err(|e| Error::Usage(format!("--{flag}: {e}")))
        }
    }
}

/// The project arguments of the nearest ancestor of `cwd` holding a `procmux.toml` or a
/// `Procfile`, when nothing names one and `cwd` holds neither.
fn discover(args: &ProjectArgs, cwd: &std::path::Path) -> Option<ProjectArgs> {
    let named = args.procfile.is_some() || args.config.is_some() || args.root.is_some();
    let here = |dir: &std::path::Path| {
        ["procmux.toml", "Procfile"]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    };
    if named || here(cwd).is_some() {
        return None;
    }
    let found = cwd.ancestors().skip(1).find_map(here)?;
    let mut discovered = ProjectArgs {
        procfile: None,
        root: None,
        env: args.env.clone(),
        config: None,
    };
    if found.ends_with("procmux.toml") {
        discovered.config = Some(found);
    } else {
        discovered.procfile = Some(found);
    }
    Some(discovered)
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
    pub root: PathBuf,
    pub env: Vec<(String, String)>,
    pub port: u16,
    /// `PORT_<NAME>` for every process type, as `start` gives them (or, when this checkout's
    /// stack runs, as it gave them).
    pub port_env: Vec<(String, String)>,
    pub command: RunCommand,
}

/// The instances of this checkout's running stack, each label with the port it was given;
/// `None` when none runs (or it cannot be asked).
pub type RunningPorts<'a> = &'a dyn Fn(&str) -> Option<Vec<(String, u16)>>;

/// `procmux run`: the project's environment and the command to run in it. The ports are
/// those of this checkout's running stack (`running`, asked with its control socket's name)
/// unless `--port N` says otherwise or none runs: with `port = "auto"`, the stack may have
/// moved past a held block, which computing again would not see.
pub fn load_run(args: &RunArgs, host: &Host<'_>, running: RunningPorts<'_>) -> Result<RunConfig> {
    let project = Project::load(&args.project, false, host)?;
    let from_stack = match args.port {
        Some(PortChoice::Base(_)) => None,
        _ if !project.procfile.entries.is_empty() => running(&project.socket_name())
            .and_then(|rows| ports_in_use(&project, &rows).transpose())
            .transpose()?,
        _ => None,
    };
    let (base, port_env) = match from_stack {
        Some(found) => found,
        None => {
            let (base, _) = resolve_base(&project, args.port, &[], host)?;
            (base, port_variables(&project, base)?)
        }
    };
    let port = u16::try_from(base).unwrap_or(project::DEFAULT_PORT);
    let entry = match args.command.as_slice() {
        [single] => project.procfile.position(&single.to_string_lossy()),
        _ => None,
    };
    let (steps, read) = match entry {
        Some(index) => (
            &project.process_env[index].steps,
            &project.process_env[index].env,
        ),
        None => (&project.env_steps, &project.env),
    };
    let (env, _) = expand_env(steps, read, Some((port.into(), "run.1")), &port_env, host)?;
    // A Procfile entry runs where `start` runs it, with its own variables.
    if let Some(index) = entry {
        return Ok(RunConfig {
            root: project.process_env[index].dir.clone(),
            env,
            port,
            port_env,
            command: RunCommand::Shell(project.procfile.entries[index].command.clone()),
        });
    }
    let command = match args.command.as_slice() {
        [single] if single.to_string_lossy().contains(char::is_whitespace) => {
            RunCommand::Shell(single.to_string_lossy().into_owned())
        }
        _ => RunCommand::Program(args.command.clone()),
    };
    Ok(RunConfig {
        root: project.root,
        env,
        port,
        port_env,
        command,
    })
}

/// The base port and `PORT_<NAME>`s a running stack uses, from its instances' ports
/// (`web.2` at 10101 → base 10000 when web is the Procfile's first entry); a type it runs
/// keeps its first instance's port as it is. `None` when no instance names an entry of the
/// Procfile (it changed since the stack started).
fn ports_in_use(project: &Project, rows: &[(String, u16)]) -> Result<Option<(u32, Vars)>> {
    let base = rows.iter().find_map(|(label, port)| {
        let (name, number) = label.rsplit_once('.')?;
        let number: u32 = number.parse().ok()?;
        let index = project.procfile.position(name)? as u32;
        u32::from(*port).checked_sub(100 * index + number.checked_sub(1)?)
    });
    let Some(base) = base else {
        return Ok(None);
    };
    let mut port_env = port_variables(project, base)?;
    for entry in &project.procfile.entries {
        let first = format!("{}.1", entry.name);
        let variable = ports::variable(&entry.name);
        let slot = port_env.iter_mut().find(|(name, _)| *name == variable);
        if let (Some((_, value)), Some((_, port))) =
            (slot, rows.iter().find(|(label, _)| *label == first))
        {
            *value = port.to_string();
        }
    }
    Ok(Some((base, port_env)))
}

/// `-m`, else the file's `formation` with its `[process.NAME] count`s, else one of each. The
/// file's value is checked even when the flag overrides it: a mistake in the file is an
/// error whatever the command line says.
fn resolve_formation(project: &Project, flag: Option<&str>) -> Result<Formation> {
    let from_file = match &project.file {
        Some(file) => {
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
            formation
        }
        None => Formation::default(),
    };
    let Some(spec) = flag else {
        return Ok(from_file);
    };
    let formation = Formation::parse(spec).map_err(|e| Error::Usage(format!("--formation {e}")))?;
    if let Some(name) = formation.unknown_names(&project.procfile).next() {
        return Err(project.unknown_name(name, "--formation: "));
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    use crate::cli::{Arguments, Command};

    fn start_args(line: &[&str]) -> StartArgs {
        let args = ["procmux", "start"].into_iter().chain(line.iter().copied());
        match Arguments::try_parse_from(args).unwrap().command {
            Command::Start(args) => *args,
            _ => unreachable!(),
        }
    }

    fn resolve(
        procfile: &str,
        toml: Option<&str>,
        line: &[&str],
        vars: &[(&str, &str)],
        tty: bool,
    ) -> Result<(Stack, Style)> {
        let project = Project::from_text(procfile, toml, Vec::new())?;
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let host = Host {
            var: &var,
            stdout_is_tty: tty,
            port_free: &|_| true,
        };
        resolve_start(project, &start_args(line), &host)
    }

    #[test]
    fn watch_flags_split_at_commas_outside_braces() {
        let items: Vec<&str> =
            split_outside_braces("web=src/**/*.{rs,toml},worker=a/*.py,,x={a,{b,c}}").collect();
        assert_eq!(
            items,
            ["web=src/**/*.{rs,toml}", "worker=a/*.py", "x={a,{b,c}}"]
        );
        let (stack, _) = resolve(
            "web: x\n",
            None,
            &["--watch", "web=src/**/*.{rs,toml}"],
            &[],
            false,
        )
        .unwrap();
        let watch = stack.types[0].watch.as_ref().unwrap();
        assert_eq!(watch.globs, ["src/**/*.{rs,toml}"]);
        assert!(watch.matches.is_match("src/a/b.toml") && !watch.matches.is_match("src/a.py"));
    }

    #[test]
    fn tail_kib_has_a_maximum_named_where_it_was_written() {
        let error = resolve("web: x\n", Some("tail_kib = 70000\n"), &[], &[], false);
        let message = error.err().unwrap().to_string();
        assert!(message.starts_with("procmux.toml:1:"), "{message}");
        assert!(message.contains("at most 65536"), "{message}");
        let error = resolve("web: x\n", None, &["--tail-kib", "70000"], &[], false);
        assert!(
            error
                .err()
                .unwrap()
                .to_string()
                .starts_with("--tail-kib 70000")
        );
        assert!(resolve("web: x\n", None, &["--tail-kib", "65536"], &[], false).is_ok());
    }

    #[test]
    fn control_commands_find_the_project_above() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let none = ProjectArgs {
            procfile: None,
            root: None,
            env: Vec::new(),
            config: None,
        };
        assert!(discover(&none, &deep).is_none());
        std::fs::write(dir.path().join("Procfile"), "web: x\n").unwrap();
        let found = discover(&none, &deep).unwrap();
        assert_eq!(found.procfile, Some(dir.path().join("Procfile")));
        std::fs::write(dir.path().join("a/procmux.toml"), "").unwrap();
        let found = discover(&none, &deep).unwrap();
        assert_eq!(found.config, Some(dir.path().join("a/procmux.toml")));
        // Named, or found here: nothing to discover.
        assert!(discover(&none, dir.path()).is_none());
        let named = ProjectArgs {
            procfile: Some("P".into()),
            ..none
        };
        assert!(discover(&named, &deep).is_none());
    }

    #[test]
    fn the_stack_keeps_per_type_facts() {
        let toml =
            "[process.web]\nafter = [\"db\"]\nstop_signal = \"INT\"\nready = \"tcp:$PORT\"\n";
        let (stack, _) = resolve(
            "db: postgres\nweb: puma\n",
            Some(toml),
            &["-m", "web=2"],
            &[],
            false,
        )
        .unwrap();
        let web = &stack.types[1];
        assert_eq!(web.after, ["db"]);
        assert_eq!(web.policy.stop_signal, nix::sys::signal::Signal::SIGINT);
        assert!(matches!(web.policy.ready, Ready::Tcp(None)));
        assert_eq!(web.count, 2);
        let labels: Vec<String> = stack.instances.iter().map(InstanceSpec::label).collect();
        assert_eq!(labels, ["db.1", "web.1", "web.2"]);
        let ports: Vec<u16> = stack.instances.iter().map(|i| i.port).collect();
        assert_eq!(ports, [5000, 5100, 5101]);
        assert_eq!(stack.instances_of("web").collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn colour_and_ptys_follow_the_host() {
        let (stack, style) = resolve("web: puma\n", None, &[], &[], true).unwrap();
        assert!(style.color && stack.types[0].pty && stack.color_hint);
        let (stack, style) = resolve("web: puma\n", None, &[], &[], false).unwrap();
        assert!(!style.color && !stack.types[0].pty && !stack.color_hint);
        let (stack, style) = resolve("web: puma\n", None, &[], &[("NO_COLOR", "1")], true).unwrap();
        assert!(!style.color && !stack.color_hint);
        let (stack, style) =
            resolve("web: puma\n", None, &[], &[("FORCE_COLOR", "0")], true).unwrap();
        assert!(
            style.color && !stack.color_hint,
            "the user's own setting wins"
        );
        let (_, style) = resolve("web: puma\n", None, &["--format", "json"], &[], true).unwrap();
        assert!(!style.color && style.json);
    }

    #[test]
    fn the_base_port_comes_from_the_host_when_nothing_else_says() {
        let (stack, _) = resolve("web: puma\n", None, &[], &[("PORT", "3000")], false).unwrap();
        assert_eq!(stack.instances[0].port, 3000);
        let error = resolve("web: puma\n", None, &[], &[("PORT", "abc")], false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "PORT from the environment is not a port number: \"abc\""
        );
    }

    #[test]
    fn a_bad_value_in_the_file_is_an_error_even_when_a_flag_overrides_it() {
        let cases = [
            (
                "timeout = -1\n",
                &["-t", "2"][..],
                "procmux.toml:1:11: timeout: \"",
            ),
            (
                "timeout = nan\n",
                &["-t", "2"],
                "procmux.toml:1:11: timeout: \"",
            ),
            (
                "timeout = inf\n",
                &["-t", "2"],
                "procmux.toml:1:11: timeout: \"",
            ),
            (
                "formation = \"web=x\"\n",
                &["-m", "web=2"],
                "procmux.toml:1:13: formation",
            ),
        ];
        for (toml, flags, start) in cases {
            let error = resolve("web: puma\n", Some(toml), flags, &[], false).unwrap_err();
            assert!(error.to_string().starts_with(start), "{toml}: {error}");
            assert!(!error.to_string().contains("--"), "names no flag: {error}");
        }
    }

    #[test]
    fn start_name_brings_its_dependencies_unless_no_deps() {
        let procfile = "db: postgres\ncache: redis\nmigrate: rake\nweb: puma\nclock: c\n";
        let toml = "[process.web]\nafter = [\"migrate\", \"cache\"]\n[process.migrate]\nafter = [\"db\"]\n";
        let running = |flags: &[&str]| {
            let (stack, _) = resolve(procfile, Some(toml), flags, &[], false).unwrap();
            stack
                .instances
                .iter()
                .map(InstanceSpec::label)
                .collect::<Vec<_>>()
        };
        assert_eq!(running(&["web"]), ["db.1", "cache.1", "migrate.1", "web.1"]);
        assert_eq!(running(&["web", "--no-deps"]), ["web.1"]);
        assert_eq!(
            running(&["web", "-m", "db=2"]),
            ["db.1", "db.2", "cache.1", "migrate.1", "web.1"]
        );
    }

    #[test]
    fn watch_globs_are_compiled_and_checked() {
        let toml = "[process.web]\nwatch = [\"app/**/*.rb\", \"config/*.yml\"]\nwatch_ignore = [\"app/tmp/**\"]\n";
        let (stack, _) = resolve(
            "web: puma\nworker: w\n",
            Some(toml),
            &["--watch", "worker=lib/**"],
            &[],
            false,
        )
        .unwrap();
        let web = stack.types[0].watch.as_ref().unwrap();
        assert!(web.matches.is_match("app/models/user.rb"));
        assert!(!web.matches.is_match("app/models/user.py"));
        assert!(
            !web.matches.is_match("config/deep/x.yml"),
            "* stays within a directory"
        );
        assert!(web.ignores.is_match("app/tmp/cache/x.rb"));
        assert!(
            stack.types[1]
                .watch
                .as_ref()
                .unwrap()
                .matches
                .is_match("lib/a/b.rb")
        );
        let error = resolve(
            "web: puma\n",
            Some("[process.web]\nwatch = [\"a[\"]\n"),
            &[],
            &[],
            false,
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("procmux.toml:2:10: watch: "),
            "{error}"
        );
        let error = resolve("web: puma\n", None, &["--watch", "nope=x"], &[], false).unwrap_err();
        assert!(
            error.to_string().contains("no process named \"nope\""),
            "{error}"
        );
    }

    #[test]
    fn a_process_env_table_comes_after_the_env_files_in_file_order() {
        let toml = "[process.web]\nenv = { Z = \"z-${BASE}\", A = '${Z}-a \\$HOME $ 50% #x', BASE = \"own\" }\n";
        let project = Project::from_text(
            "web: x\nworker: y\n",
            Some(toml),
            vec![("BASE".to_owned(), "base".to_owned())],
        )
        .unwrap();
        let host = Host {
            var: &|_| None,
            stdout_is_tty: false,
            port_free: &|_| true,
        };
        let (stack, _) = resolve_start(project, &start_args(&[]), &host).unwrap();
        let web = &stack.types[0];
        assert_eq!(
            web.env,
            [
                ("BASE".to_owned(), "own".to_owned()),
                ("Z".to_owned(), "z-base".to_owned()),
                ("A".to_owned(), "z-base-a $HOME $ 50% #x".to_owned()),
            ]
        );
        assert_eq!(web.env_keys, ["Z", "A", "BASE"]);
        assert_eq!(
            (web.dir.as_path(), web.cwd.as_deref()),
            (Path::new("."), None)
        );
        assert_eq!(stack.types[1].env, [("BASE".to_owned(), "base".to_owned())]);
    }

    #[test]
    fn restart_with_and_an_after_table_with_restart_follow_and_wait() {
        let toml = "[process.web]\nafter = [\"cache\", { name = \"db\", restart = true }]\n\
                    [process.worker]\nrestart_with = [\"db\", \"cache\"]\nafter = [{ name = \"db\" }]\n";
        let (stack, _) = resolve(
            "db: pg\ncache: redis\nweb: puma\nworker: w\n",
            Some(toml),
            &[],
            &[],
            false,
        )
        .unwrap();
        let (web, worker) = (&stack.types[2], &stack.types[3]);
        assert_eq!(
            (web.after.as_slice(), web.restart_with.as_slice()),
            (
                &["cache".to_owned(), "db".to_owned()][..],
                &["db".to_owned()][..]
            )
        );
        assert_eq!(worker.after, ["db", "cache"]);
        assert_eq!(worker.restart_with, ["db", "cache"]);
        let error = resolve(
            "db: pg\nweb: puma\n",
            Some("[process.web]\nafter = [{ name = \"db\", restrat = true }]\n"),
            &[],
            &[],
            false,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("procmux.toml:2: after: expected a process name or { name = \"NAME\", restart = true }"),
            "{error}"
        );
        let error = resolve(
            "db: pg\nweb: puma\n",
            Some("[process.web]\nrestart_with = [\"bd\"]\n"),
            &[],
            &[],
            false,
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with(
                "procmux.toml:2:17: restart_with: no process named \"bd\" (did you mean \"db\"?)"
            ),
            "{error}"
        );
    }

    #[test]
    fn the_release_phase_holds_every_type_but_what_it_needs() {
        let procfile = "db: pg\ncache: redis\nweb: puma\nrelease: rake db:migrate\nclock: c\n";
        let toml = "[process.release]\nafter = [\"db\"]\n[process.web]\nafter = [\"cache\"]\n";
        let (stack, _) = resolve(procfile, Some(toml), &[], &[], false).unwrap();
        let after: Vec<(&str, Vec<&str>)> = stack
            .types
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.after.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            after,
            [
                ("db", vec![]),
                ("cache", vec!["release"]),
                ("web", vec!["cache", "release"]),
                ("release", vec!["db"]),
                ("clock", vec!["release"]),
            ]
        );
        let release = &stack.types[3];
        assert!(release.release && matches!(release.policy.ready, Ready::ExitZero));
        assert_eq!(release.policy.on_exit, OnExit::StopAll);
        assert!(stack.types.iter().filter(|t| t.release).count() == 1);
        // --no-release: no instance of it, and nothing waits for it.
        let (stack, _) = resolve(procfile, Some(toml), &["--no-release"], &[], false).unwrap();
        assert_eq!(stack.types[3].count, 0);
        assert!(
            stack
                .types
                .iter()
                .all(|t| !t.after.contains(&"release".to_owned()))
        );
        // `start clock` brings the release and what the release needs.
        let (stack, _) = resolve(procfile, Some(toml), &["clock"], &[], false).unwrap();
        let labels: Vec<String> = stack.instances.iter().map(InstanceSpec::label).collect();
        assert_eq!(labels, ["db.1", "release.1", "clock.1"]);
    }

    #[test]
    fn a_bad_process_env_is_an_error_at_its_place() {
        let cases = [
            (
                "[process.web]\nenv = { \"A B\" = \"x\" }\n",
                "procmux.toml:2:9: env: invalid name \"A B\"",
            ),
            (
                "[process.web]\nenv = { PORT = \"1\" }\n",
                "procmux.toml:2:9: env: PORT is procmux's",
            ),
            (
                "[process.web]\nenv = { PORT_WEB = \"1\" }\n",
                "procmux.toml:2:9: env: PORT_WEB is procmux's to give every process (web's port)",
            ),
            (
                "[process.web]\nenv = { A = \"a\\u0000b\" }\n",
                "procmux.toml:2:13: env: A: contains a NUL byte",
            ),
            (
                "[process.web]\nenv = { A = \"${B\" }\n",
                "procmux.toml:2:13: env: A: unterminated",
            ),
            (
                "[process.web]\nenv_file = [\"nope.env\"]\n",
                "procmux.toml:2:13: env_file: nope.env: no such file",
            ),
            (
                "[process.web]\ncwd = \"no/such/dir\"\n",
                "procmux.toml:2:7: cwd: no/such/dir: not a directory",
            ),
            (
                "[process.wbe]\ncwd = \".\"\n",
                "procmux.toml:1:10: no process named \"wbe\" (did you mean \"web\"?)",
            ),
            (
                "[process.web]\nenv = \"A=1\"\n",
                "procmux.toml:2: invalid type",
            ),
        ];
        for (toml, start) in cases {
            let error = Project::from_text("web: x\n", Some(toml), Vec::new()).unwrap_err();
            assert!(error.to_string().starts_with(start), "{toml}: {error}");
        }
    }

    /// `${PORT_<NAME>}`, `${PORT}` and `${PS}` in env values are what the process gets:
    /// in `.env` and in an `env` table, for each instance, and in the project's own.
    #[test]
    fn env_values_see_the_ports_procmux_gives() {
        let env = "PORT_WEB=1\nAPI=http://localhost:${PORT_API}/\nSELF=$PS@$PORT\n\
                   LIT='${PORT_API}'\nWEB=${PORT_WEB}\n";
        let toml = "port = \"auto\"\nformation = \"web=2\"\n\
                    [process.web]\nenv = { BACK = \"${API}|${PORT_API:-x}|${PORT}\" }\n";
        let project = Project::from_texts("web: a\napi: b\n", Some(toml), env).unwrap();
        let held = std::cell::Cell::new(None);
        let free = |port: u16| held.get() != Some(port);
        let host = Host {
            var: &|name| (name == "PORT_API").then(|| "9".to_owned()),
            stdout_is_tty: false,
            port_free: &free,
        };
        let first = resolve_start(project, &start_args(&[]), &host).unwrap().0;
        let base = first.instances[0].port;
        // The first block's api port held: the stack moves, and the values with it.
        held.set(Some(base + 100));
        let project = Project::from_texts("web: a\napi: b\n", Some(toml), env).unwrap();
        let (stack, _) = resolve_start(project, &start_args(&[]), &host).unwrap();
        let web = stack.instances[0].port;
        assert_ne!(web, base);
        let api = web + 100;
        let value = |index: usize, key: &str| {
            dotenv::lookup(stack.env_of(index), key)
                .unwrap_or_else(|| panic!("{key}"))
                .to_owned()
        };
        assert_eq!(value(0, "API"), format!("http://localhost:{api}/"));
        assert_eq!(value(0, "SELF"), format!("web.1@{web}"));
        assert_eq!(value(1, "SELF"), format!("web.2@{}", web + 1));
        assert_eq!(value(2, "SELF"), format!("api.1@{api}"));
        assert_eq!(value(0, "LIT"), "${PORT_API}");
        assert_eq!(
            value(0, "WEB"),
            web.to_string(),
            "procmux's wins over .env's"
        );
        let back = format!("http://localhost:{api}/|{api}|");
        assert_eq!(value(0, "BACK"), format!("{back}{web}"));
        assert_eq!(value(1, "BACK"), format!("{back}{}", web + 1));
        assert_eq!(stack.types[0].instance_env.len(), 1);
        // The project's own values: the ports known, PORT and PS not (each process has its own).
        let shared = |key: &str| dotenv::lookup(&stack.env, key).map(str::to_owned);
        assert_eq!(
            shared("API").as_deref(),
            Some(format!("http://localhost:{api}/").as_str())
        );
        assert_eq!(shared("SELF").as_deref(), Some("@"));
        // Nothing names PORT or PS: one environment per type.
        let project = Project::from_texts("web: a\napi: b\n", None, "A=${PORT_API}\n").unwrap();
        let (stack, _) = resolve_start(project, &start_args(&["-m", "web=3"]), &host).unwrap();
        assert!(stack.types.iter().all(|t| t.instance_env.is_empty()));
        assert_eq!(stack.env_of(2), [("A".to_owned(), "5100".to_owned())]);
    }

    #[test]
    fn run_takes_the_ports_a_running_stack_uses() {
        let project =
            Project::from_text("web: a\napi-web: b\nclock: c\n", None, Vec::new()).unwrap();
        let rows = |pairs: &[(&str, u16)]| -> Vec<(String, u16)> {
            pairs.iter().map(|(l, p)| (l.to_string(), *p)).collect()
        };
        let (base, ports) = ports_in_use(
            &project,
            &rows(&[("api-web.2", 20101), ("api-web.1", 20100)]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(base, 20000);
        let values: Vec<&str> = ports.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["20000", "20100", "20200"]);
        // Rows of names the Procfile no longer has, or no rows: nothing to take.
        assert!(
            ports_in_use(&project, &rows(&[("gone.1", 20000)]))
                .unwrap()
                .is_none()
        );
        assert!(ports_in_use(&project, &[]).unwrap().is_none());
        // A port below what its place says (the Procfile changed): not taken.
        assert!(
            ports_in_use(&project, &rows(&[("clock.1", 150)]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn port_zero_is_refused_and_ports_above_65535_are_not_given() {
        for (toml, flags, vars, start) in [
            (None, &["-p", "0"][..], &[][..], "--port 0: port 0 lets"),
            (
                Some("port = 0\n"),
                &[],
                &[],
                "procmux.toml: port = 0: port 0 lets",
            ),
            (
                None,
                &[],
                &[("PORT", " 0")],
                "PORT from the environment is 0: port 0",
            ),
        ] {
            let error = resolve("web: a\n", toml, flags, vars, false).unwrap_err();
            assert!(error.to_string().starts_with(start), "{error}");
        }
        // A flag overrides the file's 0, as any other value.
        assert!(resolve("web: a\n", Some("port = 0\n"), &["-p", "1"], &[], false).is_ok());
        // api would be at 65600: it cannot run, and is given to nobody.
        let (stack, _) = resolve(
            "web: a\napi: b\n",
            None,
            &["-p", "65500", "web"],
            &[],
            false,
        )
        .unwrap();
        assert_eq!(
            stack.port_env,
            [("PORT_WEB".to_owned(), "65500".to_owned())]
        );
        let error = resolve("web: a\napi: b\n", None, &["-p", "65500"], &[], false).unwrap_err();
        assert_eq!(error.to_string(), "api.1 would get port 65600, above 65535");
        let project = Project::from_text("web: a\napi: b\n", None, Vec::new()).unwrap();
        let (_, ports) = ports_in_use(&project, &[("web.1".to_owned(), 65500)])
            .unwrap()
            .unwrap();
        assert_eq!(ports, [("PORT_WEB".to_owned(), "65500".to_owned())]);
    }

    #[test]
    fn a_dependency_the_formation_leaves_out_is_an_error() {
        let toml = "[process.web]\nafter = [\"db\"]\n";
        let error = resolve(
            "db: postgres\nweb: puma\n",
            Some(toml),
            &["-m", "db=0"],
            &[],
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "web starts after db, but the formation runs no db"
        );
    }
}
