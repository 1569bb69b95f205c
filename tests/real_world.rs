//! What real programs and real terminals do to procmux: a terminal that closes, a full disk,
//! a closed pipe, a failed start, Ctrl-Z, `nohup`, watchers that read stdin, and the limits
//! and signal mask children must not inherit from procmux.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, assert_all_gone, run_pty_driver};

/// A stand-in for a database and a web server that depends on it: each says when it is asked
/// to stop (into `order.log`, since there may be no terminal to say it on) and takes a
/// moment to finish, as a real one would.
const DB_AND_WEB: &str = "\
db: trap 'echo db-stop >> order.log; sleep 0.3; echo db-done >> order.log; exit 0' TERM; echo \"ready db $$\"; while :; do sleep 0.05; done
web: trap 'echo web-stop >> order.log; sleep 0.2; echo web-done >> order.log; exit 0' TERM; echo \"ready web $$\"; while :; do sleep 0.05; done
";

fn db_and_web() -> App {
    let app = App::new(DB_AND_WEB);
    app.write("procmux.toml", "[process.web]\nafter = [\"db\"]\n");
    app
}

/// A tab closed, an SSH connection dropped: procmux's terminal goes away. procmux gets
/// SIGHUP, its writes fail with EIO, and still the stack stops gracefully, in dependency
/// order, and procmux exits 129 (not a panic, not the watchdog's SIGKILL).
#[test]
fn a_closed_terminal_stops_the_stack_gracefully() {
    let app = db_and_web();
    let result = run_pty_driver(
        &app,
        r#"
pid, master = procmux_on_pty("start", "--no-timestamp")
if not wait_for(master, b"ready web", 10):
    fail()
os.close(master)
end = time.time() + 20
while time.time() < end:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.02)
else:
    os.kill(pid, signal.SIGKILL)
    sys.stderr.write("procmux did not exit")
    sys.exit(1)
print(os.waitstatus_to_exitcode(status))
open("code", "w").write(str(os.waitstatus_to_exitcode(status)))
"#,
    );
    result.unwrap();
    assert_eq!(fs::read_to_string(app.path().join("code")).unwrap(), "129");
    let order = fs::read_to_string(app.path().join("order.log")).unwrap();
    assert_eq!(order, "web-stop\nweb-done\ndb-stop\ndb-done\n");
}

/// `procmux start > /dev/full`: an error, said on stderr, and a non-zero exit.
#[test]
fn a_full_disk_is_an_error() {
    let app = App::new("web: echo hello; sleep 0.2\n");
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let done = app
        .procmux(&["start", "--no-timestamp"])
        .stdout_to(full)
        .run();
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("procmux: error: writing to stdout: No space left on device"),
        "{}",
        done.stderr
    );
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let done = app.procmux(&["check"]).stdout_to(full).run();
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains("No space left on device"),
        "{}",
        done.stderr
    );
}

/// `man | head -1`, `completions zsh | head -1`, `check | true`: a reader that went away is
/// a quiet success, never a panic or an error message. (The reader is gone before procmux
/// writes, so the write surely fails with EPIPE.)
#[test]
fn one_shot_commands_into_a_closed_pipe_are_quiet() {
    let app = App::new("web: sleep 1\n");
    for args in ["man", "completions zsh", "check"] {
        let done = app
            .shell(&format!(
                "exec 3>&1; ( sleep 0.2; \"$PROCMUX\" {args} 2>err; echo \"status $?\" >&3 ) | true; cat err"
            ))
            .run();
        assert_eq!(done.text(), "status 0\n", "{args}");
    }
}

/// A start that fails (here `E2BIG`: a command longer than the kernel takes) stops the stack:
/// nothing else is started after that, and what already runs gets its stop signal.
#[test]
fn a_failed_start_stops_what_runs_politely_and_starts_nothing_more() {
    let long = "x".repeat(200_000);
    let app = App::new(&format!(
        "a: trap 'echo a-got-term; exit 0' TERM; echo \"ready $$\"; while :; do sleep 0.05; done\n\
         b: echo {long}\n\
         c: touch c-started\n"
    ));
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let text = done.text();
    assert_eq!(done.code, Some(127), "{text}");
    assert!(text.contains("b.1    | failed to start: "), "{text}");
    assert!(text.contains("a.1    | a-got-term"), "{text}");
    assert!(text.contains("a.1    | exited with code 0"), "{text}");
    assert!(!text.contains("SIGKILL"), "{text}");
    assert!(!app.path().join("c-started").exists(), "{text}");
}

fn state(pid: nix::unistd::Pid) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

fn wait_for_state(pid: nix::unistd::Pid, wanted: &[char]) {
    let start = Instant::now();
    while !wanted.contains(&state(pid)) {
        assert!(
            start.elapsed() < support::DEADLINE,
            "{pid} stayed in state {}",
            state(pid)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ctrl-Z pauses the whole stack, as a shell pauses a job; `fg` resumes it.
#[test]
fn ctrl_z_pauses_every_process_and_fg_resumes_them() {
    let app =
        App::new("a: echo \"ready $$\"; exec sleep 1000\nb: echo \"ready $$\"; exec sleep 1000\n");
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for_count("ready ", 2);
    let pids = running.pids_after("ready");
    running.signal(Signal::SIGTSTP);
    wait_for_state(running.pid(), &['T']);
    for &pid in &pids {
        wait_for_state(pid, &['T']);
    }
    running.signal(Signal::SIGCONT);
    for &pid in &pids {
        wait_for_state(pid, &['S', 'R']);
    }
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
    assert_all_gone(&pids);
}

/// `nohup procmux start &`: the hang-up procmux inherited as ignored stays ignored.
#[test]
fn an_inherited_ignored_hangup_stays_ignored() {
    let app = App::new("web: echo \"ready $$\"; exec sleep 1000\n");
    let mut running = app
        .shell("trap '' HUP; exec \"$PROCMUX\" start --no-timestamp")
        .spawn();
    let pids = running.wait_for_pids("ready");
    running.signal(Signal::SIGHUP);
    assert!(
        !running.appears_within("received", Duration::from_millis(300)),
        "{}",
        running.text()
    );
    assert!(support::alive(pids[0]));
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
    assert_all_gone(&pids);
}

/// In pipe mode a child's stdin is a pipe that stays open while procmux lives: watchers
/// (`esbuild --watch`) take EOF on stdin for "my parent died".
#[test]
fn stdin_stays_open_in_pipe_mode() {
    let app = App::new(
        "watcher: python3 -c \"import os, select, sys; \
         kind = 'pipe' if os.readlink('/proc/self/fd/0').startswith('pipe:') else 'other'; \
         ready = select.select([sys.stdin], [], [], 0.3)[0]; \
         print('stdin', kind, 'eof' if ready and not sys.stdin.read(1) else 'open', flush=True)\"; \
         exec sleep 1000\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    let text = running.wait_for("stdin ");
    assert!(text.contains("watcher.1 | stdin pipe open"), "{text}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Children start with the open-files limit procmux was started with (procmux raises its
/// own) and an empty signal mask, whatever procmux inherited.
#[test]
fn children_get_the_callers_limits_and_an_empty_signal_mask() {
    let app =
        App::new("probe: echo \"nofile $(ulimit -n)\"; grep SigBlk /proc/self/status; sleep 0.2\n");
    app.write(
        "launch.py",
        "import os, resource, signal, sys\n\
         hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n\
         resource.setrlimit(resource.RLIMIT_NOFILE, (min(1000, hard), hard))\n\
         signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGTERM])\n\
         os.execv(sys.argv[1], [sys.argv[1], 'start', '--no-timestamp', '--pty', 'never'])\n",
    );
    let done = app.shell("exec python3 launch.py \"$PROCMUX\"").run();
    let text = done.text();
    assert!(text.contains("probe.1 | nofile 1000\n"), "{text}");
    assert!(
        text.contains("probe.1 | SigBlk:\t0000000000000000\n"),
        "{text}"
    );
}

/// A stand-in for PostgreSQL's postmaster: every backend it forks leaves for a session of
/// its own (as PostgreSQL's do), and on SIGTERM the postmaster itself exits, leaving the
/// backend to whoever stops what is left of its tree.
const POSTMASTER: &str = r#"import os, signal, sys, time
def log(word):
    with open("order.log", "a") as f:
        f.write(word + "\n")
backend = os.fork()
if backend == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, lambda *_: (log("backend-stop"), os._exit(0)))
    while True:
        time.sleep(0.05)
signal.signal(signal.SIGTERM, lambda *_: (log("db-stop"), sys.exit(0)))
print("ready", os.getpid(), backend, flush=True)
while True:
    time.sleep(0.05)
"#;

/// Descendants that left their group (PostgreSQL's backends) belong to the instance they came
/// from and are stopped in its turn: the web server that depends on the database is stopped
/// first, while its queries can still be answered.
#[test]
fn escaped_descendants_are_stopped_in_their_instances_turn() {
    let app = App::new(
        "db: python3 postmaster.py\n\
         web: trap 'echo web-stop >> order.log; sleep 0.3; echo web-done >> order.log; exit 0' TERM; echo \"ready $$\"; while :; do sleep 0.05; done\n",
    );
    app.write("postmaster.py", POSTMASTER);
    app.write("procmux.toml", "[process.web]\nafter = [\"db\"]\n");
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for_count("ready ", 2);
    let pids = running.pids_after("ready");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
    let order = fs::read_to_string(app.path().join("order.log")).unwrap();
    assert_eq!(order, "web-stop\nweb-done\ndb-stop\nbackend-stop\n");
    assert_all_gone(&pids);
}

/// Makes the next new process get pid `target` (root only, through `ns_last_pid`) and starts
/// a stranger there: `sleep` in a session of its own, not procmux's descendant, its stdio on
/// `/dev/null` (so that waiting for the script's output ends). Returns false where that
/// cannot be arranged.
fn stranger_at(target: nix::unistd::Pid, app: &App) -> bool {
    app.write(
        "stranger.py",
        "import os, sys\n\
         target = int(sys.argv[1])\n\
         for _ in range(50):\n\
         \x20   with open('/proc/sys/kernel/ns_last_pid', 'w') as f:\n\
         \x20       f.write(str(target - 1))\n\
         \x20   pid = os.fork()\n\
         \x20   if pid == 0:\n\
         \x20       os.setsid()\n\
         \x20       if os.getpid() != target:\n\
         \x20           os._exit(0)\n\
         \x20       os.execvp('sleep', ['sleep', '1000'])\n\
         \x20   if pid == target:\n\
         \x20       print(pid, flush=True)\n\
         \x20       sys.exit(0)\n\
         \x20   os.waitpid(pid, 0)\n\
         sys.exit(1)\n",
    );
    let mut script = std::process::Command::new("timeout")
        .args(["10", "python3"])
        .arg(app.path().join("stranger.py"))
        .arg(target.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let placed = script.wait().is_ok_and(|status| status.success());
    placed && support::alive(target)
}

/// Process-group ids are reused: once a one-shot and its group are gone, a stranger may get
/// the same id. Neither procmux's shutdown nor its watchdog may signal it.
#[test]
fn a_reused_group_id_is_never_signalled() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to choose a pid (ns_last_pid)");
        return;
    }
    for kill_9 in [false, true] {
        let app = App::new("oneshot: echo \"gone $$\"\nweb: echo \"ready $$\"; exec sleep 1000\n");
        let mut running = app.start(&["--no-timestamp", "--may-exit", "oneshot"]);
        running.wait_for("oneshot.1 exited with code 0");
        let web = running.wait_for_pids("ready");
        let oneshot = running.pids_after("gone")[0];
        if !stranger_at(oneshot, &app) {
            eprintln!("skipped: could not start a process at pid {oneshot}");
            return;
        }
        running.signal(if kill_9 {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        });
        let _ = running.wait();
        assert_all_gone(&web);
        std::thread::sleep(Duration::from_millis(300));
        let survived = support::alive(oneshot);
        let _ = nix::sys::signal::kill(oneshot, Signal::SIGKILL);
        assert!(
            survived,
            "the stranger at {oneshot} was signalled (kill -9: {kill_9})"
        );
    }
}

/// A daemon that detaches at any time (here after the first scan for detached processes) is
/// stopped too when procmux is SIGKILLed: the watchdog finds it by the `PROCMUX_TREE`
/// variable every child carries.
#[test]
fn kill_9_stops_a_daemon_that_detached_late() {
    let app = App::new(
        "web: (sleep 1.2; setsid sh -c 'echo \"daemon $$\"; exec sleep 1000') & echo \"ready $$\"; exec sleep 1000\n",
    );
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    let mut pids = running.wait_for_pids("ready");
    pids.extend(running.wait_for_pids("daemon"));
    // Before the next scan (2 s after the start, rounded up to 0.5 s).
    running.signal(Signal::SIGKILL);
    let _ = running.wait();
    assert_all_gone(&pids);
}
