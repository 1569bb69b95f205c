//! The `.env` format: `KEY=value` lines, a superset of foreman's dialect.
//!
//! Grammar (one assignment per line):
//! - blank lines and lines starting with `#` are skipped; CRLF is accepted;
//! - an optional `export ` prefix; the key is `[A-Za-z_][A-Za-z0-9_.-]*` (`FOO.BAR` and
//!   `FOO-BAR` are valid environment names, even if a shell cannot expand them); spaces around
//!   `=` are allowed;
//! - `'single quoted'` values are literal;
//! - `"double quoted"` values understand `\n`, `\r`, `\t`, `\"`, `\\`, `\$` (any other `\X` is `X`,
//!   as in foreman) and interpolation;
//! - a quoted value may span lines (a PEM key in `"…"`, as python-dotenv, dotenvy and godotenv
//!   accept): the line breaks are part of the value, and errors name the line it starts on;
//! - unquoted values are trimmed, a ` #` (whitespace then `#`) starts a comment, and they are
//!   interpolated;
//! - interpolation: `$VAR`, `${VAR}` (`${FOO.BAR}` too) and `${VAR:-default}` take the value
//!   procmux gives the process (`PORT`, `PS`, `PORT_<NAME>`: they win over the env files in
//!   its environment, so here too), else of a key defined earlier (in this file or an earlier
//!   one), else of procmux's inherited environment; unknown is empty.
//!
//! Anything else is an error naming the line. Parsing is pure: the caller supplies the lookup of
//! earlier values, and nothing here touches procmux's own environment.

use crate::error::LineError;

/// Where `${NAME}` looks besides the keys defined before it.
pub struct Scope<'a> {
    /// What procmux gives the process (`PORT`, `PS`, `PORT_<NAME>`): looked up first.
    pub given: &'a dyn Fn(&str) -> Option<String>,
    /// procmux's inherited environment: looked up last.
    pub inherited: &'a dyn Fn(&str) -> Option<String>,
}

impl Scope<'_> {
    /// `name`'s value for a value written after `vars`.
    pub fn find(&self, vars: &[(String, String)], name: &str) -> Option<String> {
        (self.given)(name)
            .or_else(|| lookup(vars, name).map(str::to_owned))
            .or_else(|| (self.inherited)(name))
    }
}

/// Parses `text`, appending each assignment to `vars` in order (a repeated key is appended
/// again; the caller's later-wins merge handles it). `scope` says what names not defined in
/// `vars` are (and what procmux's own names are, before `vars`).
pub fn parse_into(
    text: &str,
    vars: &mut Vec<(String, String)>,
    scope: &Scope<'_>,
) -> Result<(), LineError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|raw| raw.strip_suffix('\r').unwrap_or(raw))
        .collect();
    let mut index = 0;
    while index < lines.len() {
        let line = index + 1;
        let content = lines[index].trim_start();
        index += 1;
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let lookup = |name: &str| scope.find(vars, name);
        let mut joined = content.to_owned();
        let (key, value) = loop {
            match parse_line(&joined, line, &lookup) {
                Err(error) if is_unterminated(&error) && index < lines.len() => {
                    // A quoted value that goes on: the line break is part of it.
                    joined.push('\n');
                    joined.push_str(lines[index]);
                    index += 1;
                }
                result => break result?,
            }
        };
        vars.push((key, value));
    }
    Ok(())
}

/// `${VAR}`, `$VAR` and `${VAR:-default}` in `text` expanded as in an unquoted value, and
/// `\$` a literal `$` (as in a double-quoted one); the message of what is wrong otherwise.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let pieces: Result<Vec<String>, LineError> = text
        .split("\\$")
        .map(|piece| interpolate(piece, 1, lookup))
        .collect();
    pieces.map(|p| p.join("$")).map_err(|e| e.message)
}

/// Whether `name` may be a key: `[A-Za-z_][A-Za-z0-9_.-]*`.
pub fn is_name(name: &str) -> bool {
    is_key(name)
}

fn is_unterminated(error: &LineError) -> bool {
    error.message.starts_with("unterminated single quote")
        || error.message.starts_with("unterminated double quote")
}

/// The latest value of `name` in `vars`.
pub fn lookup<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parse_line(
    content: &str,
    line: usize,
    lookup: Lookup<'_>,
) -> Result<(String, String), LineError> {
    let content = match content.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => content,
    };
    let Some((key, rest)) = content.split_once('=') else {
        return Err(LineError::at(line, "expected KEY=value"));
    };
    let key = key.trim_end();
    if !is_key(key) {
        return Err(LineError::at(
            line,
            format!("invalid key \"{key}\" (expected KEY=value)"),
        ));
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let value = match rest.as_bytes().first() {
        Some(b'\'') => single_quoted(&rest[1..], line)?,
        Some(b'"') => double_quoted(&rest[1..], line, lookup)?,
        _ => interpolate(strip_comment(rest).trim(), line, lookup)?,
    };
    Ok((key.to_owned(), value))
}

/// A key: `[A-Za-z_][A-Za-z0-9_.-]*`.
fn is_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Cuts an unquoted value at the first `#` preceded by whitespace.
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace())
        .map_or(value, |i| &value[..i])
}

/// After a closing quote only whitespace or a comment may follow.
fn check_trailing(rest: &str, line: usize) -> Result<(), LineError> {
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(LineError::at(
            line,
            format!("unexpected \"{rest}\" after closing quote"),
        ))
    }
}

fn single_quoted(body: &str, line: usize) -> Result<String, LineError> {
    let end = body
        .find('\'')
        .ok_or_else(|| LineError::at(line, "unterminated single quote"))?;
    check_trailing(&body[end + 1..], line)?;
    Ok(body[..end].to_owned())
}

fn double_quoted(body: &str, line: usize, lookup: Lookup<'_>) -> Result<String, LineError> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                check_trailing(&body[i + 1..], line)?;
                return Ok(value);
            }
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, 't')) => value.push('\t'),
                Some((_, other)) => value.push(other),
                None => break,
            },
            '$' => {
                let consumed = expand_variable(&body[i + 1..], line, lookup, &mut value)?;
                for _ in 0..consumed {
                    chars.next();
                }
            }
            c => value.push(c),
        }
    }
    Err(LineError::at(line, "unterminated double quote"))
}

fn interpolate(text: &str, line: usize, lookup: Lookup<'_>) -> Result<String, LineError> {
    let mut value = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '$' {
            let consumed = expand_variable(&text[i + 1..], line, lookup, &mut value)?;
            for _ in 0..consumed {
                chars.next();
            }
        } else {
            value.push(c);
        }
    }
    Ok(value)
}

/// Expands the variable reference that follows a `$` in `after`, pushing its value (or a literal
/// `$` when no name follows). Returns how many chars of `after` the reference used.
fn expand_variable(
    after: &str,
    line: usize,
    lookup: Lookup<'_>,
    out: &mut String,
) -> Result<usize, LineError> {
    if let Some(inner) = after.strip_prefix('{') {
        let end = inner
            .find('}')
            .ok_or_else(|| LineError::at(line, "unterminated \"${\" (missing \"}\")"))?;
        let reference = &inner[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if !is_key(name) {
            return Err(LineError::at(
                line,
                format!("invalid variable name \"{name}\" in \"${{{reference}}}\""),
            ));
        }
        match (lookup(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {}
        }
        return Ok(inner[..=end].chars().count() + 1);
    }
    let len = after
        .bytes()
        .enumerate()
        .take_while(|&(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
        .count();
    if len == 0 {
        out.push('$');
    } else if let Some(v) = lookup(&after[..len]) {
        out.push_str(&v);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(
        text: &str,
        inherited: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, LineError> {
        let inherited: Vec<(String, String)> = inherited
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut vars = Vec::new();
        let scope = Scope {
            given: &|name| (name == "PORT_API").then(|| "5100".to_owned()),
            inherited: &|name| lookup(&inherited, name).map(str::to_owned),
        };
        parse_into(text, &mut vars, &scope)?;
        Ok(vars)
    }

    fn value(text: &str) -> String {
        parse_with(text, &[("HOME", "/home/u")])
            .unwrap()
            .pop()
            .unwrap()
            .1
    }

    #[test]
    fn values() {
        let cases = [
            ("A=b", "b"),
            ("A=  b c  ", "b c"),
            ("export A=b", "b"),
            ("A = b", "b"),
            ("A=b # comment", "b"),
            ("A=b#not-comment", "b#not-comment"),
            ("A=#ff0000", "#ff0000"),
            ("A=", ""),
            ("A='lit $HOME \\n'", "lit $HOME \\n"),
            ("A='x' # c", "x"),
            ("A=\"a\\nb\\\"c\\\\d\\$HOME\\q\"", "a\nb\"c\\d$HOMEq"),
            ("A=\"$HOME/x\"", "/home/u/x"),
            ("A=${HOME}/x", "/home/u/x"),
            ("A=$HOME.x", "/home/u.x"),
            ("A=$NOPE-x", "-x"),
            ("A=${NOPE:-dflt}", "dflt"),
            ("A=${HOME:-dflt}", "/home/u"),
            ("A=cost $5 and $", "cost $5 and $"),
            ("A=\"é ${HOME}\" ", "é /home/u"),
            ("A=b\r", "b"),
            ("FOO.BAR-1=x", "x"),
            ("A=${FOO.BAR}", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(value(text), expected, "input {text:?}");
        }
    }

    #[test]
    fn skips_comments_and_interpolates_earlier_keys() {
        let vars = parse_with("# c\n\n  # c2\nA=1\nB=${A}2\nA=3\nC=$A\n", &[("A", "env")]).unwrap();
        let expected = [("A", "1"), ("B", "12"), ("A", "3"), ("C", "3")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn what_procmux_gives_wins_over_earlier_keys_and_the_environment() {
        let text = "PORT_API=1\nA=http://localhost:${PORT_API}/\nB='$PORT_API'\nC=\"\\$PORT_API $PORT_API\"\n";
        let vars = parse_with(text, &[("PORT_API", "9")]).unwrap();
        let values: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            ["1", "http://localhost:5100/", "$PORT_API", "$PORT_API 5100"]
        );
    }

    #[test]
    fn quoted_values_may_span_lines() {
        let text =
            "KEY=\"-----BEGIN KEY-----\r\nabc\ndef\n-----END KEY-----\"\nB='x\ny' # c\nC=1\n";
        let vars = parse_with(text, &[]).unwrap();
        assert_eq!(
            vars[0].1,
            "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----"
        );
        assert_eq!(vars[1].1, "x\ny");
        assert_eq!(vars[2], ("C".to_string(), "1".to_string()));
        // Never closed: the error names the line the value starts on.
        assert_eq!(
            parse_with("A=1\nB=\"x\ny\n", &[]).unwrap_err(),
            LineError::at(2, "unterminated double quote")
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("A=1\nnot an assignment\n", 2, "expected KEY=value"),
            ("1A=x", 1, "invalid key \"1A\" (expected KEY=value)"),
            ("=x", 1, "invalid key \"\" (expected KEY=value)"),
            ("A B=x", 1, "invalid key \"A B\" (expected KEY=value)"),
            ("-A=x", 1, "invalid key \"-A\" (expected KEY=value)"),
            ("A='x", 1, "unterminated single quote"),
            ("\nA=\"x", 2, "unterminated double quote"),
            ("A=\"x\" y", 1, "unexpected \"y\" after closing quote"),
            ("A=${B", 1, "unterminated \"${\" (missing \"}\")"),
            ("A=${B C}", 1, "invalid variable name \"B C\" in \"${B C}\""),
        ];
        for (text, line, message) in cases {
            assert_eq!(
                parse_with(text, &[]).unwrap_err(),
                LineError::at(line, message),
                "{text:?}"
            );
        }
    }
}
