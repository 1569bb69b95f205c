//! Each target's quoting, by the target's own rules, so that every byte of a command, an env
//! value or the working directory arrives as `procmux start` gives it. Unit-tested on a table
//! of hostile values (the ones that broke foreman's and honcho's exporters, and ours).

/// A systemd value in double quotes (`Environment=`, a word of `ExecStart=`), as
/// `extract_first_word(EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE)` reads it: `\` and `"` escaped,
/// control characters as C escapes (`\n`, `\t`, `\x7f`; C1 as `\u0085`, a byte alone would
/// not be UTF-8), `%` doubled (specifiers are expanded everywhere, foreman#668). With
/// `command`, `$` is doubled too: systemd expands `$VAR` in `ExecStart=`, not in
/// `Environment=`.
pub fn systemd(value: &str, command: bool) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '%' => out.push_str("%%"),
            '$' if command => out.push_str("$$"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when systemd's `WorkingDirectory=` (blanks at either end stripped, `%` a specifier)
/// surely keeps every byte of `path` once `%` is doubled: no control character, no blank at
/// an end, and neither quotes nor backslashes, which other settings unquote and unescape.
/// Any other root is entered by the shell, which keeps everything.
pub fn systemd_plain_path(path: &str) -> bool {
    !path.contains(|c: char| c.is_control() || matches!(c, '\\' | '"' | '\''))
        && path.trim() == path
}

/// One POSIX shell word: single-quoted, `'` as `'\''`. Every byte but NUL is kept.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// One word of a supervisord `command=`, which goes through three readers: its INI reader
/// (` ;` and ` #` after any blank start a comment, a line ends at a newline or carriage
/// return, a value may go on over indented lines, blanks at both ends are stripped), `%`
/// interpolation (`%%` is `%`; `%(here)s` is replaced before that, even inside `%%(here)s`)
/// and Python's POSIX `shlex` (single quotes literal, `\` escapes outside them, and a `\` +
/// newline is a newline). So: single quotes, with `'`, `#`, `;` backslash-escaped outside
/// them, `%` as `%%` outside them (so no `%(` is ever written), and a newline as `\` at the
/// end of a line whose continuation starts with the reopened quote. `None` when `text` holds
/// a carriage return, which no reader of the file can keep.
pub fn supervisord_word(text: &str) -> Option<String> {
    if text.contains('\r') {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '#' => out.push_str("'\\#'"),
            ';' => out.push_str("'\\;'"),
            '%' => out.push_str("'%%'"),
            '\n' => out.push_str("'\\\n\t'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Some(out)
}

/// A string of a Kubernetes `command`, `args` or `env[].value`: the kubelet expands
/// `$(VAR)` and reads `$$` as `$`, so a `$` before `(` or `$` is doubled (any other `$` is
/// kept as it is).
pub fn kubernetes(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && matches!(chars.peek(), Some('$' | '(')) {
            out.push('$');
        }
    }
    out
}

/// A string of a Compose file: Compose interpolates `$VAR` and `${VAR}` everywhere, and
/// reads `$$` as `$`.
pub fn compose(value: &str) -> String {
    value.replace('$', "$$")
}

/// `value` as JSON that every YAML reader takes: serde_json escapes C0 controls, and this
/// escapes what YAML readers refuse raw or read as a line break (DEL, C1, U+2028, U+2029;
/// libyaml and go-yaml also refuse a byte-order mark, U+FEFF, inside a document, and
/// U+FFFE, U+FFFF) as `\uXXXX`. Outside strings JSON is ASCII, so only strings change.
pub fn yaml_json(value: &serde_json::Value) -> String {
    use std::fmt::Write;
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// True when XML 1.0 (a property list) can carry `text`: no C0 control but tab, newline and
/// carriage return (which the `plist` crate writes as `&#13;`).
pub fn xml_can_carry(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
}

/// True when `value` names a loopback address: `localhost`, `127.x.y.z` or `[::1]`.
pub fn mentions_loopback(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let edge = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '.');
    let word = |needle: &str| {
        lower.match_indices(needle).any(|(at, m)| {
            edge(lower[..at].chars().next_back()) && edge(lower[at + m.len()..].chars().next())
        })
    };
    let ipv4 = lower.match_indices("127.").any(|(at, _)| {
        let address: String = lower[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let after = lower[at + address.len()..].chars().next();
        edge(lower[..at].chars().next_back())
            && !after.is_some_and(char::is_alphanumeric)
            && address.trim_end_matches('.').split('.').count() == 4
    });
    word("localhost") || lower.contains("[::1]") || ipv4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hostile values of issue 17, each with its name.
    const HOSTILE: &[&str] = &[
        "  lead and trail  ",
        "it's 'single'",
        "say \"hi\"",
        "'both' \"kinds\"",
        "$HOME $(X) ${X} $$ $",
        "50% %(here)s %(ENV_HOME)s %%",
        "a # not a comment ; nor this",
        "a&b|c<d>e",
        "back\\slash \\n \\",
        "line1\nline2\n  indented\n",
        "tab\there",
        "del\u{7f} c1\u{85}\u{9b} esc\u{1b}",
        "ünïcødé ✓ 日本",
        "",
    ];

    /// systemd's unquoting (`EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE`), then `%%` and (in a
    /// command) `$$`: the reference the escaper is checked against.
    fn systemd_decode(word: &str, command: bool) -> String {
        let inner = word
            .strip_prefix('"')
            .and_then(|w| w.strip_suffix('"'))
            .unwrap();
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next().unwrap() {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        out.push(char::from(u8::from_str_radix(&hex, 16).unwrap()));
                    }
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    c => out.push(c),
                },
                '"' => panic!("unescaped quote in {word}"),
                c if c.is_control() => panic!("raw control character in {word:?}"),
                c => out.push(c),
            }
        }
        let out = out.replace("%%", "%");
        if command { out.replace("$$", "$") } else { out }
    }

    #[test]
    fn systemd_values() {
        for value in HOSTILE {
            for command in [false, true] {
                let word = systemd(value, command);
                assert_eq!(systemd_decode(&word, command), *value, "{word}");
                assert!(!word.replace("%%", "").contains('%'), "{word}");
            }
        }
        assert_eq!(systemd("exec echo $PORT", true), r#""exec echo $$PORT""#);
        assert_eq!(systemd("a\u{7f}\u{85}", false), r#""a\x7f\u0085""#);
        assert!(systemd_plain_path("/srv/a b/50%"));
        assert!(!systemd_plain_path("/srv/trailing "));
        assert!(!systemd_plain_path("/srv/new\nline"));
        assert!(!systemd_plain_path("/srv/it's"));
        assert!(!systemd_plain_path("/srv/back\\slash"));
    }

    /// What supervisord makes of a `command=` word: the INI reader's lines (a continuation
    /// stripped), its inline comments, `%(here)s` then `%%`, then `shlex.split`, here for
    /// the subset the encoder writes.
    fn supervisord_decode(word: &str) -> String {
        let lines: Vec<&str> = word.split('\n').collect();
        for line in &lines {
            for (at, c) in line.char_indices() {
                if (c == '#' || c == ';') && at > 0 {
                    assert!(
                        !line[..at].ends_with(char::is_whitespace),
                        "comment in {line:?}"
                    );
                }
            }
        }
        let joined = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { *l } else { l.trim() })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!joined.contains("%(here)s"), "{joined}");
        let joined = joined.replace("%%", "%");
        let mut out = String::new();
        let mut chars = joined.chars();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (_, '\'') => quoted = !quoted,
                (false, '\\') => out.push(chars.next().unwrap()),
                (false, c) if c.is_whitespace() => panic!("two words in {word:?}"),
                (_, c) => out.push(c),
            }
        }
        assert!(!quoted, "{word}");
        out
    }

    #[test]
    fn supervisord_values() {
        for value in HOSTILE {
            let word = supervisord_word(value).unwrap();
            assert_eq!(supervisord_decode(&word), *value, "{word}");
        }
        assert_eq!(supervisord_word("a\rb"), None);
        assert_eq!(supervisord_word("a # b").unwrap(), r"'a '\#' b'");
    }

    /// POSIX sh reads a single-quoted word back (the shell itself checks it in
    /// `tests/export.rs`).
    #[test]
    fn sh_values() {
        for value in HOSTILE {
            let word = sh_quote(value);
            let mut out = String::new();
            let mut chars = word.chars();
            let mut quoted = false;
            while let Some(c) = chars.next() {
                match (quoted, c) {
                    (_, '\'') => quoted = !quoted,
                    (false, '\\') => out.push(chars.next().unwrap()),
                    (_, c) => out.push(c),
                }
            }
            assert_eq!(out, *value, "{word}");
        }
    }

    /// The kubelet's expansion (`third_party/forked/golang/expansion`), every variable
    /// defined as `<NAME>`.
    fn kubernetes_expand(input: &str) -> String {
        let bytes = input.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' && i + 1 < bytes.len() {
                match bytes[i + 1] {
                    b'$' => {
                        out.push('$');
                        i += 2;
                    }
                    b'(' => match input[i + 2..].find(')') {
                        Some(end) => {
                            out.push_str(&format!("<{}>", &input[i + 2..i + 2 + end]));
                            i += end + 3;
                        }
                        None => {
                            out.push_str("$(");
                            i += 2;
                        }
                    },
                    _ => {
                        out.push('$');
                        i += 1;
                    }
                }
            } else {
                let c = input[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
        out
    }

    #[test]
    fn kubernetes_values() {
        for value in HOSTILE
            .iter()
            .chain(&["$$(X)", "$", "a$", "$$", "$(", "$(X"])
        {
            assert_eq!(kubernetes_expand(&kubernetes(value)), *value, "{value}");
        }
        assert_eq!(
            kubernetes("exec echo $PORT '$(X)'"),
            "exec echo $PORT '$$(X)'"
        );
    }

    #[test]
    fn compose_values() {
        for value in HOSTILE {
            assert_eq!(compose(value).replace("$$", "$"), *value);
        }
    }

    #[test]
    fn json_for_yaml_readers() {
        for value in HOSTILE {
            let text = yaml_json(&serde_json::Value::from(*value));
            assert!(
                !text.chars().any(|c| c.is_control() || c == '\u{2028}'),
                "{text:?}"
            );
            assert_eq!(serde_json::from_str::<String>(&text).unwrap(), *value);
        }
        assert_eq!(
            yaml_json(&serde_json::Value::from("\u{7f}\u{2028}")),
            r#""\u007f\u2028""#
        );
        assert_eq!(
            yaml_json(&serde_json::Value::from("\u{feff}\u{ffff}")),
            r#""\ufeff\uffff""#
        );
    }

    #[test]
    fn xml_values() {
        for value in HOSTILE {
            assert_eq!(xml_can_carry(value), !value.contains('\u{1b}'), "{value:?}");
        }
        assert!(xml_can_carry("tab\t nl\n cr\r del\u{7f} c1\u{85}"));
        assert!(!xml_can_carry("bell\u{7}"));
    }

    #[test]
    fn loopback_addresses() {
        for value in [
            "postgres://127.0.0.1:5432/db",
            "http://localhost:3000",
            "redis://[::1]:6379",
            "127.0.0.53",
            "LOCALHOST",
        ] {
            assert!(mentions_loopback(value), "{value}");
        }
        for value in [
            "db:5432",
            "10.127.0.0.1",
            "1127.0.0.1",
            "mylocalhost",
            "127.0.0",
            "",
        ] {
            assert!(!mentions_loopback(value), "{value}");
        }
    }
}
