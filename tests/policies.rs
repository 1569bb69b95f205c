//! Supervision policies with real processes: restarts with backoff, give-up, may-exit,
//! --exit-code-from, every readiness kind, ordered shutdown, stop signals and timeouts.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, assert_all_gone};

/// Seconds since midnight of every `--timestamp ms` line that contains `needle`.
fn times_of(text: &str, needle: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.contains(needle))
        .map(|l| {
            let stamp = &l[..12];
            let (h, rest) = stamp.split_once(':').unwrap();
            let (m, s) = rest.split_once(':').unwrap();
            h.parse::<f64>().unwrap() * 3600.0
                + m.parse::<f64>().unwrap() * 60.0
                + s.parse::<f64>().unwrap()
        })
        .collect()
}

#[test]
fn restarts_back_off_then_give_up_and_stop_everything() {
    let app = App::new("flaky: echo run; exit 1\nother: sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.flaky]\non_exit = \"restart\"\nrestart_delay = 0.2\nmax_restarts = 3\nrestart_window = 60\n",
    );
    let done = app.procmux(&["start", "--timestamp", "ms"]).run();
    let text = done.text();
    assert_eq!(done.code, Some(1), "{text}");
    for expected in [
        "flaky.1 exited with code 1, restarting in 0.2s (attempt 1/3)",
        "flaky.1 exited with code 1, restarting in 0.4s (attempt 2/3)",
        "flaky.1 exited with code 1, restarting in 0.8s (attempt 3/3)",
        "flaky.1 exited with code 1, giving up after 3 restarts in 60s",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let runs = times_of(&text, "flaky.1 | run");
    assert_eq!(runs.len(), 4, "{text}");
    for (gap, delay) in runs.windows(2).map(|w| w[1] - w[0]).zip([0.2, 0.4, 0.8]) {
        assert!(
            gap >= delay - 0.01 && gap < delay + 1.0,
            "gap {gap:.3}s for a {delay}s delay\n{text}"
        );
    }
    assert!(text.contains("other.1 | terminated by SIGTERM"), "{text}");
}

#[test]
fn give_up_can_leave_it_dead_while_the_rest_runs() {
    let app = App::new("flaky: exit 2\nother: echo \"ready $$\"; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.flaky]\non_exit = \"restart\"\nrestart_delay = 0.05\nmax_restarts = 1\non_give_up = \"leave\"\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("giving up after 1 restarts");
    let pids = running.pids_after("ready");
    std::thread::sleep(Duration::from_millis(200));
    assert!(support::alive(pids[0]), "the others must keep running");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
    assert_all_gone(&pids);
}

#[test]
fn may_exit_lets_a_one_shot_finish() {
    let app = App::new("setup: echo setting-up\nserver: echo \"ready $$\"; exec sleep 1000\n");
    let mut running = app
        .procmux(&["start", "--no-timestamp", "--may-exit", "setup"])
        .spawn();
    running.wait_for("setup.1 exited with code 0; it may exit, the others keep running");
    running.wait_for("ready ");
    let pids = running.pids_after("ready");
    std::thread::sleep(Duration::from_millis(200));
    assert!(support::alive(pids[0]));
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

#[test]
fn when_every_process_may_exit_procmux_ends_with_them() {
    let app = App::new("a: echo a\nb: sleep 0.2; echo b\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--may-exit", "a,b"])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.text());
    assert!(done.text().contains("b.1    | b\n"), "{}", done.text());
}

#[test]
fn restart_on_failure_restarts_only_failures() {
    let app = App::new(
        "clean: exit 0\n\
         crashy: if [ -e crashed ]; then echo second-run; exec sleep 1000; else touch crashed; exit 3; fi\n\
         other: sleep 1000\n",
    );
    app.write("procmux.toml", "[process.crashy]\nrestart_delay = 0.05\n");
    let running = app
        .procmux(&[
            "start",
            "--no-timestamp",
            "--restart-on-failure",
            "clean,crashy",
        ])
        .spawn();
    running.wait_for("clean.1 exited with code 0; it may exit");
    running.wait_for("crashy.1 exited with code 3, restarting in 0.05s (attempt 1/5)");
    running.wait_for("crashy.1 | second-run");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
}

#[test]
fn restart_flag_restarts_even_a_clean_exit() {
    let app = App::new("job: echo tick; exit 0\nother: sleep 1000\n");
    app.write("procmux.toml", "[process.job]\nrestart_delay = 0.05\n");
    let running = app
        .procmux(&["start", "--no-timestamp", "--restart", "job"])
        .spawn();
    running.wait_for_count("job.1   | tick", 3);
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
}

#[test]
fn exit_code_from_runs_until_that_process_exits() {
    let app = App::new("db: sleep 1000\nhelper: exit 0\ntests: sleep 0.3; exit 4\n");
    let done = app
        .procmux(&[
            "start",
            "--no-timestamp",
            "--exit-code-from",
            "tests",
            "--may-exit",
            "helper",
        ])
        .run();
    assert_eq!(done.code, Some(4), "{}", done.text());
    assert!(
        done.text().contains("db.1     | terminated by SIGTERM"),
        "{}",
        done.text()
    );
    let done = app.procmux(&["start", "--exit-code-from", "nope"]).run();
    assert_eq!(done.code, Some(2));
}

#[test]
fn tcp_readiness_orders_the_start() {
    let app = App::new(
        "db: sleep 0.3; exec python3 -m http.server $PORT --bind 127.0.0.1\n\
         web: echo web-started; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"tcp:$PORT\"\n[process.web]\nafter = [\"db\"]\n",
    );
    let running = app
        .procmux(&["start", "--no-timestamp", "-p", "18231"])
        .spawn();
    let text = running.wait_for("web-started");
    let ready = text.find("db.1 is ready").expect("ready line");
    assert!(
        ready < text.find("web.1  | started with pid").unwrap(),
        "{text}"
    );
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
}

#[test]
fn log_readiness_and_delay_readiness() {
    let app = App::new(
        "db: sleep 0.2; echo 'database system is ready to accept connections'; exec sleep 1000\n\
         cache: exec sleep 1000\n\
         web: echo web-started; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"log:ready to accept\"\n\
         [process.cache]\nready = \"delay:0.3s\"\n\
         [process.web]\nafter = [\"db\", \"cache\"]\n",
    );
    let start = Instant::now();
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    let text = running.wait_for("web-started");
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "web started before cache's delay"
    );
    let web = text.find("web.1   | started").unwrap();
    assert!(
        text.find("db.1 is ready").unwrap() < web && text.find("cache.1 is ready").unwrap() < web,
        "{text}"
    );
    running.signal(Signal::SIGTERM);
    running.wait();
}

#[test]
fn exit_zero_readiness_for_a_migration() {
    let app =
        App::new("migrate: sleep 0.2; echo migrated\nweb: echo web-started; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.migrate]\nready = \"exit:0\"\n[process.web]\nafter = [\"migrate\"]\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    let text = running.wait_for("web-started");
    assert!(
        text.find("migrate.1 | migrated").unwrap() < text.find("web.1     | started").unwrap(),
        "{text}"
    );
    assert!(
        !text.contains("sending SIGTERM"),
        "a successful one-shot must not stop the stack: {text}"
    );
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));

    // A failed migration stops everything, and web never starts.
    app.write(
        "Procfile",
        "migrate: exit 5\nweb: echo web-started; exec sleep 1000\n",
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(5));
    assert!(!done.text().contains("web-started"), "{}", done.text());
}

#[test]
fn ready_timeout_stops_the_stack() {
    let app = App::new("db: exec sleep 1000\nweb: echo never\n");
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"log:never printed\"\nready_timeout = 0.4\n[process.web]\nafter = [\"db\"]\n",
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(1));
    assert!(
        done.text().contains("db.1 not ready after 0.4s, stopping"),
        "{}",
        done.text()
    );
    assert!(!done.text().contains("| never"));
}

/// `ready = "exec:…"`: the check runs in the instance's environment and directory (its
/// `$PORT`, the root), again and again until it exits 0, and holds what waits for it; its
/// exits are never taken for the instance's.
#[test]
fn exec_readiness_holds_dependants_until_the_check_passes() {
    let app = App::new(
        "db: sleep 0.5; touch db-$PORT.up; echo \"ready $$\"; exec sleep 1000\n\
         migrate: test -e db-5000.up && echo migrated-after-db\n\
         web: echo \"web $$\"; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = 'exec:echo x >> attempts; test -e db-$PORT.up'\nready_interval = 0.1\n\
         [process.migrate]\nafter = [\"db\"]\nready = \"exit:0\"\n\
         [process.web]\nafter = [\"migrate\"]\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("web ");
    let mut pids = running.pids_after("ready");
    pids.extend(running.pids_after("web"));
    let text = running.text();
    assert!(text.contains("migrate.1 | migrated-after-db"), "{text}");
    assert!(
        text.find("db.1 is ready").unwrap() < text.find("migrate.1 | started").unwrap(),
        "{text}"
    );
    // Only the migration exited: no check's exit was taken for an instance's.
    assert_eq!(text.matches("exited with").count(), 1, "{text}");
    let attempts = fs::read_to_string(app.path().join("attempts")).unwrap();
    assert!(attempts.lines().count() >= 2, "{attempts}");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
    assert_all_gone(&pids);
}

/// Readiness that never comes: the last attempt is shown, how it ended and what it printed;
/// an attempt still running then is killed with its group.
#[test]
fn exec_readiness_timeout_shows_the_last_attempt() {
    let app = App::new("db: exec sleep 1000\nweb: echo never\n");
    let config = |check: &str| {
        format!(
            "[process.db]\nready = '{check}'\nready_interval = 0.1\nready_timeout = 0.6\n\
             [process.web]\nafter = [\"db\"]\n"
        )
    };
    app.write(
        "procmux.toml",
        config("exec:echo \"no response on $PORT\"; echo second >&2; exit 2"),
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(1));
    let text = done.text();
    for line in [
        "system | db.1 not ready after 0.6s, stopping\n",
        "system | db.1's last ready check (echo \"no response on $PORT\"; echo second >&2; exit 2) exited with code 2:\n",
        "system | db.1 ready check: no response on 5000\n",
        "system | db.1 ready check: second\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(!text.contains("| never"), "{text}");

    app.write(
        "procmux.toml",
        config("exec:sleep 1000 & echo \"$$ $!\" > check.pids; echo waiting; wait"),
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(1));
    let text = done.text();
    assert!(text.contains("was still running (killed):\n"), "{text}");
    assert!(text.contains("db.1 ready check: waiting\n"), "{text}");
    let pids = support::pids_after(
        &format!(
            "check {}",
            fs::read_to_string(app.path().join("check.pids")).unwrap()
        ),
        "check",
    );
    assert_eq!(pids.len(), 2);
    assert_all_gone(&pids);
}

/// User and system CPU time of `pid`, in clock ticks (1/100 s).
fn cpu_ticks(pid: nix::unistd::Pid) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// An attempt that overruns its time is killed with its whole group, and the next one runs.
#[test]
fn an_overrunning_exec_check_is_killed_with_its_group_and_tried_again() {
    let app = App::new("db: echo \"ready $$\"; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.db]\nready = 'exec:test -e tried && exit 0; touch tried; sleep 1000 & echo \"$$ $!\" > check.pids; wait'\nready_interval = 0.1\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("db.1 is ready");
    // procmux slept while the attempt ran its 5 s: no turn of the loop spun meanwhile.
    assert!(
        cpu_ticks(running.pid()) < 50,
        "procmux spun while a check ran"
    );
    let mut pids = running.pids_after("ready");
    let check = fs::read_to_string(app.path().join("check.pids")).unwrap();
    let check_pids = support::pids_after(&format!("check {check}"), "check");
    assert_eq!(check_pids.len(), 2);
    assert_all_gone(&check_pids);
    pids.extend(check_pids);
    running.signal(Signal::SIGTERM);
    running.wait();
    assert_all_gone(&pids);
}

#[test]
fn shutdown_stops_dependants_first() {
    let app = App::new(
        "db: trap 'echo db-stopping; exit 0' TERM; echo \"ready $$\"; while :; do sleep 0.05; done\n\
         web: trap 'sleep 0.3; echo web-stopped; exit 0' TERM; echo \"ready $$\"; while :; do sleep 0.05; done\n",
    );
    app.write("procmux.toml", "[process.web]\nafter = [\"db\"]\n");
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for_count("ready ", 2);
    let pids = running.pids_after("ready");
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    let text = done.text();
    let web = text.find("web-stopped").expect("web stopped");
    let db = text.find("db-stopping").expect("db stopped");
    assert!(web < db, "db was stopped before web:\n{text}");
    assert_all_gone(&pids);
}

#[test]
fn stop_signal_and_stop_timeout_per_process() {
    let app = App::new(
        "gentle: trap 'echo got-int; exit 0' INT; echo \"ready $$\"; while :; do sleep 0.05; done\n\
         stubborn: trap '' TERM; echo \"ready $$\"; while :; do sleep 0.05; done\n",
    );
    app.write(
        "procmux.toml",
        "[process.gentle]\nstop_signal = \"INT\"\n[process.stubborn]\nstop_timeout = 0.5\n",
    );
    let mut running = app
        .procmux(&["start", "--no-timestamp", "-t", "30"])
        .spawn();
    running.wait_for_count("ready ", 2);
    let pids = running.pids_after("ready");
    let start = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stop_timeout ignored: {:?}",
        start.elapsed()
    );
    assert!(
        done.text().contains("gentle.1   | got-int"),
        "{}",
        done.text()
    );
    assert!(
        done.text().contains("stubborn.1 | terminated by SIGKILL"),
        "{}",
        done.text()
    );
    assert_all_gone(&pids);
}

#[test]
fn policy_errors_are_located_in_the_config_file() {
    let app = App::new("db: touch started\nweb: touch started\n");
    let cases = [
        (
            "[process.web]\nafter = [\"bd\"]\n",
            "procmux.toml:2:10: after: no process named \"bd\" (did you mean \"db\"?)",
        ),
        (
            "[process.web]\nafter = [\"db\"]\n[process.db]\nafter = [\"web\"]\n",
            "procmux.toml:4:10: after: processes wait for each other: db → web → db",
        ),
        (
            "[process.db]\nready = \"http:80\"\n",
            "procmux.toml:2:9: ready: \"http:80\": expected tcp:PORT",
        ),
        (
            "[process.db]\nstop_signal = \"KILL\"\n",
            "procmux.toml:2:15: stop_signal: \"KILL\" cannot be a stop signal",
        ),
        (
            "[process.db]\non_exit = \"sometimes\"\n",
            "procmux.toml:2:11: on_exit: \"sometimes\": expected stop-all",
        ),
        (
            "[process.db]\nready = \"exec: \"\n",
            "procmux.toml:2:9: ready: \"exec: \": a command must follow exec:",
        ),
        (
            "[process.db]\nready_interval = 0\n",
            "procmux.toml:2:18: ready_interval: at least 10ms",
        ),
        (
            "[process.db]\nready_interval = -1\n",
            "procmux.toml:2:18: ready_interval:",
        ),
        (
            "[process.db]\nready = \"log:(\"\n",
            "procmux.toml:2:9: ready: \"log:(\": invalid regex",
        ),
        // Matched in the server's loop on every line until ready: its size is bounded.
        (
            "[process.db]\nready = \"log:x{100000}\"\n",
            "procmux.toml:2:9: ready: \"log:x{100000}\": pattern too large: 100000 positions, \
             at most 1000",
        ),
    ];
    for (toml, expected) in cases {
        app.write("procmux.toml", toml);
        let done = app.procmux(&["start"]).run();
        assert_eq!(done.code, Some(2), "{toml}");
        assert!(
            done.stderr
                .starts_with(&format!("procmux: error: {expected}")),
            "{toml}:\n{}",
            done.stderr
        );
        assert!(!app.path().join("started").exists());
    }
    let done = app.procmux(&["start", "--restart", "wbe"]).run();
    assert!(
        done.stderr.contains("did you mean \"web\"?"),
        "{}",
        done.stderr
    );
}

/// A command that cannot be started is reported under its name and counts as exit 127. Here
/// the restart finds its working directory gone.
#[test]
fn a_process_that_cannot_start_exits_127() {
    let app = App::new("gone: sleep 0.3; rmdir \"$PWD\"; exit 1\nother: sleep 1000\n");
    std::fs::create_dir(app.path().join("work")).unwrap();
    app.write("procmux.toml", "root = \"work\"\n[process.gone]\non_exit = \"restart\"\nrestart_delay = 0.05\nmax_restarts = 1\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let text = done.text();
    assert!(text.contains("gone.1  | failed to start: "), "{text}");
    assert!(
        text.contains("gone.1 exited with code 127, giving up"),
        "{text}"
    );
    assert_eq!(done.code, Some(127), "{text}");
}

/// `procmux start web` starts what web waits for, as `docker compose up web` does;
/// `--no-deps` starts web alone, and says that it does not wait.
#[test]
fn start_name_starts_its_dependencies_and_no_deps_does_not() {
    let app = App::new(
        "db: echo db-up; exec sleep 1000\nweb: echo web-up; exec sleep 1000\nother: echo other-up; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.web]\nafter = [\"db\"]\nready = \"log:web-up\"\n",
    );
    let running = app.start(&["--no-timestamp", "web"]);
    running.wait_for("web.1 is ready");
    // db's own line may come after web's readiness (its pipe is read in its turn).
    let text = running.wait_for("| db-up");
    assert!(!text.contains("other-up"), "{text}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);

    let running = app.start(&["--no-timestamp", "--no-deps", "web"]);
    let text = running.wait_for("web.1 is ready");
    assert!(
        text.contains("web.1 starts without waiting for db, which is not started (--no-deps)"),
        "{text}"
    );
    assert!(!text.contains("db.1"), "{text}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `ready = "tcp:…"` means this instance's own tree listens: a program already on the port
/// is an error naming it (not a false "ready"), and a server bound to `::1` only counts.
#[test]
fn tcp_readiness_is_the_instance_s_own_ipv4_or_ipv6() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let app = App::new("db: exec sleep 1000\nweb: echo web-started; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        format!("[process.db]\nready = \"tcp:{port}\"\n[process.web]\nafter = [\"db\"]\n"),
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let text = done.text();
    assert!(
        text.contains(&format!(
            "db.1   | failed to start: port {port} is already in use by pid {} (",
            std::process::id()
        )),
        "{text}"
    );
    assert!(!text.contains("web-started"), "{text}");
    drop(taken);

    let app = App::new(
        "db: exec python3 -c \"import socket, time; s = socket.socket(socket.AF_INET6); s.bind(('::1', int(__import__('os').environ['PORT']))); s.listen(); time.sleep(1000)\"\n\
         web: echo web-started; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"tcp:$PORT\"\n[process.web]\nafter = [\"db\"]\n",
    );
    let running = app.start(&["--no-timestamp", "-p", "47311"]);
    running.wait_for("web-started");
    assert!(running.text().contains("system | db.1 is ready"));
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `ready = "http://…"`: a 2xx or 3xx answer; anything else is not ready.
#[test]
fn http_readiness_needs_a_good_answer() {
    let app = App::new(
        "db: exec python3 -m http.server $PORT --bind 127.0.0.1\n\
         web: echo web-started; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"http://127.0.0.1:$PORT/\"\n[process.web]\nafter = [\"db\"]\n",
    );
    let running = app.start(&["--no-timestamp", "-p", "47321"]);
    running.wait_for("web-started");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);

    app.write(
        "procmux.toml",
        "[process.db]\nready = \"http://127.0.0.1:$PORT/missing\"\nready_timeout = 1\n[process.web]\nafter = [\"db\"]\n",
    );
    let done = app
        .procmux(&["start", "--no-timestamp", "-p", "47331"])
        .run();
    done.exits_with(1)
        .shows(&["db.1 not ready after 1s, stopping"]);
    assert!(!done.text().contains("web-started"));
}

/// procmux SIGKILLed while a readiness check runs: the watchdog leaves nothing of the check
/// behind, its background child included.
#[test]
fn a_running_exec_check_dies_with_a_killed_procmux() {
    let app = App::new("db: echo \"db-up $$\"; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.db]\nready = 'exec:sleep 1000 & echo \"$$ $!\" > check.pids; wait'\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("db-up ");
    let mut pids = running.pids_after("db-up");
    let path = app.path().join("check.pids");
    let start = Instant::now();
    while !fs::read_to_string(&path).is_ok_and(|t| t.ends_with('\n')) {
        assert!(
            start.elapsed() < support::DEADLINE,
            "the check did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let check = fs::read_to_string(&path).unwrap();
    pids.extend(support::pids_after(&format!("check {check}"), "check"));
    assert_eq!(pids.len(), 3);
    running.signal(Signal::SIGKILL);
    let _ = running.wait();
    assert_all_gone(&pids);
}
