//! The CLI beyond `start`'s core: `run`, `procmux.toml`, precedence, the output flags,
//! completions, the man page, help and version.

mod support;

use nix::sys::signal::Signal;
use support::{App, lines_of, normalize_pids};

fn stdout_of(done: &support::Finished) -> String {
    done.text()
}

#[test]
fn run_gets_the_app_environment_and_passes_the_exit_code_through() {
    let app = App::new("web: echo web\n");
    app.write(".env", "GREETING=hello\nPORT=6000\n");
    let done = app
        .procmux(&["run", "sh", "-c", "echo \"$GREETING $PORT $PS\"; exit 7"])
        .run();
    assert_eq!(done.code, Some(7));
    assert_eq!(stdout_of(&done), "hello 6000 run.1\n");

    let done = app.procmux(&["run", "-p", "9000", "echo $PORT"]).run();
    assert_eq!((done.code, stdout_of(&done).as_str()), (Some(0), "9000\n"));
}

#[test]
fn run_a_procfile_entry_by_name() {
    let app = App::new("web: echo \"entry $PS\"\nworker: exit 4\n");
    let done = app.procmux(&["run", "web"]).run();
    assert_eq!(
        (done.code, stdout_of(&done).as_str()),
        (Some(0), "entry run.1\n")
    );
    assert_eq!(app.procmux(&["run", "worker"]).run().code, Some(4));
}

#[test]
fn run_passes_arguments_untouched_and_without_a_shell() {
    let app = App::new("web: true\n");
    let done = app
        .procmux(&["run", "printf", "%s|%s\\n", "a b", "$HOME"])
        .run();
    assert_eq!(stdout_of(&done), "a b|$HOME\n");
}

#[test]
fn run_reports_signal_deaths_and_missing_programs() {
    let app = App::new("web: true\n");
    assert_eq!(
        app.procmux(&["run", "sh", "-c", "kill -KILL $$"])
            .run()
            .code,
        Some(137)
    );
    let done = app.procmux(&["run", "no-such-program-xyz"]).run();
    assert_eq!(done.code, Some(127));
    assert!(
        done.stderr.contains("cannot run \"no-such-program-xyz\""),
        "{}",
        done.stderr
    );
}

#[test]
fn run_works_without_a_procfile() {
    let app = App::new("");
    std::fs::remove_file(app.path().join("Procfile")).unwrap();
    let done = app.procmux(&["run", "echo", "fine"]).run();
    assert_eq!((done.code, stdout_of(&done).as_str()), (Some(0), "fine\n"));
}

#[test]
fn run_forwards_sigterm_to_the_command() {
    let app = App::new("web: true\n");
    let running = app
        .procmux(&[
            "run",
            "sh",
            "-c",
            "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .spawn();
    running.wait_for("ready\n");
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(3));
    assert!(done.text().contains("got-term"));
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let app = App::new("web: echo \"port $PORT\"\n");
    let port = |procmux: support::Procmux| {
        let done = procmux.run();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        let lines = lines_of(&done.stdout, "web.1");
        String::from_utf8_lossy(lines[1]).into_owned()
    };
    let start = ["start", "--no-timestamp"];
    assert_eq!(port(app.procmux(&start)), "port 5000");
    app.write("procmux.toml", "port = 7000\n");
    assert_eq!(port(app.procmux(&start)), "port 7000");
    assert_eq!(
        port(app.procmux(&start).env("PROCMUX_PORT", "8000")),
        "port 8000"
    );
    let with_flag = ["start", "--no-timestamp", "-p", "9000"];
    assert_eq!(
        port(app.procmux(&with_flag).env("PROCMUX_PORT", "8000")),
        "port 9000"
    );
}

#[test]
fn config_file_sets_start_defaults() {
    let app =
        App::new("web: echo \"web $A\"\nworker: echo worker-line; sleep 30\nclock: sleep 30\n");
    app.write("vars.env", "A=from-vars\n");
    app.write(
        "procmux.toml",
        "env = [\"vars.env\"]\ntimestamp = false\ncolor = \"never\"\n\
         formation = \"clock=0\"\n\n[process.worker]\nquiet = true\ncount = 2\n",
    );
    let done = app.procmux(&["start"]).run();
    let text = normalize_pids(&done.text());
    assert!(text.contains("web.1    | web from-vars\n"), "{text}");
    assert!(!text.contains("worker-line"), "{text}");
    assert!(text.contains("worker.2 | started with pid N\n"), "{text}");
    assert!(!text.contains("clock.1"), "{text}");
}

#[test]
fn config_file_found_next_to_the_procfile_or_named() {
    let app = App::new("");
    std::fs::create_dir(app.path().join("app")).unwrap();
    app.write("app/Procfile", "web: echo hi\n");
    app.write("app/procmux.toml", "timestamp = false\n");
    let done = app.procmux(&["start", "-f", "app/Procfile"]).run();
    assert!(
        done.text().starts_with("web.1  | started"),
        "{}",
        done.text()
    );
    app.write(
        "other.toml",
        "procfile = \"app/Procfile\"\nprefix = false\n",
    );
    let done = app.procmux(&["start", "--config", "other.toml"]).run();
    assert!(done.text().contains("\nhi\n"), "{}", done.text());
}

#[test]
fn config_file_errors_name_file_line_and_column() {
    let app = App::new("web: touch started\nworker: touch started\n");
    let cases = [
        (
            "port = 3000\ncolour = \"never\"\n",
            "procmux.toml:2:1: unknown field `colour`",
        ),
        (
            "timeout = \"soon\"\n",
            "procmux.toml:1:11: timeout: \"soon\" is not a duration: expected seconds (90, 1.5) \
             or numbers with units ms, s, m, h, d (500ms, 1h30m, 2d)",
        ),
        (
            "timeout = -1\n",
            "procmux.toml:1:11: timeout: \"-1\" is not a duration",
        ),
        (
            "[process.wrker]\nquiet = true\n",
            "procmux.toml:1:10: no process named \"wrker\" (did you mean \"worker\"?)",
        ),
        (
            "quiet = [\"web\", \"nope\"]\n",
            "procmux.toml:1:17: no process named \"nope\"",
        ),
        (
            "formation = \"web=x\"\n",
            "procmux.toml:1:13: formation \"web=x\": count must be a whole number",
        ),
        (
            "[process.web]\nrestart = true\n",
            "procmux.toml:2:1: unknown field `restart`",
        ),
    ];
    for (toml, expected) in cases {
        app.write("procmux.toml", toml);
        let done = app.procmux(&["start"]).run();
        assert_eq!(done.code, Some(2), "{toml}");
        let prefix = format!("procmux: error: {expected}");
        assert!(done.stderr.starts_with(&prefix), "{toml}: {}", done.stderr);
        assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
        assert!(!app.path().join("started").exists());
        assert_eq!(app.procmux(&["check"]).run().code, Some(2));
    }
    let done = app.procmux(&["start", "--config", "missing.toml"]).run();
    assert_eq!(done.stderr, "procmux: error: missing.toml: no such file\n");
}

#[test]
fn no_prefix_writes_raw_lines_and_keeps_procmux_lines_labelled() {
    let app = App::new("web: printf 'raw line\\n\\033[1mbold\\033[0m\\n'\n");
    let done = app
        .procmux(&["start", "--no-prefix", "--color", "always"])
        .run();
    let text = done.text();
    assert!(
        text.contains("\nraw line\n\x1b[1mbold\x1b[0m\n"),
        "{text:?}"
    );
    assert!(
        text.contains("web.1  | \x1b[0mstarted with pid"),
        "{text:?}"
    );
}

#[test]
fn quiet_hides_output_but_not_the_lifecycle() {
    let app = App::new("noisy: echo hidden-line; sleep 0.2\nloud: echo shown-line; sleep 30\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "-q", "noisy"])
        .run();
    let text = done.text();
    assert!(
        !text.contains("hidden-line") && text.contains("shown-line"),
        "{text}"
    );
    assert!(text.contains("noisy.1 | exited with code 0"), "{text}");
    let done = app.procmux(&["start", "-q", "nosy"]).run();
    assert_eq!(done.code, Some(2));
    assert!(
        done.stderr.contains("did you mean \"noisy\""),
        "{}",
        done.stderr
    );
}

#[test]
fn names_and_formation_combine_as_in_foreman() {
    let app = App::new("web: echo \"$PS\"; sleep 0.3\nworker: echo \"$PS\"; sleep 30\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "-m", "all=0", "web"])
        .run();
    let text = done.text();
    assert!(
        text.contains("web.1    | web.1") && !text.contains("worker.1 |"),
        "{text}"
    );
    let done = app
        .procmux(&["start", "--no-timestamp", "-m", "worker=0"])
        .run();
    assert!(!done.text().contains("worker.1 |"), "{}", done.text());
}

#[test]
fn environment_variable_forms_of_flags() {
    let app = App::new("web: echo \"$PORT\"\n");
    let done = app
        .procmux(&["start"])
        .env("PROCMUX_NO_TIMESTAMP", "true")
        .env("PROCMUX_PORT", "4000")
        .env("PROCMUX_COLOR", "always")
        .run();
    assert!(
        done.text().starts_with("\x1b[36mweb.1  | "),
        "{:?}",
        done.text()
    );
    assert!(done.text().contains("4000"));
}

#[test]
fn completions_are_well_formed() {
    let app = App::new("web: true\n");
    let done = app.procmux(&["completions", "bash"]).run();
    assert_eq!(done.code, Some(0));
    assert!(done.text().contains("procmux"));
    app.write("completion.bash", &done.stdout);
    let check = std::process::Command::new("bash")
        .args(["-n", "completion.bash"])
        .current_dir(app.path())
        .status()
        .unwrap();
    assert!(check.success(), "bash -n rejected the completion script");
    for shell in ["zsh", "fish"] {
        let done = app.procmux(&["completions", shell]).run();
        assert_eq!(done.code, Some(0));
        assert!(
            done.text().contains("procmux") && done.text().contains("start"),
            "{shell}"
        );
    }
}

#[test]
fn man_page_help_and_version() {
    let app = App::new("web: true\n");
    let man = app.procmux(&["man"]).run();
    assert_eq!(man.code, Some(0));
    assert!(
        man.text().starts_with(".ie ") || man.text().contains(".TH procmux"),
        "{}",
        man.text()
    );
    let help = app.procmux(&["--help"]).run();
    assert_eq!(help.code, Some(0));
    assert!(help.text().contains("Examples:") && help.text().contains("procmux start web worker"));
    let version = app.procmux(&["--version"]).run();
    assert_eq!(
        version.text(),
        format!("procmux {}\n", env!("CARGO_PKG_VERSION"))
    );
    let usage = app.procmux(&["strat"]).run();
    assert_eq!(usage.code, Some(2));
    assert!(
        usage.stderr.starts_with("procmux: error:") && usage.stderr.contains("start"),
        "{}",
        usage.stderr
    );
}

/// Every `procmux …` command in the README's "Coming from foreman / honcho / overmind" table
/// runs and succeeds against a small app.
#[test]
fn readme_migration_commands_work() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Coming from foreman / honcho / overmind")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the migration section");
    let commands: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|row| row.split(" | ").nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|command| command.starts_with("procmux "))
        .collect();
    assert!(commands.len() >= 8, "found only {commands:?}");

    let procfile =
        "web: echo web; sleep 0.2\nworker: echo worker; sleep 5\nclock: echo tick; sleep 5\n";
    let app = App::new(procfile);
    app.write("Procfile.dev", procfile);
    app.write(".env", "A=1\n");
    app.write(".env.local", "B=2\n");
    std::fs::create_dir(app.path().join("bin")).unwrap();
    app.write("bin/rails", "#!/bin/sh\necho \"rails $*\"\n");
    std::fs::set_permissions(
        app.path().join("bin/rails"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}/bin:{}",
        app.path().display(),
        std::env::var("PATH").unwrap()
    );
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let done = app.procmux(&words).env("PATH", &path).run();
        assert_eq!(
            done.code,
            Some(0),
            "{command}: {}\n{}",
            done.stderr,
            done.text()
        );
    }
}

/// `procmux run python3` on a terminal gives a working prompt, and Ctrl-C reaches the REPL
/// (not procmux, which keeps waiting).
#[test]
fn run_gives_a_repl_on_a_terminal() {
    let app = App::new("web: true\n");
    let driver = r#"
pid, master = os.forkpty()
if pid == 0:
    os.environ.pop("PYTHONUNBUFFERED", None)
    os.execv(sys.argv[1], [sys.argv[1], "run", "python3", "-q"])
ok = wait_for(master, b">>> ")
os.write(master, b"print(6 * 7)\r")
ok = ok and wait_for(master, b"42\r\n>>> ")
# Ctrl-C once the REPL waits for input again: it reaches python, not procmux.
time.sleep(0.2)
os.write(master, b"\x03")
ok = ok and wait_for(master, b"KeyboardInterrupt\r\n>>> ")
os.write(master, b"import sys; sys.exit(3)\r")
_, status = os.waitpid(pid, 0)
if not (ok and os.waitstatus_to_exitcode(status) == 3):
    fail()
"#;
    support::run_pty_driver(&app, driver).unwrap();
}

/// Tab completion offers the Procfile's process names where `start` takes one (bash, for
/// real: the script is sourced and its function called as bash's completion would).
#[test]
fn bash_completion_offers_process_names() {
    let app = App::new("web: a\nworker: b\nclock: c\n");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_procmux"))
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let script = "source <(procmux completions bash)\n\
         COMP_WORDS=(procmux start w); COMP_CWORD=2; _procmux_with_names\n\
         echo \"start: ${COMPREPLY[*]}\"\n\
         COMP_WORDS=(procmux start -q ''); COMP_CWORD=3; _procmux_with_names\n\
         echo \"quiet: ${COMPREPLY[*]}\"\n";
    let done = app
        .shell(&format!(
            "PATH=\"{bin_dir}:$PATH\" exec bash -c '{}'",
            script.replace('\'', "'\\''")
        ))
        .run();
    let text = done.text();
    assert!(text.contains("start: web worker"), "{text}{}", done.stderr);
    assert!(
        text.contains("quiet: web worker clock"),
        "{text}{}",
        done.stderr
    );
}

#[test]
fn man_pages_for_every_command() {
    let app = App::new("web: a\n");
    let done = app.procmux(&["man"]).run();
    assert_eq!(done.code, Some(0));
    assert!(done.text().contains(".SH \"EXIT STATUS\""));
    let done = app.procmux(&["man", "start"]).run();
    assert_eq!(done.code, Some(0));
    assert!(done.text().contains(".TH procmux-start 1"));
    assert!(done.text().contains("\\-\\-no\\-deps"));
}

/// `procmux man ARGS` on a pty with `env` set, read to its end (bounded): it must show every
/// one of `shown` and none of `absent` (Python lists of bytes).
fn man_on_a_terminal(args: &str, env: &str, shown: &str, absent: &str) {
    let app = App::new("web: a\n");
    let driver = format!(
        r#"
os.environ.update({env})
pid, master = procmux_on_pty("man", {args})
wait_for(master, b"SEE ALSO", 10)
wait_for(master, b"\x00", 1)
os.waitpid(pid, 0)
if any(s not in seen for s in {shown}) or any(a in seen for a in {absent}):
    fail()
"#
    );
    support::run_pty_driver(&app, &driver).unwrap();
}

/// On a terminal without man: plain text, no roff.
#[test]
fn man_on_a_terminal_without_man_is_plain_text() {
    man_on_a_terminal(
        "",
        r#"{"PATH": "/nonexistent"}"#,
        r#"[b"\nSIGNALS\r\n", b"postgres, postmaster (PostgreSQL): SIGINT"]"#,
        r#"[b".SH", b"\\fB"]"#,
    );
}

/// `--roff` prints the source even on a terminal.
#[test]
fn man_roff_on_a_terminal_is_the_source() {
    man_on_a_terminal(
        "\"--roff\", \"start\"",
        "{}",
        r#"[b".TH procmux-start 1"]"#,
        "[]",
    );
}

/// On a terminal with man: formatted by `man -l -` (its pager set to cat here; headings come
/// in overstruck bold).
#[test]
#[ignore = "needs man: run .ci/run"]
fn man_on_a_terminal_is_formatted_by_man() {
    man_on_a_terminal(
        "",
        r#"{"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}"#,
        r#"[b"General Commands Manual", b"procmux(1)", b"fast shutdown: rolls back open transactions"]"#,
        r#"[b".SH", b"\\fB"]"#,
    );
}

/// One duration grammar for every flag and key: seconds, or numbers with units ms, s, m, h, d
/// (`1h30m`), at most 100 days; a bad one names the flag, or the file and line.
#[test]
fn one_duration_grammar_for_flags_and_keys() {
    let app = App::new("web: exit 0\n");
    let accepted: [&[&str]; 4] = [
        &["start", "-t", "1h30m"],
        &["start", "-t", "2d"],
        &["start", "-t", "0.5"],
        &["start", "-t", "100d"],
    ];
    for args in accepted {
        let done = app.procmux(args).run();
        assert_eq!(done.code, Some(0), "{args:?}: {}", done.stderr);
    }
    for (args, expected) in [
        (
            &["start", "-t", "101d"][..],
            "--timeout: \"101d\" is longer than 100 days",
        ),
        (
            &["start", "-t", "5x"],
            "--timeout: \"5x\" is not a duration",
        ),
        (
            &["start", "-t", "５s"],
            "--timeout: \"５s\" is not a duration",
        ),
        (
            &["start", "-t", "99999999999999999999"],
            "--timeout: \"99999999999999999999\"",
        ),
        (
            &["wait", "--timeout", "1h2"],
            "--timeout: \"1h2\" is not a duration",
        ),
        (
            &["start", "-D", "--wait-timeout", "3w"],
            "--wait-timeout: \"3w\"",
        ),
        (
            &["logs", "--since", "101d"],
            "--since \"101d\" is longer than 100 days",
        ),
    ] {
        let done = app.procmux(args).run();
        assert_eq!(done.code, Some(2), "{args:?}");
        assert!(
            done.stderr
                .starts_with(&format!("procmux: error: {expected}")),
            "{args:?}: {}",
            done.stderr
        );
    }

    for (toml, expected) in [
        ("timeout = \"1h30m\"\n", None),
        (
            "[process.web]\nstop_timeout = \"90s\"\nrestart_delay = 0.5\n",
            None,
        ),
        (
            "[process.web]\nready = \"delay:1h\"\nready_timeout = \"2d\"\n",
            None,
        ),
        (
            "[process.web]\nready_timeout = \"101d\"\n",
            Some("procmux.toml:2:17: ready_timeout: \"101d\" is longer than 100 days"),
        ),
        (
            "[process.web]\nready = \"delay:1y\"\n",
            Some("procmux.toml:2:9: ready: \"delay:1y\": \"1y\" is not a duration"),
        ),
        (
            "[process.web]\nready_interval = \"5ms\"\n",
            Some("procmux.toml:2:18: ready_interval: at least 10ms"),
        ),
    ] {
        app.write("procmux.toml", toml);
        let done = app.procmux(&["check"]).run();
        match expected {
            None => assert_eq!(done.code, Some(0), "{toml}: {}", done.stderr),
            Some(expected) => {
                assert_eq!(done.code, Some(2), "{toml}");
                assert!(
                    done.stderr
                        .starts_with(&format!("procmux: error: {expected}")),
                    "{toml}: {}",
                    done.stderr
                );
            }
        }
    }
}
