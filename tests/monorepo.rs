//! Monorepo-grade configuration (issue 19), driven through the real binary: each process's own
//! `cwd`, `env_file` and `env` seen by the process itself; `check` saying them; each mistake an
//! error at `procmux.toml:LINE:COL` before anything starts.

mod support;

use std::fs;

use nix::sys::signal::Signal;
use support::{App, assert_all_gone, lines_of, refuses_each};

/// The lines `label` printed, without procmux's own.
fn said(stdout: &[u8], label: &str) -> Vec<String> {
    lines_of(stdout, label)
        .into_iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .filter(|l| !l.starts_with("started with") && !l.contains("exited with"))
        .collect()
}

/// Each process dumps its directory and variables: `api` has its own (a directory under the
/// root, the root's `.env`, then its env file, then its `env` table, later winning, `${…}`
/// expanded from what came before), `web` only the root's.
fn monorepo() -> App {
    let dump = "pwd; printf '%s|' \"$SHARED\" \"$FROM_FILE\" \"$OWN\" \"$LAYERED\" \"$PORT\"; echo";
    let app = App::new(&format!("web: {dump}\napi: {dump}\n"));
    fs::create_dir_all(app.path().join("services/api")).unwrap();
    app.write(".env", "SHARED=root\nLAYERED=root\n");
    app.write(
        "services/api/.env",
        "LAYERED=file\nFROM_FILE=\"quoted $SHARED\\nsecond\"\n",
    );
    app.write(
        "procmux.toml",
        "[process.api]\ncwd = \"services/api\"\nenv_file = [\"services/api/.env\"]\n\
         env = { OWN = \"${LAYERED}+own 50% \\\\$HOME #x\", LAYERED = \"table\" }\n",
    );
    app
}

#[test]
fn each_process_runs_in_its_own_directory_with_its_own_variables() {
    let app = monorepo();
    let root = fs::canonicalize(app.path()).unwrap();
    let done = app
        .procmux(&["start", "--no-timestamp", "--may-exit", "web,api"])
        .env("HOME", "/home/x")
        .run();
    assert_eq!(done.code, Some(0), "{}\n{}", done.text(), done.stderr);
    assert_eq!(
        said(&done.stdout, "web.1"),
        [root.display().to_string(), "root|||root|5000|".to_owned()]
    );
    assert_eq!(
        said(&done.stdout, "api.1"),
        [
            root.join("services/api").display().to_string(),
            "root|quoted root".to_owned(),
            "second|file+own 50% $HOME #x|table|5100|".to_owned(),
        ]
    );
    // `run NAME` runs the entry where `start` runs it, with its variables.
    let done = app.procmux(&["run", "api"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = done.text();
    assert!(
        text.starts_with(&format!(
            "{}\nroot|quoted root\nsecond|file+own",
            root.join("services/api").display()
        )),
        "{text}"
    );
}

#[test]
fn check_says_each_process_directory_and_own_variables() {
    let app = monorepo();
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = done.text();
    assert!(
        text.contains("directories and variables of their own:\n  api  runs in services/api; env_file services/api/.env; env OWN, LAYERED\n"),
        "{text}"
    );
    assert!(!text.contains("  web  runs in"), "{text}");
}

/// The watch globs of a process with a `cwd` are relative to it.
#[test]
fn watch_globs_are_relative_to_the_process_directory() {
    let app = App::new("api: echo \"pid $$\"; exec sleep 1000\n");
    fs::create_dir_all(app.path().join("api/src")).unwrap();
    app.write("api/src/main.py", "x = 1\n");
    app.write(
        "procmux.toml",
        "[process.api]\ncwd = \"api\"\nwatch = [\"src/**/*.py\"]\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("| pid ");
    app.write("api/src/main.py", "x = 2\n");
    running.wait_for("api.1 restarting: api/src/main.py changed");
    running.wait_for_count("| pid ", 2);
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Every mistake in a process's own settings: exit 2, one line naming the file, line and
/// column, nothing started.
#[test]
fn mistakes_in_a_process_settings_are_errors_at_their_place() {
    let cases = [
        (
            "[process.apy]\ncwd = \"api\"\n",
            "procmux: error: procmux.toml:1:10: no process named \"apy\" (did you mean \"api\"?)",
        ),
        (
            "[process.api]\nenv_file = [\"api/.env\", \"api/missing.env\"]\n",
            "procmux: error: procmux.toml:2:25: env_file: api/missing.env: no such file",
        ),
        (
            "[process.api]\nenv_file = [\"api\"]\n",
            "procmux: error: procmux.toml:2:13: env_file: api: not a file",
        ),
        (
            "[process.api]\ncwd = \"nope\"\n",
            "procmux: error: procmux.toml:2:7: cwd: nope: not a directory",
        ),
        (
            "[process.api]\ncwd = \"api/.env\"\n",
            "procmux: error: procmux.toml:2:7: cwd: api/.env: not a directory",
        ),
        (
            "[process.api]\nenv = { \"A=B\" = \"x\" }\n",
            "procmux: error: procmux.toml:2:9: env: invalid name \"A=B\"",
        ),
        (
            "[process.api]\nenv = { PS = \"x\" }\n",
            "procmux: error: procmux.toml:2:9: env: PS is procmux's",
        ),
        (
            "[process.api]\nenv_file = [\"api/port.env\"]\n",
            "procmux: error: procmux.toml:2:13: env_file: sets PORT",
        ),
        (
            "[process.api]\nenv_file = [\"api/bad.env\"]\n",
            "procmux: error: api/bad.env:2: ",
        ),
        (
            "[process.api]\nenv_file = [\"api/latin1.env\"]\n",
            "procmux: error: api/latin1.env:2: not valid UTF-8",
        ),
        (
            "[process.api]\nenv = { A = 1 }\n",
            "procmux: error: procmux.toml:2:13: invalid type: integer `1`, expected a string",
        ),
    ];
    let app = App::new("api: echo started-api\n");
    fs::create_dir(app.path().join("api")).unwrap();
    app.write("api/.env", "A=1\n");
    app.write("api/port.env", "PORT=1234\n");
    app.write("api/bad.env", "A=1\nnot an assignment\n");
    app.write("api/latin1.env", b"A=1\nB=caf\xe9\n");
    for (toml, start) in cases {
        app.write("procmux.toml", toml);
        for command in ["check", "start"] {
            let done = app.procmux(&[command]).run();
            assert_eq!(done.code, Some(2), "{toml}: {}", done.stderr);
            assert!(done.stderr.starts_with(start), "{toml}\n{}", done.stderr);
            assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
            assert!(!done.text().contains("started-api"));
        }
    }
}

/// A developer's own overrides, read after the committed files: `Procfile.local` replaces an
/// entry in place (its port stays), adds one and removes one; `procmux.local.toml` replaces
/// keys of `procmux.toml` one by one and removes an entry with `enabled = false`; `check`
/// lists every file read, in order, and what each changed.
#[test]
fn local_overrides_add_replace_and_remove() {
    let app = App::new(
        "db: echo \"db $PORT\"; exec sleep 1000\n\
         web: echo \"web $PORT $MODE\"; exec sleep 1000\n\
         worker: echo worker; exec sleep 1000\n\
         clock: echo clock; exec sleep 1000\n",
    );
    app.write(
        "Procfile.local",
        "# mine, not committed\nweb: echo \"my web $PORT $MODE\"; exec sleep 1000\n!worker:\ndebug: echo \"debug $PORT\"; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.web]\nenv = { MODE = \"committed\" }\nstop_timeout = 3\n[process.worker]\nquiet = true\n",
    );
    app.write(
        "procmux.local.toml",
        "[process.web]\nenv = { MODE = \"mine\" }\n[process.clock]\nenabled = false\n",
    );
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.text().contains(
            "files read, in order:\n\
             \x20 procmux.toml: process.web (stop_timeout, env), process.worker (quiet)\n\
             \x20 procmux.local.toml: process.clock (enabled), process.web (env), clock removed (enabled = false)\n\
             \x20 Procfile: db, web, worker, clock\n\
             \x20 Procfile.local: web replaced, worker removed, debug added\n"
        ),
        "{}",
        done.text()
    );
    assert!(
        done.text()
            .starts_with("valid procfile detected (db, web, debug)\n")
    );
    let running = app.start(&["--no-timestamp"]);
    running.wait_for("debug.1 | debug");
    let text = running.wait_for("web.1   | my web");
    assert!(text.contains("web.1   | my web 5100 mine\n"), "{text}");
    assert!(text.contains("debug.1 | debug 5200\n"), "{text}");
    assert!(
        !text.contains("worker") && !text.contains("clock"),
        "{text}"
    );
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

/// Mistakes in the overrides are errors naming the override, its line and column.
#[test]
fn mistakes_in_local_overrides_are_errors_at_their_place() {
    let app = App::new("web: echo started-web\nworker: echo started-worker\n");
    app.write(
        "procmux.toml",
        "# committed\n[process.web]\nstop_timeout = 3\n",
    );
    let cases: [(&str, &str, &str); 7] = [
        (
            "Procfile.local",
            "!nope:\n",
            "procmux: error: Procfile.local:1: !nope: there is no entry \"nope\" to remove",
        ),
        (
            "Procfile.local",
            "\n!web\n",
            "procmux: error: Procfile.local:2: expected \"!name:\"",
        ),
        (
            "Procfile.local",
            "web: a\n!web:\n",
            "procmux: error: Procfile.local:2: \"web\" again",
        ),
        (
            "procmux.local.toml",
            "[process.web]\ncount = \"two\"\n",
            "procmux: error: procmux.local.toml:2:9: invalid type",
        ),
        (
            "procmux.local.toml",
            "\n[process.web]\nready = \"soon\"\n",
            "procmux: error: procmux.local.toml:3:9: ready: \"soon\"",
        ),
        (
            "procmux.local.toml",
            "[process.wbe]\nenabled = false\n",
            "procmux: error: procmux.local.toml:1:10: no process named \"wbe\" (did you mean \"web\"?)",
        ),
        (
            "procmux.local.toml",
            "[process.worker]\nenabled = false\nafter = [\"web\"]\n[process.web]\nafter = [\"worker\"]\n",
            "procmux: error: procmux.local.toml:5:10: after: no process named \"worker\" (removed by procmux.local.toml)",
        ),
    ];
    for (file, text, start) in cases {
        app.write(file, text);
        let done = app.procmux(&["check"]).run();
        assert_eq!(done.code, Some(2), "{file}: {text}\n{}", done.stderr);
        assert!(
            done.stderr.starts_with(start),
            "{file}: {text}\n{}",
            done.stderr
        );
        assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
        std::fs::remove_file(app.path().join(file)).unwrap();
    }
    // A mistake in procmux.toml is still named there, with the override read after it.
    app.write(
        "procmux.toml",
        "# committed\n[process.web]\nstop_timeout = -3\n",
    );
    app.write(
        "procmux.local.toml",
        "# mine\n[process.worker]\ncount = 2\n",
    );
    let done = app.procmux(&["check"]).run();
    assert!(
        done.stderr
            .starts_with("procmux: error: procmux.toml:3:16: stop_timeout"),
        "{}",
        done.stderr
    );
    // Removing every entry leaves nothing to run.
    app.write("procmux.local.toml", "");
    app.write("Procfile.local", "!web:\n!worker:\n");
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(2));
    assert!(
        done.stderr.contains("Procfile: no processes left"),
        "{}",
        done.stderr
    );
}

/// Profiles: `start @backend` and `start --profile backend` start the profile's processes
/// and what they wait for; `--no-deps` only the profile's; `check` lists each profile.
#[test]
fn a_profile_starts_its_processes_and_what_they_wait_for() {
    let app = App::new(
        "db: echo \"db up $$\"; exec sleep 1000\n\
         redis: echo \"redis up $$\"; exec sleep 1000\n\
         redis-cache: echo \"redis-cache up $$\"; exec sleep 1000\n\
         api: echo \"api up $$\"; exec sleep 1000\n\
         web: echo \"web up $$\"; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[profile.backend]\nprocesses = [\"api\", \"redis*\"]\n[profile.front]\nprocesses = [\"web\"]\n\
         [process.api]\nafter = [\"db\"]\n",
    );
    // Starts with `args`, waits for each of `expected` to say it is up, stops: what ran.
    let started = |args: &[&str], expected: &[&str]| {
        let mut full = vec!["--no-timestamp"];
        full.extend_from_slice(args);
        let mut running = app.start(&full);
        for name in expected {
            running.wait_for(&format!("| {name} up"));
        }
        running.pids_after("started with pid");
        running.signal(Signal::SIGINT);
        let text = running.wait().text();
        let ran: Vec<&str> = ["db", "redis", "redis-cache", "api", "web"]
            .into_iter()
            .filter(|name| text.contains(&format!("| {name} up")))
            .collect();
        assert_eq!(ran, expected, "{args:?}:\n{text}");
    };
    started(&["@backend"], &["db", "redis", "redis-cache", "api"]);
    started(
        &["--profile", "backend"],
        &["db", "redis", "redis-cache", "api"],
    );
    started(&["@backend", "--no-deps"], &["redis", "redis-cache", "api"]);
    started(
        &["--profile", "front,backend"],
        &["db", "redis", "redis-cache", "api", "web"],
    );
    let done = app.procmux(&["check"]).run();
    assert!(
        done.text().contains(
            "profile backend: redis, redis-cache, api (start @backend adds what they wait for)\n"
        ),
        "{}",
        done.text()
    );
}

#[test]
fn mistakes_in_profiles_are_errors_at_their_place() {
    let app = App::new("web: echo started-web\nworker: echo started-worker\n");
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "[profile.x]\nprocesses = [\"web\", \"wrker\"]\n",
            &[],
            "procmux: error: procmux.toml:2:21: profile x: no process named \"wrker\" (did you mean \"worker\"?)",
        ),
        (
            "[profile.x]\nprocesses = [\"w[\"]\n",
            &[],
            "procmux: error: procmux.toml:2:14: profile x: unclosed character class",
        ),
        (
            "[profile.x]\nprocesses = []\n",
            &[],
            "procmux: error: procmux.toml:1:10: profile x: processes is empty",
        ),
        (
            "[profile.x]\nprocesses = [\"web\"]\n",
            &["@y"],
            "procmux: error: @y: no profile named \"y\" (defined: x)",
        ),
        (
            "",
            &["--profile", "y"],
            "procmux: error: --profile y: no profile named \"y\" (procmux.toml defines none",
        ),
    ];
    refuses_each(&app, &cases);
}

/// A TCP port nobody holds now (the test's processes bind it soon after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A database that listens on `$PORT` a moment after it starts (its readiness: `tcp:$PORT`),
/// and a web server that follows its restarts (`follows`: its `restart_with` or `after`).
fn db_and_web(db_on_exit: &str, follows: &str) -> App {
    let app = App::new(
        "db: exec python3 -c \"import os, socket, time; time.sleep(0.3); s = socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
         s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen(); \
         print('db listening', os.getpid(), flush=True); time.sleep(1000)\"\n\
         web: echo \"web up $$\"; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        format!(
            "[process.db]\nready = \"tcp:$PORT\"\non_exit = \"{db_on_exit}\"\nrestart_delay = 0.2\n\
             [process.web]\n{follows}\n"
        ),
    );
    app
}

/// `procmux restart db`: web is stopped first, then db; web starts again only once db is
/// ready again (by the order of the system lines and by pid); status shows what web follows.
#[test]
fn a_follower_restarts_after_its_leader_is_ready_again() {
    let app = db_and_web("stop-all", "restart_with = [\"db\"]");
    let base = free_port().to_string();
    let mut running = app.start(&["--no-timestamp", "--pty", "never", "-p", &base]);
    let first_web = running.wait_for_pids("web up")[0];
    let first_db = running.wait_for_pids("db listening")[0];
    let done = app.procmux(&["status"]).run();
    assert!(
        done.text().contains("RESTARTS WITH") && done.text().contains(")  db\n"),
        "{}",
        done.text()
    );
    let done = app.procmux(&["restart", "db"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = running.wait_for_count("web up", 2);
    let pids = running.pids_after("web up");
    assert_ne!(pids[1], first_web);
    let second_db = running.pids_after("db listening")[1];
    assert_ne!(second_db, first_db);
    let after = &text[text.find("db.1 is ready").unwrap() + 1..];
    let order = [
        "system | web.1 restarting with db.1: stopped now, started again once db.1 is ready",
        "system | sending SIGTERM to web.1",
        "web.1  | terminated by SIGTERM",
        "system | sending SIGTERM to db.1",
        "db.1   | terminated by SIGTERM",
        "db.1   | started with pid",
        // Not "db listening": db prints it after listen(), so the TCP probe may find it
        // ready before that line is read (seen once under load).
        "system | db.1 is ready",
        "web.1  | started with pid",
    ];
    let mut at = 0;
    for line in order {
        let found = after[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} after the others in:\n{after}"));
        at += found + line.len();
    }
    assert_all_gone(&[first_web, first_db]);
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// A crash of db (it restarts by its policy) takes web with it until db is ready again; web
/// says so with `after = [{ name = "db", restart = true }]`, the other spelling.
#[test]
fn a_follower_of_a_crashed_leader_waits_for_it() {
    let app = db_and_web("restart", "after = [{ name = \"db\", restart = true }]");
    let base = free_port().to_string();
    let mut running = app.start(&["--no-timestamp", "--pty", "never", "-p", &base]);
    let first_web = running.wait_for_pids("web up")[0];
    let first_db = running.wait_for_pids("db listening")[0];
    nix::sys::signal::kill(first_db, Signal::SIGKILL).unwrap();
    let text = running.wait_for_count("web up", 2);
    running.pids_after("web up");
    let crash = text.find("db.1   | terminated by SIGKILL").unwrap();
    let after = &text[crash..];
    let follows = after.find("web.1 restarting with db.1").unwrap();
    let ready = after.find("system | db.1 is ready").unwrap();
    let started = after.find("web.1  | started with pid").unwrap();
    assert!(follows < ready && ready < started, "{after}");
    assert_all_gone(&[first_web, first_db]);
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Two services, each with its own Procfile and `.env` in its own directory, included by the
/// root's `procmux.toml`; a profile names one include's entries by a glob.
fn with_includes() -> App {
    let app = App::new("db: echo \"db up $$\"; exec sleep 1000\n");
    for (dir, entries) in [
        (
            "api",
            "server: echo \"api server up $$ in $PWD A=$A P=$PORT\"; exec sleep 1000\nworker: echo \"api worker up $$ in $PWD A=$A\"; exec sleep 1000\n",
        ),
        (
            "web",
            "server: echo \"web server up $$ in $PWD W=$W\"; exec sleep 1000\n",
        ),
    ] {
        fs::create_dir(app.path().join(dir)).unwrap();
        app.write(&format!("{dir}/Procfile"), entries);
    }
    app.write("api/.env", "A=api's own .env\n");
    app.write(
        "procmux.toml",
        "[include.api]\nprocfile = \"api/Procfile\"\n\
         [include.web]\nprocfile = \"web/Procfile\"\nenv = { W = \"${A:-none} w\" }\n\
         [process.\"api.server\"]\nafter = [\"db\"]\n\
         [profile.backend]\nprocesses = [\"api.*\"]\n",
    );
    app
}

/// An included Procfile's entries run in its directory, with its `.env` (or its own `env`),
/// named `api.server`; `start api` starts the whole include (and what it waits for), a
/// profile too; `restart api.server` restarts one entry, `restart api` all of them.
#[test]
fn included_procfiles_run_in_their_directory_with_their_env_and_prefixed_names() {
    let app = with_includes();
    let root = fs::canonicalize(app.path()).unwrap();
    let mut running = app.start(&["--no-timestamp"]);
    running.wait_for("api worker up");
    running.wait_for("web server up");
    let text = running.wait_for("api server up");
    running.pids_after("started with pid");
    let api = root.join("api").display().to_string();
    assert!(text.contains("api.server.1 | api server up "), "{text}");
    assert!(
        text.contains(&format!(" in {api} A=api's own .env P=5100\n")),
        "{text}"
    );
    assert!(text.contains("web.server.1 | web server up "), "{text}");
    assert!(
        text.contains(&format!(" in {}/web W=none w\n", root.display())),
        "{text}"
    );
    // One entry, then the whole include, by name.
    let done = app.procmux(&["restart", "api.server"]).run();
    assert_eq!(done.text(), "restarting api.server.1\n", "{}", done.stderr);
    running.wait_for_count("api server up", 2);
    let done = app.procmux(&["restart", "api"]).run();
    assert_eq!(
        done.text(),
        "restarting api.server.1\nrestarting api.worker.1\n",
        "{}",
        done.stderr
    );
    running.wait_for_count("api server up", 3);
    running.wait_for_count("api worker up", 2);
    running.pids_after("started with pid");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
    // `start api` and `start @backend`: the include, and db which api.server waits for.
    for args in [["--no-timestamp", "api"], ["--no-timestamp", "@backend"]] {
        let mut running = app.start(&args);
        running.wait_for("api worker up");
        running.wait_for("db up");
        running.wait_for("api server up");
        running.pids_after("started with pid");
        running.signal(Signal::SIGINT);
        let text = running.wait().text();
        assert!(!text.contains("web server"), "{args:?}: {text}");
    }
    let done = app.procmux(&["check"]).run();
    assert!(
        done.text()
            .contains("  api/Procfile: api.server, api.worker\n  web/Procfile: web.server\n"),
        "{}",
        done.text()
    );
}

#[test]
fn mistakes_in_includes_are_errors_naming_both_files() {
    let app = with_includes();
    app.write("Procfile", "db: echo started-db\napi: echo started-api\n");
    let clash = "[include.api]\nprocfile = \"api/Procfile\"\n";
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "[include.port]\nprocfile = \"port/Procfile\"\n",
            &[],
            "procmux: error: port/.env: sets PORT, which procmux gives each process",
        ),
        (
            clash,
            &[],
            "procmux: error: procmux.toml:1:10: include.api: Procfile has an entry named api too (line 2)",
        ),
        (
            "[include.self]\nprocfile = \"Procfile\"\n",
            &[],
            "procmux: error: procmux.toml:2:12: include.self: Procfile is Procfile, already read: a Procfile is read once",
        ),
        (
            "[include.one]\nprocfile = \"web/Procfile\"\n[include.two]\nprocfile = \"./web/../web/Procfile\"\n",
            &[],
            "procmux: error: procmux.toml:4:12: include.two: ./web/../web/Procfile is web/Procfile, already read",
        ),
        (
            "[include.gone]\nprocfile = \"gone/Procfile\"\n",
            &[],
            "procmux: error: procmux.toml:2:12: include.gone: gone/Procfile: No such file or directory",
        ),
        (
            "[include.\"a.b\"]\nprocfile = \"web/Procfile\"\n",
            &[],
            "procmux: error: procmux.toml:1:10: include.a.b: use letters, digits, '_' and '-' (at most 100 of them)",
        ),
        (
            "[include.bad]\nprocfile = \"bad/Procfile\"\n",
            &[],
            "procmux: error: bad/Procfile:2: expected \"name: command\"",
        ),
    ];
    fs::create_dir(app.path().join("bad")).unwrap();
    fs::create_dir(app.path().join("port")).unwrap();
    app.write("port/Procfile", "x: echo started-x\n");
    app.write("port/.env", "PORT=1\n");
    app.write("bad/Procfile", "x: echo started-x\nnot an entry\n");
    refuses_each(&app, &cases);
}

/// Exported, an included entry keeps its directory and variables, and its name becomes a
/// valid name for each target (a Kubernetes container name is a DNS label: `api-server`).
#[test]
fn included_entries_export_with_their_directory_and_env() {
    let app = with_includes();
    let root = fs::canonicalize(app.path()).unwrap();
    let export = |format: &str| {
        let done = app
            .procmux(&[
                "export", format, "out", "--app", "demo", "--image", "demo:1",
            ])
            .run();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
    };
    export("systemd");
    let unit = fs::read_to_string(app.path().join("out/demo-api.server.1.service")).unwrap();
    assert!(
        unit.contains(&format!("WorkingDirectory={}/api\n", root.display())),
        "{unit}"
    );
    assert!(
        unit.contains("Environment=\"A=api's own .env\"\n"),
        "{unit}"
    );
    fs::remove_dir_all(app.path().join("out")).unwrap();
    export("kubernetes");
    let text = fs::read_to_string(app.path().join("out/demo.yaml")).unwrap();
    assert!(text.contains("\"name\": \"api-server\""), "{text}");
    assert!(text.contains("\"cd 'api' || exit 1; echo "), "{text}");
}

/// `examples/monorepo` runs with one command: the release migrates, the api (an included
/// Procfile) serves, the worker (another) follows it with its own variables, in their own
/// directories.
#[test]
fn the_monorepo_example_runs_with_one_command() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monorepo");
    let app = App::new("");
    let status = std::process::Command::new("cp")
        .args(["-R", "--"])
        .arg(example.join("."))
        .arg(app.path())
        .status()
        .unwrap();
    assert!(status.success());
    let _ = fs::remove_file(app.path().join("db.sqlite3"));
    // The api's port (index 1) is one nobody holds.
    let port = free_port();
    let base = (port - 100).to_string();
    let mut running = app.start(&["--no-timestamp", "-p", &base]);
    let text = running.wait_for("worker.run.1 | queue=mail");
    running.pids_after("started with pid");
    assert!(
        text.contains("release.1    | migrated db.sqlite3"),
        "{text}"
    );
    assert!(text.contains(&format!("port {port}")), "{text}");
    assert!(text.contains("db=sqlite:///db.sqlite3?pool=2"), "{text}");
    assert!(text.contains("/services/worker\n"), "{text}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

/// A name the shell cannot pass on (`spring.url`) in a process's own `env` reaches a simple
/// command (through procmux's helper), and a command the shell runs itself gets the warning.
#[test]
fn a_process_own_dotted_names_reach_a_simple_command_or_are_warned_about() {
    let app = App::new(
        "simple: printenv spring.url\n\
         compound: echo first && echo second\n",
    );
    app.write(
        "procmux.toml",
        "[process.simple]\nenv = { \"spring.url\" = \"jdbc:x\" }\n\
         [process.compound]\nenv = { \"spring.url\" = \"jdbc:x\" }\n",
    );
    let done = app
        .procmux(&["start", "--no-timestamp", "--may-exit", "simple,compound"])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = done.text();
    assert!(text.contains("simple.1   | jdbc:x\n"), "{text}");
    assert!(
        text.contains("compound.1: /bin/sh passes no variable named spring.url"),
        "{text}"
    );
    assert!(!text.contains("simple.1: /bin/sh passes"), "{text}");
}

/// A local override that is a dangling symlink is an error naming it, never silently nothing.
#[test]
fn a_dangling_local_override_is_an_error() {
    let app = App::new("web: sleep 100\n");
    std::os::unix::fs::symlink("/nonexistent/procfile", app.path().join("Procfile.local")).unwrap();
    let done = app.procmux(&["check"]).run();
    done.exits_with(2);
    assert!(done.stderr.contains("Procfile.local"), "{}", done.stderr);
    fs::remove_file(app.path().join("Procfile.local")).unwrap();
    app.write("procmux.toml", "port = 6000\n");
    std::os::unix::fs::symlink("/nonexistent/toml", app.path().join("procmux.local.toml")).unwrap();
    let done = app.procmux(&["check"]).run();
    done.exits_with(2);
    assert!(
        done.stderr.contains("procmux.local.toml"),
        "{}",
        done.stderr
    );
}
