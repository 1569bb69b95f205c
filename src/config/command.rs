//! What a Procfile command is, as far as procmux must know without running it: whether it is
//! one simple command (so `exec` can replace the shell with the program, which then receives
//! procmux's signals itself), and which environment names a POSIX shell passes on.

/// Words that make `exec` wrong in first position: shell keywords and builtins with no program.
const NOT_EXECABLE: &[&str] = &[
    "!", ".", ":", "[[", "{", "alias", "break", "case", "cd", "continue", "eval", "exec", "exit",
    "export", "for", "function", "if", "local", "readonly", "return", "set", "shift", "source",
    "time", "trap", "ulimit", "umask", "unset", "until", "wait", "while",
];

/// The text handed to `sh -c`: `exec COMMAND` when the command is one simple command, so the
/// program itself (not a shell waiting for it) receives procmux's signals. `start` runs it,
/// and `export` writes it.
pub fn shell_line(command: &str) -> std::borrow::Cow<'_, str> {
    if is_simple(command) {
        std::borrow::Cow::Owned(format!("exec {command}"))
    } else {
        std::borrow::Cow::Borrowed(command)
    }
}

/// True when `command` is one simple command: no operators, redirections, subshells or
/// assignments, and a program (not a keyword or builtin) first.
pub fn is_simple(command: &str) -> bool {
    const OPERATORS: &[char] = &[';', '&', '|', '<', '>', '(', ')', '`', '\n'];
    if command.contains(OPERATORS) {
        return false;
    }
    match command.split_whitespace().next() {
        Some(first) => !first.contains('=') && !NOT_EXECABLE.contains(&first),
        None => false,
    }
}

/// True for a name a POSIX shell keeps in the environment it passes on
/// (`[A-Za-z_][A-Za-z0-9_]*`). dash, Debian's `/bin/sh`, drops the others (`FOO.BAR`).
pub fn is_shell_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands() {
        let cases = [
            ("python3 -m http.server $PORT", true),
            ("puma -p ${PORT:-5000} 'a;b'", false),
            ("sleep 1 && echo hi", false),
            ("a | b", false),
            ("a > log", false),
            ("sleep 1000 & sleep 1000", false),
            ("echo $(date)", false),
            ("FOO=1 ruby app.rb", false),
            ("cd web && npm start", false),
            ("exit 3", false),
            ("trap '' TERM; sleep 100", false),
            ("while true; do date; done", false),
            ("bundle exec puma -C config/puma.rb", true),
        ];
        for (command, simple) in cases {
            assert_eq!(is_simple(command), simple, "{command}");
        }
    }

    #[test]
    fn shell_names() {
        assert!(is_shell_name("DATABASE_URL") && is_shell_name("_x1"));
        assert!(!is_shell_name("spring.datasource.url") && !is_shell_name("A-B"));
        assert!(!is_shell_name("1A") && !is_shell_name(""));
    }
}
