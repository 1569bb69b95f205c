//! The client commands: `procmux status`, `restart`, `stop`, `logs`, run from another
//! terminal.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use super::client::{Header, explain};
use super::{Request, Row, connect, protocol};
use crate::error::Error;
use crate::output::{print_document, visible};

/// Where the running stack listens, and its Procfile's name for messages.
pub struct Target<'a> {
    pub socket: &'a str,
    pub procfile: &'a str,
}

/// Sends `request` (`restart`, `stop`) and copies the answer to stdout; an error goes to
/// stderr and makes the exit code 1.
pub fn relay(target: &Target<'_>, request: &Request) -> Result<i32, Error> {
    let (mut body, pid) = ask(target, request)?;
    let mut text = Vec::new();
    body.read_to_end(&mut text)
        .map_err(|e| Error::os("reading from procmux", explain(e, pid)))?;
    print_document(&text)?;
    Ok(0)
}

/// `procmux logs [-f]`: the bytes of the main stream, exactly, as they come; without colour
/// (any escape sequence) unless `color`. A reader of stdout that goes away ends it quietly.
pub fn logs(target: &Target<'_>, request: &Request, color: bool) -> Result<i32, Error> {
    let follow = matches!(request, Request::Logs { follow: true, .. });
    let (mut body, pid) = ask(target, request)?;
    if follow {
        // New lines may be minutes apart.
        body.set_read_timeout(None)
            .map_err(|e| Error::os("talking to procmux", e))?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    // Without colour, a line is stripped whole: an escape sequence may span two reads.
    let mut partial = Vec::new();
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::os("reading from procmux", explain(e, pid))),
        };
        let shown = if color {
            print_document(&buf[..n])?
        } else {
            partial.extend_from_slice(&buf[..n]);
            let end = match memchr::memrchr(b'\n', &partial) {
                Some(at) => at + 1,
                // One line longer than the buffer: stripped in pieces.
                None if partial.len() >= buf.len() => partial.len(),
                None => continue,
            };
            let shown = print_document(&strip(&partial[..end]))?;
            partial.drain(..end);
            shown
        };
        if !shown {
            return Ok(0);
        }
    }
    print_document(&strip(&partial))?;
    Ok(0)
}

fn strip(bytes: &[u8]) -> Vec<u8> {
    visible(bytes).flatten().copied().collect()
}

/// `procmux status`: a table, or one JSON object per instance.
pub fn status(target: &Target<'_>, json: bool) -> Result<i32, Error> {
    let (mut body, pid) = ask(target, &Request::Status)?;
    let mut text = String::new();
    body.read_to_string(&mut text)
        .map_err(|e| Error::os("reading from procmux", explain(e, pid)))?;
    if json {
        print_document(text.as_bytes())?;
        return Ok(0);
    }
    let rows: Vec<Row> = text.lines().filter_map(Row::parse).collect();
    print_document(table(&rows).as_bytes())?;
    Ok(0)
}

/// The label and port of every instance of the stack listening at `target` (its `status`
/// rows), for `procmux run`; `None` when none listens. Bounded by the client's timeouts.
pub fn instance_ports(target: &Target<'_>) -> Result<Option<Vec<(String, u16)>>, Error> {
    if !is_running(target) {
        return Ok(None);
    }
    let (mut body, pid) = ask(target, &Request::Status)?;
    let mut text = String::new();
    body.read_to_string(&mut text)
        .map_err(|e| Error::os("reading from procmux", explain(e, pid)))?;
    let rows = text.lines().filter_map(Row::parse);
    Ok(Some(rows.map(|row| (row.name, row.port)).collect()))
}

/// True when a procmux of this user listens for the stack.
pub fn is_running(target: &Target<'_>) -> bool {
    matches!(connect(target.socket), Ok(Some(_)))
}

/// Connects, asks, and returns the answer's body (and the server's pid), or its error.
pub(super) fn ask(target: &Target<'_>, request: &Request) -> Result<(UnixStream, i32), Error> {
    ask_with_header(target, request).map(|(_, body, pid)| (body, pid))
}

/// As [`ask`], with what follows `ok` in the header (a framed reader's layout).
pub(super) fn ask_with_header(
    target: &Target<'_>,
    request: &Request,
) -> Result<(String, UnixStream, i32), Error> {
    let not_running = || Error::Usage(format!("no procmux is running for {}", target.procfile));
    let client = connect(target.socket)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => Error::Usage(e.to_string()),
            io::ErrorKind::TimedOut => Error::Refused(e.to_string()),
            _ => Error::os("connecting to procmux", e),
        })?
        .ok_or_else(not_running)?;
    let pid = client.pid();
    let (header, body) = client.ask(request).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => Error::Refused(e.to_string()),
        _ => Error::os("talking to procmux", e),
    })?;
    match header {
        Header::Ok(words) => Ok((words, body, pid)),
        Header::Error(message) => Err(refusal(message)),
    }
}

/// The stack's refusal as an error: a name that matches no instance is the user's mistake
/// (exit 2, as `wait` and `start` say of one); anything else is the stack's answer (exit 1).
pub(super) fn refusal(message: String) -> Error {
    if message.starts_with(protocol::NO_SUCH_NAME) {
        Error::Usage(message)
    } else {
        Error::Refused(message)
    }
}

pub(super) fn table(rows: &[Row]) -> String {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let mut cells = vec![
        [
            "NAME",
            "PID",
            "STATE",
            "UPTIME",
            "RESTARTS",
            "PORT",
            "LISTENING",
            "STOP SIGNAL",
            "RESTARTS WITH",
            "WATCHES",
        ]
        .map(String::from),
    ];
    for row in rows {
        cells.push([
            row.name.clone(),
            dash(row.pid.map(|p| p.to_string())),
            state(row),
            dash(row.uptime_ms.map(uptime)),
            row.restarts.to_string(),
            row.port.to_string(),
            dash((!row.listening.is_empty()).then(|| {
                let ports: Vec<String> = row.listening.iter().map(u16::to_string).collect();
                ports.join(",")
            })),
            stop_signals(row),
            dash((!row.restart_with.is_empty()).then(|| row.restart_with.join(","))),
            dash((!row.watch.is_empty()).then(|| row.watch.join(" "))),
        ]);
    }
    // The last two columns only when some row has something to say there.
    let following = rows.iter().any(|r| !r.restart_with.is_empty());
    let watching = rows.iter().any(|r| !r.watch.is_empty());
    let columns: Vec<usize> = (0..8)
        .chain(following.then_some(8))
        .chain(watching.then_some(9))
        .collect();
    let widths: Vec<usize> = (0..10)
        .map(|c| cells.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    cells
        .iter()
        .map(|r| {
            let line: Vec<String> = columns
                .iter()
                .map(|&c| format!("{:<w$}", r[c], w = widths[c]))
                .collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}

/// The state word, with how it ended: `exited (3)`, `exited (SIGKILL)`.
fn state(row: &Row) -> String {
    let word = row.state.word();
    match (&row.exit_code, &row.signal) {
        (Some(code), _) => format!("{word} ({code})"),
        (None, Some(signal)) => format!("{word} ({signal})"),
        (None, None) => word.to_owned(),
    }
}

/// `TERM (INT on ^C)`, or one signal when Ctrl-C sends the same.
fn stop_signals(row: &Row) -> String {
    let short = |s: &str| s.trim_start_matches("SIG").to_owned();
    if row.stop_signal == row.interrupt_signal {
        return short(&row.stop_signal);
    }
    format!(
        "{} ({} on ^C)",
        short(&row.stop_signal),
        short(&row.interrupt_signal)
    )
}

/// `3s`, `2m05s`, `1h02m`.
fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::super::State;
    use super::*;

    #[test]
    fn table_of_typed_rows() {
        let rows = [
            Row {
                name: "web.1".into(),
                pid: Some(42),
                state: State::Ready,
                ready: true,
                exit_code: None,
                signal: None,
                uptime_ms: Some(125_000),
                restarts: 1,
                port: 5000,
                listening: vec![5000, 5001],
                stop_signal: "SIGTERM".into(),
                interrupt_signal: "SIGINT".into(),
                watch: vec![],
                restart_with: vec![],
            },
            Row {
                name: "worker.1".into(),
                pid: None,
                state: State::Exited,
                ready: false,
                exit_code: Some(3),
                signal: None,
                uptime_ms: None,
                restarts: 0,
                port: 5100,
                listening: vec![],
                stop_signal: "SIGQUIT".into(),
                interrupt_signal: "SIGQUIT".into(),
                watch: vec![],
                restart_with: vec![],
            },
        ];
        assert_eq!(
            table(&rows),
            "NAME      PID  STATE       UPTIME  RESTARTS  PORT  LISTENING  STOP SIGNAL\n\
             web.1     42   ready       2m05s   1         5000  5000,5001  TERM (INT on ^C)\n\
             worker.1  -    exited (3)  -       0         5100  -          QUIT\n"
        );
        assert_eq!(uptime(3_600_000 + 120_000), "1h02m");
    }

    #[test]
    fn stripping_keeps_every_other_byte() {
        assert_eq!(
            strip(b"\x1b[36mweb.1 | \x1b[0mcaf\xe9\r\n"),
            b"web.1 | caf\xe9\r\n"
        );
    }
}
