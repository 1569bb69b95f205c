//! The client commands: `procmux status`, `restart`, `stop`, `logs`, run from another
//! terminal.

use std::io::{self, Write};

use super::{Request, Row, connect};
use crate::error::Error;
use crate::output::print_document;

/// Where the running stack listens, and its Procfile's name for messages.
pub struct Target<'a> {
    pub socket: &'a str,
    pub procfile: &'a str,
}

/// Sends `request` and copies the answer to stdout, line by line as it comes (`logs -f`); an
/// `error` line goes to stderr and makes the exit code 1. A reader of stdout that goes away
/// ends it quietly; a full disk is an error.
pub fn relay(target: &Target<'_>, request: &Request) -> Result<i32, Error> {
    let mut code = 0;
    for line in ask(target, request)? {
        let line = line.map_err(|e| Error::os("reading from procmux", e))?;
        if let Some(message) = line.strip_prefix("error\t") {
            let _ = writeln!(io::stderr(), "procmux: error: {message}");
            code = 1;
        } else if !print_document(format!("{line}\n").as_bytes())? {
            break;
        }
    }
    Ok(code)
}

/// `procmux status`: a table, or one JSON object per instance.
pub fn status(target: &Target<'_>, json: bool) -> Result<i32, Error> {
    let mut rows = Vec::new();
    for line in ask(target, &Request::Status)? {
        let line = line.map_err(|e| Error::os("reading from procmux", e))?;
        rows.extend(Row::parse(&line));
    }
    let text = if json {
        rows.iter().map(|r| format!("{}\n", row_json(r))).collect()
    } else {
        table(&rows)
    };
    print_document(text.as_bytes()).map(|_| 0)
}

fn ask(
    target: &Target<'_>,
    request: &Request,
) -> Result<impl Iterator<Item = io::Result<String>>, Error> {
    let not_running = || Error::Usage(format!("no procmux is running for {}", target.procfile));
    let client = connect(target.socket)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => Error::Usage(e.to_string()),
            _ => Error::os("connecting to procmux", e),
        })?
        .ok_or_else(not_running)?;
    client
        .ask(request)
        .map_err(|e| Error::os("talking to procmux", e))
}

fn table(rows: &[Row]) -> String {
    let watching = rows.iter().any(|r| !r.watch.is_empty());
    let mut cells = vec![
        [
            "NAME",
            "PID",
            "STATE",
            "UPTIME",
            "RESTARTS",
            "PORT",
            "STOP SIGNAL",
            "WATCHES",
        ]
        .map(String::from),
    ];
    for row in rows {
        cells.push([
            row.name.clone(),
            row.pid.map_or("-".to_owned(), |p| p.to_string()),
            row.state.clone(),
            row.uptime_ms.map_or("-".to_owned(), uptime),
            row.restarts.to_string(),
            row.port.to_string(),
            stop_signals(row),
            if row.watch.is_empty() {
                "-".to_owned()
            } else {
                row.watch.clone()
            },
        ]);
    }
    let columns = if watching { 8 } else { 7 };
    let widths: Vec<usize> = (0..columns)
        .map(|c| cells.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    cells
        .iter()
        .map(|r| {
            let line: Vec<String> = r[..columns]
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
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

fn row_json(row: &Row) -> String {
    let text = |s: &str| {
        let mut out = Vec::new();
        crate::output::escape_json(s.as_bytes(), &mut out);
        format!("\"{}\"", String::from_utf8_lossy(&out))
    };
    let or_null = |v: Option<String>| v.unwrap_or_else(|| "null".to_owned());
    format!(
        "{{\"name\":{},\"pid\":{},\"state\":{},\"uptime_ms\":{},\"restarts\":{},\"port\":{},\"stop_signal\":{},\"interrupt_signal\":{},\"watch\":[{}]}}",
        text(&row.name),
        or_null(row.pid.map(|p| p.to_string())),
        text(&row.state),
        or_null(row.uptime_ms.map(|u| u.to_string())),
        row.restarts,
        row.port,
        text(&row.stop_signal),
        text(&row.interrupt_signal),
        row.watch
            .split(',')
            .filter(|g| !g.is_empty())
            .map(text)
            .collect::<Vec<_>>()
            .join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json() {
        let rows = [
            Row {
                name: "web.1".into(),
                pid: Some(42),
                state: "ready".into(),
                uptime_ms: Some(125_000),
                restarts: 1,
                port: 5000,
                stop_signal: "SIGTERM".into(),
                interrupt_signal: "SIGINT".into(),
                watch: String::new(),
            },
            Row {
                name: "worker.1".into(),
                pid: None,
                state: "exited with code 3".into(),
                uptime_ms: None,
                restarts: 0,
                port: 5100,
                stop_signal: "SIGQUIT".into(),
                interrupt_signal: "SIGQUIT".into(),
                watch: String::new(),
            },
        ];
        assert_eq!(
            table(&rows),
            "NAME      PID  STATE               UPTIME  RESTARTS  PORT  STOP SIGNAL\n\
             web.1     42   ready               2m05s   1         5000  TERM (INT on ^C)\n\
             worker.1  -    exited with code 3  -       0         5100  QUIT\n"
        );
        assert_eq!(
            row_json(&rows[1]),
            r#"{"name":"worker.1","pid":null,"state":"exited with code 3","uptime_ms":null,"restarts":0,"port":5100,"stop_signal":"SIGQUIT","interrupt_signal":"SIGQUIT","watch":[]}"#
        );
        assert_eq!(uptime(3_600_000 + 120_000), "1h02m");
    }
}
