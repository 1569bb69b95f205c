//! Talking to a running stack from another terminal: two real procmux processes, a server
//! (`start`) and clients (`status`, `restart`, `stop`, `logs`), with real children.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, Running, assert_all_gone};

/// A Python another user may run (pyenv's shims live in root's home).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

const STACK: &str = "web: echo \"pid $$\"; exec sleep 1000\n\
                     worker: echo \"pid $$\"; exec sleep 1000\n\
                     clock: while :; do echo tick; sleep 0.2; done\n";

/// Runs a client command in the app directory to its end (bounded): (code, stdout, stderr).
fn client(app: &App, args: &[&str]) -> (i32, String, String) {
    let done = app.procmux(args).run();
    (done.code.unwrap_or(-1), done.text(), done.stderr)
}

/// The status table's rows: name → (pid, state).
fn status(app: &App) -> Vec<(String, String, String)> {
    let (code, text, stderr) = client(app, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    text.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split("  ").filter(|c| !c.is_empty()).collect();
            (
                cells[0].trim().to_owned(),
                cells[1].trim().to_owned(),
                cells[2].trim().to_owned(),
            )
        })
        .collect()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < support::DEADLINE, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn started(app: &App) -> Running {
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for_count("| pid ", 2);
    running
}

#[test]
fn status_in_text_and_json() {
    let app = App::new(STACK);
    let mut running = started(&app);
    let pids = running.pids_after("pid");
    let rows = status(&app);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["web.1", "worker.1", "clock.1"]);
    assert!(rows.iter().all(|r| r.2 == "running"), "{rows:?}");
    assert!(pids.iter().any(|p| p.to_string() == rows[0].1));

    let (code, text, _) = client(&app, &["ps", "--json"]);
    assert_eq!(code, 0);
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[1]["name"], "worker.1");
    assert_eq!(objects[1]["state"], "running");
    assert_eq!(objects[1]["port"], 5100);
    assert_eq!(objects[1]["stop_signal"], "SIGTERM");
    assert_eq!(objects[1]["interrupt_signal"], "SIGINT");
    assert!(objects[1]["pid"].as_i64().is_some());
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
    assert_all_gone(&pids);
}

/// A restart changes only that instance's pid; the rest keeps running, the stack too, and
/// its exit code is what stops it later, not the restart.
#[test]
fn restart_one_instance_and_stop_another() {
    let app = App::new(STACK);
    let running = started(&app);
    let before = status(&app);
    let (code, text, stderr) = client(&app, &["restart", "web"]);
    assert_eq!((code, text.as_str()), (0, "restarting web.1\n"), "{stderr}");
    running.wait_for_count("| pid ", 3);
    wait_until("web.1 running again", || status(&app)[0].2 == "running");
    let after = status(&app);
    assert_ne!(after[0].1, before[0].1, "web.1 has a new pid");
    assert_eq!(after[1], before[1], "worker.1 untouched");
    assert!(running.text().contains("web.1    | terminated by SIGTERM"));
    assert!(!running.text().contains("sending SIGTERM to all"));

    // Stop the worker: it stays stopped, the rest runs; a restart starts it again.
    let (code, text, _) = client(&app, &["stop", "worker"]);
    assert_eq!((code, text.as_str()), (0, "stopping worker.1\n"));
    wait_until("worker.1 stopped", || status(&app)[1].2 == "stopped");
    assert_eq!(status(&app)[0].2, "running");
    let (code, _, _) = client(&app, &["restart", "work*"]);
    assert_eq!(code, 0);
    wait_until("worker.1 running again", || status(&app)[1].2 == "running");

    // An unknown name is the user's mistake (exit 2, as `wait` and `start` say of one) with
    // every command that takes names, and changes nothing.
    for command in [
        &["restart", "nope"][..],
        &["stop", "nope"],
        &["logs", "nope"],
        &["logs", "-n", "5", "nope"],
        &["attach", "nope"],
        &["wait", "nope"],
    ] {
        let (code, _, stderr) = client(&app, command);
        assert_eq!(code, 2, "{command:?}: {stderr}");
        assert!(
            stderr.contains("no process named \"nope\""),
            "{command:?}: {stderr}"
        );
    }
    assert_eq!(status(&app)[1].2, "running");

    // procmux stop: the whole stack, as SIGTERM would.
    let (code, text, _) = client(&app, &["stop"]);
    assert_eq!((code, text.as_str()), (0, "stopping the stack\n"));
    let done = running.wait();
    done.exits_with(143)
        .shows(&["system   | stop asked for (procmux stop), starting shutdown"]);
}

/// `logs -f NAME` follows one process's lines (after the recent ones), not the others'.
#[test]
fn logs_follow_a_subset() {
    let app = App::new(STACK);
    let running = started(&app);
    running.wait_for("clock.1  | tick");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_procmux"))
        .args(["logs", "-f", "clock"])
        .current_dir(app.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let lines = support::within_deadline(&mut follower, move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(8)
            .collect::<Vec<String>>()
    });
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(
        lines.iter().any(|l| l.contains("clock.1  | tick")),
        "{lines:?}"
    );
    assert!(lines.iter().all(|l| l.starts_with("clock.1")), "{lines:?}");

    let (code, text, _) = client(&app, &["logs", "web"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("web.1    | started with pid"), "{text}");
    assert!(!text.contains("clock"), "{text}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// A second `start` of the same Procfile is refused, naming the running one's pid; with
/// nothing running, a client says so.
#[test]
fn one_stack_per_procfile_and_a_clear_error_without_one() {
    let app = App::new(STACK);
    let (code, _, stderr) = client(&app, &["status"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "procmux: error: no procmux is running for Procfile\n"
    );
    let running = started(&app);
    let second = app.procmux(&["start"]).run();
    assert_eq!(second.code, Some(2));
    assert_eq!(
        second.stderr,
        format!(
            "procmux: error: procmux is already running Procfile (pid {})\n",
            running.pid()
        )
    );
    assert_eq!(status(&app).len(), 3, "the first one is untouched");
    // --control off: no channel, so a second stack may run (a different port base).
    let third = app
        .procmux(&[
            "start",
            "--control",
            "off",
            "-p",
            "6000",
            "-m",
            "clock=0,worker=0",
        ])
        .spawn();
    third.wait_for("pid ");
    third.signal(Signal::SIGTERM);
    third.wait().exits_with(143);
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// The socket is abstract (`@procmux/…` in /proc/net/unix: no file anywhere), and the server
/// refuses a client of another user (checked with SO_PEERCRED), who gets no answer.
#[test]
fn the_channel_is_abstract_and_same_user_only() {
    let app = App::new(STACK);
    let running = started(&app);
    let name = support::socket::abstract_name_of(running.pid())
        .expect("procmux listens on an abstract socket");
    assert!(name.starts_with("@procmux/"), "{name}");
    let before: Vec<_> = std::fs::read_dir(app.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(!before.iter().any(|f| f.to_string_lossy().contains("sock")));
    if nix::unistd::geteuid().is_root() && Command::new("setpriv").arg("--help").output().is_ok() {
        let script = format!(
            "import socket\n\
             s = socket.socket(socket.AF_UNIX)\n\
             s.settimeout(5)\n\
             try:\n\
             \x20   s.connect('\\0{}')\n\
             \x20   s.sendall(b'status\\n')\n\
             \x20   answer = s.recv(4096)\n\
             except (ConnectionResetError, BrokenPipeError):\n\
             \x20   answer = b''\n\
             print('refused' if answer == b'' else repr(answer))\n",
            &name[1..]
        );
        let output = Command::new("timeout")
            .args([
                "10",
                "setpriv",
                "--reuid",
                "nobody",
                "--regid",
                "nogroup",
                "--clear-groups",
            ])
            .args([SYSTEM_PYTHON, "-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "refused\n",
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// The client refuses a server of another user that took the name first.
#[test]
fn a_server_of_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a server as another user");
        return;
    }
    let app = App::new(STACK);
    // The name procmux computes: FNV-1a of uid, mount namespace, root and Procfile paths.
    let script = "import os, socket, sys, time\n\
        def fnv(data):\n\
        \x20   h = 0xcbf29ce484222325\n\
        \x20   for b in data:\n\
        \x20       h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff\n\
        \x20   return h\n\
        root = os.path.realpath('.')\n\
        key = (0).to_bytes(4, 'little') + os.readlink('/proc/self/ns/mnt').encode() + b'\\0' + root.encode() + b'\\0' + os.path.realpath('Procfile').encode() + b'\\0'\n\
        name = 'procmux/%016x' % fnv(key)\n\
        s = socket.socket(socket.AF_UNIX)\n\
        s.bind('\\0' + name)\n\
        s.listen()\n\
        print('listening', flush=True)\n\
        time.sleep(10)\n";
    // As another user (the app directory is root's alone: the script comes inline).
    let mut squatter = Command::new("timeout")
        .args([
            "15",
            "setpriv",
            "--reuid",
            "nobody",
            "--regid",
            "nogroup",
            "--clear-groups",
        ])
        .args([SYSTEM_PYTHON, "-c", script])
        .current_dir(app.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    let stdout = squatter.stdout.take().unwrap();
    let _ = BufReader::new(stdout).read_line(&mut ready);
    assert_eq!(ready, "listening\n");
    let (code, _, stderr) = client(&app, &["status"]);
    // `start` says the same truth: the name is another user's, not a running procmux of ours.
    let (start_code, _, start_stderr) = client(&app, &["start"]);
    let _ = squatter.kill();
    let _ = squatter.wait();
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the control socket is held by uid 65534"),
        "{stderr}"
    );
    assert_eq!(start_code, 2, "{start_stderr}");
    assert!(
        start_stderr.contains("is held by another user (uid 65534, pid ")
            && !start_stderr.contains("already running"),
        "{start_stderr}"
    );
}

/// `procmux attach` drives a real `breakpoint()` session through a terminal: `p x` shows the
/// value, `c` continues, and the session ends when the program does; what the debugger
/// printed is in the main stream too.
#[test]
fn attach_to_a_debugger() {
    let app = App::new("dbg: python3 debugged.py\nother: exec sleep 1000\n");
    app.write(
        "debugged.py",
        "x = 42\nprint('waiting', flush=True)\nbreakpoint()\nprint('after', x)\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "always", "--may-exit", "dbg"]);
    running.wait_for("(Pdb)");
    let result = support::run_pty_driver(
        &app,
        r#"
pid, master = procmux_on_pty("attach", "dbg")
if not wait_for(master, b"Ctrl-] detaches"):
    fail()
os.write(master, b"p x\r")
if not wait_for(master, b"42"):
    fail()
os.write(master, b"c\r")
if not wait_for(master, b"after 42"):
    fail()
if not wait_for(master, b"dbg.1 exited with code 0"):
    fail()
os.waitpid(pid, 0)
"#,
    );
    result.unwrap();
    let text = running.wait_for("| after 42");
    assert!(text.contains("dbg.1   | 42"), "{text}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Prints `got LINE` for each line of its stdin.
const ECHO: &str = "import sys\nfor line in sys.stdin:\n    print('got', line.strip())\n";

/// `attach` to an instance on pipes sends lines to its stdin.
#[test]
fn attach_sends_lines_to_an_instance_on_pipes() {
    let app = App::new("echo: python3 -u echo.py\n");
    app.write("echo.py", ECHO);
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("started with pid");
    let mut client = Command::new(env!("CARGO_BIN_EXE_procmux"))
        .args(["attach", "echo"])
        .current_dir(app.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"hello\n").unwrap();
    let stdout = client.stdout.take().unwrap();
    let line = support::within_deadline(&mut client, move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    assert_eq!(line, "got hello\n");
    drop(stdin);
    let _ = client.kill();
    let _ = client.wait();
    running.wait_for("echo.1 | got hello");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `--stdin NAME`: what is typed into procmux's own stdin goes to that instance.
#[test]
fn stdin_goes_to_the_named_instance() {
    let app = App::new("echo: python3 -u echo.py\nother: exec sleep 1000\n");
    app.write("echo.py", ECHO);
    let running = app
        .procmux(&[
            "start",
            "--no-timestamp",
            "--pty",
            "never",
            "--stdin",
            "echo",
        ])
        .stdin_bytes(b"hello\nworld\n")
        .spawn();
    running.wait_for("echo.1  | got world");
    assert!(running.text().contains("echo.1  | got hello"));
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// An instance on a pty that sits at a prompt, with procmux's stdin a terminal: one system
/// line says how to reach it, when the kernel says it reads its terminal — Python's
/// `input()` (`read`), or readline's (`select`, as pdb's) — never for a process that only
/// printed something without a newline and sleeps (a spinner, a watcher).
#[test]
fn a_prompt_nobody_can_answer_gets_a_hint() {
    let app = App::new(
        "ask: python3 -c 'input(\"name? \")'\n\
         debug: python3 -c 'import readline; input(\"(Pdb) \")'\n\
         spin: printf 'building... '; exec sleep 1000\n",
    );
    let result = support::run_pty_driver(
        &app,
        r#"
pid, master = procmux_on_pty("start", "--no-timestamp", "--color", "never")
ok = wait_for(master, b"ask.1 is waiting for input: run 'procmux attach ask' in another terminal")
ok = ok and wait_for(master, b"debug.1 is waiting for input: run 'procmux attach debug' in another terminal")
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
if not ok or seen.count(b"waiting for input") != 2 or b"spin.1 is waiting" in seen:
    fail()
"#,
    );
    result.unwrap();
}

/// KiB of `pid`'s code resident: its file mappings that can be run (its own, libc's).
fn resident_code_kib(pid: nix::unistd::Pid) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut code = false;
    let mut total = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Rss:", kib, ..] if code => total += kib.parse::<u64>().unwrap(),
            [range, perms, _, _, _, path, ..] if range.contains('-') => {
                code = perms.contains('x') && path.starts_with('/');
            }
            _ => {}
        }
    }
    total
}

/// The code that requests ran (parsing, the status table, the tail's reading) is let go of
/// once the channel has been quiet for 10 s: a stack queried once does not keep it resident
/// all day, and it serves the next request as before.
#[test]
fn the_code_requests_ran_is_let_go_of_once_the_channel_is_quiet() {
    // Quiet children: the loop itself runs next to no code meanwhile.
    let app = App::new(
        "web: echo \"pid $$\"; exec sleep 1000\nworker: echo \"pid $$\"; exec sleep 1000\n",
    );
    let running = started(&app);
    for args in [&["status"][..], &["logs", "-n", "5"], &["ps", "--json"]] {
        let (code, _, stderr) = client(&app, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let served = resident_code_kib(running.pid());
    let start = Instant::now();
    loop {
        let now = resident_code_kib(running.pid());
        // In a debug build code is spread thin, so what the quiet loop touches again comes
        // back in many 64 KiB blocks: a quarter to a half of it was seen to go, none at all
        // without the release. An eighth leaves room for a loaded machine.
        if now * 8 < served * 7 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{now} KiB of code resident, {served} KiB right after the requests"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(status(&app).len(), 2);
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}
