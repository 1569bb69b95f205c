//! `procmux logs --since --until --grep -n --json`: a framed reader of the tail. Each frame
//! names the instance and the time of its bytes; the lines are put back together here, their
//! prefix taken off by the layout the header told, and selected and printed by the
//! [`LogQuery`]. Following (`-f`), what the tail kept comes first and a `@live` frame says
//! where the new lines begin.
//!
//! [`Lines`] is the pure part (frames in, output bytes out), tested without a socket.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};

use super::Request;
use super::client::explain;
use super::commands::{Target, ask_with_header};
use super::protocol::{LIVE, Layout, NOTE, parse_frame_head};
use crate::config::{LogQuery, TimestampFormat};
use crate::error::Error;
use crate::output::{Clock, json_base64, json_escape, print_document, visible};

/// The longest frame a server sends is its queue's budget; a longer one is garbage.
const MAX_FRAME: usize = 1 << 20;
/// A line longer than this is shown in pieces (the tail may keep lines of many MiB).
const MAX_LINE: usize = 1 << 20;

/// `procmux logs` with a question: asks for frames, prints the lines selected.
pub fn filtered(
    target: &Target<'_>,
    names: Vec<String>,
    follow: bool,
    query: LogQuery,
    color: bool,
) -> Result<i32, Error> {
    let request = Request::Logs {
        follow,
        names,
        framed: true,
    };
    let (words, body, pid) = ask_with_header(target, &request)?;
    let layout = Layout::parse(&words).ok_or_else(|| {
        Error::Refused(format!(
            "procmux (pid {pid}) answered {words:?}: not a layout"
        ))
    })?;
    if follow {
        body.set_read_timeout(None)
            .map_err(|e| Error::os("talking to procmux", e))?;
    }
    let mut lines = Lines::new(layout, query, follow, color);
    let mut body = BufReader::with_capacity(64 * 1024, body);
    let mut head = Vec::new();
    let mut bytes = Vec::new();
    loop {
        head.clear();
        let read = (&mut body)
            .take(super::protocol::FRAME_HEAD_MAX as u64)
            .read_until(b'\n', &mut head);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::os("reading from procmux", explain(e, pid))),
        }
        let garbled = || Error::Refused(format!("procmux (pid {pid}) sent a garbled frame"));
        let text = std::str::from_utf8(&head).map_err(|_| garbled())?;
        let (len, millis, own, label) =
            parse_frame_head(text.trim_end_matches('\n')).ok_or_else(garbled)?;
        if len > MAX_FRAME {
            return Err(garbled());
        }
        bytes.resize(len, 0);
        body.read_exact(&mut bytes)
            .map_err(|e| Error::os("reading from procmux", explain(e, pid)))?;
        let out = lines.frame(label, millis, own, &bytes);
        if !out.is_empty() && !print_document(&out)? {
            return Ok(0);
        }
    }
    print_document(&lines.end())?;
    Ok(0)
}

/// Frames out of bytes that come in pieces (a non-blocking reader).
#[derive(Default)]
pub struct Frames {
    buf: Vec<u8>,
}

/// One frame: its time, whether procmux wrote it, its label and its bytes.
pub type Frame = (i64, bool, String, Vec<u8>);

impl Frames {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one came; `Err` for bytes that are no frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ()> {
        let Some(newline) = memchr::memchr(b'\n', &self.buf) else {
            return if self.buf.len() > super::protocol::FRAME_HEAD_MAX {
                Err(())
            } else {
                Ok(None)
            };
        };
        let head = std::str::from_utf8(&self.buf[..newline]).map_err(|_| ())?;
        let (len, millis, own, label) = parse_frame_head(head).ok_or(())?;
        if len > MAX_FRAME {
            return Err(());
        }
        let end = newline + 1 + len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let label = label.to_owned();
        let bytes = self.buf[newline + 1..end].to_vec();
        self.buf.drain(..end);
        Ok(Some((millis, own, label, bytes)))
    }
}

/// One line of the stream, put back together.
struct Line {
    label: String,
    millis: i64,
    /// procmux's own line (a notice).
    own: bool,
    bytes: Vec<u8>,
}

/// Frames in, the selected lines out (as they were, or as JSON).
pub struct Lines {
    layout: Layout,
    query: LogQuery,
    color: bool,
    /// Past lines are still coming (following: until the `@live` frame).
    past: bool,
    /// Following without --since or -n: the past is not shown.
    skip_past: bool,
    /// The line being put together.
    partial: Option<Line>,
    /// The last N selected, with -n, until they can be shown.
    kept: VecDeque<Vec<u8>>,
    /// Formats times as `--format json` does.
    clock: Clock,
}

impl Lines {
    pub fn new(layout: Layout, query: LogQuery, follow: bool, color: bool) -> Lines {
        let skip_past = follow && query.since.is_none() && query.lines.is_none();
        Lines {
            layout,
            query,
            color,
            past: true,
            skip_past,
            partial: None,
            kept: VecDeque::new(),
            clock: Clock::new(TimestampFormat::Iso),
        }
    }

    /// Takes one frame; returns what to print now.
    pub fn frame(&mut self, label: &str, millis: i64, own: bool, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if label == NOTE {
            // Said where the reader is told things: with the lines, as `logs` says it; with
            // `--json`, as an object like the lines', which a reader of objects can take.
            if self.query.json {
                self.note_json(bytes, &mut out);
            } else {
                out.extend_from_slice(b"procmux: ");
                out.extend_from_slice(bytes);
                out.push(b'\n');
            }
            return out;
        }
        if label == LIVE {
            self.flush_partial(&mut out);
            self.past = false;
            for line in self.kept.drain(..) {
                out.extend_from_slice(&line);
            }
            return out;
        }
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.label != label || p.own != own)
        {
            self.flush_partial(&mut out);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let partial = self.partial.get_or_insert_with(|| Line {
                label: label.to_owned(),
                millis,
                own,
                bytes: Vec::new(),
            });
            let (piece, ended) = match memchr::memchr(b'\n', rest) {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            partial.bytes.extend_from_slice(piece);
            rest = &rest[(piece.len() + usize::from(ended)).min(rest.len())..];
            if ended || partial.bytes.len() >= MAX_LINE {
                self.flush_partial(&mut out);
            }
        }
        out
    }

    /// The body ended: what is left to print.
    pub fn end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.flush_partial(&mut out);
        for line in self.kept.drain(..) {
            out.extend_from_slice(&line);
        }
        out
    }

    fn flush_partial(&mut self, out: &mut Vec<u8>) {
        if let Some(line) = self.partial.take() {
            self.select(&line, out);
        }
    }

    /// Shows `line` (now, or later with -n) if the question selects it.
    fn select(&mut self, line: &Line, out: &mut Vec<u8>) {
        if self.past && self.skip_past {
            return;
        }
        let q = &self.query;
        if q.since.is_some_and(|since| line.millis < since)
            || q.until.is_some_and(|until| line.millis >= until)
        {
            return;
        }
        let (stream, text) = split(self.layout, &line.bytes, &line.label);
        let stream = if line.own { "system" } else { stream };
        if let Some(grep) = &q.grep {
            let shown: Vec<u8> = visible(&text).flatten().copied().collect();
            if !grep.is_match(&shown) {
                return;
            }
        }
        let (json, limit) = (q.json, q.lines);
        let shown = if json {
            self.json(line, stream, &text)
        } else if self.color {
            let mut shown = line.bytes.clone();
            shown.push(b'\n');
            shown
        } else {
            let mut shown: Vec<u8> = visible(&line.bytes).flatten().copied().collect();
            shown.push(b'\n');
            shown
        };
        match limit {
            Some(n) if self.past => {
                self.kept.push_back(shown);
                while self.kept.len() > n {
                    self.kept.pop_front();
                }
            }
            _ => out.extend_from_slice(&shown),
        }
    }

    /// A note from procmux (`N bytes skipped here: …`) as `--json` shows it: an object of
    /// the `system` instance and stream, at the time it is read, with the bytes skipped as a
    /// number (`skipped`) when the note starts with one.
    fn note_json(&mut self, note: &[u8], out: &mut Vec<u8>) {
        self.clock.refresh();
        let number = note.split(|&b| b == b' ').next().unwrap_or_default();
        let skipped = std::str::from_utf8(number)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(String::new(), |n| format!(",\"skipped\":{n}"));
        self.object(b"system", "system", note, &skipped, out);
    }

    /// `{"time":…,"instance":…,"stream":…,"text":…}`, escaped as `--format json` escapes.
    fn json(&mut self, line: &Line, stream: &str, text: &[u8]) -> Vec<u8> {
        self.clock.set(line.millis);
        let mut out = Vec::new();
        self.object(line.label.as_bytes(), stream, text, "", &mut out);
        out
    }

    /// One `--json` object at the clock's time, `extra` (fields, each led by a comma) last.
    fn object(&self, instance: &[u8], stream: &str, text: &[u8], extra: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(self.clock.text());
        out.extend_from_slice(b"\",\"instance\":\"");
        json_escape(instance, &mut |b| out.extend_from_slice(b));
        out.extend_from_slice(format!("\",\"stream\":\"{stream}\",\"text\":\"").as_bytes());
        let valid = json_escape(text, &mut |b| out.extend_from_slice(b));
        out.push(b'"');
        if !valid {
            out.extend_from_slice(b",\"text_base64\":\"");
            json_base64(text, &mut |b| out.extend_from_slice(b));
            out.push(b'"');
        }
        out.extend_from_slice(extra.as_bytes());
        out.extend_from_slice(b"}\n");
    }
}

/// A line's stream (`stdout`, `stderr`, `system`) and its text, the prefix procmux added
/// taken off.
fn split(layout: Layout, line: &[u8], label: &str) -> (&'static str, Vec<u8>) {
    let system = |label: &str| {
        if label == "system" {
            "system"
        } else {
            "stdout"
        }
    };
    match layout {
        Layout::Bare => (system(label), line.to_vec()),
        Layout::Json => json_text(line).unwrap_or_else(|| ("stdout", line.to_vec())),
        Layout::Text { width, color } => {
            let mut rest = line;
            if color {
                rest = skip_escape(rest);
            }
            if rest.len() < width || !rest[..width].is_ascii() {
                return ("stdout", line.to_vec());
            }
            let (prefix, mut text) = rest.split_at(width);
            if color {
                text = skip_escape(text);
                text = text.strip_suffix(b"\x1b[0m").unwrap_or(text);
            }
            let words: Vec<&[u8]> = prefix
                .split(|b| *b == b' ')
                .filter(|w| !w.is_empty())
                .collect();
            let stream = match words[..] {
                [.., b"system", _] => "system",
                [.., b"!"] => "stderr",
                _ => "stdout",
            };
            (stream, text.to_vec())
        }
    }
}

/// The text of a `--format json` line: `line` (its exact bytes when `line_base64` has them),
/// or a notice's `message`.
fn json_text(line: &[u8]) -> Option<(&'static str, Vec<u8>)> {
    let object: serde_json::Value = serde_json::from_slice(line).ok()?;
    if object["name"] == "system" {
        return Some(("system", object["message"].as_str()?.as_bytes().to_vec()));
    }
    let stream = if object["stream"] == "stderr" {
        "stderr"
    } else {
        "stdout"
    };
    let text = match object["line_base64"].as_str().and_then(decode_base64) {
        Some(bytes) => bytes,
        None => object["line"].as_str()?.as_bytes().to_vec(),
    };
    Some((stream, text))
}

/// Standard, padded base64; `None` when it is not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for group in bytes.chunks(4) {
        let pad = group.iter().rev().take_while(|&&c| c == b'=').count();
        let mut v = 0u32;
        for &c in &group[..4 - pad] {
            v = (v << 6) | value(c)?;
        }
        v <<= 6 * pad as u32;
        let decoded = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&decoded[..3 - pad.min(2)]);
    }
    Some(out)
}

/// `bytes` past one CSI sequence at its start (`ESC [ … final`), if one is there.
fn skip_escape(bytes: &[u8]) -> &[u8] {
    if !bytes.starts_with(b"\x1b[") {
        return bytes;
    }
    match bytes[2..].iter().position(|b| (0x40..=0x7e).contains(b)) {
        Some(end) => &bytes[2 + end + 1..],
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> LogQuery {
        let mut query = LogQuery {
            since: None,
            until: None,
            grep: None,
            lines: None,
            json: false,
        };
        for word in q.split_whitespace() {
            match word.split_once('=') {
                Some(("since", v)) => query.since = v.parse().ok(),
                Some(("until", v)) => query.until = v.parse().ok(),
                Some(("grep", v)) => {
                    query.grep =
                        crate::config::LinePattern::new(v, crate::config::pattern::GREP_BUDGET).ok()
                }
                Some(("n", v)) => query.lines = v.parse().ok(),
                _ if word == "json" => query.json = true,
                _ => panic!("{word}"),
            }
        }
        query
    }

    const TEXT: Layout = Layout::Text {
        width: 9,
        color: false,
    };

    fn run(lines: &mut Lines, frames: &[(&str, i64, &str)]) -> String {
        let mut out = Vec::new();
        for (label, millis, bytes) in frames {
            let own = bytes.contains("started with");
            out.extend(lines.frame(label, *millis, own, bytes.as_bytes()));
        }
        out.extend(lines.end());
        String::from_utf8(out).unwrap()
    }

    const FRAMES: &[(&str, i64, &str)] = &[
        ("web.1", 1000, "web.1  | GET / 200\nweb.1  | ERROR boom\n"),
        ("system", 2000, "system | web.1 exited with code 3\n"),
        ("db.1", 3000, "db.1   ! ERROR: disk\ndb.1   | ok\n"),
    ];

    #[test]
    fn selects_by_time_text_and_count() {
        let all = run(&mut Lines::new(TEXT, query(""), false, false), FRAMES);
        assert_eq!(all.lines().count(), 5);
        let grep = run(
            &mut Lines::new(TEXT, query("grep=ERROR"), false, false),
            FRAMES,
        );
        assert_eq!(grep, "web.1  | ERROR boom\ndb.1   ! ERROR: disk\n");
        // The prefix is not the text: only the notice's text begins with "web".
        let grep = run(
            &mut Lines::new(TEXT, query("grep=^web"), false, false),
            FRAMES,
        );
        assert_eq!(grep, "system | web.1 exited with code 3\n");
        let since = run(
            &mut Lines::new(TEXT, query("since=2000 until=3000"), false, false),
            FRAMES,
        );
        assert_eq!(since, "system | web.1 exited with code 3\n");
        let last = run(&mut Lines::new(TEXT, query("n=2"), false, false), FRAMES);
        assert_eq!(last, "db.1   ! ERROR: disk\ndb.1   | ok\n");
        let none = run(&mut Lines::new(TEXT, query("n=0"), false, false), FRAMES);
        assert_eq!(none, "");
    }

    /// Each line of `out`, parsed as a JSON object.
    fn objects(out: &str) -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn json_lines_carry_time_instance_stream_and_text() {
        let frames: &[(&str, i64, &str)] = &[
            (
                "web.1",
                1_796_068_800_123,
                "web.1  | say \"hi\"\t\x1b[1m$HOME %d #\n",
            ),
            ("db.1", 1_796_068_800_123, "db.1   ! err\n"),
            ("system", 0, "system | stopping\n"),
            ("web.1", 0, "web.1  | started with pid 42\n"),
        ];
        let out = run(&mut Lines::new(TEXT, query("json"), false, false), frames);
        let objects = objects(&out);
        assert_eq!(objects[0]["instance"], "web.1");
        assert_eq!(objects[0]["stream"], "stdout");
        assert_eq!(objects[0]["text"], "say \"hi\"\t\x1b[1m$HOME %d #");
        assert!(
            objects[0]["time"].as_str().unwrap().contains(":00.123"),
            "{out}"
        );
        assert_eq!(objects[1]["stream"], "stderr");
        assert_eq!(objects[2]["stream"], "system");
        assert_eq!(objects[3]["stream"], "system");
        assert_eq!(objects[3]["instance"], "web.1");
        assert_eq!(objects[3]["text"], "started with pid 42");
        // Not UTF-8: readable text, exact bytes in base64, as --format json.
        let mut lines = Lines::new(Layout::Bare, query("json"), false, false);
        let mut out = lines.frame("web.1", 0, false, b"caf\xe9\n");
        out.extend(lines.end());
        let object: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(object["text"], "caf\u{fffd}");
        assert_eq!(
            decode_base64(object["text_base64"].as_str().unwrap()).unwrap(),
            b"caf\xe9"
        );
    }

    #[test]
    fn coloured_prefixes_and_json_streams_come_off() {
        let color = Layout::Text {
            width: 9,
            color: true,
        };
        let (stream, text) = split(
            color,
            b"\x1b[36mweb.1  | \x1b[0m\x1b[31mred\x1b[0m\x1b[0m",
            "web.1",
        );
        assert_eq!(
            (stream, text.as_slice()),
            ("stdout", &b"\x1b[31mred\x1b[0m"[..])
        );
        let line =
            br#"{"ts":"x","name":"web","instance":1,"pid":3,"stream":"stderr","line":"a\"b"}"#;
        assert_eq!(
            split(Layout::Json, line, "web.1"),
            ("stderr", b"a\"b".to_vec())
        );
        let line = br#"{"ts":"x","name":"web","instance":1,"pid":3,"stream":"stdout","line":"caf\ufffd","line_base64":"Y2Fm6Q=="}"#;
        assert_eq!(
            split(Layout::Json, line, "web.1"),
            ("stdout", b"caf\xe9".to_vec())
        );
        let line = br#"{"ts":"x","name":"system","event":"exit","message":"web.1 exited"}"#;
        assert_eq!(
            split(Layout::Json, line, "web.1"),
            ("system", b"web.1 exited".to_vec())
        );
        // Shorter than a prefix (a cut line): as it is.
        assert_eq!(split(TEXT, b"abc", "web.1"), ("stdout", b"abc".to_vec()));
    }

    #[test]
    fn following_shows_the_past_only_when_asked_then_everything_new() {
        let live: &[(&str, i64, &str)] = &[
            ("web.1", 1000, "web.1  | old\n"),
            (LIVE, 0, ""),
            ("web.1", 5000, "web.1  | new\n"),
        ];
        let out = run(&mut Lines::new(TEXT, query(""), true, false), live);
        assert_eq!(out, "web.1  | new\n");
        let out = run(&mut Lines::new(TEXT, query("n=1"), true, false), live);
        assert_eq!(out, "web.1  | old\nweb.1  | new\n");
        let out = run(
            &mut Lines::new(TEXT, query("since=2000"), true, false),
            live,
        );
        assert_eq!(out, "web.1  | new\n");
    }

    /// With `--json` every line printed is an object: the note of bytes skipped too.
    #[test]
    fn the_note_of_bytes_skipped_is_an_object_with_json() {
        let frames: &[(&str, i64, &str)] = &[
            ("web.1", 1000, "web.1  | a\n"),
            (NOTE, 0, "12 bytes skipped here: this reader fell behind"),
            ("web.1", 2000, "web.1  | b\n"),
            (NOTE, 0, "a \"note\" with no number\t$%#"),
        ];
        let out = run(&mut Lines::new(TEXT, query("json"), false, false), frames);
        let objects = objects(&out);
        assert_eq!(objects.len(), 4, "{out}");
        assert_eq!(objects[3]["text"], "a \"note\" with no number\t$%#");
        assert!(objects[3].get("skipped").is_none());
        let note = &objects[1];
        assert_eq!(note["instance"], "system");
        assert_eq!(note["stream"], "system");
        assert_eq!(note["skipped"], 12);
        assert_eq!(
            note["text"],
            "12 bytes skipped here: this reader fell behind"
        );
        let time = note["time"].as_str().unwrap();
        assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");
        assert_eq!(objects[2]["text"], "b");
    }

    #[test]
    fn lines_split_across_frames_are_put_back_together() {
        let frames: &[(&str, i64, &str)] = &[
            ("web.1", 1000, "web.1  | a long "),
            ("web.1", 2000, "line\nweb.1  | next\n"),
            ("db.1", 3000, "db.1   | cut"),
            ("web.1", 4000, "web.1  | x\n"),
            (NOTE, 0, "12 bytes skipped here: this reader fell behind"),
        ];
        let out = run(
            &mut Lines::new(TEXT, query("since=1000"), false, false),
            frames,
        );
        assert_eq!(
            out,
            "web.1  | a long line\nweb.1  | next\ndb.1   | cut\nweb.1  | x\n\
             procmux: 12 bytes skipped here: this reader fell behind\n"
        );
    }
}
