//! The status line: on a terminal, one line kept under the stream with every instance's
//! state (`● db  ● redis  ✓ migrate  ● web  ↻ worker (3 restarts)`).
//!
//! The terminal's last row is taken out of the scroll region (`ESC[1;{rows-1}r`), so the
//! stream scrolls above it and never overwrites it. The line is drawn with the cursor saved
//! and restored (`ESC 7` … `ESC 8`) through the same writer as the stream, between two of
//! its writes, so it is never drawn inside a child's line, and a progress line being redrawn
//! keeps its place. It is drawn only when its text changes (a state changed) or the window
//! was resized; nothing is done per line. At the end the region is reset and the row cleared.
//!
//! [`render`] is pure and unit-tested; [`StatusLine`] holds what was drawn.

use crate::supervisor::{Exit, State};

/// One instance as the line shows it: its name (`web`, or `web.2` when its type has more
/// than one), its state and its restarts.
pub struct Entry<'a> {
    pub name: &'a str,
    pub state: State,
    pub restarts: u32,
}

/// What the line shows, and where.
pub struct StatusLine {
    rows: u16,
    cols: u16,
    colour: bool,
    bell: bool,
    /// The bytes last drawn (the rendered text), to draw only on a change.
    drawn: Vec<u8>,
    /// Each instance failed as of the last draw (a new failure rings the bell once).
    failed: Vec<bool>,
}

impl StatusLine {
    /// A line for a terminal of `rows` × `cols`; `None` when it has no room for one.
    pub fn new(rows: u16, cols: u16, colour: bool, bell: bool) -> Option<StatusLine> {
        (rows >= 3 && cols >= 10).then(|| StatusLine {
            rows,
            cols,
            colour,
            bell,
            drawn: Vec::new(),
            failed: Vec::new(),
        })
    }

    /// The rows left to the stream (a pty's size follows it).
    pub fn stream_rows(&self) -> u16 {
        self.rows - 1
    }

    /// The bytes that take the last row out of the scroll region: a newline first, so the
    /// stream's last line is not under it, then the cursor back up.
    pub fn begin(&self) -> Vec<u8> {
        let mut out = b"\n\x1b[1A".to_vec();
        out.extend_from_slice(&self.region());
        out
    }

    /// `ESC 7`, the scroll region (which homes the cursor), `ESC 8`.
    fn region(&self) -> Vec<u8> {
        format!("\x1b7\x1b[1;{}r\x1b8", self.rows - 1).into_bytes()
    }

    /// The bytes that draw `entries`, or none when the line would not change. The bell rings
    /// for a new failure unless `stopping` (the stack is being stopped: exits by its signals
    /// are what was asked for, not news).
    pub fn draw(&mut self, entries: &[Entry<'_>], stopping: bool) -> Vec<u8> {
        let text = render(entries, usize::from(self.cols) - 1, self.colour);
        let failed: Vec<bool> = entries.iter().map(|e| is_failure(e.state)).collect();
        let newly_failed = failed
            .iter()
            .enumerate()
            .any(|(i, &f)| f && !self.failed.get(i).copied().unwrap_or(false));
        self.failed = failed;
        if text == self.drawn {
            return Vec::new();
        }
        self.drawn = text;
        let mut out = self.paint();
        if newly_failed && self.bell && !stopping {
            out.push(0x07);
        }
        out
    }

    /// Forgets what was drawn: the next [`StatusLine::draw`] paints (the screen lost it).
    pub fn forget(&mut self) {
        self.drawn.clear();
    }

    /// The terminal was resized: the region again, and the line.
    pub fn resize(&mut self, rows: u16, cols: u16) -> Vec<u8> {
        if rows < 3 || cols < 10 {
            return Vec::new();
        }
        // What was on the old last row is cleared first.
        let mut out = format!("\x1b7\x1b[{};1H\x1b[2K\x1b8", self.rows).into_bytes();
        self.rows = rows;
        self.cols = cols;
        out.extend_from_slice(&self.region());
        out.extend_from_slice(&self.paint());
        out
    }

    /// The line, gone: the region reset, the row cleared, the cursor where it was.
    pub fn end(&self) -> Vec<u8> {
        format!("\x1b7\x1b[r\x1b8\x1b7\x1b[{};1H\x1b[2K\x1b8", self.rows).into_bytes()
    }

    fn paint(&self) -> Vec<u8> {
        let mut out = format!("\x1b7\x1b[{};1H\x1b[2K", self.rows).into_bytes();
        out.extend_from_slice(&self.drawn);
        out.extend_from_slice(b"\x1b8");
        out
    }
}

/// Exited otherwise than with 0, given up, or backing off after a crash.
fn is_failure(state: State) -> bool {
    match state {
        State::Exited(Exit::Code(0)) => false,
        State::Exited(_) | State::GivenUp | State::BackingOff => true,
        _ => false,
    }
}

/// The line's text: a mark and a name per instance, two spaces apart, cut to `width`
/// columns (a terminal would wrap it), in colour when `colour`.
pub fn render(entries: &[Entry<'_>], width: usize, colour: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut used = 0;
    for (i, entry) in entries.iter().enumerate() {
        let (mark, sgr) = mark(entry.state);
        let mut text = format!("{mark} {}", entry.name);
        match entry.state {
            State::BackingOff | State::GivenUp if entry.restarts > 0 => {
                let s = if entry.restarts == 1 { "" } else { "s" };
                text.push_str(&format!(" ({} restart{s})", entry.restarts));
            }
            State::Exited(Exit::Code(code)) if code != 0 => text.push_str(&format!(" ({code})")),
            State::Exited(Exit::Signal(signal)) => {
                text.push_str(&format!(" ({})", signal.as_str()))
            }
            _ => {}
        }
        let sep = if i == 0 { "" } else { "  " };
        let len = sep.len() + text.chars().count();
        if used + len > width {
            let room = width.saturating_sub(used + sep.len());
            if room > 0 {
                out.extend_from_slice(sep.as_bytes());
                let cut: String = text.chars().take(room).collect();
                paint(&mut out, &cut, sgr, colour);
            }
            break;
        }
        out.extend_from_slice(sep.as_bytes());
        paint(&mut out, &text, sgr, colour);
        used += len;
    }
    out
}

fn paint(out: &mut Vec<u8>, text: &str, sgr: &str, colour: bool) {
    if colour {
        out.extend_from_slice(format!("\x1b[{sgr}m{text}\x1b[0m").as_bytes());
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// The mark of a state and its colour (SGR).
fn mark(state: State) -> (char, &'static str) {
    match state {
        State::Ready | State::Running => ('●', "32"),
        State::Starting => ('●', "33"),
        State::Waiting => ('○', "2"),
        State::Stopping | State::Stopped => ('■', "2"),
        State::BackingOff => ('↻', "33"),
        State::Exited(Exit::Code(0)) => ('✓', "32"),
        State::Exited(_) => ('✗', "31"),
        State::GivenUp => ('✗', "1;31"),
    }
}

#[cfg(test)]
mod tests {
    use nix::sys::signal::Signal;

    use super::*;

    fn entry(name: &str, state: State, restarts: u32) -> Entry<'_> {
        Entry {
            name,
            state,
            restarts,
        }
    }

    fn text(entries: &[Entry<'_>], width: usize) -> String {
        String::from_utf8(render(entries, width, false)).unwrap()
    }

    #[test]
    fn renders_marks_names_and_restarts_within_the_width() {
        let entries = [
            entry("db", State::Ready, 0),
            entry("redis", State::Running, 0),
            entry("migrate", State::Exited(Exit::Code(0)), 0),
            entry("web", State::Starting, 0),
            entry("worker", State::BackingOff, 3),
            entry("bad", State::Exited(Exit::Signal(Signal::SIGKILL)), 0),
        ];
        assert_eq!(
            text(&entries, 200),
            "● db  ● redis  ✓ migrate  ● web  ↻ worker (3 restarts)  ✗ bad (SIGKILL)"
        );
        assert_eq!(text(&entries, 12), "● db  ● redi");
        assert_eq!(text(&entries, 5), "● db");
        let coloured = String::from_utf8(render(&entries[..1], 80, true)).unwrap();
        assert_eq!(coloured, "\x1b[32m● db\x1b[0m");
    }

    #[test]
    fn draws_only_on_change_and_rings_once_per_failure() {
        let mut line = StatusLine::new(24, 80, false, true).unwrap();
        assert_eq!(line.stream_rows(), 23);
        assert_eq!(line.begin(), b"\n\x1b[1A\x1b7\x1b[1;23r\x1b8");
        let up = [entry("web", State::Running, 0)];
        let drawn = line.draw(&up, false);
        assert_eq!(drawn, "\x1b7\x1b[24;1H\x1b[2K● web\x1b8".as_bytes());
        assert!(line.draw(&up, false).is_empty());
        let crashed = [entry("web", State::Exited(Exit::Code(3)), 0)];
        let drawn = line.draw(&crashed, false);
        assert!(drawn.ends_with(b"\x1b8\x07"), "{drawn:?}");
        assert!(line.draw(&crashed, false).is_empty());
        // Still failed, drawn again for another reason: no second bell.
        let more = [entry("web", State::GivenUp, 2)];
        assert!(!line.draw(&more, false).contains(&0x07));
        let mut quiet = StatusLine::new(24, 80, false, false).unwrap();
        quiet.draw(&up, false);
        assert!(!quiet.draw(&crashed, false).contains(&0x07));
        // Exits while the stack is being stopped ring nothing.
        let mut stopping = StatusLine::new(24, 80, false, true).unwrap();
        stopping.draw(&up, false);
        let terminated = [entry(
            "web",
            State::Exited(Exit::Signal(nix::sys::signal::Signal::SIGTERM)),
            0,
        )];
        assert!(!stopping.draw(&terminated, true).contains(&0x07));
        let resized = String::from_utf8(line.resize(30, 100)).unwrap();
        assert!(resized.starts_with("\x1b7\x1b[24;1H\x1b[2K\x1b8\x1b7\x1b[1;29r\x1b8"));
        assert!(resized.contains("\x1b[30;1H"));
        assert_eq!(line.end(), b"\x1b7\x1b[r\x1b8\x1b7\x1b[30;1H\x1b[2K\x1b8");
        assert!(StatusLine::new(2, 80, false, true).is_none());
        assert!(StatusLine::new(0, 0, false, true).is_none());
    }
}
