//! The control protocol's messages, as text: pure, so the server's parser is tested against
//! hostile input without a socket.

/// The longest request line accepted; a longer one is an error and closes the connection.
pub const MAX_REQUEST: usize = 4096;
/// Most names one request may carry.
const MAX_NAMES: usize = 256;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The server's pid (a second `start` names the running one).
    Pid,
    Status,
    Restart(Vec<String>),
    /// No names: the whole stack.
    Stop(Vec<String>),
    Logs {
        follow: bool,
        names: Vec<String>,
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
            Request::Logs { follow, names } => with(if *follow { "follow" } else { "logs" }, names),
            Request::Attach(name) => format!("attach {name}"),
        }
    }

    /// Parses a request line. Names are process names, instance labels or globs: letters,
    /// digits and `_ - . * ? [ ] !`, nothing a shell or a path could make more of.
    pub fn parse(line: &str) -> Result<Request, String> {
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
            "logs" => Ok(Request::Logs {
                follow: false,
                names,
            }),
            "follow" => Ok(Request::Logs {
                follow: true,
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

fn is_pattern(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.*?[]!".contains(&b))
}

/// The instances (indices into `instances`, each `(type, number)`) that `names` select: a type
/// name selects all its instances, `web.2` one, a glob every instance whose label or type
/// matches. A name that selects nothing is an error.
pub fn select(names: &[String], instances: &[(&str, usize)]) -> Result<Vec<usize>, String> {
    let mut selected = Vec::new();
    for name in names {
        let before = selected.len();
        for (index, (kind, number)) in instances.iter().enumerate() {
            let label = format!("{kind}.{number}");
            if (glob(name, kind) || glob(name, &label)) && !selected.contains(&index) {
                selected.push(index);
            }
        }
        if selected.len() == before && !instances.iter().any(|(k, _)| glob(name, k)) {
            return Err(format!("no process named {name:?}"));
        }
    }
    selected.sort_unstable();
    Ok(selected)
}

/// Shell-style matching: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') => (0..=t.len()).any(|i| matches(&p[1..], &t[i..])),
            Some(b'?') => !t.is_empty() && matches(&p[1..], &t[1..]),
            Some(b'[') => {
                let Some(end) = p.iter().skip(2).position(|&b| b == b']').map(|i| i + 2) else {
                    return !t.is_empty() && t[0] == b'[' && matches(&p[1..], &t[1..]);
                };
                let Some(&c) = t.first() else { return false };
                let (negate, set) = match &p[1..end] {
                    [b'!', rest @ ..] => (true, rest),
                    set => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && matches(&p[end + 1..], &t[1..])
            }
            Some(&b) => t.first() == Some(&b) && matches(&p[1..], &t[1..]),
        }
    }
    matches(pattern.as_bytes(), text.as_bytes())
}

/// One instance in `procmux status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `web.1`.
    pub name: String,
    pub pid: Option<i32>,
    /// `starting`, `ready`, `running`, `backing off`, `stopping`, `stopped`, `exited with
    /// code N`, `given up`, `waiting`.
    pub state: String,
    /// Milliseconds since its last start, while it runs.
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    pub port: u16,
    /// The signal a stop sends (`SIGTERM`, or its own), and the one after Ctrl-C.
    pub stop_signal: String,
    pub interrupt_signal: String,
    /// The globs whose changes restart it (`watch`), comma-separated; empty for none.
    pub watch: String,
}

impl Row {
    /// Tab-separated: name, pid, state, uptime, restarts, port, stop signal, signal after
    /// Ctrl-C, watch (`-` for none).
    pub fn line(&self) -> String {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name,
            or_dash(self.pid.map(|p| p.to_string())),
            self.state,
            or_dash(self.uptime_ms.map(|u| u.to_string())),
            self.restarts,
            self.port,
            self.stop_signal,
            self.interrupt_signal,
            or_dash((!self.watch.is_empty()).then(|| self.watch.replace('\t', " ")))
        )
    }

    pub fn parse(line: &str) -> Option<Row> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            name,
            pid,
            state,
            uptime,
            restarts,
            port,
            stop_signal,
            interrupt_signal,
            watch,
        ] = fields[..]
        else {
            return None;
        };
        Some(Row {
            name: name.to_owned(),
            pid: pid.parse().ok(),
            state: state.to_owned(),
            uptime_ms: uptime.parse().ok(),
            restarts: restarts.parse().ok()?,
            port: port.parse().ok()?,
            stop_signal: stop_signal.to_owned(),
            interrupt_signal: interrupt_signal.to_owned(),
            watch: if watch == "-" {
                String::new()
            } else {
                watch.to_owned()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_hostile_ones_are_refused() {
        let requests = [
            Request::Pid,
            Request::Status,
            Request::Restart(vec!["web".into(), "w*.2".into()]),
            Request::Stop(vec![]),
            Request::Logs {
                follow: true,
                names: vec!["web".into()],
            },
            Request::Attach("web.2".into()),
        ];
        for request in requests {
            assert_eq!(Request::parse(&request.line()), Ok(request));
        }
        for bad in [
            "",
            "rm -rf /",
            "restart",
            "status web",
            "restart $(reboot)",
            "restart ../x/y",
            "stop a;b",
            "attach",
            "attach a b",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
        let many = format!("restart{}", " a".repeat(MAX_NAMES + 1));
        assert!(Request::parse(&many).is_err());
    }

    #[test]
    fn names_select_types_instances_and_globs() {
        let instances = [("web", 1), ("web", 2), ("worker", 1), ("db", 1)];
        let pick = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            select(&names, &instances)
        };
        assert_eq!(pick(&["web"]), Ok(vec![0, 1]));
        assert_eq!(pick(&["web.2"]), Ok(vec![1]));
        assert_eq!(pick(&["w*"]), Ok(vec![0, 1, 2]));
        assert_eq!(pick(&["*.1", "db"]), Ok(vec![0, 2, 3]));
        assert_eq!(pick(&["w[eo]*.1"]), Ok(vec![0, 2]));
        assert!(pick(&["nope"]).is_err());
        assert!(glob("[!w]*", "db") && !glob("[!w]*", "web"));
    }

    #[test]
    fn rows_round_trip() {
        let row = Row {
            name: "web.1".into(),
            pid: Some(42),
            state: "exited with code 3".into(),
            uptime_ms: None,
            restarts: 2,
            port: 5000,
            stop_signal: "SIGTERM".into(),
            interrupt_signal: "SIGINT".into(),
            watch: "app/**/*.rb,config/*.yml".into(),
        };
        assert_eq!(Row::parse(&row.line()), Some(row));
        assert_eq!(Row::parse("garbage"), None);
    }
}
