//! Shutdown: signals, timeouts, grandchildren and escaped daemons proven gone by pid, exit codes.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, assert_all_gone, pids_after};

/// A process with a grandchild in its group: the shell prints both pids.
const TREE: &str = "web: sleep 1000 & echo \"ready $$ $!\"; wait\n";

fn teardown_by(signal: Signal, code: i32) {
    let app = App::new(TREE);
    let mut running = app.start(&["--no-timestamp"]);
    let pids = running.wait_for_pids("ready");
    assert_eq!(pids.len(), 2);
    running.signal(signal);
    // Ctrl-C stops with SIGINT, as a terminal would; the rest with SIGTERM. The background
    // sleep ignores SIGINT (POSIX, for a shell's `&`): SIGTERM follows once the shell is gone.
    let sent = if signal == Signal::SIGINT {
        Signal::SIGINT
    } else {
        Signal::SIGTERM
    };
    let done = running.wait();
    done.exits_with(code).shows(&[
        &format!("system | {} received, starting shutdown\n", signal.as_str()),
        &format!("system | sending {} to all processes\n", sent.as_str()),
        &format!("web.1  | terminated by {}\n", sent.as_str()),
    ]);
    assert!(!done.text().contains("SIGKILL"), "{}", done.text());
    assert_all_gone(&pids);
}

#[test]
fn sigint_stops_the_tree_and_exits_130() {
    teardown_by(Signal::SIGINT, 130);
}

#[test]
fn sigterm_stops_the_tree_and_exits_143() {
    teardown_by(Signal::SIGTERM, 143);
}

#[test]
fn sighup_stops_the_tree_and_exits_129() {
    teardown_by(Signal::SIGHUP, 129);
}

#[test]
fn each_process_gets_exactly_one_stop_signal() {
    let app = App::new(
        "web: trap 'echo got-term; exit 0' TERM; trap 'echo got-int; exit 0' INT; echo ready; while :; do sleep 0.05; done\n",
    );
    for (signal, seen, unseen) in [
        (Signal::SIGINT, "got-int", "got-term"),
        (Signal::SIGTERM, "got-term", "got-int"),
    ] {
        let running = app.procmux(&["start", "--no-timestamp"]).spawn();
        running.wait_for("| ready");
        running.signal(signal);
        let done = running.wait();
        let text = done.text();
        assert_eq!(text.matches(seen).count(), 1, "{text}");
        assert_eq!(text.matches(unseen).count(), 0, "{text}");
        assert!(text.contains("web.1  | exited with code 0"), "{text}");
    }
}

/// A stand-in named `postgres` (known: SIGINT, fast shutdown), one with its own
/// `stop_signal`, and a plain one: each gets its signal, and the shutdown line says which.
#[test]
fn a_known_server_and_a_process_s_own_stop_signal_win_over_the_given_one() {
    let trap = "for s in INT TERM QUIT; do trap \"echo got-$s; exit 0\" $s; done; echo \"ready $$\"; while :; do sleep 0.05; done";
    let app = App::new("db: ./postgres -D data\nproxy: ./proxy\nweb: ./web\n");
    for name in ["postgres", "proxy", "web"] {
        let path = support::script_path(&app, name, format!("#!/bin/sh\n{trap}\n"));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    app.write("procmux.toml", "[process.proxy]\nstop_signal = \"QUIT\"\n");
    for (signal, web_gets, line) in [
        (
            Signal::SIGTERM,
            "got-TERM",
            "sending SIGINT to db.1, SIGQUIT to proxy.1, SIGTERM to web.1\n",
        ),
        (
            Signal::SIGINT,
            "got-INT",
            "sending SIGQUIT to proxy.1, SIGINT to 2 others\n",
        ),
    ] {
        let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
        running.wait_for_count("ready ", 3);
        let pids = running.pids_after("ready");
        running.signal(signal);
        let done = running.wait();
        let text = done.text();
        assert!(text.contains(line), "{text}");
        for expected in [
            "db.1    | got-INT",
            "proxy.1 | got-QUIT",
            &format!("web.1   | {web_gets}"),
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert_eq!(text.matches("got-").count(), 3, "{text}");
        assert_all_gone(&pids);
    }
}

#[test]
fn term_ignoring_process_is_killed_after_the_timeout() {
    let app = App::new("stubborn: trap '' TERM; sleep 1000 & echo \"ready $$ $!\"; wait\n");
    let mut running = app.procmux(&["start", "--no-timestamp", "-t", "1"]).spawn();
    running.wait_for("ready ");
    let pids = running.pids_after("ready");
    let start = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "killed before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert_eq!(done.code, Some(143));
    let text = done.text();
    assert!(
        text.contains("system     | sending SIGKILL to 2 processes\n"),
        "{text}"
    );
    assert!(
        text.contains("stubborn.1 | terminated by SIGKILL\n"),
        "{text}"
    );
    assert_all_gone(&pids);
}

#[test]
fn second_interrupt_kills_at_once() {
    let app =
        App::new("stubborn: trap '' TERM INT; echo \"ready $$\"; while :; do sleep 0.05; done\n");
    let mut running = app
        .procmux(&["start", "--no-timestamp", "-t", "60"])
        .spawn();
    running.wait_for("ready ");
    let pids = running.pids_after("ready");
    running.signal(Signal::SIGINT);
    running.wait_for("sending SIGINT");
    let start = Instant::now();
    running.signal(Signal::SIGINT);
    let done = running.wait();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "second Ctrl-C took {:?}",
        start.elapsed()
    );
    assert_eq!(done.code, Some(130));
    assert!(
        done.text().contains("SIGINT received again"),
        "{}",
        done.text()
    );
    assert_all_gone(&pids);
}

/// Starts `app`, whose process prints `daemon PID` and `ready PID PID`: those three pids.
fn started_with_a_daemon(app: &App) -> (support::Running, Vec<nix::unistd::Pid>) {
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("daemon ");
    running.wait_for("ready ");
    let mut pids = running.pids_after("daemon");
    pids.extend(running.pids_after("ready"));
    assert_eq!(pids.len(), 3);
    (running, pids)
}

#[test]
fn daemon_that_left_its_group_is_still_stopped() {
    let app = App::new(
        "web: setsid sh -c 'echo \"daemon $$\"; exec sleep 1000' & sleep 1000 & echo \"ready $$ $!\"; wait\n",
    );
    let (running, pids) = started_with_a_daemon(&app);
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    assert_all_gone(&pids);
}

#[test]
fn a_daemon_whose_name_is_not_utf8_is_still_stopped() {
    // Its command name in /proc/PID/stat is the program's file name, bytes as they are: a
    // scan that wanted UTF-8 did not see it, and it outlived the stack.
    let app = App::new(
        "web: n=\"$(printf 'odd\\377\\376)')\"; cp /bin/sleep \"./$n\"; \
         setsid sh -c 'echo \"daemon $$\"; exec \"$0\" 1000' \"./$n\" & \
         sleep 1000 & echo \"ready $$ $!\"; wait\n",
    );
    let (running, pids) = started_with_a_daemon(&app);
    let start = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    assert_all_gone(&pids);
    assert!(
        !done.text().contains("survived"),
        "stopped only by force, after {:?}: {}",
        start.elapsed(),
        done.text()
    );
}

/// A daemon whose first thread has exited (`pthread_exit` in `main`) while another runs on
/// and forks: `/proc` says `Z` for it, and it was taken for a zombie, so neither it nor the
/// child it forked (listed under its live thread) was found, and both outlived the stack.
#[test]
fn a_daemon_whose_first_thread_exited_is_still_stopped() {
    let app = App::new("web: setsid python3 daemon.py & sleep 1000 & echo \"ready $$ $!\"; wait\n");
    app.write(
        "daemon.py",
        "import ctypes, os, threading, time\n\
         def forks():\n    \
             time.sleep(0.2)\n    \
             child = os.fork()\n    \
             if child == 0:\n        \
                 os.setsid()\n        \
                 os.execvp('sleep', ['sleep', '1000'])\n    \
             print('daemon', os.getpid(), child, flush=True)\n    \
             time.sleep(1000)\n\
         threading.Thread(target=forks).start()\n\
         ctypes.CDLL(None).pthread_exit(None)\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("daemon ");
    running.wait_for("ready ");
    let mut pids = running.pids_after("daemon");
    pids.extend(running.pids_after("ready"));
    assert_eq!(pids.len(), 4, "{}", running.text());
    let start = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    assert!(
        !done.text().contains("survived"),
        "stopped only by force, after {:?}: {}",
        start.elapsed(),
        done.text()
    );
    assert_all_gone(&pids);
}

#[test]
fn orphaned_daemon_of_an_exited_process_is_stopped() {
    // The shell exits at once; its setsid'd child is adopted by procmux (subreaper).
    let app = App::new(
        "web: setsid sh -c 'echo \"daemon $$\"; exec sleep 1000' & sleep 0.3\n\
         other: sleep 1000\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("daemon ");
    let pids = running.pids_after("daemon");
    let done = running.wait();
    assert_eq!(done.code, Some(0));
    assert!(
        done.text().contains("| exited with code 0"),
        "{}",
        done.text()
    );
    assert_all_gone(&pids);
}

#[test]
fn first_exit_decides_the_exit_code() {
    let app = App::new("failing: sleep 0.2; exit 3\nserver: echo \"ready $$\"; exec sleep 1000\n");
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("ready ");
    let pids = running.pids_after("ready");
    let done = running.wait();
    assert_eq!(done.code, Some(3));
    let text = done.text();
    assert!(
        text.contains(
            "failing.1 | exited with code 3\nsystem    | sending SIGTERM to all processes\n"
        ),
        "{text}"
    );
    assert!(text.contains("server.1  | terminated by SIGTERM"), "{text}");
    assert_all_gone(&pids);
}

#[test]
fn death_by_signal_exits_128_plus_n() {
    let app = App::new("crash: sleep 0.1; kill -KILL $$\nserver: sleep 1000\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(137));
    assert!(
        done.text().contains("crash.1  | terminated by SIGKILL"),
        "{}",
        done.text()
    );
}

#[test]
fn usr1_is_forwarded_to_every_process() {
    let app = App::new(
        "a: trap 'echo a-got-usr1' USR1; echo ready; while :; do sleep 0.05; done\n\
         b: trap 'echo b-got-usr1' USR1; echo ready; while :; do sleep 0.05; done\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for_count("| ready", 2);
    running.signal(Signal::SIGUSR1);
    running.wait_for("a-got-usr1");
    running.wait_for("b-got-usr1");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().code, Some(143));
}

#[test]
fn output_written_during_shutdown_is_drained() {
    let app = App::new(
        "slow: trap 'i=0; while [ $i -lt 500 ]; do echo bye-$i; i=$((i+1)); done; exit 0' TERM; \
         echo ready; while :; do sleep 0.05; done\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("| ready");
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    let text = done.text();
    assert!(
        text.contains("slow.1 | bye-0\n") && text.contains("slow.1 | bye-499\n"),
        "{text}"
    );
    let last_bye = text.rfind("bye-499").unwrap();
    assert!(
        text[last_bye..].contains("slow.1 | exited with code 0"),
        "{text}"
    );
}

/// `procmux start | head -n 5`: the reader goes away; procmux stops everything and exits 0.
#[test]
fn closed_stdout_stops_everything() {
    let app = App::new("chatty: sleep 1000 & echo \"gc $!\"; exec yes\n");
    let (mut child, stdout) = app.procmux(&["start", "--no-timestamp"]).spawn_raw();
    // Read five lines, then close the pipe (the reader is dropped with the thread's closure).
    let pids = support::within_deadline(&mut child, move || {
        let mut reader = BufReader::new(stdout);
        let mut pids = Vec::new();
        let mut line = String::new();
        for _ in 0..5 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            pids.extend(pids_after(&line, "gc"));
        }
        pids
    });
    let status = support::wait_raw(&mut child);
    assert_eq!(status.code(), Some(0));
    assert_all_gone(&pids);
}

#[test]
fn shell_pipeline_into_head_leaves_nothing_running() {
    let app = App::new("chatty: sleep 1000 & echo \"gc $!\"; exec yes\n");
    let script = format!(
        "'{}' start --no-timestamp | head -n 5",
        env!("CARGO_BIN_EXE_procmux")
    );
    let output = std::process::Command::new("timeout")
        .args(["20", "sh", "-c", &script])
        .current_dir(app.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert_eq!(
        output.status.code(),
        Some(0),
        "pipeline timed out or failed"
    );
    assert_all_gone(&pids_after(&text, "gc"));
}

#[test]
fn signals_ignored_by_procmux_reach_children_at_their_default() {
    // A script's `procmux start &` or `nohup` leaves signals ignored; children must not inherit that.
    let app = App::new("web: echo \"ready $$\"; exec sleep 1000\nother: sleep 1000\n");
    let mut running = app
        .shell("trap '' QUIT HUP; exec \"$PROCMUX\" start --no-timestamp")
        .spawn();
    running.wait_for("ready ");
    let pids = running.pids_after("ready");
    nix::sys::signal::kill(pids[0], Signal::SIGQUIT).unwrap();
    let done = running.wait();
    assert!(
        done.text().contains("web.1   | terminated by SIGQUIT"),
        "{}",
        done.text()
    );
    assert_eq!(done.code, Some(128 + 3));
}

/// procmux killed with SIGKILL cannot clean up itself: the watchdog (and PDEATHSIG on direct
/// children) must, within a second.
#[test]
fn kill_9_of_procmux_leaves_nothing_alive() {
    let app = App::new(
        "web: sleep 1000 & echo \"ready $$ $!\"; wait\n\
         worker: sh -c 'sleep 1000 & echo \"ready $$ $!\"; wait' & wait\n",
    );
    let mut running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for_count("ready ", 2);
    let pids = running.pids_after("ready");
    assert_eq!(pids.len(), 4);
    running.signal(Signal::SIGKILL);
    let start = Instant::now();
    let _ = running.wait();
    support::assert_all_gone(&pids);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn the_watchdog_leaves_after_a_clean_exit() {
    let app = App::new("web: echo hi\n");
    let done = app.procmux(&["start"]).run();
    assert_eq!(done.code, Some(0));
    // No stray `procmux __watchdog` from this run is left, right away: find watchdogs whose
    // cwd is ours.
    let ours = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(e.path().join("cwd")).ok();
            cmdline.windows(10).any(|w| w == b"__watchdog") && cwd.as_deref() == Some(app.path())
        })
        .count();
    assert_eq!(ours, 0, "a watchdog outlived procmux");
}

/// A daemon that detached into its own session is found within a second of starting and
/// handed to the watchdog, so it dies too when procmux is SIGKILLed.
#[test]
fn kill_9_of_procmux_also_stops_a_detached_daemon() {
    let app = App::new(DETACHING);
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    kill_9_once_the_daemon_is_seen(running);
}

/// A server and a daemon that detaches into its own session.
const DETACHING: &str = "web: setsid sh -c 'echo \"daemon $$\"; exec sleep 1000' & echo \"ready $$\"; exec sleep 1000\n";

/// SIGKILLs `running` (a stack of [`DETACHING`]) once it has had time to hand the daemon to
/// the watchdog, and checks that the server and the daemon are gone; procmux's end.
fn kill_9_once_the_daemon_is_seen(mut running: support::Running) -> support::Finished {
    running.wait_for("daemon ");
    running.wait_for("ready ");
    let mut pids = running.pids_after("daemon");
    pids.extend(running.pids_after("ready"));
    // procmux looks for detached descendants 0.5 s after a start, rounded up to a 0.5 s grid.
    std::thread::sleep(Duration::from_millis(1300));
    running.signal(Signal::SIGKILL);
    let done = running.wait();
    assert_all_gone(&pids);
    done
}

/// SIGCHLD ignored by whatever started procmux (kept across `exec`): the watchdog's first
/// process is then reaped by the kernel, and waiting for it fails. The watchdog must still
/// guard the stack: a detached daemon dies when procmux is SIGKILLed.
#[test]
fn the_watchdog_guards_when_sigchld_was_ignored() {
    let app = App::new(DETACHING);
    let running = app
        .shell(
            "exec python3 -c 'import os, signal; signal.signal(signal.SIGCHLD, signal.SIG_IGN); \
             os.execv(os.environ[\"PROCMUX\"], [\"procmux\", \"start\", \"--no-timestamp\"])'",
        )
        .spawn();
    let done = kill_9_once_the_daemon_is_seen(running);
    assert!(!done.stderr.contains("watchdog"), "{}", done.stderr);
}

/// procmux as its PID namespace's init (a container's entry point with no init of its own):
/// the kernel kills the whole namespace when it dies, so no watchdog is started. One would be
/// orphaned to procmux itself, taken for a leftover at every stop, and waited out (it ignores
/// SIGTERM) until the stop timeout.
#[test]
#[ignore = "needs root for unshare -p (a PID namespace): run .ci/run"]
fn procmux_as_init_stops_at_once() {
    let app = App::new("web: exec sleep 0.2\n");
    let start = Instant::now();
    let done = app
        .shell("exec unshare --fork --pid --mount-proc sh -c 'exec \"$PROCMUX\" start --no-timestamp -t 10'")
        .run();
    assert!(
        done.text().contains("| exited with code 0"),
        "{}",
        done.text()
    );
    assert!(!done.text().contains("SIGKILL"), "{}", done.text());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}: {}",
        start.elapsed(),
        done.text()
    );
}
