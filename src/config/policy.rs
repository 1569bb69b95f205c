//! Per-process supervision settings: the plain types the supervisor acts on ([`Policy`],
//! [`OnExit`], [`Backoff`], [`Ready`]), the small value languages of `procmux.toml`
//! (`ready = "tcp:$PORT"`, `"delay:2s"`, signal names), and their resolution from
//! `[process.NAME]` tables and the `--may-exit`/`--restart`/`--restart-on-failure` flags.
//!
//! Parsing is pure and unit-tested; errors in the file are reported at its line and column.

use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;
use toml::Spanned;

use super::duration::{FileDuration, parse_duration};
use super::file::ProcessConfig;
use super::pattern::{LinePattern, READY_BUDGET};
use super::project::{ConfigFile, Project};
use super::servers::{KnownServer, known_server};
use crate::cli::StartArgs;
use crate::error::Result;

/// What to do when a process exits while the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// Stop everything (foreman's rule, the default).
    StopAll,
    /// Let it be: the others keep running.
    Ignore,
    /// Start it again, with backoff.
    Restart,
    /// Start it again after a non-zero exit or a death by signal; a clean exit is let be.
    RestartOnFailure,
}

/// What to do when a restarting process exits too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnGiveUp {
    StopAll,
    /// Leave it dead; the others keep running.
    Leave,
}

/// Restart timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay; each consecutive restart doubles it...
    pub initial: Duration,
    /// ...up to this.
    pub max: Duration,
    /// A run at least this long resets the delay to `initial`.
    pub stable_after: Duration,
    /// At most this many restarts within `window`; one more gives up.
    pub max_restarts: u32,
    pub window: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// When a process counts as ready, so that processes `after` it can start (`ready = "…"`).
#[derive(Debug, Clone)]
pub enum Ready {
    /// As soon as it started (the default).
    Started,
    /// The instance's own process tree listens on this TCP port (IPv4 or IPv6); `None` is the
    /// instance's `$PORT`.
    Tcp(Option<u16>),
    /// An HTTP GET answers 2xx or 3xx.
    Http(HttpProbe),
    /// A line of its output matches.
    Log(LinePattern),
    /// It exited with code 0 (a one-shot such as a migration).
    ExitZero,
    /// This long after it started.
    Delay(Duration),
    /// A command (run by `/bin/sh -c` in the instance's environment and directory, every
    /// `ready_interval`) exited 0: `pg_isready`, `redis-cli ping`.
    Exec(String),
}

impl Ready {
    /// True when the runtime must detect readiness (a probe or a log pattern); the supervisor
    /// decides the other kinds by itself.
    pub fn is_reported(&self) -> bool {
        matches!(
            self,
            Ready::Tcp(_) | Ready::Http(_) | Ready::Log(_) | Ready::Exec(_)
        )
    }
}

/// `ready = "http://127.0.0.1:$PORT/health"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// An IP address (`localhost` is 127.0.0.1).
    pub ip: std::net::IpAddr,
    /// `None` is the instance's `$PORT`.
    pub port: Option<u16>,
    /// The path and query, from its `/`.
    pub path: String,
    /// The `Host` header: the host as written.
    pub host: String,
}

impl HttpProbe {
    /// Parses what follows `http://`: `HOST[:PORT][/PATH]`, HOST an IP address (IPv6 in
    /// brackets) or `localhost`, PORT a number or `$PORT`.
    fn parse(rest: &str) -> Result<HttpProbe, String> {
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
            _ => (authority, None),
        };
        let port = match port {
            None => Some(80),
            Some("$PORT" | "${PORT}") => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .map_err(|_| format!("\"{port}\" is not a port number or $PORT"))?,
            ),
        };
        let ip = match host {
            "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
            host => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("\"{host}\": expected an IP address or localhost"))?,
        };
        Ok(HttpProbe {
            ip,
            port,
            path: path.to_owned(),
            host: host.to_owned(),
        })
    }
}

/// Where a process's stop signal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalSource {
    /// None chosen: the signal the user gave (SIGINT after Ctrl-C, SIGTERM otherwise).
    Given,
    /// `stop_signal` in `procmux.toml`: always this one.
    Configured,
    /// A known server's graceful signal (see [`super::servers`]), by its program's name.
    Known(&'static KnownServer),
}

/// One process type's supervision.
#[derive(Debug, Clone)]
pub struct Policy {
    pub on_exit: OnExit,
    pub backoff: Backoff,
    pub on_give_up: OnGiveUp,
    /// The signal for a stop asked for by `procmux stop`/`restart`, SIGTERM or SIGHUP, and
    /// what exporters write; see [`Policy::stop_signal_after`] for Ctrl-C.
    pub stop_signal: Signal,
    pub stop_signal_from: SignalSource,
    pub stop_timeout: Duration,
    pub ready: Ready,
    pub ready_timeout: Duration,
    /// Between the starts of two `exec:` checks.
    pub ready_interval: Duration,
}

impl Policy {
    /// foreman's behaviour: any exit stops everything; SIGTERM, then SIGKILL after `timeout`.
    pub fn foreman(timeout: Duration) -> Policy {
        Policy {
            on_exit: OnExit::StopAll,
            backoff: Backoff::default(),
            on_give_up: OnGiveUp::StopAll,
            stop_signal: Signal::SIGTERM,
            stop_signal_from: SignalSource::Given,
            stop_timeout: timeout,
            ready: Ready::Started,
            ready_timeout: Duration::from_secs(60),
            ready_interval: Duration::from_secs(1),
        }
    }

    /// The signal that stops it when the user gave `given` (SIGINT for Ctrl-C, SIGTERM for
    /// everything else): its own or a known server's signal wins.
    pub fn stop_signal_after(&self, given: Signal) -> Signal {
        match self.stop_signal_from {
            SignalSource::Given => given,
            SignalSource::Configured | SignalSource::Known(_) => self.stop_signal,
        }
    }

    /// The default stop signal of the program `command` runs: a known server's graceful one.
    fn recognise(&mut self, command: &str) {
        if let Some(known) = known_server(command) {
            self.stop_signal = known.signal;
            self.stop_signal_from = SignalSource::Known(known);
        }
    }
}

/// `tcp:PORT`, `tcp:$PORT`, `http://HOST:PORT/PATH`, `log:REGEX`, `exit:0`, `delay:DURATION`,
/// `exec:COMMAND`.
pub fn parse_ready(text: &str) -> Result<Ready, String> {
    let expected = || {
        format!(
            "\"{text}\": expected tcp:PORT, http://HOST:PORT/PATH, log:REGEX, exit:0, delay:DURATION or exec:COMMAND"
        )
    };
    if let Some(rest) = text.strip_prefix("http://") {
        return HttpProbe::parse(rest)
            .map(Ready::Http)
            .map_err(|e| format!("\"{text}\": {e}"));
    }
    let (kind, value) = text.split_once(':').ok_or_else(expected)?;
    match kind {
        "tcp" if value == "$PORT" || value == "${PORT}" => Ok(Ready::Tcp(None)),
        "tcp" => value
            .parse::<u16>()
            .map(|port| Ready::Tcp(Some(port)))
            .map_err(|_| format!("\"{text}\": expected a port number or $PORT after tcp:")),
        "log" => LinePattern::new(value, READY_BUDGET)
            .map(Ready::Log)
            .map_err(|e| format!("\"{text}\": {e}")),
        "exit" if value == "0" => Ok(Ready::ExitZero),
        "exit" => Err(format!("\"{text}\": only exit:0 is supported")),
        "exec" if value.trim().is_empty() => {
            Err(format!("\"{text}\": a command must follow exec:"))
        }
        "exec" if value.contains('\0') => Err(format!("\"{text}\": a NUL byte in the command")),
        "exec" => Ok(Ready::Exec(value.to_owned())),
        "delay" => parse_duration(value)
            .map(Ready::Delay)
            .map_err(|e| format!("\"{text}\": {e}")),
        _ => Err(expected()),
    }
}

/// `TERM`, `SIGTERM`, `term`.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    match Signal::from_str(&name) {
        Ok(Signal::SIGKILL | Signal::SIGSTOP) => Err(format!("\"{text}\" cannot be a stop signal")),
        Ok(signal) => Ok(signal),
        Err(_) => Err(format!(
            "\"{text}\" is not a signal name (like TERM, INT, QUIT)"
        )),
    }
}

pub fn parse_on_exit(text: &str) -> Result<OnExit, String> {
    match text {
        "stop-all" => Ok(OnExit::StopAll),
        "ignore" => Ok(OnExit::Ignore),
        "restart" => Ok(OnExit::Restart),
        "restart-on-failure" => Ok(OnExit::RestartOnFailure),
        _ => Err(format!(
            "\"{text}\": expected stop-all, ignore, restart or restart-on-failure"
        )),
    }
}

pub fn parse_on_give_up(text: &str) -> Result<OnGiveUp, String> {
    match text {
        "stop-all" => Ok(OnGiveUp::StopAll),
        "leave" => Ok(OnGiveUp::Leave),
        _ => Err(format!("\"{text}\": expected stop-all or leave")),
    }
}

/// The first cycle in a dependency graph (`after[i]` lists what `i` waits for), as indices.
pub fn find_cycle(after: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Closed,
    }
    fn visit(
        i: usize,
        after: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match marks[i] {
            Mark::Closed => return None,
            Mark::Open => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(i);
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        path.push(i);
        for &next in &after[i] {
            if let Some(cycle) = visit(next, after, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks[i] = Mark::Closed;
        None
    }
    let mut marks = vec![Mark::New; after.len()];
    (0..after.len()).find_map(|i| visit(i, after, &mut marks, &mut Vec::new()))
}

/// A process type's supervision, before instances exist.
pub struct TypeSettings {
    pub policy: Policy,
    /// Names of the types that must be ready first, as written (and those of `restart_with`).
    pub after: Vec<String>,
    /// Names of the types whose restarts it follows (`restart_with`).
    pub restart_with: Vec<String>,
}

/// Every Procfile entry's policy: defaults, then its `[process.NAME]` table, then the flags.
pub fn resolve_types(
    project: &Project,
    args: &StartArgs,
    timeout: Duration,
) -> Result<Vec<TypeSettings>> {
    for name in args
        .may_exit
        .iter()
        .chain(&args.restart)
        .chain(&args.restart_on_failure)
    {
        if project.procfile.position(name).is_none() {
            return Err(project.unknown_name(name, ""));
        }
    }
    let mut types = Vec::new();
    for entry in &project.procfile.entries {
        let mut settings = TypeSettings {
            policy: Policy::foreman(timeout),
            after: Vec::new(),
            restart_with: Vec::new(),
        };
        settings.policy.recognise(&entry.command);
        if let Some(file) = &project.file
            && let Some(table) = file.config.table(&entry.name)
        {
            apply_table(project, file, table, &mut settings)?;
        }
        let named = |list: &[String]| list.iter().any(|n| n == &entry.name);
        if named(&args.may_exit) {
            settings.policy.on_exit = OnExit::Ignore;
        }
        if named(&args.restart) {
            settings.policy.on_exit = OnExit::Restart;
        }
        if named(&args.restart_on_failure) {
            settings.policy.on_exit = OnExit::RestartOnFailure;
        }
        types.push(settings);
    }
    check_cycles(project, &types)?;
    Ok(types)
}

/// `after` must not make processes wait for each other; the error points at the first
/// `after` of the cycle's first process.
fn check_cycles(project: &Project, types: &[TypeSettings]) -> Result<()> {
    let graph: Vec<Vec<usize>> = types
        .iter()
        .map(|t| {
            t.after
                .iter()
                .filter_map(|name| project.procfile.position(name))
                .collect()
        })
        .collect();
    let (Some(cycle), Some(file)) = (find_cycle(&graph), &project.file) else {
        // Only the file says `after`: without one there is no graph.
        return Ok(());
    };
    let names: Vec<&str> = cycle
        .iter()
        .map(|&i| project.procfile.entries[i].name.as_str())
        .collect();
    let message = format!(
        "after: processes wait for each other: {}",
        names.join(" → ")
    );
    let first = &project.procfile.entries[cycle[0]].name;
    let span = file
        .config
        .table(first)
        .and_then(|t| t.after.as_ref()?.first().map(Spanned::span))
        .unwrap_or(0..0);
    Err(file.error_at(span, message))
}

/// Applies one `[process.NAME]` table, reporting bad values at their place in the file.
fn apply_table(
    project: &Project,
    file: &ConfigFile,
    table: &ProcessConfig,
    settings: &mut TypeSettings,
) -> Result<()> {
    let policy = &mut settings.policy;
    let seconds = |value: &Option<Spanned<FileDuration>>, key: &str| -> Result<Option<Duration>> {
        value.as_ref().map(|v| file.duration(v, key)).transpose()
    };
    if let Some(v) = &table.on_exit {
        policy.on_exit = parse_on_exit(v.get_ref())
            .map_err(|e| file.error_at(v.span(), format!("on_exit: {e}")))?;
    }
    if let Some(v) = &table.on_give_up {
        policy.on_give_up = parse_on_give_up(v.get_ref())
            .map_err(|e| file.error_at(v.span(), format!("on_give_up: {e}")))?;
    }
    if let Some(v) = &table.stop_signal {
        policy.stop_signal = parse_signal(v.get_ref())
            .map_err(|e| file.error_at(v.span(), format!("stop_signal: {e}")))?;
        policy.stop_signal_from = SignalSource::Configured;
    }
    if let Some(d) = seconds(&table.stop_timeout, "stop_timeout")? {
        policy.stop_timeout = d;
    }
    if let Some(d) = seconds(&table.restart_delay, "restart_delay")? {
        policy.backoff.initial = d;
    }
    if let Some(d) = seconds(&table.restart_delay_max, "restart_delay_max")? {
        policy.backoff.max = d;
    }
    if let Some(d) = seconds(&table.stable_after, "stable_after")? {
        policy.backoff.stable_after = d;
    }
    if let Some(d) = seconds(&table.restart_window, "restart_window")? {
        policy.backoff.window = d;
    }
    if let Some(n) = table.max_restarts {
        policy.backoff.max_restarts = n;
    }
    if let Some(d) = seconds(&table.ready_timeout, "ready_timeout")? {
        policy.ready_timeout = d;
    }
    if let Some(v) = &table.ready_interval {
        let interval = file.duration(v, "ready_interval")?;
        if interval < Duration::from_millis(10) {
            return Err(file.error_at(v.span(), "ready_interval: at least 10ms".to_owned()));
        }
        policy.ready_interval = interval;
    }
    if let Some(v) = &table.ready {
        policy.ready =
            parse_ready(v.get_ref()).map_err(|e| file.error_at(v.span(), format!("ready: {e}")))?;
    }
    for item in table.after.iter().flatten() {
        let name = item.get_ref().name();
        if project.procfile.position(name).is_none() {
            return Err(file.error_at(
                item.span(),
                format!("after: {}", project.unknown_message(name)),
            ));
        }
        settings.after.push(name.clone());
    }
    // `after = [{ name = "db", restart = true }]` is `restart_with = ["db"]` too.
    let named = table
        .restart_with
        .iter()
        .flatten()
        .map(|n| (n.get_ref(), n.span()));
    let followed = table
        .after
        .iter()
        .flatten()
        .filter(|a| a.get_ref().restart())
        .map(|a| (a.get_ref().name(), a.span()));
    for (leader, span) in named.chain(followed) {
        if project.procfile.position(leader).is_none() {
            return Err(file.error_at(
                span,
                format!("restart_with: {}", project.unknown_message(leader)),
            ));
        }
        if !settings.restart_with.contains(leader) {
            settings.restart_with.push(leader.clone());
        }
        // It starts again once its leader is ready: it waits for it.
        if !settings.after.contains(leader) {
            settings.after.push(leader.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_specs() {
        assert!(matches!(parse_ready("tcp:$PORT"), Ok(Ready::Tcp(None))));
        assert!(matches!(
            parse_ready("tcp:5432"),
            Ok(Ready::Tcp(Some(5432)))
        ));
        assert!(matches!(parse_ready("exit:0"), Ok(Ready::ExitZero)));
        assert!(
            matches!(parse_ready("exec:pg_isready -h 127.0.0.1 -p $PORT"), Ok(Ready::Exec(c)) if c == "pg_isready -h 127.0.0.1 -p $PORT")
        );
        assert!(
            matches!(parse_ready("delay:1.5s"), Ok(Ready::Delay(d)) if d == Duration::from_millis(1500))
        );
        match parse_ready("log:Listening on \\d+") {
            Ok(Ready::Log(re)) => assert!(re.is_match(b"Listening on 5000")),
            other => panic!("{other:?}"),
        }
        match parse_ready("http://127.0.0.1:$PORT/health?deep=1") {
            Ok(Ready::Http(probe)) => assert_eq!(
                (
                    probe.ip.to_string(),
                    probe.port,
                    probe.path.as_str(),
                    probe.host.as_str()
                ),
                ("127.0.0.1".to_owned(), None, "/health?deep=1", "127.0.0.1")
            ),
            other => panic!("{other:?}"),
        }
        match parse_ready("http://[::1]:8080") {
            Ok(Ready::Http(probe)) => {
                assert_eq!(
                    (probe.ip.to_string(), probe.port, probe.path.as_str()),
                    ("::1".to_owned(), Some(8080), "/")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(parse_ready("http://localhost/"), Ok(Ready::Http(p)) if p.port == Some(80))
        );
        for bad in [
            "tcp",
            "tcp:http",
            "exit:1",
            "log:(",
            "delay:soon",
            "http:80",
            "http://example.com/",
            "http://127.0.0.1:x/",
            "exec:",
            "exec:  ",
            "exec:a\0b",
        ] {
            assert!(parse_ready(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_signals() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigint"), Ok(Signal::SIGINT));
        assert_eq!(parse_signal("USR1"), Ok(Signal::SIGUSR1));
        assert!(parse_signal("KILL").is_err());
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(
            parse_on_exit("restart-on-failure"),
            Ok(OnExit::RestartOnFailure)
        );
        assert!(parse_on_exit("sometimes").is_err());
        assert_eq!(parse_on_give_up("leave"), Ok(OnGiveUp::Leave));
    }

    #[test]
    fn cycles() {
        assert_eq!(find_cycle(&[vec![], vec![0], vec![0, 1]]), None);
        assert_eq!(
            find_cycle(&[vec![1], vec![2], vec![0]]),
            Some(vec![0, 1, 2, 0])
        );
        assert_eq!(find_cycle(&[vec![], vec![1]]), Some(vec![1, 1]));
    }
}
