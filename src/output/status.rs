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
//! A terminal smaller than [`MIN_ROWS`] × [`MIN_COLS`] has no room for it: the line is hidden
//! (the region reset and its row cleared at once, so the stream has every row) and comes back
//! when the terminal is made large enough again.
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

/// The smallest terminal the line is shown on: a row for it, two for the stream.
pub const MIN_ROWS: u16 = 3;
/// The narrowest terminal the line is shown on.
pub const MIN_COLS: u16 = 10;

fn fits(rows: u16, cols: u16) -> bool {
    rows >= MIN_ROWS && cols >= MIN_COLS
}

/// What the line shows, and where.
pub struct StatusLine {
    rows: u16,
    cols: u16,
    /// The terminal has room for it (the region is set, the last row is the line's).
    shown: bool,
    colour: bool,
    bell: bool,
    /// The bytes last drawn (the rendered text), to draw only on a change.
    drawn: Vec<u8>,
    /// Each instance failed as of the last draw (a new failure rings the bell once).
    failed: Vec<bool>,
}

impl StatusLine {
    /// A line for a terminal of `rows` × `cols`, hidden until the terminal has room.
    pub fn new(rows: u16, cols: u16, colour: bool, bell: bool) -> StatusLine {
        StatusLine {
            rows,
            cols,
            shown: fits(rows, cols),
            colour,
            bell,
            drawn: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// The rows left to the stream (a pty's size follows it), when the line takes one.
    pub fn stream_rows(&self) -> Option<u16> {
        self.shown.then(|| self.rows - 1)
    }

    /// The bytes that take the last row out of the scroll region: a newline first, so the
    /// stream's last line is not under it, then the cursor back up. Nothing when hidden.
    pub fn begin(&self) -> Vec<u8> {
        if !self.shown {
            return Vec::new();
        }
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
        if !self.shown {
            return Vec::new();
        }
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

    /// The terminal was resized. Its old row is cleared; then the region is set for the new
    /// size, or reset when the line no longer fits (and set again when it fits once more).
    /// The line is drawn by the next [`StatusLine::draw`], at the new width.
    pub fn resize(&mut self, rows: u16, cols: u16) -> Vec<u8> {
        let mut out = Vec::new();
        if self.shown {
            out = self.clear();
        }
        let was_shown = self.shown;
        self.set_size(rows, cols);
        match (was_shown, self.shown) {
            (true, true) => out.extend_from_slice(&self.region()),
            (false, true) => out.extend_from_slice(&self.begin()),
            (true, false) => out.extend_from_slice(b"\x1b7\x1b[r\x1b8"),
            (false, false) => {}
        }
        out
    }

    /// The terminal's new size, with nothing to write: while the line is away (Ctrl-Z:
    /// [`StatusLine::end`] was written) it is kept for [`StatusLine::begin`] on the way back.
    pub fn set_size(&mut self, rows: u16, cols: u16) {
        self.rows = rows;
        self.cols = cols;
        self.shown = fits(rows, cols);
        self.forget();
    }

    /// The line, gone: the region reset, the row cleared, the cursor where it was. Nothing
    /// when hidden (that was done when it was hidden).
    pub fn end(&self) -> Vec<u8> {
        if !self.shown {
            return Vec::new();
        }
        let mut out = b"\x1b7\x1b[r\x1b8".to_vec();
        out.extend_from_slice(&self.clear());
        out
    }

    /// Clears the line's row, the cursor kept.
    fn clear(&self) -> Vec<u8> {
        format!("\x1b7\x1b[{};1H\x1b[2K\x1b8", self.rows).into_bytes()
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
        let mut line = StatusLine::new(24, 80, false, true);
        assert_eq!(line.stream_rows(), Some(23));
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
        let mut quiet = StatusLine::new(24, 80, false, false);
        quiet.draw(&up, false);
        assert!(!quiet.draw(&crashed, false).contains(&0x07));
        // Exits while the stack is being stopped ring nothing.
        let mut stopping = StatusLine::new(24, 80, false, true);
        stopping.draw(&up, false);
        let terminated = [entry(
            "web",
            State::Exited(Exit::Signal(nix::sys::signal::Signal::SIGTERM)),
            0,
        )];
        assert!(!stopping.draw(&terminated, true).contains(&0x07));
        assert_eq!(line.end(), b"\x1b7\x1b[r\x1b8\x1b7\x1b[24;1H\x1b[2K\x1b8");
    }

    #[test]
    fn a_terminal_too_small_hides_the_line_and_frees_its_row() {
        let up = [entry("web", State::Running, 0)];
        let mut line = StatusLine::new(24, 80, false, true);
        line.draw(&up, false);
        // Larger: the old row cleared, the region for the new size; drawn again at once.
        assert_eq!(
            line.resize(30, 100),
            b"\x1b7\x1b[24;1H\x1b[2K\x1b8\x1b7\x1b[1;29r\x1b8"
        );
        assert_eq!(
            line.draw(&up, false),
            "\x1b7\x1b[30;1H\x1b[2K● web\x1b8".as_bytes()
        );
        // Too small (rows, then columns): the row cleared and the region reset at once.
        for (rows, cols) in [(2, 100), (30, 9), (0, 0)] {
            let mut line = StatusLine::new(30, 100, false, true);
            line.draw(&up, false);
            assert_eq!(
                line.resize(rows, cols),
                b"\x1b7\x1b[30;1H\x1b[2K\x1b8\x1b7\x1b[r\x1b8",
                "{rows}x{cols}"
            );
            assert_eq!(line.stream_rows(), None);
            assert!(line.draw(&up, false).is_empty());
            assert!(line.end().is_empty(), "reset already");
            // Still too small: nothing to undo.
            assert!(line.resize(1, 1).is_empty());
            // Large enough again: the row made free and the region set, then the line.
            assert_eq!(line.resize(24, 80), b"\n\x1b[1A\x1b7\x1b[1;23r\x1b8");
            assert_eq!(line.stream_rows(), Some(23));
            assert_eq!(
                line.draw(&up, false),
                "\x1b7\x1b[24;1H\x1b[2K● web\x1b8".as_bytes()
            );
        }
        // Too small from the start: hidden, shown once resized.
        let mut line = StatusLine::new(2, 80, false, true);
        assert!(line.begin().is_empty());
        assert!(line.draw(&up, false).is_empty());
        assert!(!line.resize(3, 10).is_empty());
        assert_eq!(line.stream_rows(), Some(2));
    }
}
