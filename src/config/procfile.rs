//! The Procfile format, foreman's grammar: `name: command` per line.
//!
//! An entry matches `^([A-Za-z0-9_-]+):\s*(.+)$`; blank lines and `#` comments are skipped and
//! CRLF line ends are accepted. Unlike foreman, every other line is an error rather than a silent
//! skip, and so is a duplicate name or a file without entries: a typo must never mean a process
//! quietly does not start.

use crate::error::LineError;

/// One `name: command` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub command: String,
    /// 1-based line of the entry, for error messages.
    pub line: usize,
}

/// A parsed Procfile; entries keep their file order, which decides ports and colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procfile {
    pub entries: Vec<Entry>,
}

impl Procfile {
    pub fn parse(text: &str) -> Result<Procfile, LineError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let content = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = content.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let entry = parse_entry(content, line)?;
            if let Some(first) = entries.iter().find(|e| e.name == entry.name) {
                return Err(LineError::at(
                    line,
                    format!(
                        "duplicate process name \"{}\" (first defined on line {})",
                        entry.name, first.line
                    ),
                ));
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(LineError::whole("no processes defined"));
        }
        Ok(Procfile { entries })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The Procfile index of the entry called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }
}

fn parse_entry(content: &str, line: usize) -> Result<Entry, LineError> {
    let expected = || LineError::at(line, "expected \"name: command\"");
    let (name, rest) = content.split_once(':').ok_or_else(expected)?;
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(expected());
    }
    let command = rest.trim();
    if command.is_empty() {
        return Err(LineError::at(
            line,
            format!("process \"{name}\" has no command"),
        ));
    }
    Ok(Entry {
        name: name.to_owned(),
        command: command.to_owned(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        Procfile::parse(text)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn parses_entries_in_order() {
        let p = Procfile::parse("web: puma -p $PORT\nworker:bundle exec sidekiq  \n").unwrap();
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.entries[0].name, "web");
        assert_eq!(p.entries[0].command, "puma -p $PORT");
        assert_eq!(p.entries[1].command, "bundle exec sidekiq");
        assert_eq!(p.entries[1].line, 2);
    }

    #[test]
    fn skips_comments_blank_lines_and_accepts_crlf() {
        assert_eq!(
            names("# c\r\n\r\n  \nweb: a\r\n  # indented\nw-2_x: b: c\n"),
            ["web", "w-2_x"]
        );
        let p = Procfile::parse("web: a: b\r\n").unwrap();
        assert_eq!(p.entries[0].command, "a: b");
    }

    #[test]
    fn rejects_what_foreman_would_skip() {
        let cases = [
            (
                "web: a\nnot an entry\n",
                Some(2),
                "expected \"name: command\"",
            ),
            ("web a\n", Some(1), "expected \"name: command\""),
            (" web: a\n", Some(1), "expected \"name: command\""),
            ("we b: a\n", Some(1), "expected \"name: command\""),
            (": a\n", Some(1), "expected \"name: command\""),
            ("web:\n", Some(1), "process \"web\" has no command"),
            ("web:   \r\n", Some(1), "process \"web\" has no command"),
            (
                "web: a\n\nweb: b\n",
                Some(3),
                "duplicate process name \"web\" (first defined on line 1)",
            ),
            ("", None, "no processes defined"),
            ("# only a comment\n\n", None, "no processes defined"),
        ];
        for (text, line, message) in cases {
            let err = Procfile::parse(text).unwrap_err();
            assert_eq!(
                err,
                LineError {
                    line,
                    message: message.into()
                },
                "input {text:?}"
            );
        }
    }
}
