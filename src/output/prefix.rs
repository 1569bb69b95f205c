//! The bytes written before and after each line: precomputed once per output stream (and
//! per label of procmux's own lines), the timestamp patched in place only when the clock's
//! text changes, so writing a line never formats anything.

use nix::unistd::Pid;
use nu_ansi_term::Color;

use super::timestamp::Clock;
use crate::config::TimestampFormat;

const RESET_NEWLINE: &[u8] = b"\x1b[0m\n";
pub(super) const JSON_END: &[u8] = b"\"}\n";

/// Which output stream of a process a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The text-format separator: `|`, or `!` marking stderr lines.
    pub fn separator(self) -> char {
        match self {
            Stream::Stdout => '|',
            Stream::Stderr => '!',
        }
    }
}

/// The bytes written before (and after) each line of one stream (or of `system`).
pub struct Prefix {
    pub(super) bytes: Vec<u8>,
    /// Bytes ending every line: `\n`, a reset then `\n` when coloured, `"}\n` for JSON.
    pub(super) line_end: &'static [u8],
    /// Where the timestamp sits in `bytes`, when there is one.
    stamp_at: Option<usize>,
    /// The clock key the stamp shows.
    key: i64,
    /// Which stream it belongs to, so a progress line on screen knows its own writer.
    pub(super) id: u32,
}

impl Prefix {
    /// `[time ]label<pad> | `, in `color` when it is set.
    pub fn text(
        label: &str,
        width: usize,
        color: Option<Color>,
        stamp: TimestampFormat,
        separator: char,
    ) -> Prefix {
        let mut bytes = Vec::new();
        if let Some(color) = color {
            bytes.extend_from_slice(color.prefix().to_string().as_bytes());
        }
        let stamp_at = (stamp != TimestampFormat::None).then(|| {
            let at = bytes.len();
            bytes.resize(at + stamp.width(), b'0');
            bytes.push(b' ');
            at
        });
        bytes.extend_from_slice(format!("{label:<width$} {separator} ").as_bytes());
        if let Some(color) = color {
            bytes.extend_from_slice(color.suffix().to_string().as_bytes());
        }
        let line_end = if color.is_some() {
            RESET_NEWLINE
        } else {
            b"\n"
        };
        Prefix {
            bytes,
            line_end,
            stamp_at,
            key: i64::MIN,
            id: u32::MAX,
        }
    }

    /// The instance the stream belongs to (`None` for procmux's own labels).
    pub(super) fn instance(&self) -> Option<usize> {
        (self.id != u32::MAX).then_some(self.id as usize / 2)
    }

    /// The same prefix, tagged as stream `id`'s.
    pub(super) fn with_id(mut self, id: u32) -> Prefix {
        self.id = id;
        self
    }

    /// The constant head of a JSON line: `{"ts":"…","name":…,"line":"`.
    pub fn json(name: &str, instance: usize, pid: Pid, stream: Stream) -> Prefix {
        let mut bytes = b"{\"ts\":\"".to_vec();
        let at = bytes.len();
        bytes.resize(at + TimestampFormat::Iso.width(), b'0');
        let fields = format!(
            "\",\"name\":\"{name}\",\"instance\":{instance},\"pid\":{pid},\"stream\":\"{}\",\"line\":\"",
            stream.name()
        );
        bytes.extend_from_slice(fields.as_bytes());
        Prefix {
            bytes,
            line_end: JSON_END,
            stamp_at: Some(at),
            key: i64::MIN,
            id: u32::MAX,
        }
    }

    /// No prefix at all (`--no-prefix`): lines are written as the child wrote them.
    pub fn bare() -> Prefix {
        Prefix {
            bytes: Vec::new(),
            line_end: b"\n",
            stamp_at: None,
            key: i64::MIN,
            id: u32::MAX,
        }
    }

    pub(super) fn sync(&mut self, clock: &Clock) {
        if let Some(at) = self.stamp_at
            && self.key != clock.key()
        {
            let text = clock.text();
            self.bytes[at..at + text.len()].copy_from_slice(text);
            self.key = clock.key();
        }
    }
}
