//! The status line under the stream, driven through a real pty: it appears, changes with a
//! crash (and rings once), never cuts a child's line, and is gone at the end; it is absent in
//! a pipe and whenever it is turned off.

mod support;

use nix::sys::signal::Signal;
use support::{App, assert_all_gone, run_pty_driver};

const STACK: &str = "web: echo \"child $$ .\"; sleep 0.3; echo listening; exec sleep 1000\n\
                     crash: sleep 1; echo boom; exit 3\n\
                     chatty: for i in $(seq 1 300); do echo \"line $i abcdefghij\"; done; \
                     sleep 1.2; for i in $(seq 301 600); do echo \"line $i abcdefghij\"; done; \
                     exec sleep 1000\n";
const CONFIG: &str = "[process.web]\nready = \"log:listening\"\n\
                      [process.crash]\non_exit = \"ignore\"\n";

/// Python: procmux ARGS on a 24×80 pty with `TERM`; collects `seen` until `needle` (or the
/// limit), then SIGTERM and reads until procmux is gone.
fn driver(term: &str, args: &[&str], needle: &str, checks: &str) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        r#"
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
os.environ["TERM"] = {term:?}
pid = procmux_on_terminal(slave, "start", "--no-timestamp", {args})
ok = wait_for(master, {needle}, 10)
time.sleep(0.5)
wait_for(master, b"never", 0.3)
os.kill(pid, signal.SIGTERM)
end = time.time() + 10
while time.time() < end:
    if os.waitpid(pid, os.WNOHANG)[0]:
        break
    wait_for(master, b"never", 0.1)
wait_for(master, b"never", 0.3)
if not ok:
    fail()
{checks}
"#,
        args = args.join(", ")
    )
}

#[test]
fn the_status_line_appears_changes_with_a_crash_and_is_gone_at_the_end() {
    let app = App::new(STACK);
    app.write("procmux.toml", CONFIG);
    let checks = r#"
def check(condition, what):
    if not condition:
        sys.stderr.write(what + "\n")
        sys.exit(1)
check(b"\x1b7\x1b[1;23r\x1b8" in seen, "the scroll region")
draws = [i for i in range(len(seen)) if seen.startswith(b"\x1b7\x1b[24;1H\x1b[2K", i)]
check(len(draws) >= 3, "drawn at start, at readiness, at the crash")
check(len(draws) < 40, "drawn only on a change: %d" % len(draws))
# Never inside a child's line: each draw follows a whole line, or another escape of its own.
for i in draws:
    check(seen[:i].endswith(b"\n") or seen[:i].endswith(b"\x1b8"), "a draw mid-line at %d" % i)
line = seen.decode("utf-8", "replace")
check("\u25cf web" in line, "web's mark")
check("\u2717 crash (3)" in line, "the crash, in the line")
check("\x1b[31m\u2717 crash (3)\x1b[0m" in line, "the crash, in red")
check(seen.count(b"\x07") == 1, "one bell: %d" % seen.count(b"\x07"))
for n in range(1, 601):
    check(("| \x1b[0mline %d abcdefghij\x1b[0m\r\n" % n) in line, "line %d whole" % n)
check(seen.endswith(b"\x1b7\x1b[r\x1b8\x1b7\x1b[24;1H\x1b[2K\x1b8"), "the region reset at the end")
"#;
    let body = driver("xterm", &[], r#"b"\x07""#, checks);
    run_pty_driver(&app, &body).unwrap();
}

#[test]
fn the_status_line_is_off_when_asked_or_on_a_dumb_terminal() {
    let app = App::new(STACK);
    app.write("procmux.toml", CONFIG);
    let none = r#"
if b"\x1b[1;23r" in seen or b"\x1b[24;1H" in seen or b"\x07" in seen:
    fail()
"#;
    for (term, args) in [
        ("dumb", &[][..]),
        ("xterm", &["--no-status-line"]),
        ("xterm", &["--format", "json"]),
    ] {
        let body = driver(term, args, r#"b"boom""#, none);
        run_pty_driver(&app, &body).unwrap_or_else(|e| panic!("{term} {args:?}: {e}"));
    }
    app.write("procmux.toml", format!("status_line = false\n{CONFIG}"));
    run_pty_driver(&app, &driver("xterm", &[], r#"b"boom""#, none)).unwrap();
    // bell = false: the line, no bell.
    app.write("procmux.toml", format!("bell = false\n{CONFIG}"));
    let no_bell = r#"
if b"\x1b[1;23r" not in seen or b"\x07" in seen:
    fail()
"#;
    run_pty_driver(&app, &driver("xterm", &[], r#"b"boom""#, no_bell)).unwrap();
}

/// Python: a 24×80 xterm pty, and `ctrl_z(pid)`: SIGTSTP as Ctrl-Z sends it, true once the
/// status line stepped aside and procmux stopped.
const PAUSED: &str = r#"
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
os.environ["TERM"] = "xterm"
def ctrl_z(pid):
    os.kill(pid, signal.SIGTSTP)
    aside = wait_for(master, b"\x1b7\x1b[r\x1b8")
    return aside and os.WIFSTOPPED(os.waitpid(pid, os.WUNTRACED)[1])
"#;

/// Python: SIGTERM to `pid`, waited for; `ok` false fails the test.
const STOP: &str = r#"
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
if not ok:
    fail()
"#;

/// Ctrl-Z gives the terminal back to the shell (the region reset before procmux stops);
/// `fg` (SIGCONT) brings the line back.
#[test]
fn the_status_line_steps_aside_while_the_stack_is_paused() {
    let app = App::new("web: echo \"child $$ .\"; exec sleep 1000\n");
    let body = format!(
        r#"{PAUSED}
pid = procmux_on_terminal(slave, "start", "--no-timestamp")
ok = wait_for(master, b"\x1b[24;1H") and ctrl_z(pid)
before = seen.count(b"\x1b[1;23r")
os.kill(pid, signal.SIGCONT)
end = time.time() + 5
while seen.count(b"\x1b[1;23r") <= before and time.time() < end:
    wait_for(master, b"never", 0.1)
ok = ok and seen.count(b"\x1b[1;23r") > before and seen.count(b"\x1b[24;1H\x1b[2K\x1b[32m") >= 2
{STOP}"#
    );
    run_pty_driver(&app, &body).unwrap();
}

/// A terminal resized while the stack is paused (the shell has it, and no SIGWINCH reaches a
/// stopped job): back from `fg`, the line and the children's ptys have the new size.
#[test]
fn a_terminal_resized_during_ctrl_z_is_followed_after_fg() {
    let app = App::new("size: trap 'stty size' WINCH; stty size; while :; do sleep 0.05; done\n");
    let body = format!(
        r#"{PAUSED}
pid = procmux_on_terminal(slave, "start", "--no-timestamp", "--pty", "always")
# The status line takes a row and the prefix 9 columns: the child's pty has the rest.
ok = wait_for(master, b"23 71") and ctrl_z(pid)
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
os.kill(pid, signal.SIGCONT)
ok = ok and wait_for(master, b"\x1b[1;29r", 5) and wait_for(master, b"29 91", 5)
# Never drawn for the old size once back.
back = seen.rfind(b"\x1b[r\x1b8")
ok = ok and back >= 0 and b"\x1b[1;23r" not in seen[back:]
{STOP}"#
    );
    run_pty_driver(&app, &body).unwrap();
}

#[test]
fn no_status_line_in_a_pipe() {
    let app = App::new("web: echo \"child $$ .\"; exec sleep 1000\nbad: sleep 0.3; exit 3\n");
    app.write("procmux.toml", "[process.bad]\non_exit = \"ignore\"\n");
    let mut running = app.start(&["--no-timestamp", "--color", "always"]);
    running.wait_for("exited with code 3");
    let pids = running.pids_after("child");
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    let text = done.text();
    assert!(
        !text.contains("\x1b7") && !text.contains("\x1b[1;"),
        "{text:?}"
    );
    assert!(
        !text.contains('\u{25cf}') && !text.contains('\x07'),
        "{text:?}"
    );
    assert_all_gone(&pids);
}

/// A terminal made too small for the line: the region is reset and the line's row cleared at
/// once (the stream and the children's ptys get every row), nothing is drawn while it is too
/// small, and the line comes back when the terminal is large enough again.
#[test]
fn a_terminal_too_small_frees_the_status_row_until_it_grows_again() {
    let app = App::new("size: trap 'stty size' WINCH; stty size; while :; do sleep 0.05; done\n");
    let body = r#"
master, slave = os.openpty()
def resize(rows, cols):
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
def check(condition, what):
    if not condition:
        sys.stderr.write(what + "\n" + repr(seen))
        sys.exit(1)
def wait_new(needle, limit=5):
    """`needle` in what came after `mark`."""
    end = time.time() + limit
    while needle not in seen[mark:] and time.time() < end:
        wait_for(master, b"never", 0.1)
    return needle in seen[mark:]
resize(24, 80)
os.environ["TERM"] = "xterm"
pid = procmux_on_terminal(slave, "start", "--no-timestamp", "--color", "never")
check(wait_for(master, b"size.1 | 23 71") and b"\x1b7\x1b[1;23r\x1b8" in seen, "set at start")
check(wait_for(master, b"\x1b7\x1b[24;1H\x1b[2K"), "drawn at start")
mark = len(seen)
resize(2, 80)
os.kill(pid, signal.SIGWINCH)
check(wait_new(b"size.1 | 2 71"), "the pty gets every row")
hidden = b"\x1b7\x1b[24;1H\x1b[2K\x1b8\x1b7\x1b[r\x1b8"
check(seen[mark:].startswith(hidden), "cleared and reset at once")
resize(1, 80)
os.kill(pid, signal.SIGWINCH)
check(wait_new(b"size.1 | 1 71"), "still small")
check(b"\x1b" not in seen[mark + len(hidden):], "nothing set or drawn while too small")
mark = len(seen)
resize(24, 80)
os.kill(pid, signal.SIGWINCH)
check(wait_new(b"size.1 | 23 71"), "a row for the line again")
check(wait_new(b"\x1b7\x1b[24;1H\x1b[2K\xe2\x97\x8f size"), "the line again")
check(seen[mark:].startswith(b"\r\n\x1b[1A\x1b7\x1b[1;23r\x1b8"), "the region again")
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
wait_for(master, b"never", 0.3)
check(seen.endswith(b"\x1b7\x1b[r\x1b8\x1b7\x1b[24;1H\x1b[2K\x1b8"), "the region reset at the end")
"#;
    run_pty_driver(&app, body).unwrap();
}
