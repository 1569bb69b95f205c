//! The control channel under adversity: hostile patterns, clients that never read or never
//! send, large and non-UTF-8 tails, a stdout nobody reads, clients killed mid-session. Real
//! procmux servers, real clients, real children; every wait bounded.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use support::{App, Running, assert_all_gone};

/// Runs a client command in the app directory to its end (bounded): (code, stdout, stderr).
fn client(app: &App, args: &[&str]) -> (i32, Vec<u8>, String) {
    let done = app.procmux(args).run();
    (done.code.unwrap_or(-1), done.stdout, done.stderr)
}

/// A raw connection to the stack's socket.
fn connect(running: &Running) -> UnixStream {
    let address = support::platform::control_address(running.pid()).expect("a control socket");
    let stream = UnixStream::connect_addr(&address).unwrap();
    stream.set_read_timeout(Some(support::DEADLINE)).unwrap();
    stream
}

fn rss_kib(pid: Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `***…x` (a backtracking matcher takes 2^N steps) is answered at once, in `logs` and in
/// `restart`, and the stack goes on.
#[test]
fn a_pathological_glob_is_answered_at_once() {
    let app = App::new(
        "background-worker: exec sleep 1000\nclock: while :; do echo tick; sleep 0.1; done\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("| tick");
    let stars = format!("{}x", "*".repeat(1000));
    for verb in ["logs", "restart"] {
        let started = Instant::now();
        let (code, _, stderr) = client(&app, &[verb, &stars]);
        // A name that matches nothing: the user's mistake.
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("no process named"), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let (code, text, _) = client(&app, &["status"]);
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&text).contains("background-worker.1"));
    running.signal(Signal::SIGINT);
    running.wait().exits_with(130);
}

/// 100 `logs -f` clients that never read while 30 MB go by: procmux stays small, refuses
/// followers past its cap, and `status` still answers. A follower that reads again gets one
/// note of what it missed, then the live stream.
#[test]
fn followers_that_never_read_cost_a_bounded_amount() {
    let app = App::new("burst: python3 burst.py\n");
    app.write(
        "burst.py",
        "import os, sys, time\n\
         while not os.path.exists('start'): time.sleep(0.05)\n\
         line = 'a line of output that keeps coming' * 3 + '\\n'\n\
         for _ in range(300000): sys.stdout.write(line)\n\
         print('burst done', flush=True)\n\
         while not os.path.exists('go'): time.sleep(0.05)\n\
         print('END', flush=True)\n\
         time.sleep(1000)\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never", "--tail-kib", "1024"]);
    running.wait_for("started with pid");
    let before = rss_kib(running.pid());
    let mut followers = Vec::new();
    let mut refused = 0;
    for _ in 0..100 {
        let mut stream = connect(&running);
        stream.write_all(b"follow\n").unwrap();
        let mut header = [0u8; 3];
        stream.read_exact(&mut header).unwrap();
        if &header == b"ok\n" {
            followers.push(stream);
        } else {
            refused += 1;
        }
    }
    assert!(refused > 0 && followers.len() >= 32, "{refused}");
    app.write("start", "");
    running.wait_for("burst done");
    let (code, _, stderr) = client(&app, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    let grown = rss_kib(running.pid()).saturating_sub(before);
    assert!(grown < 16 * 1024, "procmux grew by {grown} KiB");
    let mut stream = followers.pop().unwrap();
    drop(followers);
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = Vec::new();
    let mut went = false;
    while !seen.ends_with(b"burst.1 | END\n") {
        let n = stream.read(&mut buf).unwrap_or_else(|e| {
            panic!(
                "{e} after {} bytes: {:?}",
                seen.len(),
                &seen[seen.len().saturating_sub(300)..]
            )
        });
        assert!(n > 0, "closed");
        seen.extend_from_slice(&buf[..n]);
        if !went && seen.windows(13).any(|w| w == b"bytes skipped") {
            app.write("go", "");
            went = true;
        }
    }
    let notes = seen.windows(13).filter(|w| w == b"bytes skipped").count();
    assert_eq!(notes, 1);
    assert!(seen.len() < 4 << 20, "{}", seen.len());
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// 100 connections that connect and never send: `status`, `restart` and `stop` still get
/// through (the silent ones are closed after their request timeout, and evicted at the cap).
#[test]
fn silent_connections_never_lock_a_user_out() {
    let app = App::new("web: exec sleep 1000\n");
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("started with pid");
    let silent: Vec<UnixStream> = (0..100).map(|_| connect(&running)).collect();
    let (code, text, stderr) = client(&app, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(String::from_utf8_lossy(&text).contains("web.1"));
    // Past the request timeout, every silent one was closed by procmux.
    std::thread::sleep(Duration::from_millis(2500));
    let mut closed = 0;
    for mut stream in silent {
        let mut byte = [0u8; 1];
        if matches!(stream.read(&mut byte), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 100);
    let (code, text, _) = client(&app, &["stop"]);
    assert_eq!((code, text.as_slice()), (0, &b"stopping the stack\n"[..]));
    running.wait().exits_with(143);
}

/// An 8 MiB tail is streamed whole by `logs` (never dropped for its size), and a 16 KiB one
/// after a burst holds the newest lines, up to its size.
#[test]
fn logs_of_a_large_tail_and_of_a_small_one_after_a_burst() {
    let app = App::new(
        "burst: python3 -c \"import sys; [print('line %06d' % i + 'x' * 80) for i in range(70000)]; sys.stdout.flush()\"; echo done; exec sleep 1000\n",
    );
    for (kib, least) in [(8192usize, 6_000_000usize), (16, 8 * 1024)] {
        let kib_text = kib.to_string();
        let running = app.start(&["--no-timestamp", "--pty", "never", "--tail-kib", &kib_text]);
        running.wait_for("| done");
        let (code, text, stderr) = client(&app, &["logs", "burst"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            text.len() >= least && text.len() <= kib * 1024,
            "{}",
            text.len()
        );
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.ends_with("burst.1 | done\n"),
            "{}",
            &text[text.len() - 200..]
        );
        assert!(text.contains("| line 069999x"));
        // Whole lines only, in order.
        let numbers: Vec<u32> = text
            .lines()
            .filter_map(|l| l.split("| line ").nth(1))
            .map(|l| l[..6].parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(
            text.lines().all(|l| l.starts_with("burst.1 | ")),
            "cut lines"
        );
        running.signal(Signal::SIGTERM);
        running.wait().exits_with(143);
    }
}

/// `logs` and `logs -f` carry exactly the bytes of the main stream, not UTF-8 or not.
#[test]
fn logs_are_byte_exact() {
    let app = App::new(
        "latin: printf 'caf\\351\\n'; while [ ! -e go ]; do sleep 0.05; done; printf 'na\\357ve\\n'; exec sleep 1000\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("started with pid");
    let started = Instant::now();
    while !running.text().contains("caf") {
        assert!(started.elapsed() < support::DEADLINE);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, text, _) = client(&app, &["logs", "latin"]);
    assert_eq!(code, 0);
    assert!(text.ends_with(b"latin.1 | caf\xe9\n"), "{text:?}");
    let follower = app.procmux(&["logs", "-f", "latin"]).spawn();
    std::thread::sleep(Duration::from_millis(300));
    app.write("go", "");
    let started = Instant::now();
    while !follower.text().contains("ve") {
        assert!(
            started.elapsed() < support::DEADLINE,
            "{:?}",
            follower.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    follower.signal(Signal::SIGTERM);
    let done = follower.wait();
    // The recent lines first, then the new one.
    assert!(
        done.stdout
            .ends_with(b"latin.1 | caf\xe9\nlatin.1 | na\xefve\n"),
        "{:?}",
        done.stdout
    );
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// procmux's stdout is a FIFO that nobody reads: `status` and `stop` still answer, SIGTERM
/// starts the shutdown at once, every child is gone by pid, and procmux exits once the stop
/// timeout has passed again, saying what it could not deliver.
#[test]
fn a_blocked_stdout_blocks_neither_signals_nor_the_control_channel() {
    let app =
        App::new("spam: echo \"pid $$\"; exec yes spam\nweb: echo \"pid $$\"; exec sleep 1000\n");
    let (holder, out) = fifo_nobody_reads(&app);
    let running = app
        .procmux(&["start", "--no-timestamp", "--pty", "never", "-t", "1"])
        .stdout_to(out)
        .spawn();
    // Wait until the FIFO is full and procmux's queue too.
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let (code, text, stderr) = client(&app, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(String::from_utf8_lossy(&text).contains("spam.1"));
    assert!(started.elapsed() < Duration::from_secs(2));
    let pids: Vec<Pid> = procmux_children(running.pid());
    assert_eq!(pids.len(), 2, "{pids:?}");
    let started = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    // Stop timeout (1 s) to stop, the same again for the output, and some slack.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(
        done.stderr.contains("bytes of output were not delivered"),
        "{}",
        done.stderr
    );
    assert_all_gone(&pids);
    drop(holder);
}

/// A FIFO `out` in the app directory, held open for reading (so writes block rather than
/// fail) and never read: (the holder, a writer for procmux's stdout).
fn fifo_nobody_reads(app: &App) -> (std::fs::File, std::fs::File) {
    let fifo = app.path().join("out");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let out = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    (holder, out)
}

/// One read of `file` (a FIFO), waiting for bytes at most until `deadline`: 0 when none came
/// (a FIFO held open for writing by the test itself never says end of file).
fn read_before(file: &mut std::fs::File, buf: &mut [u8], deadline: Instant) -> usize {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap();
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return 0,
            Ok(_) => return file.read(buf).unwrap_or(0),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// The children of `pid`.
fn procmux_children(pid: Pid) -> Vec<Pid> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    text.split_whitespace()
        .map(|p| Pid::from_raw(p.parse().unwrap()))
        .filter(|p| {
            // Not the watchdog (procmux itself, run as a helper).
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            !cmdline.windows(8).any(|w| w == b"watchdog")
        })
        .collect()
}

/// `status --json`: typed fields, states from a fixed set of words.
#[test]
fn status_json_has_typed_states() {
    let app = App::new(
        "web: exec python3 -c \"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print('port', s.getsockname()[1], flush=True); time.sleep(1000)\"\nonce: exit 3\n",
    );
    let running = app.start(&["--no-timestamp", "--pty", "never", "--may-exit", "once"]);
    let text = running.wait_for("| port ");
    let port: u16 = text
        .lines()
        .find_map(|l| l.split("| port ").nth(1))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    running.wait_for("once.1 | exited with code 3");
    let (code, text, _) = client(&app, &["status", "--json"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["name"], "web.1");
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[0]["ready"], true);
    assert_eq!(rows[0]["port"], 5000);
    assert_eq!(rows[0]["listening"], serde_json::json!([port]));
    assert_eq!(rows[1]["state"], "exited");
    assert_eq!(rows[1]["exit_code"], 3);
    assert_eq!(rows[1]["signal"], serde_json::Value::Null);
    assert_eq!(rows[1]["ready"], false);
    let (_, table, _) = client(&app, &["status"]);
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains(&format!("5000  {port}")), "{table}");
    assert!(table.contains("exited (3)"), "{table}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// The client commands work from a subdirectory of the project, and `logs | cat` has no
/// escape sequences while `--color always` keeps them.
#[test]
fn clients_find_the_project_from_a_subdirectory_and_strip_colour_in_a_pipe() {
    let app = App::new("web: echo hello; exec sleep 1000\n");
    std::fs::create_dir_all(app.path().join("src/deep")).unwrap();
    let running = app.start(&["--no-timestamp", "--pty", "never", "--color", "always"]);
    running.wait_for("hello");
    let procmux = env!("CARGO_BIN_EXE_procmux");
    let run = |args: &[&str]| {
        let output = Command::new("timeout")
            .arg("20")
            .arg(procmux)
            .args(args)
            .current_dir(app.path().join("src/deep"))
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (output.status.code(), output.stdout, output.stderr)
    };
    let (code, text, stderr) = run(&["status"]);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&stderr));
    assert!(String::from_utf8_lossy(&text).contains("web.1"));
    let (_, plain, _) = run(&["logs"]);
    assert!(!plain.contains(&0x1b), "{plain:?}");
    assert!(String::from_utf8_lossy(&plain).contains("web.1  | hello"));
    let (_, coloured, _) = run(&["logs", "--color", "always"]);
    assert!(coloured.contains(&0x1b), "{coloured:?}");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Attaching to an instance that is not running answers at once, with its state.
#[test]
fn attach_to_an_instance_that_is_not_running() {
    let app = App::new("once: exit 0\nweb: exec sleep 1000\n");
    let running = app.start(&["--no-timestamp", "--pty", "never", "--may-exit", "once"]);
    running.wait_for("once.1 | exited with code 0");
    let (code, _, stderr) = client(&app, &["attach", "once"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("once.1 is not running: it is exited (exit code 0)"),
        "{stderr}"
    );
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `attach` killed by SIGTERM or SIGHUP leaves its terminal as it found it; its output keeps
/// `\n` as a new line (output processing stays on, even when the instance's own pty is raw);
/// Ctrl-] detaches from an instance on pipes too, and is not sent to it.
#[test]
fn attach_restores_the_terminal_on_every_way_out() {
    let app = App::new("raw: exec python3 raw.py\npiped: exec python3 -u echo.py\n");
    app.write(
        "raw.py",
        "import sys, tty, time\ntty.setraw(1)\nwhile True:\n    sys.stdout.write('one\\ntwo\\n')\n    sys.stdout.flush()\n    time.sleep(0.2)\n",
    );
    app.write(
        "echo.py",
        "import sys\nfor line in sys.stdin:\n    print('got', repr(line))\n",
    );
    // The flag would beat the file: without it, `auto` gives pipes (stdout is the harness's).
    app.write("procmux.toml", "[process.raw]\npty = true\n");
    let running = app.start(&["--no-timestamp"]);
    running.wait_for_count("started with pid", 2);
    let result = support::run_pty_driver(
        &app,
        r#"
def attach_on_new_terminal(name):
    """procmux attach NAME on a fresh pty, kept open here: (pid, master, slave, termios)."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    return procmux_on_terminal(slave, "attach", name), master, slave, before

for how in (signal.SIGTERM, signal.SIGHUP, None):
    seen = b""
    pid, master, slave, before = attach_on_new_terminal("raw")
    if not wait_for(master, b"Ctrl-] detaches"):
        fail()
    if not wait_for(master, b"one\r\ntwo\r\n"):
        fail()
    if termios.tcgetattr(slave) == before:
        sys.stderr.write("not raw while attached")
        sys.exit(1)
    if how is None:
        os.write(master, b"\x1d")
    else:
        os.kill(pid, how)
    _, status = os.waitpid(pid, 0)
    after = termios.tcgetattr(slave)
    if after != before:
        sys.stderr.write("termios changed after %r: %r -> %r" % (how, before, after))
        sys.exit(1)
    os.close(master)
    os.close(slave)

seen = b""
pid, master, slave, before = attach_on_new_terminal("piped")
if not wait_for(master, b"Ctrl-] detaches"):
    fail()
os.write(master, b"\x1d\n")
if not wait_for(master, b"detached from piped"):
    fail()
_, status = os.waitpid(pid, 0)
if status != 0:
    sys.stderr.write("exit status %r" % status)
    sys.exit(1)
"#,
    );
    result.unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!running.text().contains("got"), "{}", running.text());
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// stdout and stderr are one FIFO nobody reads (`2>&1 | less`, scrolled back): SIGTERM still
/// ends procmux, which says nothing it cannot say.
#[test]
fn a_blocked_stderr_does_not_hold_procmux_at_its_end() {
    let app = App::new("spam: echo \"pid $$\"; exec yes spam\n");
    let (holder, _) = fifo_nobody_reads(&app);
    let running = app
        .shell("exec \"$PROCMUX\" start --no-timestamp --pty never -t 1 > out 2>&1")
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    let pids = procmux_children(running.pid());
    let started = Instant::now();
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_all_gone(&pids);
    drop(holder);
}

/// A readiness clock stops while procmux holds the children's output: a process that is
/// ready within its timeout of running time is ready, however long stdout was blocked.
#[test]
fn a_blocked_stdout_does_not_run_out_readiness_timeouts() {
    let app =
        App::new("spam: exec yes spam\nweb: sleep 0.5; echo 'server ready'; exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.web]\nready = \"log:server ready\"\nready_timeout = 2\n",
    );
    let (holder, out) = fifo_nobody_reads(&app);
    let running = app
        .procmux(&["start", "--no-timestamp", "--pty", "never"])
        .stdout_to(out)
        .spawn();
    // Blocked for twice the ready timeout, then read (and thrown away) as fast as it comes.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        support::alive(running.pid()),
        "procmux gave up while its stdout was blocked"
    );
    let reader = std::thread::spawn(move || {
        let mut holder = holder;
        let mut buf = vec![0u8; 1 << 16];
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match read_before(&mut holder, &mut buf, deadline) {
                0 => break,
                n => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(9).any(|w| w == b"is ready\n") {
                        break;
                    }
                    let keep = seen.len().saturating_sub(64);
                    seen.drain(..keep);
                }
            }
        }
        seen
    });
    let seen = reader.join().unwrap();
    assert!(
        String::from_utf8_lossy(&seen).contains("web.1 is ready"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    running.signal(Signal::SIGKILL);
}

/// A client that gave up (it timed out on a paused procmux, and said so) has its request
/// dropped: nothing is restarted behind its back once procmux runs again.
#[test]
fn a_request_whose_client_gave_up_is_not_carried_out() {
    let app = App::new("web: echo \"pid $$\"; exec sleep 1000\n");
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    let pids = running.wait_for_pids("pid");
    nix::sys::signal::kill(running.pid(), Signal::SIGSTOP).unwrap();
    let (code, _, stderr) = client(&app, &["restart", "web"]);
    nix::sys::signal::kill(running.pid(), Signal::SIGCONT).unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did not answer in 5 s"), "{stderr}");
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, _) = client(&app, &["status"]);
    assert_eq!(code, 0);
    assert_eq!(running.text().matches("started with pid").count(), 1);
    assert!(support::alive(pids[0]));
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `logs` of a stack that keeps no output says so.
#[test]
fn logs_without_a_tail_says_so() {
    let app = App::new("web: exec sleep 1000\n");
    let running = app.start(&["--no-timestamp", "--pty", "never", "--tail-kib", "0"]);
    running.wait_for("started with pid");
    for args in [&["logs"][..], &["logs", "-f"]] {
        let (code, _, stderr) = client(&app, args);
        assert_eq!(code, 1);
        assert!(stderr.contains("keeps no output for logs"), "{stderr}");
    }
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `attach` shows a prompt that has no newline (`>>> `) as soon as it is written.
#[test]
fn attach_shows_prompts_at_once() {
    let app = App::new("repl: exec python3 -i -q\n");
    app.write("procmux.toml", "[process.repl]\npty = true\n");
    let running = app.start(&["--no-timestamp"]);
    running.wait_for(">>>");
    let result = support::run_pty_driver(
        &app,
        r#"
pid, master = procmux_on_pty("attach", "repl")
if not wait_for(master, b"Ctrl-] detaches"):
    fail()
os.write(master, b"6*7\r")
if not wait_for(master, b"42\r\n>>> "):
    fail()
os.write(master, b"\x1d")
os.waitpid(pid, 0)
"#,
    );
    result.unwrap();
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// 200 processes each write most of a pipe's worth (57 KB) and exit while stdout is blocked:
/// procmux takes no more than its queue's budget from them (their exits wait for their
/// output, 11 MB in all), and once stdout is read every line arrives, each process's exit
/// line after its last line.
#[test]
fn exits_wait_for_their_output_when_stdout_is_blocked() {
    let app = App::new(
        "w: read x < gate; yes 0123456789012345678901234567890123456789 | stdbuf -oL head -n 1400\nkeep: exec sleep 1000\n",
    );
    // Lines written as they come (`stdbuf -oL`; a write may still end mid-line, and a writer
    // descheduled there must not have its line cut: see `flush_idle`). A FIFO the writers
    // wait on (opening it blocks until the test opens it too).
    let gate = app.path().join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (holder, out) = fifo_nobody_reads(&app);
    let running = app
        .procmux(&[
            "start",
            "--no-timestamp",
            "--pty",
            "never",
            "-m",
            "w=200",
            "--may-exit",
            "w",
        ])
        .stdout_to(out)
        .spawn();
    // Up (it answers), its queue filled with its start lines only: then the writers go.
    let started = Instant::now();
    loop {
        let (code, text, _) = client(&app, &["status"]);
        let running = String::from_utf8_lossy(&text).matches(" running ").count();
        if code == 0 && running == 201 {
            break;
        }
        assert!(
            started.elapsed() < support::DEADLINE,
            "not all started: {running}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(running.pid());
    let gate = std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(gate);
    std::thread::sleep(Duration::from_secs(3));
    let grown = rss_kib(running.pid()).saturating_sub(before);
    assert!(
        grown < 8 * 1024,
        "procmux grew by {grown} KiB while stdout was blocked"
    );
    let reader = std::thread::spawn(move || {
        let mut holder = holder;
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let deadline = Instant::now() + support::DEADLINE;
        let (mut exits, mut counted) = (0, 0);
        while exits < 200 {
            let n = read_before(&mut holder, &mut buf, deadline);
            assert!(n > 0, "{exits} exits arrived");
            seen.extend_from_slice(&buf[..n]);
            // Whole lines only, each counted once.
            let end = seen
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(counted, |at| at + 1);
            exits += seen[counted..end]
                .split(|&b| b == b'\n')
                .filter(|l| l.ends_with(b"| exited with code 0"))
                .count();
            counted = end;
        }
        seen
    });
    let seen = String::from_utf8(reader.join().unwrap()).unwrap();
    for i in 1..=200 {
        let label = format!("w.{i} ");
        let lines: Vec<&str> = seen.lines().filter(|l| l.starts_with(&label)).collect();
        assert_eq!(
            lines.len(),
            1402,
            "{label}: started, 1400 lines, exited; the lines that are not the child's: {:?}",
            lines
                .iter()
                .filter(|l| !l.ends_with("0123456789012345678901234567890123456789"))
                .collect::<Vec<_>>()
        );
        assert!(lines[1400].ends_with("0123456789012345678901234567890123456789"));
        assert!(
            lines[1401].ends_with("exited with code 0"),
            "{}",
            lines[1401]
        );
    }
    running.signal(Signal::SIGKILL);
}
