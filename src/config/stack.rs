//! The [`Stack`]: what to run, in plain data. Built once from the project and the options;
//! read by the supervisor, the runtime and (later) the exporters, which need the per-type
//! facts as the user wrote them (`after = ["db"]`, the stop signal, the readiness kind).

use std::path::PathBuf;

use super::policy::Policy;
pub use super::project::Source;

/// Every process type of the Procfile, its instances, and what they run in.
#[derive(Debug)]
pub struct Stack {
    /// The Procfile as the user named it, for messages.
    pub procfile: String,
    /// The control socket's abstract name, unless `--control off`.
    pub control: Option<String>,
    /// Bytes of recent output kept for `procmux logs`.
    pub tail_bytes: usize,
    /// `--stdin NAME`: the instance that gets what is typed into procmux's terminal.
    pub stdin: Option<usize>,
    /// The project's root: the working directory of every process without a `cwd`, and the
    /// tree `watch` watches.
    pub root: PathBuf,
    /// Variables from the project's env files, each key once, later files winning. Each
    /// process gets its own [`ProcessType::env`], which starts from these.
    pub env: Vec<(String, String)>,
    /// Every Procfile entry, in file order (which decides ports and colours), even those the
    /// formation runs no instance of.
    pub types: Vec<ProcessType>,
    /// The instances to run, grouped by type in Procfile order.
    pub instances: Vec<InstanceSpec>,
    /// `--exit-code-from`: the type whose first instance's exit decides procmux's code.
    pub exit_code_from: Option<String>,
    /// `--stderr mark`: stderr on a pipe of its own.
    pub split_stderr: bool,
    /// Pass `FORCE_COLOR=1` and `CLICOLOR_FORCE=1` to processes on pipes.
    pub color_hint: bool,
    /// `PORT_<NAME>` for every process type, given to every process (after `.env`).
    pub port_env: Vec<(String, String)>,
    /// With `port = "auto"`: the block chosen, first and last port.
    pub auto_ports: Option<(u16, u16)>,
    /// The files read, in order, and what each set or changed (for `check`).
    pub sources: Vec<Source>,
    /// The profiles of `procmux.toml`, resolved (for `check`).
    pub profiles: Vec<super::Profile>,
    /// This procmux is the one `start --detach` started: its stderr is read by that command
    /// until the stack is up, so a failure before then is said there.
    pub detached: bool,
}

/// One Procfile entry and how it is run.
#[derive(Debug)]
pub struct ProcessType {
    pub name: String,
    pub command: String,
    /// Instances the formation runs (0 for a type left out).
    pub count: usize,
    /// Run it, but do not show its output.
    pub quiet: bool,
    /// A pseudo-terminal instead of pipes.
    pub pty: bool,
    pub policy: Policy,
    /// Types that must be ready before this one starts, by name (with a release phase, every
    /// type but it and what it needs waits for it).
    pub after: Vec<String>,
    /// Types whose restarts it follows (`restart_with`): stopped before one of them restarts,
    /// started again once it is ready.
    pub restart_with: Vec<String>,
    /// The release phase: runs once, before the others, ready when it exits 0; a failure
    /// stops the start. A restart of the stack by glob does not run it again.
    pub release: bool,
    /// Files whose changes restart it (`watch`), if any.
    pub watch: Option<Watch>,
    /// Its variables: the project's env files, its `env_file`s, its `env` table, each key once,
    /// later winning; overlaid on the inherited environment, before `PORT` and `PS`. Values
    /// are expanded with procmux's own variables known: `${PORT_<NAME>}`, and its first
    /// instance's `${PORT}` and `${PS}`.
    pub env: Vec<(String, String)>,
    /// The variables of its instances past the first (instance N's at N − 2), when a value
    /// names `PORT` or `PS` and so differs between them; empty otherwise ([`Stack::env_of`]).
    pub instance_env: Vec<Vec<(String, String)>>,
    /// Its working directory: the root, or the root joined with `cwd`.
    pub dir: PathBuf,
    /// `cwd` as written, relative to the root (`None`: the root).
    pub cwd: Option<String>,
    /// Its own env files, as named in messages, in the order read (for `check`).
    pub env_files: Vec<String>,
    /// The keys its `env` table sets, in file order (for `check`).
    pub env_keys: Vec<String>,
}

/// `watch = [...]`, `watch_ignore = [...]`: globs relative to the process's directory, as
/// written and compiled.
#[derive(Debug, Clone)]
pub struct Watch {
    pub globs: Vec<String>,
    pub matches: globset::GlobSet,
    pub ignores: globset::GlobSet,
}

/// One instance to run: `web.2` is instance 2 of type `web`.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Index of its type in [`Stack::types`] (its Procfile position).
    pub type_index: usize,
    pub name: String,
    /// 1-based instance number.
    pub number: usize,
    pub port: u16,
}

impl InstanceSpec {
    /// `web.1`: the label in the output and the value of `PS`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.name, self.number)
    }
}

impl Stack {
    /// The longest stop timeout of its types (5 s when it has none).
    pub fn longest_stop(&self) -> std::time::Duration {
        let longest = self.types.iter().map(|t| t.policy.stop_timeout).max();
        longest.unwrap_or(std::time::Duration::from_secs(5))
    }

    /// The type of instance `index`.
    pub fn type_of(&self, index: usize) -> &ProcessType {
        &self.types[self.instances[index].type_index]
    }

    /// The variables of instance `index` (its type's, or its own when they differ).
    pub fn env_of(&self, index: usize) -> &[(String, String)] {
        let kind = self.type_of(index);
        self.instances[index]
            .number
            .checked_sub(2)
            .and_then(|n| kind.instance_env.get(n))
            .unwrap_or(&kind.env)
    }

    /// The port of the first instance of the type called `name` (the others count up from
    /// it); 0 when the formation runs none.
    pub fn first_port(&self, name: &str) -> u16 {
        self.instances_of(name)
            .next()
            .map_or(0, |i| self.instances[i].port)
    }

    /// Indices of the instances of the type called `name`.
    pub fn instances_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.instances
            .iter()
            .enumerate()
            .filter(move |(_, spec)| spec.name == name)
            .map(|(index, _)| index)
    }
}
