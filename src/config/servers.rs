//! Servers whose SIGTERM is not a clean stop, recognised from a command's program name, and
//! the graceful signal each documents. They become the process's default stop signal; a
//! `stop_signal` in `procmux.toml` still wins.
//!
//! PostgreSQL's SIGTERM is its *smart* shutdown, which waits for every client forever (an
//! idle `psql` is enough to reach the SIGKILL); SIGINT is its *fast* shutdown. nginx, unicorn,
//! resque and PHP-FPM take SIGTERM as "stop now" and SIGQUIT as "finish what you are doing".
//! Pure: the command is text, the answer a table row.

use nix::sys::signal::Signal;

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct KnownServer {
    /// Program names as the command's first word (after `exec`, `env`, assignments and
    /// `bundle exec`); `rake resque:work` also needs that first argument. A name matches with
    /// a version after it too (`php-fpm8.2`).
    pub programs: &'static [&'static str],
    /// The server, as its documentation names it.
    pub server: &'static str,
    pub signal: Signal,
    /// What the signal does, and what SIGTERM would have done.
    pub why: &'static str,
}

/// Every server procmux knows, checked against each one's own documentation.
pub const KNOWN_SERVERS: &[KnownServer] = &[
    KnownServer {
        programs: &["postgres", "postmaster"],
        server: "PostgreSQL",
        signal: Signal::SIGINT,
        why: "fast shutdown: rolls back open transactions, closes clients, exits clean (TERM is smart shutdown: waits for every client to leave)",
    },
    KnownServer {
        programs: &["nginx"],
        server: "nginx",
        signal: Signal::SIGQUIT,
        why: "graceful shutdown: open requests finish (TERM is fast shutdown)",
    },
    KnownServer {
        programs: &["unicorn", "unicorn_rails"],
        server: "unicorn",
        signal: Signal::SIGQUIT,
        why: "graceful: workers finish their requests (TERM is immediate)",
    },
    KnownServer {
        programs: &["resque", "rake resque:work", "rake resque:workers"],
        server: "resque",
        signal: Signal::SIGQUIT,
        why: "the worker finishes its job, then exits (TERM kills the job at once)",
    },
    KnownServer {
        programs: &["php-fpm"],
        server: "PHP-FPM",
        signal: Signal::SIGQUIT,
        why: "graceful stop (TERM is immediate termination)",
    },
];

/// The known server `command` runs, if its program is one.
pub fn known_server(command: &str) -> Option<&'static KnownServer> {
    let words = program_words(command);
    let (program, argument) = (words.first()?, words.get(1));
    let program = program.rsplit('/').next().unwrap_or(program);
    KNOWN_SERVERS.iter().find(|known| {
        known.programs.iter().any(|name| {
            let mut parts = name.split(' ');
            let first = parts.next().unwrap_or("");
            names_program(first, program)
                && parts
                    .next()
                    .is_none_or(|arg| argument.is_some_and(|a| a.starts_with(arg)))
        })
    })
}

/// True when `program` is `name`, or `name` with a version after it (`php-fpm8.2`).
fn names_program(name: &str, program: &str) -> bool {
    program
        .strip_prefix(name)
        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// The command's program and what follows it, past `exec`, `env`, `VAR=value` assignments
/// and `bundle exec`.
fn program_words(command: &str) -> Vec<&str> {
    let mut words: Vec<&str> = command.split_whitespace().collect();
    loop {
        match words.as_slice() {
            ["exec" | "env", ..] => {
                words.remove(0);
            }
            ["bundle", "exec", ..] => {
                words.drain(..2);
            }
            [first, ..] if first.contains('=') && !first.starts_with('=') => {
                words.remove(0);
            }
            _ => return words,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_known_by_their_program() {
        let cases = [
            ("postgres -D data -p $PORT", Some(Signal::SIGINT)),
            (
                "exec /usr/lib/postgresql/15/bin/postgres -D tmp/db",
                Some(Signal::SIGINT),
            ),
            ("postmaster -D data", Some(Signal::SIGINT)),
            ("nginx -g 'daemon off;'", Some(Signal::SIGQUIT)),
            (
                "bundle exec unicorn -c config/unicorn.rb",
                Some(Signal::SIGQUIT),
            ),
            (
                "QUEUE=* bundle exec rake resque:work",
                Some(Signal::SIGQUIT),
            ),
            ("env COUNT=2 rake resque:workers", Some(Signal::SIGQUIT)),
            ("php-fpm8.2 -F", Some(Signal::SIGQUIT)),
            // Not the program itself.
            ("rake db:migrate", None),
            ("postgres-exporter --web.listen-address=:$PORT", None),
            ("psql -c 'select 1'", None),
            ("pg_ctl start", None),
            ("bundle exec puma -C config/puma.rb", None),
            ("redis-server --port $PORT", None),
            ("", None),
        ];
        for (command, signal) in cases {
            assert_eq!(known_server(command).map(|k| k.signal), signal, "{command}");
        }
    }

    #[test]
    fn no_server_signals_like_term_or_kill() {
        for known in KNOWN_SERVERS {
            assert!(
                !matches!(known.signal, Signal::SIGTERM | Signal::SIGKILL),
                "{}",
                known.server
            );
        }
    }
}
