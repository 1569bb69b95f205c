//! The control protocol's messages: pure, so the server's parser is tested against hostile
//! input without a socket.

use serde::{Deserialize, Serialize};

/// The longest request line accepted; a longer one is an error and closes the connection.
pub const MAX_REQUEST: usize = 4096;
/// Most names one request may carry.
const MAX_NAMES: usize = 256;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The server's pid (a second `start` names the running one).
    Pid,
    /// One JSON [`Row`] per line, per instance.
    Status,
    Restart(Vec<String>),
    /// No names: the whole stack.
    Stop(Vec<String>),
    Logs {
        follow: bool,
        names: Vec<String>,
        /// Framed: each piece of the tail with its instance and time, for a client that
        /// filters and reformats lines (`logs --since --grep -n --json`); see [`frame_head`].
        /// Following, it starts with every line kept, then a [`LIVE`] frame.
        framed: bool,
    },
    /// An interactive session with one instance (see `procmux attach`).
    Attach(String),
}

impl Request {
    /// The request as one line (without its newline).
    pub fn line(&self) -> String {
        let with = |verb: &str, names: &[String]| {
            std::iter::once(verb)
                .chain(names.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Request::Pid => "pid".to_owned(),
            Request::Status => "status".to_owned(),
            Request::Restart(names) => with("restart", names),
            Request::Stop(names) => with("stop", names),
            Request::Logs {
                follow,
                names,
                framed,
            } => {
                let verb = match (follow, framed) {
                    (false, false) => "logs",
                    (true, false) => "follow",
                    (false, true) => "records",
                    (true, true) => "follow-records",
                };
                with(verb, names)
            }
            Request::Attach(name) => format!("attach {name}"),
        }
    }

    /// Parses a request line. Names are process names, instance labels or globs: letters,
    /// digits and `_ - . * ? [ ] ! { } ,`, nothing a shell or a path could make more of.
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        let line = std::str::from_utf8(line).map_err(|_| "a request is text".to_owned())?;
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().ok_or("empty request")?;
        let names: Vec<String> = words.map(str::to_owned).collect();
        if names.len() > MAX_NAMES {
            return Err(format!("too many names (at most {MAX_NAMES})"));
        }
        if let Some(bad) = names.iter().find(|n| !is_pattern(n)) {
            return Err(format!("not a process name: {bad:?}"));
        }
        let no_names = |request: Request| {
            if names.is_empty() {
                Ok(request)
            } else {
                Err(format!("{verb} takes no name"))
            }
        };
        match verb {
            "pid" => no_names(Request::Pid),
            "status" => no_names(Request::Status),
            "restart" if names.is_empty() => Err("restart needs a name".to_owned()),
            "restart" => Ok(Request::Restart(names)),
            "stop" => Ok(Request::Stop(names)),
            "logs" | "follow" | "records" | "follow-records" => Ok(Request::Logs {
                follow: verb.starts_with("follow"),
                framed: verb.ends_with("records"),
                names,
            }),
            "attach" => match &names[..] {
                [name] => Ok(Request::Attach(name.clone())),
                _ => Err("attach takes one name".to_owned()),
            },
            _ => Err(format!("unknown request {verb:?}")),
        }
    }
}

/// The label of the frame that ends what a framed follower is given of the past: what
/// follows it is new.
pub const LIVE: &str = "@live";
/// The label of a frame holding a note from procmux to the reader (lines it skipped).
pub const NOTE: &str = "@note";

/// The head of a frame of a framed reader: `LEN MILLIS KIND LABEL\n`, then LEN bytes of the
/// tail (whole lines but where a line is longer than a reader's budget), written at MILLIS
/// (since the Unix epoch), by the process (KIND `o`) or by procmux (`p`: a notice), about
/// LABEL (`web.1`, `system` for the whole stack, or [`LIVE`], [`NOTE`]).
pub fn frame_head(len: usize, millis: i64, own: bool, label: &str) -> String {
    let kind = if own { 'p' } else { 'o' };
    format!("{len} {millis} {kind} {label}\n")
}

/// The most bytes a frame head takes: two numbers, a kind, a label, spaces and a newline.
pub const FRAME_HEAD_MAX: usize = 20 + 20 + 1 + MAX_LABEL + 4;
/// The longest label a frame carries (longer ones are cut; names are ASCII).
pub const MAX_LABEL: usize = 128;

/// Parses a frame head (without its newline): (length, millis, procmux's own, label).
pub fn parse_frame_head(line: &str) -> Option<(usize, i64, bool, &str)> {
    let mut words = line.splitn(4, ' ');
    let len = words.next()?.parse().ok()?;
    let millis = words.next()?.parse().ok()?;
    let own = match words.next()? {
        "o" => false,
        "p" => true,
        _ => return None,
    };
    let label = words.next()?;
    Some((len, millis, own, label))
}

/// How the main stream's lines are laid out, so a framed reader can take the prefix off: said
/// in the header of a framed answer (`ok text 18 color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[time ]label | text`: the prefix takes `width` columns, wrapped in colour or not.
    Text { width: usize, color: bool },
    /// `--format json`: one object per line.
    Json,
    /// `--no-prefix`: lines as the processes wrote them.
    Bare,
}

impl Layout {
    pub fn words(self) -> String {
        match self {
            Layout::Text { width, color } => {
                format!("text {width}{}", if color { " color" } else { "" })
            }
            Layout::Json => "json".to_owned(),
            Layout::Bare => "bare".to_owned(),
        }
    }

    pub fn parse(words: &str) -> Option<Layout> {
        let mut words = words.split_ascii_whitespace();
        match words.next()? {
            "text" => {
                let width = words.next()?.parse().ok()?;
                let color = words.next() == Some("color");
                Some(Layout::Text { width, color })
            }
            "json" => Some(Layout::Json),
            "bare" => Some(Layout::Bare),
            _ => None,
        }
    }
}

fn is_pattern(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.*?[]!{},".contains(&b))
}

/// How a refusal of a name that matches no instance begins: the client tells the user's
/// mistake (exit 2) from the stack's refusal (exit 1) by it.
pub const NO_SUCH_NAME: &str = "no process named";

/// The instances (indices into `instances`, each `(type, number)`) that `names` select: a type
/// name selects all its instances, `web.2` one, a glob (`*`, `?`, `[a-z]`, `[!x]`,
/// `{web,worker}`) every instance whose label or type matches, an include's name (`api`) every
/// instance of its entries (`api.web`). A name that selects nothing,
/// or is not a valid glob, is an error.
///
/// Globs are compiled to automata (`globset`), so matching takes time linear in the name
/// whatever the pattern: `***…x` cannot stall the stack.
pub fn select(names: &[String], instances: &[(&str, usize)]) -> Result<Vec<usize>, String> {
    let mut selected = Vec::new();
    for name in names {
        let glob = globset::GlobBuilder::new(name)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("{name:?}: {}", e.kind()))?
            .compile_matcher();
        let before = selected.len();
        for (index, (kind, number)) in instances.iter().enumerate() {
            let label = format!("{kind}.{number}");
            // An include's name selects its entries (`api` → `api.web`, `api.worker`).
            let member = kind
                .strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with('.'));
            if (glob.is_match(kind) || glob.is_match(&label) || member)
                && !selected.contains(&index)
            {
                selected.push(index);
            }
        }
        if selected.len() == before && !instances.iter().any(|(k, _)| glob.is_match(k)) {
            return Err(format!("{NO_SUCH_NAME} {name:?}"));
        }
    }
    selected.sort_unstable();
    Ok(selected)
}

/// Where an instance is in its life, as `status` shows it: one word from a fixed set, so a
/// script can match on it (`status --json`'s `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for the instances it starts after.
    Waiting,
    /// Running, its readiness not seen yet.
    Starting,
    /// Running, with no readiness to wait for.
    Running,
    /// Running, and its readiness was seen.
    Ready,
    /// Stop signal sent, its process group not yet empty.
    Stopping,
    /// Stopped on request (`procmux stop NAME`), or at the shutdown.
    Stopped,
    /// Exited; restarts after a delay.
    BackingOff,
    /// Exited, for good (see `exit_code`, `signal`).
    Exited,
    /// Restarted too often; left stopped.
    GivenUp,
}

impl State {
    /// The word, as in JSON.
    pub fn word(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::Running => "running",
            State::Ready => "ready",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::BackingOff => "backing_off",
            State::Exited => "exited",
            State::GivenUp => "given_up",
        }
    }
}

/// One instance in `procmux status`: sent by the server as one JSON object per line, which
/// is also what `status --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// `web.1`.
    pub name: String,
    pub pid: Option<i32>,
    pub state: State,
    /// True once its readiness was seen (or, with none to wait for, once it runs).
    pub ready: bool,
    /// How its last run ended, once it ended: a code, or a signal's name (`SIGKILL`).
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Milliseconds since its last start, while it runs.
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    /// The `$PORT` it was given.
    pub port: u16,
    /// The TCP ports its process tree listens on (from `/proc`), lowest first.
    pub listening: Vec<u16>,
    /// The signal a stop sends (`SIGTERM`, or its own), and the one after Ctrl-C.
    pub stop_signal: String,
    pub interrupt_signal: String,
    /// The globs whose changes restart it (`watch`).
    pub watch: Vec<String>,
    /// The processes whose restarts it follows (`restart_with`).
    #[serde(default)]
    pub restart_with: Vec<String>,
}

impl Row {
    /// The row as one JSON line (without its newline).
    pub fn line(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(line: &str) -> Option<Row> {
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn requests_round_trip_and_hostile_ones_are_refused() {
        let requests = [
            Request::Pid,
            Request::Status,
            Request::Restart(vec!["web".into(), "w*.2".into(), "{web,db}".into()]),
            Request::Stop(vec![]),
            Request::Logs {
                follow: true,
                names: vec!["web".into()],
                framed: false,
            },
            Request::Logs {
                follow: false,
                names: vec![],
                framed: true,
            },
            Request::Logs {
                follow: true,
                names: vec!["w*".into()],
                framed: true,
            },
            Request::Attach("web.2".into()),
        ];
        for request in requests {
            assert_eq!(Request::parse(request.line().as_bytes()), Ok(request));
        }
        for bad in [
            &b""[..],
            b"rm -rf /",
            b"restart",
            b"status web",
            b"restart $(reboot)",
            b"restart ../x/y",
            b"stop a;b",
            b"attach",
            b"attach a b",
            b"logs caf\xe9",
            b"\xff\xfe",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
        let many = format!("restart{}", " a".repeat(MAX_NAMES + 1));
        assert!(Request::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn frame_heads_and_layouts_round_trip() {
        let head = frame_head(12, 1_700_000_000_123, false, "web.1");
        assert_eq!(head, "12 1700000000123 o web.1\n");
        assert_eq!(
            parse_frame_head(head.trim_end()),
            Some((12, 1_700_000_000_123, false, "web.1"))
        );
        assert_eq!(parse_frame_head("0 0 p @live"), Some((0, 0, true, "@live")));
        for bad in ["", "12", "x 1 o a", "1 y o a", "1 2", "1 2 x a", "1 2 o"] {
            assert_eq!(parse_frame_head(bad), None, "{bad}");
        }
        for layout in [
            Layout::Text {
                width: 18,
                color: true,
            },
            Layout::Text {
                width: 0,
                color: false,
            },
            Layout::Json,
            Layout::Bare,
        ] {
            assert_eq!(Layout::parse(&layout.words()), Some(layout));
        }
        assert_eq!(Layout::parse("text x"), None);
        assert_eq!(Layout::parse("nope"), None);
    }

    fn pick(names: &[&str]) -> Result<Vec<usize>, String> {
        let instances = [("web", 1), ("web", 2), ("worker", 1), ("db", 1)];
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        select(&names, &instances)
    }

    #[test]
    fn names_select_types_instances_and_globs() {
        assert_eq!(pick(&["web"]), Ok(vec![0, 1]));
        assert_eq!(pick(&["web.2"]), Ok(vec![1]));
        assert_eq!(pick(&["w*"]), Ok(vec![0, 1, 2]));
        assert_eq!(pick(&["*.1", "db"]), Ok(vec![0, 2, 3]));
        assert_eq!(pick(&["w[eo]*.1"]), Ok(vec![0, 2]));
        assert_eq!(pick(&["[!w]*"]), Ok(vec![3]));
        assert_eq!(pick(&["{db,worker}"]), Ok(vec![2, 3]));
        assert_eq!(pick(&["web.?"]), Ok(vec![0, 1]));
        assert!(pick(&["nope"]).is_err());
        assert!(pick(&["[unclosed"]).is_err());
        assert!(pick(&["{a,b"]).is_err());
    }

    #[test]
    fn an_include_name_selects_its_entries() {
        let instances = [
            ("api", 1),
            ("api.web", 1),
            ("api.web", 2),
            ("api.worker", 1),
            ("apix.web", 1),
        ];
        let pick = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            select(&names, &instances)
        };
        // `api` is an entry of its own here: it and the include's entries.
        assert_eq!(pick(&["api"]), Ok(vec![0, 1, 2, 3]));
        assert_eq!(pick(&["api.web"]), Ok(vec![1, 2]));
        assert_eq!(pick(&["api.web.2"]), Ok(vec![2]));
        // A glob matches labels too: `api.1` is `api.*`.
        assert_eq!(pick(&["api.*"]), Ok(vec![0, 1, 2, 3]));
        assert_eq!(pick(&["apix"]), Ok(vec![4]));
    }

    #[test]
    fn pathological_globs_answer_at_once() {
        // A backtracking matcher takes 2^40 steps for this one.
        let stars = format!("{}x", "*".repeat(1000));
        let long = "background-worker".repeat(50);
        let instances = [(long.as_str(), 1), ("background-worker", 1)];
        let started = Instant::now();
        for _ in 0..10 {
            assert!(select(std::slice::from_ref(&stars), &instances).is_err());
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        let request = format!("logs {stars}");
        assert!(Request::parse(request.as_bytes()).is_ok());
    }

    #[test]
    fn rows_round_trip_as_json_with_typed_fields() {
        let row = Row {
            name: "web.1".into(),
            pid: None,
            state: State::Exited,
            ready: false,
            exit_code: Some(3),
            signal: None,
            uptime_ms: None,
            restarts: 2,
            port: 5000,
            listening: vec![55432],
            stop_signal: "SIGINT".into(),
            interrupt_signal: "SIGINT".into(),
            watch: vec!["src/**/*.{rs,toml}".into(), "a\tb".into()],
            restart_with: vec!["db".into()],
        };
        let line = row.line();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""state":"exited""#), "{line}");
        assert!(line.contains(r#""restart_with":["db"]"#), "{line}");
        assert!(
            line.contains(r#""watch":["src/**/*.{rs,toml}","a\tb"]"#),
            "{line}"
        );
        assert_eq!(Row::parse(&line), Some(row));
        assert_eq!(Row::parse("garbage"), None);
        let words: Vec<String> = [State::BackingOff, State::GivenUp, State::Ready]
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(words, [r#""backing_off""#, r#""given_up""#, r#""ready""#]);
        assert_eq!(State::BackingOff.word(), "backing_off");
    }
}
