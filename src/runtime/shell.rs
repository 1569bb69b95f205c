//! The line handed to `/bin/sh -c`, and a way past the shell for environment names it drops.
//!
//! dash (Debian's `/bin/sh`) passes on only names that are shell identifiers, so a `.env` key
//! such as `spring.datasource.url` would never reach the program. For a simple command
//! procmux therefore runs `exec PROCMUX __exec COMMAND`: the shell expands the command as
//! usual and execs procmux's helper, which puts those names back (carried, encoded, in one
//! variable the shell keeps) and execs the program itself. Complex commands (pipelines, `&&`)
//! run several programs through the shell; for them the supervisor warns instead.

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

pub use crate::config::command::shell_line;
use crate::config::command::{is_shell_name, is_simple};

/// The hidden subcommand that execs a program with the names the shell dropped.
pub const RESTORE_SUBCOMMAND: &str = "__exec";
/// The variable that carries them, hex-encoded `KEY=VALUE` entries separated by NUL.
const RESTORE_VAR: &str = "PROCMUX_RESTORE_ENV";

/// The shell line for `command` and, when `env` has names the shell would drop and the
/// command is simple, the variable that carries them to procmux's helper at `helper`.
pub fn prepare<'a>(
    command: &'a str,
    env: &[(String, String)],
    helper: Option<&Path>,
) -> (Cow<'a, str>, Option<(&'static str, String)>) {
    let dropped: Vec<&(String, String)> = env.iter().filter(|(k, _)| !is_shell_name(k)).collect();
    match helper {
        Some(helper) if !dropped.is_empty() && is_simple(command) => {
            let line = format!(
                "exec {} {RESTORE_SUBCOMMAND} {command}",
                quote(&helper.to_string_lossy())
            );
            let pairs: Vec<u8> = dropped
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\0")
                .into_bytes();
            (Cow::Owned(line), Some((RESTORE_VAR, hex(&pairs))))
        }
        _ => (shell_line(command), None),
    }
}

/// `procmux __exec PROGRAM ARGS…`: execs the program with the carried names put back.
/// Returns only when that failed, with the shell's code for it.
pub fn exec_restored(args: &[OsString]) -> i32 {
    let Some((program, rest)) = args.split_first() else {
        return 127;
    };
    let mut command = Command::new(program);
    command.args(rest).env_remove(RESTORE_VAR);
    let carried = std::env::var(RESTORE_VAR).ok().and_then(|h| unhex(&h));
    for entry in carried.iter().flat_map(|bytes| bytes.split(|&b| b == 0)) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    let error = command.exec();
    let _ = writeln!(
        std::io::stderr(),
        "procmux: cannot run {}: {error}",
        program.to_string_lossy()
    );
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => 126,
        _ => 127,
    }
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_for_simple_commands_only() {
        assert_eq!(shell_line("sleep 5"), "exec sleep 5");
        assert_eq!(shell_line("a; b"), "a; b");
    }

    #[test]
    fn names_the_shell_drops_go_through_the_helper() {
        let env = vec![
            ("A".to_owned(), "1".to_owned()),
            ("spring.url".to_owned(), "jdbc:x=y".to_owned()),
        ];
        let helper = Path::new("/opt/it's/procmux");
        let (line, carried) = prepare("java -jar app.jar", &env, Some(helper));
        assert_eq!(
            line,
            "exec '/opt/it'\\''s/procmux' __exec java -jar app.jar"
        );
        let (name, value) = carried.unwrap();
        assert_eq!(name, RESTORE_VAR);
        assert_eq!(unhex(&value).unwrap(), b"spring.url=jdbc:x=y");
        // Nothing to carry, or a complex command: the plain line.
        assert_eq!(
            prepare("java -jar app.jar", &env[..1], Some(helper)).0,
            "exec java -jar app.jar"
        );
        assert_eq!(prepare("a && b", &env, Some(helper)).0, "a && b");
    }

    #[test]
    fn hex_round_trips() {
        let bytes = b"k=v\0\xffz";
        assert_eq!(unhex(&hex(bytes)).unwrap(), bytes);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
