//! Bad input: one clear line naming the file (and line), exit 2, nothing started.

mod support;

use support::App;

/// Runs `procmux ARGS` in an app whose Procfile would create `started` if anything ran.
fn fails(app: &App, args: &[&str]) -> String {
    let done = app.procmux(args).run();
    assert_eq!(
        done.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        done.text(),
        done.stderr
    );
    assert!(done.stdout.is_empty(), "printed to stdout: {}", done.text());
    assert!(
        !app.path().join("started").exists(),
        "a process started despite the error"
    );
    assert_eq!(
        done.stderr.lines().count(),
        1,
        "not one line: {:?}",
        done.stderr
    );
    done.stderr.trim_end().to_owned()
}

#[test]
fn malformed_procfile_lines() {
    let cases = [
        (
            "web: touch started\n\nnot an entry\n",
            "procmux: error: Procfile:3: expected \"name: command\"",
        ),
        (
            "web: touch started\nweb: true\n",
            "procmux: error: Procfile:2: duplicate process name \"web\" (first defined on line 1)",
        ),
        (
            "web: touch started\nworker:\n",
            "procmux: error: Procfile:2: process \"worker\" has no command",
        ),
        (
            "# nothing\n\n",
            "procmux: error: Procfile: no processes defined",
        ),
        ("", "procmux: error: Procfile: no processes defined"),
    ];
    for (procfile, expected) in cases {
        let app = App::new(procfile);
        assert_eq!(fails(&app, &["start"]), expected);
        assert_eq!(fails(&app, &["check"]), expected);
    }
}

#[test]
fn non_utf8_procfile() {
    let app = App::new("");
    app.write("Procfile", b"web: touch started\nworker: caf\xe9\n");
    assert_eq!(
        fails(&app, &["start"]),
        "procmux: error: Procfile:2: not valid UTF-8"
    );
}

#[test]
fn missing_files() {
    let app = App::new("web: touch started\n");
    assert_eq!(
        fails(&app, &["start", "-f", "nope/Procfile"]),
        "procmux: error: nope/Procfile: no such file"
    );
    assert_eq!(
        fails(&app, &["start", "-e", "missing.env"]),
        "procmux: error: missing.env: no such file"
    );
    assert_eq!(
        fails(&app, &["start", "-d", "no-such-dir"]),
        "procmux: error: --root no-such-dir: not a directory"
    );
}

#[test]
fn unknown_names_and_formation_keys() {
    let app = App::new("web: touch started\nworker: touch started\n");
    assert_eq!(
        fails(&app, &["start", "wrker"]),
        "procmux: error: Procfile: no process named \"wrker\" (did you mean \"worker\"?)"
    );
    assert_eq!(
        fails(&app, &["start", "zzz"]),
        "procmux: error: Procfile: no process named \"zzz\" (defined: web, worker)"
    );
    assert_eq!(
        fails(&app, &["start", "-m", "web=1,wokrer=2"]),
        "procmux: error: Procfile: --formation: no process named \"wokrer\" (did you mean \"worker\"?)"
    );
    assert_eq!(
        fails(&app, &["start", "-m", "web=two"]),
        "procmux: error: --formation \"web=two\": count must be a whole number"
    );
    assert_eq!(
        fails(&app, &["start", "-m", "all=0"]),
        "procmux: error: the formation starts no process"
    );
}

#[test]
fn malformed_env_files() {
    let app = App::new("web: touch started\n");
    app.write(".env", "GOOD=1\nexport\nBAD LINE\n");
    assert_eq!(
        fails(&app, &["start"]),
        "procmux: error: .env:2: expected KEY=value"
    );
    assert_eq!(
        fails(&app, &["check"]),
        "procmux: error: .env:2: expected KEY=value"
    );
    app.write("other.env", "A=\"unterminated\n");
    assert_eq!(
        fails(&app, &["start", "-e", "other.env"]),
        "procmux: error: other.env:1: unterminated double quote"
    );
    app.write("port.env", "PORT=http\n");
    assert_eq!(
        fails(&app, &["start", "-e", "port.env"]),
        "procmux: error: PORT from the env file is not a port number: \"http\""
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let app = App::new("web: touch started\n");
    let done = app.procmux(&["start", "--color", "sometimes"]).run();
    assert_eq!(done.code, Some(2));
    assert!(
        done.stderr.starts_with("procmux: error:"),
        "{}",
        done.stderr
    );
    let done = app.procmux(&["start", "-t", "soon"]).run();
    assert_eq!(done.code, Some(2));
    let done = app.procmux(&["start", "-p", "70000"]).run();
    assert_eq!(done.code, Some(2));
    assert!(!app.path().join("started").exists());
}

#[test]
fn check_shows_each_stop_signal_and_why() {
    let app = App::new(
        "db: exec /usr/lib/postgresql/15/bin/postgres -D tmp/db\n\
         proxy: nginx -g 'daemon off;'\n\
         web: ruby app.rb\n\
         jobs: QUEUE=* bundle exec rake resque:work\n",
    );
    app.write("procmux.toml", "[process.web]\nstop_signal = \"QUIT\"\n");
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = done.text();
    for line in [
        "  db     SIGINT, as for PostgreSQL: fast shutdown",
        "  proxy  SIGQUIT, as for nginx: graceful shutdown",
        "  web    SIGQUIT, its stop_signal\n",
        "  jobs   SIGQUIT, as for resque:",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    // Its own stop_signal wins over a known server's.
    app.write("procmux.toml", "[process.db]\nstop_signal = \"TERM\"\n");
    let text = app.procmux(&["check"]).run().text();
    assert!(
        text.contains("  db     SIGTERM, its stop_signal\n"),
        "{text}"
    );
}

#[test]
fn check_lists_the_process_types() {
    let app = App::new("web: a\n# comment\nworker: b\n");
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(0));
    assert_eq!(
        done.text(),
        "valid procfile detected (web, worker)\n\
         files read, in order:\n  \
         Procfile: web, worker\n\
         stop signals (then SIGKILL after the stop timeout):\n  \
         web     SIGTERM, SIGINT after Ctrl-C\n  \
         worker  SIGTERM, SIGINT after Ctrl-C\n"
    );
}
