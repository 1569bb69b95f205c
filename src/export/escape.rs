//! Each target's quoting, tested on the values that broke foreman's and honcho's exporters:
//! `%`, `$`, quotes, backslashes, spaces, commas, newlines.

/// A systemd value in double quotes (`Environment=`, a word of `ExecStart=`): `\` and `"`
/// escaped, a newline as `\n` (systemd unquotes C escapes), `%` doubled (specifiers are
/// expanded everywhere, foreman#668). With `command`, `$` is doubled too: systemd expands
/// `$VAR` in `ExecStart=`, not in `Environment=`.
pub fn systemd(value: &str, command: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '%' => out.push_str("%%"),
            '$' if command => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A supervisord `environment=` value, `%` doubled (its INI reader interpolates `%(name)s`,
/// honcho#73). supervisord splits the list with Python's non-POSIX `shlex`: a quote ends at
/// the next one of its kind and nothing escapes it, so the value goes in double quotes, or
/// single quotes when it holds a double one. `None` for what it cannot carry: a newline, or
/// both kinds of quote.
pub fn supervisord_env(value: &str) -> Option<String> {
    if value.contains(['\n', '\r']) {
        return None;
    }
    let quote = match (value.contains('"'), value.contains('\'')) {
        (false, _) => '"',
        (true, false) => '\'',
        (true, true) => return None,
    };
    Some(format!("{quote}{}{quote}", value.replace('%', "%%")))
}

/// A supervisord `command=` (a POSIX shell lexer splits it): `/bin/sh -c '…'`, the command
/// single-quoted, `%` doubled.
pub fn supervisord_command(shell_line: &str) -> String {
    format!("/bin/sh -c {}", sh_quote(shell_line)).replace('%', "%%")
}

/// One POSIX shell word: single-quoted, `'` as `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// A runit `env/KEY` file (read by `chpst -e`): the value's first line is the value, and a
/// NUL byte in it stands for a newline.
pub fn runit_env(value: &str) -> String {
    format!("{}\n", value.replace('\n', "\0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARD: &str = "50% off $HOME \"quoted\" back\\slash, a b\nline2";

    #[test]
    fn systemd_values() {
        assert_eq!(
            systemd(HARD, false),
            r#""50%% off $HOME \"quoted\" back\\slash, a b\nline2""#
        );
        assert_eq!(systemd("exec echo $PORT", true), r#""exec echo $$PORT""#);
    }

    #[test]
    fn supervisord_values() {
        assert_eq!(supervisord_env(HARD), None);
        assert_eq!(
            supervisord_env("50% \"q\" a\\b, c").as_deref(),
            Some(r#"'50%% "q" a\b, c'"#)
        );
        assert_eq!(supervisord_env("it's").as_deref(), Some(r#""it's""#));
        assert_eq!(supervisord_env("\"it's\""), None);
        assert_eq!(
            supervisord_command("exec echo '100%'"),
            r#"/bin/sh -c 'exec echo '\''100%%'\'''"#
        );
    }

    #[test]
    fn runit_values() {
        assert_eq!(runit_env("a\nb"), "a\0b\n");
        assert_eq!(runit_env("50% $x"), "50% $x\n");
    }
}
