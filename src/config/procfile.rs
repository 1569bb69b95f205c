//! The Procfile format, foreman's grammar: `name: command` per line.
//!
//! An entry matches `^([A-Za-z0-9_-]+):\s*(.+)$`; blank lines and `#` comments are skipped and
//! CRLF line ends are accepted. Unlike foreman, every other line is an error rather than a silent
//! skip, and so is a duplicate name or a file without entries: a typo must never mean a process
//! quietly does not start.
//!
//! A local override (`Procfile.local`, read after the Procfile) has the same lines, each adding
//! an entry or replacing the one of that name in place (its port and colour stay), plus
//! `!name:` lines, each removing one.

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
        for (line, content) in content_lines(text) {
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

    /// Applies a local override's changes in order; what each did (`web replaced`, `debug
    /// added`, `worker removed`). Removing an entry the Procfile lacks is an error at its line.
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<String>, LineError> {
        let mut said = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                Change::Set(entry) => match self.position(&entry.name) {
                    Some(index) => {
                        said.push(format!("{} replaced", entry.name));
                        self.entries[index] = entry;
                    }
                    None => {
                        said.push(format!("{} added", entry.name));
                        self.entries.push(entry);
                    }
                },
                Change::Remove { name, line } => {
                    let index = self.position(&name).ok_or_else(|| {
                        LineError::at(
                            line,
                            format!("!{name}: there is no entry \"{name}\" to remove"),
                        )
                    })?;
                    self.entries.remove(index);
                    said.push(format!("{name} removed"));
                }
            }
        }
        Ok(said)
    }
}

/// One line of a local override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `name: command`: added, or replacing the entry of that name.
    Set(Entry),
    /// `!name:`: that entry removed.
    Remove { name: String, line: usize },
}

/// A local override's lines: entries and `!name:` removals, each name at most once. An empty
/// file changes nothing.
pub fn parse_changes(text: &str) -> Result<Vec<Change>, LineError> {
    let mut changes: Vec<Change> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (line, content) in content_lines(text) {
        let change = match content.strip_prefix('!') {
            Some(rest) => {
                let expected = || LineError::at(line, "expected \"!name:\" (it removes name)");
                let (name, after) = rest.split_once(':').ok_or_else(expected)?;
                if let Some(error) = too_long(name, line) {
                    return Err(error);
                }
                if !is_name(name) || !after.trim().is_empty() {
                    return Err(expected());
                }
                Change::Remove {
                    name: name.to_owned(),
                    line,
                }
            }
            None => Change::Set(parse_entry(content, line)?),
        };
        let name = match &change {
            Change::Set(entry) => entry.name.clone(),
            Change::Remove { name, .. } => name.clone(),
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            return Err(LineError::at(
                line,
                format!("\"{name}\" again (first changed on line {first})"),
            ));
        }
        seen.push((name, line));
        changes.push(change);
    }
    Ok(changes)
}

/// The lines that say something, with their 1-based numbers: blank lines and `#` comments
/// skipped, a CR before the LF dropped.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(index, raw)| (index + 1, raw.strip_suffix('\r').unwrap_or(raw)))
        .filter(|(_, content)| {
            let trimmed = content.trim();
            !trimmed.is_empty() && !trimmed.starts_with('#')
        })
}

/// The longest name of a Procfile entry or an include (an included entry is named
/// `INCLUDE.entry`, so its name may be twice this and a dot): a longer one once overflowed the
/// prefix's formatting, and no unit or file name made of it could be written.
pub const MAX_NAME: usize = 100;

/// A process name: `[A-Za-z0-9_-]+`, at most [`MAX_NAME`] bytes.
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && has_name_bytes(name)
}

fn has_name_bytes(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `Some` error when `name` would be a name but for its length.
fn too_long(name: &str, line: usize) -> Option<LineError> {
    (name.len() > MAX_NAME && has_name_bytes(name)).then(|| {
        LineError::at(
            line,
            format!(
                // Its bytes are all ASCII: any cut is a character boundary.
                "process name \"{}…\" is {} bytes long: at most {MAX_NAME}",
                &name[..20],
                name.len()
            ),
        )
    })
}

fn parse_entry(content: &str, line: usize) -> Result<Entry, LineError> {
    let expected = || LineError::at(line, "expected \"name: command\"");
    let (name, rest) = content.split_once(':').ok_or_else(expected)?;
    if let Some(error) = too_long(name, line) {
        return Err(error);
    }
    if !is_name(name) {
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
    fn a_local_override_adds_replaces_in_place_and_removes() {
        let mut procfile = Procfile::parse("db: pg\nweb: puma\nworker: sidekiq\n").unwrap();
        let changes =
            parse_changes("# mine\r\nweb: puma -v\r\n!worker:\ndebug: rdbg  \n!db:   \n").unwrap();
        let said = procfile.apply(changes).unwrap();
        assert_eq!(
            said,
            [
                "web replaced",
                "worker removed",
                "debug added",
                "db removed"
            ]
        );
        let entries: Vec<(&str, &str, usize)> = procfile
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.command.as_str(), e.line))
            .collect();
        assert_eq!(entries, [("web", "puma -v", 2), ("debug", "rdbg", 4)]);
        assert_eq!(parse_changes("\n# nothing\n").unwrap(), []);
    }

    #[test]
    fn a_bad_local_override_line_is_an_error_at_it() {
        let cases = [
            ("!web\n", 1, "expected \"!name:\" (it removes name)"),
            ("!web: puma\n", 1, "expected \"!name:\" (it removes name)"),
            ("! web:\n", 1, "expected \"!name:\" (it removes name)"),
            ("!:\n", 1, "expected \"!name:\" (it removes name)"),
            (
                "web: a\n!web:\n",
                2,
                "\"web\" again (first changed on line 1)",
            ),
            ("x\n", 1, "expected \"name: command\""),
            (
                &format!("!{}:\n", "r".repeat(101)),
                1,
                "process name \"rrrrrrrrrrrrrrrrrrrr…\" is 101 bytes long: at most 100",
            ),
        ];
        for (text, line, message) in cases {
            assert_eq!(
                parse_changes(text).unwrap_err(),
                LineError::at(line, message),
                "{text:?}"
            );
        }
        let mut procfile = Procfile::parse("web: a\n").unwrap();
        let changes = parse_changes("\n!nope:\n").unwrap();
        assert_eq!(
            procfile.apply(changes).unwrap_err(),
            LineError::at(2, "!nope: there is no entry \"nope\" to remove")
        );
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
            (
                &format!("{}: a\n", "w".repeat(101)),
                Some(1),
                "process name \"wwwwwwwwwwwwwwwwwwww…\" is 101 bytes long: at most 100",
            ),
            ("web:   \r\n", Some(1), "process \"web\" has no command"),
            (
                "web: a\n\nweb: b\n",
                Some(3),
                "duplicate process name \"web\" (first defined on line 1)",
            ),
            ("", None, "no processes defined"),
            ("# only a comment\n\n", None, "no processes defined"),
        ];
        // A character cut at the bound, and a bad byte past it: not a name, whatever its length.
        for name in [
            format!("{}é", "a".repeat(99)),
            format!("{}!", "a".repeat(100)),
        ] {
            let err = Procfile::parse(&format!("{name}: a\n")).unwrap_err();
            assert_eq!(err, LineError::at(1, "expected \"name: command\""));
        }
        let longest = format!("{}: a\n", "w".repeat(MAX_NAME));
        assert_eq!(Procfile::parse(&longest).unwrap().entries.len(), 1);
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
