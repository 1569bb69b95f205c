//! `procmux wait`: ask the running stack for its status until the instances named are ready,
//! one of them failed, or the time is up. `start --detach` waits the same way.
//!
//! The decision ([`verdict`]) is pure, tested on rows; the loop around it polls `status`
//! every [`POLL`], so a waiting client costs the stack one short request at a time.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::commands::{Target, ask, ask_with_header, table};
use super::filter::{Frames, Lines};
use super::protocol::Layout;
use super::{Request, Row, State, select};
use crate::config::LogQuery;
use crate::error::Error;
use crate::output::{print_document, visible};

/// How often the status is asked.
const POLL: Duration = Duration::from_millis(100);
/// Lines of a failed instance shown.
const LAST_LINES: usize = 10;

/// What the rows say about the instances waited for.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every one is ready (or done with code 0).
    Ready,
    /// This row (an index into the rows) failed for good.
    Failed(usize),
    /// Some are not ready yet: their indices.
    Pending(Vec<usize>),
}

/// The verdict on `rows`, for the instances `names` select (all when empty).
pub fn verdict(rows: &[Row], names: &[String]) -> Result<Verdict, String> {
    let chosen = chosen(rows, names)?;
    if let Some(&failed) = chosen.iter().find(|&&i| failed(&rows[i])) {
        return Ok(Verdict::Failed(failed));
    }
    let pending: Vec<usize> = chosen.into_iter().filter(|&i| !done(&rows[i])).collect();
    Ok(if pending.is_empty() {
        Verdict::Ready
    } else {
        Verdict::Pending(pending)
    })
}

fn chosen(rows: &[Row], names: &[String]) -> Result<Vec<usize>, String> {
    if names.is_empty() {
        return Ok((0..rows.len()).collect());
    }
    let instances: Vec<(&str, usize)> = rows
        .iter()
        .map(|r| match r.name.rsplit_once('.') {
            Some((kind, number)) => (kind, number.parse().unwrap_or(0)),
            None => (r.name.as_str(), 0),
        })
        .collect();
    select(names, &instances)
}

/// Ready, running with no readiness to wait for, or exited with code 0 (a `migrate`).
fn done(row: &Row) -> bool {
    row.ready || (row.state == State::Exited && row.exit_code == Some(0))
}

/// Exited otherwise, given up, or stopped: it will not become ready by itself. (A process
/// backing off may still come up; one stopping may be restarting.)
fn failed(row: &Row) -> bool {
    match row.state {
        State::Exited => row.exit_code != Some(0),
        State::GivenUp | State::Stopped => true,
        _ => false,
    }
}

/// How a wait ended.
pub enum Outcome {
    Ready(Vec<Row>),
    /// An instance failed: its row, its last lines; every row.
    Failed(Box<Row>, Vec<String>, Vec<Row>),
    /// The stack was never there while waited for.
    Gone(String),
    /// The stack answered, then ended while waited for.
    Stopped(String),
    /// The time was up: the rows (if any came) and the indices still pending.
    TimedOut(Vec<Row>, Vec<usize>),
}

/// Polls the stack at `target` until `names` are ready, one fails, or `timeout` passes.
/// Until a stack answers, its absence is waited out too (it may be starting), unless `gone`
/// says why it never will (the procmux started for it exited).
pub fn await_ready(
    target: &Target<'_>,
    names: &[String],
    timeout: Duration,
    gone: &mut dyn FnMut() -> Option<String>,
) -> Result<Outcome, Error> {
    let deadline = Instant::now() + timeout;
    let mut seen = false;
    let mut last = (Vec::new(), Vec::new());
    // Follows the stream while waiting: a stack that stops between two asks (a crash stops
    // it in milliseconds) takes its tail with it.
    let mut recent: Option<Recent> = None;
    loop {
        if let Some(recent) = &mut recent {
            recent.read();
        }
        match rows(target) {
            Ok(rows) => {
                seen = true;
                if recent.is_none() {
                    recent = Recent::follow(target);
                }
                match verdict(&rows, names).map_err(Error::Usage)? {
                    Verdict::Ready => return Ok(Outcome::Ready(rows)),
                    Verdict::Failed(i) => {
                        let lines = last_lines(target, &rows[i].name);
                        let row = Box::new(rows[i].clone());
                        return Ok(Outcome::Failed(row, lines, rows));
                    }
                    Verdict::Pending(pending) => last = (rows, pending),
                }
            }
            // No stack answers (or it went away mid-answer).
            Err(error @ (Error::Usage(_) | Error::Os { .. })) if !seen => {
                let message = error.to_string();
                if let Some(why) = gone() {
                    return Ok(Outcome::Gone(why));
                }
                if Instant::now() >= deadline {
                    return Ok(Outcome::Gone(message));
                }
            }
            Err(error @ (Error::Usage(_) | Error::Os { .. })) => {
                let message = error.to_string();
                let lines = recent.map(Recent::finish).unwrap_or_default();
                if lines.is_empty() {
                    return Ok(Outcome::Stopped(message));
                }
                let mut text = "the stack stopped before it was ready; its last lines:".to_owned();
                for line in lines {
                    text.push_str("\n  ");
                    text.push_str(&line);
                }
                return Ok(Outcome::Stopped(text));
            }
            Err(error) => return Err(error),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Outcome::TimedOut(last.0, last.1));
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// The newest lines of the stack's stream, as a follower gets them.
struct Recent {
    stream: UnixStream,
    frames: Frames,
    lines: Lines,
    /// The last [`LAST_LINES`] lines, without colour.
    kept: VecDeque<String>,
}

impl Recent {
    /// Follows the whole stream, its past first; `None` when the stack keeps no tail.
    fn follow(target: &Target<'_>) -> Option<Recent> {
        let request = Request::Logs {
            follow: true,
            names: Vec::new(),
            framed: true,
        };
        let (words, stream, _) = ask_with_header(target, &request).ok()?;
        let layout = Layout::parse(&words)?;
        stream.set_nonblocking(true).ok()?;
        let everything = LogQuery {
            since: Some(i64::MIN),
            until: None,
            grep: None,
            lines: None,
            json: false,
        };
        Some(Recent {
            stream,
            frames: Frames::default(),
            lines: Lines::new(layout, everything, true, false),
            kept: VecDeque::new(),
        })
    }

    /// Takes what came; false once the stream ended (or failed).
    fn read(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.frames.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
            loop {
                match self.frames.next_frame() {
                    Ok(Some((millis, own, label, bytes))) => {
                        let shown = self.lines.frame(&label, millis, own, &bytes);
                        self.keep(&shown);
                    }
                    Ok(None) => break,
                    Err(()) => return false,
                }
            }
        }
    }

    fn keep(&mut self, shown: &[u8]) {
        for line in String::from_utf8_lossy(shown).lines() {
            self.kept.push_back(line.to_owned());
            if self.kept.len() > LAST_LINES {
                self.kept.pop_front();
            }
        }
    }

    /// The stack is gone: what is left to read (for half a second at most), then the last
    /// lines.
    fn finish(mut self) -> Vec<String> {
        let end = Instant::now() + Duration::from_millis(500);
        while self.read() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let rest = self.lines.end();
        self.keep(&rest);
        self.kept.into()
    }
}

/// The status rows, or `Error::Usage` when no stack runs.
fn rows(target: &Target<'_>) -> Result<Vec<Row>, Error> {
    let (mut body, _) = ask(target, &Request::Status)?;
    let mut text = String::new();
    body.read_to_string(&mut text)
        .map_err(|e| Error::os("reading from procmux", e))?;
    Ok(text.lines().filter_map(Row::parse).collect())
}

/// The last lines the tail keeps of `label`, without escapes (none when it keeps none).
fn last_lines(target: &Target<'_>, label: &str) -> Vec<String> {
    let request = Request::Logs {
        follow: false,
        names: vec![label.to_owned()],
        framed: false,
    };
    let Ok((mut body, _)) = ask(target, &request) else {
        return Vec::new();
    };
    let mut bytes = Vec::new();
    if body.read_to_end(&mut bytes).is_err() && bytes.is_empty() {
        return Vec::new();
    }
    let text: Vec<u8> = visible(&bytes).flatten().copied().collect();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(LAST_LINES);
    lines[from..]
        .iter()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

/// `procmux wait`: exit 0 when ready; 1 on a failure or at the timeout.
pub fn wait(
    target: &Target<'_>,
    names: &[String],
    timeout: Duration,
    json: bool,
) -> Result<i32, Error> {
    let outcome = await_ready(target, names, timeout, &mut || None)?;
    if json {
        print_document(format!("{}\n", document(&outcome)).as_bytes())?;
        return Ok(i32::from(!matches!(outcome, Outcome::Ready(_))));
    }
    report(&outcome, timeout, "")
}

/// `start --detach`: the status (a table, or `status --json`'s lines) once the wait ended
/// with rows, and the failure as for `wait`.
pub fn report_start(outcome: &Outcome, timeout: Duration, json: bool) -> Result<i32, Error> {
    let rows = match outcome {
        Outcome::Ready(rows) | Outcome::Failed(_, _, rows) | Outcome::TimedOut(rows, _) => rows,
        Outcome::Gone(_) | Outcome::Stopped(_) => &Vec::new(),
    };
    if !rows.is_empty() {
        let text = if json {
            rows.iter().map(|r| format!("{}\n", r.line())).collect()
        } else {
            table(rows)
        };
        print_document(text.as_bytes())?;
    }
    report(
        outcome,
        timeout,
        "; the stack keeps running: procmux stop ends it",
    )
}

/// Says how a wait that did not end ready ended (an error: on stderr, exit 1); `timed_out`
/// is added to a timeout's message.
fn report(outcome: &Outcome, timeout: Duration, timed_out: &str) -> Result<i32, Error> {
    match outcome {
        Outcome::Ready(_) => Ok(0),
        Outcome::Failed(row, lines, _) => Err(Error::Refused(with_last_lines(failure(row), lines))),
        Outcome::Gone(message) | Outcome::Stopped(message) => Err(Error::Refused(message.clone())),
        Outcome::TimedOut(rows, pending) => {
            let waiting: Vec<String> = pending
                .iter()
                .map(|&i| format!("{} ({})", rows[i].name, rows[i].state.word()))
                .collect();
            let what = if waiting.is_empty() {
                "the stack".to_owned()
            } else {
                waiting.join(", ")
            };
            Err(Error::Refused(format!(
                "timed out after {} waiting for {what}{timed_out}",
                seconds(timeout)
            )))
        }
    }
}

/// A failure's `text` and the last lines of what failed, as `wait` and `start -D` say it.
pub fn with_last_lines(mut text: String, lines: &[String]) -> String {
    if lines.is_empty() {
        text.push_str(" (no lines of it are kept)");
    } else {
        text.push_str("; its last lines:");
        for line in lines {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    text
}

/// `web.1 exited with code 3`, `web.1 was killed by SIGKILL`, `web.1 gave up`.
fn failure(row: &Row) -> String {
    let name = &row.name;
    match (row.state, row.exit_code, &row.signal) {
        (State::Exited, Some(code), _) => format!("{name} exited with code {code}"),
        (State::Exited, None, Some(signal)) => format!("{name} was killed by {signal}"),
        (State::GivenUp, ..) => format!("{name} was given up after {} restarts", row.restarts),
        (state, ..) => format!("{name} is {}", state.word().replace('_', " ")),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

#[derive(Serialize)]
struct Document<'a> {
    ok: bool,
    /// `ready`, `failed`, `gone`, `timeout`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Failure<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    /// Names still not ready at the timeout.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pending: Vec<&'a str>,
    instances: &'a [Row],
}

#[derive(Serialize)]
struct Failure<'a> {
    name: &'a str,
    state: State,
    exit_code: Option<i32>,
    signal: Option<&'a str>,
    last_lines: &'a [String],
}

/// The `--json` document: one object.
fn document(outcome: &Outcome) -> String {
    let empty: &[Row] = &[];
    let mut doc = Document {
        ok: false,
        outcome: "ready",
        failure: None,
        message: None,
        pending: Vec::new(),
        instances: empty,
    };
    match outcome {
        Outcome::Ready(rows) => {
            doc.ok = true;
            doc.instances = rows;
        }
        Outcome::Failed(row, lines, rows) => {
            doc.outcome = "failed";
            doc.failure = Some(Failure {
                name: &row.name,
                state: row.state,
                exit_code: row.exit_code,
                signal: row.signal.as_deref(),
                last_lines: lines,
            });
            doc.message = None;
            doc.instances = rows;
        }
        Outcome::Gone(message) | Outcome::Stopped(message) => {
            doc.outcome = "gone";
            doc.message = Some(message);
        }
        Outcome::TimedOut(rows, pending) => {
            doc.outcome = "timeout";
            doc.pending = pending.iter().map(|&i| rows[i].name.as_str()).collect();
            doc.instances = rows;
        }
    }
    // Strings, numbers and rows always serialize.
    serde_json::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: State, exit_code: Option<i32>) -> Row {
        Row {
            name: name.into(),
            pid: None,
            state,
            ready: matches!(state, State::Ready | State::Running),
            exit_code,
            signal: None,
            uptime_ms: None,
            restarts: 0,
            port: 5000,
            listening: vec![],
            stop_signal: "SIGTERM".into(),
            interrupt_signal: "SIGINT".into(),
            watch: vec![],
            restart_with: vec![],
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn ready_failed_and_pending() {
        let rows = [
            row("db.1", State::Ready, None),
            row("migrate.1", State::Exited, Some(0)),
            row("web.1", State::Starting, None),
            row("web.2", State::BackingOff, None),
            row("worker.1", State::Exited, Some(3)),
        ];
        assert_eq!(verdict(&rows, &[]), Ok(Verdict::Failed(4)));
        assert_eq!(
            verdict(&rows, &names(&["db", "migrate"])),
            Ok(Verdict::Ready)
        );
        assert_eq!(
            verdict(&rows, &names(&["web"])),
            Ok(Verdict::Pending(vec![2, 3]))
        );
        assert_eq!(
            verdict(&rows, &names(&["web.2"])),
            Ok(Verdict::Pending(vec![3]))
        );
        assert!(verdict(&rows, &names(&["nope"])).is_err());
        for state in [State::GivenUp, State::Stopped] {
            assert_eq!(
                verdict(&[row("a.1", state, None)], &[]),
                Ok(Verdict::Failed(0))
            );
        }
        for state in [State::Waiting, State::Stopping, State::Starting] {
            assert_eq!(
                verdict(&[row("a.1", state, None)], &[]),
                Ok(Verdict::Pending(vec![0]))
            );
        }
        let killed = Row {
            signal: Some("SIGKILL".into()),
            ..row("a.1", State::Exited, None)
        };
        assert_eq!(
            verdict(std::slice::from_ref(&killed), &[]),
            Ok(Verdict::Failed(0))
        );
        assert_eq!(failure(&killed), "a.1 was killed by SIGKILL");
    }

    #[test]
    fn the_json_document_names_the_failure() {
        let rows = vec![row("web.1", State::Exited, Some(3))];
        let outcome = Outcome::Failed(
            Box::new(rows[0].clone()),
            vec!["boom \"quoted\"".into()],
            rows.clone(),
        );
        let doc: serde_json::Value = serde_json::from_str(&document(&outcome)).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["outcome"], "failed");
        assert_eq!(doc["failure"]["name"], "web.1");
        assert_eq!(doc["failure"]["exit_code"], 3);
        assert_eq!(doc["failure"]["last_lines"][0], "boom \"quoted\"");
        assert_eq!(doc["instances"][0]["state"], "exited");
        let timed_out = Outcome::TimedOut(rows, vec![0]);
        let doc: serde_json::Value = serde_json::from_str(&document(&timed_out)).unwrap();
        assert_eq!(doc["outcome"], "timeout");
        assert_eq!(doc["pending"][0], "web.1");
    }
}
