//! The [`Style`]: how the stream looks, decided once (colour, timestamps, text or JSON,
//! prefixes). The output stage builds its writer from it; nothing later re-decides.

use crate::cli::{ColorChoice, TimestampChoice};

/// How procmux's stdout looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// Colour the prefixes (never with JSON).
    pub color: bool,
    pub timestamp: TimestampFormat,
    /// One JSON object per line instead of prefixed text.
    pub json: bool,
    /// False for `--no-prefix`: child lines are written as they are.
    pub prefix: bool,
    /// Remove escape sequences from child lines.
    pub strip_ansi: bool,
    /// Width that labels are padded to: foreman's `max(6, longest name + digits + 1)`.
    pub width: usize,
    /// stdout is a terminal: progress lines (`\r`) are shown as they change.
    pub terminal: bool,
    /// A status line under the stream (a terminal, text, `TERM` not dumb, not turned off).
    pub status_line: bool,
    /// The terminal bell rings when an instance crashes (with the status line).
    pub bell: bool,
}

impl Style {
    /// Columns the text prefix takes (timestamp, label, ` | `), 0 when lines go out bare or
    /// as JSON: a pty is made this much narrower than procmux's terminal.
    pub fn prefix_width(&self) -> usize {
        if self.json || !self.prefix {
            return 0;
        }
        let stamp = self.timestamp.width();
        stamp + usize::from(stamp > 0) + self.width + 3
    }
}

/// How each line is stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// `HH:MM:SS` local time (foreman's).
    Local,
    /// `HH:MM:SS` in UTC.
    Utc,
    /// RFC 3339 with milliseconds and the offset: `2026-11-25T12:00:01.234+01:00`.
    Iso,
    /// `HH:MM:SS.mmm` local time.
    Ms,
    /// No timestamp.
    None,
}

impl TimestampFormat {
    /// Bytes of the formatted stamp; 0 for `None`.
    pub fn width(self) -> usize {
        match self {
            TimestampFormat::Local | TimestampFormat::Utc => 8,
            TimestampFormat::Ms => 12,
            TimestampFormat::Iso => 29,
            TimestampFormat::None => 0,
        }
    }

    pub fn has_millis(self) -> bool {
        matches!(self, TimestampFormat::Iso | TimestampFormat::Ms)
    }
}

impl From<TimestampChoice> for TimestampFormat {
    fn from(choice: TimestampChoice) -> TimestampFormat {
        match choice {
            TimestampChoice::Local => TimestampFormat::Local,
            TimestampChoice::Utc => TimestampFormat::Utc,
            TimestampChoice::Iso => TimestampFormat::Iso,
            TimestampChoice::Ms => TimestampFormat::Ms,
            TimestampChoice::None => TimestampFormat::None,
        }
    }
}

/// Decides colour once: the flag wins; under `auto`, `NO_COLOR` (any non-empty value) and
/// `CLICOLOR=0` turn it off, `CLICOLOR_FORCE` (non-empty, not `0`) turns it on, and otherwise
/// colour needs stdout to be a terminal whose `TERM` is not `dumb`.
pub fn color_enabled(
    choice: ColorChoice,
    env: &dyn Fn(&str) -> Option<String>,
    stdout_is_tty: bool,
) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set("NO_COLOR").is_some() {
                false
            } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else if set("CLICOLOR").is_some_and(|v| v == "0") {
                false
            } else {
                stdout_is_tty && env("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(choice: ColorChoice, vars: &[(&str, &str)], tty: bool) -> bool {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        color_enabled(choice, &env, tty)
    }

    #[test]
    fn flag_then_environment_then_terminal() {
        use ColorChoice::*;
        assert!(decide(Always, &[("NO_COLOR", "1")], false));
        assert!(!decide(Never, &[("CLICOLOR_FORCE", "1")], true));
        assert!(decide(Auto, &[], true));
        assert!(!decide(Auto, &[], false));
        assert!(!decide(Auto, &[("TERM", "dumb")], true));
        assert!(!decide(Auto, &[("NO_COLOR", "1")], true));
        assert!(decide(Auto, &[("NO_COLOR", "")], true));
        assert!(decide(Auto, &[("CLICOLOR_FORCE", "1")], false));
        assert!(!decide(Auto, &[("CLICOLOR_FORCE", "0")], false));
        assert!(!decide(
            Auto,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false
        ));
        assert!(!decide(Auto, &[("CLICOLOR", "0")], true));
    }

    #[test]
    fn prefix_width_counts_stamp_label_and_separator() {
        let style = Style {
            color: false,
            timestamp: TimestampFormat::Local,
            json: false,
            prefix: true,
            strip_ansi: false,
            width: 6,
            terminal: false,
            status_line: false,
            bell: false,
        };
        // "12:00:01 web.1  | "
        assert_eq!(style.prefix_width(), 18);
        let bare = Style {
            prefix: false,
            ..style.clone()
        };
        assert_eq!(bare.prefix_width(), 0);
    }
}
