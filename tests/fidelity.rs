//! Output fidelity: ptys, colour hints, stderr marking, timestamp formats, JSON lines.

mod support;

use std::time::Duration;

use nix::sys::signal::Signal;
use support::{App, lines_of};

/// The classic complaint: a Python child block-buffers stdout on a pipe, so nothing shows up.
/// With a pty it line-buffers, so the line arrives at once.
#[test]
fn pty_makes_a_buffering_child_show_its_line_at_once() {
    let app = App::new("py: python3 -c 'import time; print(\"hi\"); time.sleep(30)'\n");
    let running = app
        .procmux(&["start", "--no-timestamp", "--pty", "always"])
        .env_remove("PYTHONUNBUFFERED")
        .spawn();
    running.wait_for("started with pid");
    assert!(
        running.appears_within("py.1   | hi\n", Duration::from_secs(1)),
        "{}",
        running.text()
    );
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert!(
        !done.stdout.contains(&b'\r'),
        "a \\r leaked: {:?}",
        done.text()
    );
}

#[test]
fn without_a_pty_the_same_child_stays_silent() {
    // The control for the test above: proves the environment really makes Python buffer.
    let app = App::new("py: python3 -c 'import time; print(\"hi\"); time.sleep(30)'\n");
    let running = app
        .procmux(&["start", "--no-timestamp", "--pty", "never"])
        .env_remove("PYTHONUNBUFFERED")
        .spawn();
    running.wait_for("started with pid");
    assert!(!running.appears_within("| hi", Duration::from_millis(500)));
    running.signal(Signal::SIGTERM);
    // Python flushes on the way out (SIGTERM's default action kills it first, so maybe not).
    running.wait();
}

#[test]
fn the_child_sees_a_terminal_only_with_a_pty() {
    let app = App::new(
        "tty: python3 -c 'import sys; print(\"isatty\", sys.stdout.isatty(), sys.stdin.isatty())'\n",
    );
    let with = app
        .procmux(&["start", "--no-timestamp", "--pty", "always"])
        .run();
    assert!(
        with.text().contains("tty.1  | isatty True True\n"),
        "{}",
        with.text()
    );
    let without = app
        .procmux(&["start", "--no-timestamp", "--pty", "never"])
        .run();
    assert!(
        without.text().contains("tty.1  | isatty False False\n"),
        "{}",
        without.text()
    );
    // The default, auto, follows procmux's stdout: a pipe here.
    let auto = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(
        auto.text().contains("isatty False False"),
        "{}",
        auto.text()
    );
}

#[test]
fn per_process_pty_setting_in_the_config_file() {
    let app = App::new(
        "a: python3 -c 'import sys; print(sys.stdout.isatty())'; sleep 1\n\
         b: python3 -c 'import sys; print(sys.stdout.isatty())'; sleep 1\n",
    );
    app.write("procmux.toml", "[process.a]\npty = true\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(done.text().contains("a.1    | True\n"), "{}", done.text());
    assert!(done.text().contains("b.1    | False\n"), "{}", done.text());
}

#[test]
fn pty_size_follows_the_environment_less_the_prefix() {
    let app = App::new("size: stty size\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--pty", "always"])
        .env("COLUMNS", "100")
        .env("LINES", "30")
        .run();
    // prefix "size.1 | " is 9 columns wide
    assert!(done.text().contains("size.1 | 30 91\n"), "{}", done.text());
}

/// procmux itself on a terminal: SIGWINCH resizes every child's pty (a row less, the status
/// line's, and the line follows the new size).
#[test]
fn sigwinch_resizes_the_ptys() {
    let app = App::new("size: trap 'stty size' WINCH; stty size; while :; do sleep 0.05; done\n");
    let driver = r#"
master, slave = os.openpty()
def resize(rows, cols):
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
resize(40, 120)
pid = procmux_on_terminal(slave, "start", "--no-timestamp", "--color", "never")
os.close(slave)
first = wait_for(master, b"size.1 | 39 111") and b"\x1b[1;39r" in seen
resize(50, 150)
os.kill(pid, signal.SIGWINCH)
second = wait_for(master, b"size.1 | 49 141") and b"\x1b[1;49r" in seen
os.kill(pid, signal.SIGTERM)
os.waitpid(pid, 0)
if not (first and second):
    fail()
"#;
    support::run_pty_driver(&app, driver).unwrap();
}

#[test]
fn colour_hint_reaches_children_on_pipes_unless_told_otherwise() {
    let app = App::new("web: echo \"hint=$FORCE_COLOR/$CLICOLOR_FORCE\"\n");
    let hint = |args: &[&str], env: &[(&str, &str)]| {
        let mut full = vec!["start", "--no-timestamp"];
        full.extend_from_slice(args);
        let mut procmux = app.procmux(&full).env_remove("FORCE_COLOR");
        for (k, v) in env {
            procmux = procmux.env(k, v);
        }
        let text = procmux.run().text();
        let line = text
            .lines()
            .find(|l| l.contains("hint="))
            .expect("hint line")
            .to_owned();
        line.split("hint=")
            .nth(1)
            .unwrap()
            .trim_end_matches("\x1b[0m")
            .to_owned()
    };
    assert_eq!(hint(&["--color", "always"], &[]), "1/1");
    assert_eq!(hint(&["--color", "never"], &[]), "/");
    assert_eq!(hint(&[], &[]), "/"); // auto, stdout a pipe: no colour, no hint
    assert_eq!(hint(&["--color", "always", "--no-color-hint"], &[]), "/");
    assert_eq!(hint(&["--color", "always"], &[("FORCE_COLOR", "0")]), "0/");
    assert_eq!(hint(&["--color", "always", "--pty", "always"], &[]), "/");
    app.write(".env", "CLICOLOR_FORCE=0\n");
    assert_eq!(hint(&["--color", "always"], &[]), "/0");
}

#[test]
fn strip_ansi_cleans_child_lines() {
    let app = App::new("web: printf '\\033[1;31mred\\033[0m plain\\n'\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--strip-ansi"])
        .run();
    assert!(
        done.text().contains("web.1  | red plain\n"),
        "{:?}",
        done.text()
    );
    assert!(!done.text().contains('\x1b'));
    let raw = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(
        raw.text().contains("\x1b[1;31mred\x1b[0m plain"),
        "bytes must pass untouched by default"
    );
}

#[test]
fn stderr_mark_separates_and_marks_the_streams() {
    let app = App::new("web: for i in 1 2 3; do echo out-$i; echo err-$i >&2; done\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--stderr", "mark"])
        .run();
    let text = done.text();
    let outs: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("web.1  | out-"))
        .collect();
    let errs: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("web.1  ! err-"))
        .collect();
    assert_eq!(
        outs,
        ["web.1  | out-1", "web.1  | out-2", "web.1  | out-3"],
        "{text}"
    );
    assert_eq!(
        errs,
        ["web.1  ! err-1", "web.1  ! err-2", "web.1  ! err-3"],
        "{text}"
    );
    let merged = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(
        merged.text().contains("web.1  | err-1\n"),
        "merge is the default"
    );
}

#[test]
fn timestamp_formats() {
    let app = App::new("web: echo hello\n");
    let stamp_of = |format: &str| {
        let text = app.procmux(&["start", "--timestamp", format]).run().text();
        let line = text
            .lines()
            .find(|l| l.ends_with("web.1  | hello"))
            .expect("hello")
            .to_owned();
        line.trim_end_matches("web.1  | hello").to_owned()
    };
    let shape = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_digit() { 'D' } else { c })
            .collect()
    };
    assert_eq!(shape(&stamp_of("local")), "DD:DD:DD ");
    assert_eq!(shape(&stamp_of("utc")), "DD:DD:DD ");
    assert_eq!(shape(&stamp_of("ms")), "DD:DD:DD.DDD ");
    let iso = shape(&stamp_of("iso"));
    assert!(
        iso == "DDDD-DD-DDTDD:DD:DD.DDD+DD:DD " || iso == "DDDD-DD-DDTDD:DD:DD.DDD-DD:DD ",
        "{iso}"
    );
    assert_eq!(stamp_of("none"), "");
    // utc really is UTC: compare with a TZ far from it.
    let utc = app
        .procmux(&["start", "--timestamp", "utc"])
        .env("TZ", "Asia/Kathmandu")
        .run()
        .text();
    let local = app
        .procmux(&["start", "--timestamp", "local"])
        .env("TZ", "Asia/Kathmandu")
        .run()
        .text();
    assert_ne!(
        utc[..5],
        local[..5],
        "utc and +05:45 local show the same hour:minute"
    );
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

#[test]
fn json_lines_parse_back_with_every_field() {
    let app = App::new("web: printf 'hello \"json\"\\n'; printf '\\377\\376bin\\n' >&2; exit 3\n");
    let done = app
        .procmux(&["start", "--format", "json", "--stderr", "mark"])
        .run();
    assert_eq!(done.code, Some(3));
    let objects = json_lines(&done.stdout);
    let started = &objects[0];
    assert_eq!(started["name"], "system");
    assert_eq!(started["event"], "started");
    assert_eq!(started["process"], "web");
    assert_eq!(started["instance"], 1);
    let pid = started["pid"].as_i64().unwrap();
    let line = objects
        .iter()
        .find(|o| o["stream"] == "stdout")
        .expect("stdout line");
    assert_eq!(line["line"], "hello \"json\"");
    assert_eq!(
        (
            line["name"].as_str(),
            line["instance"].as_i64(),
            line["pid"].as_i64()
        ),
        (Some("web"), Some(1), Some(pid))
    );
    let ts = line["ts"].as_str().unwrap();
    assert_eq!(ts.len(), 29, "{ts}");
    assert_eq!(&ts[10..11], "T");
    let binary = objects
        .iter()
        .find(|o| o["stream"] == "stderr")
        .expect("stderr line");
    // Each invalid byte sequence becomes one U+FFFD; the exact bytes are in line_base64.
    assert_eq!(binary["line"], "\u{fffd}\u{fffd}bin");
    assert_eq!(binary["line_base64"], "//5iaW4=");
    let exited = objects
        .iter()
        .find(|o| o["event"] == "exited")
        .expect("exited event");
    assert_eq!(
        (exited["code"].as_i64(), exited["pid"].as_i64()),
        (Some(3), Some(pid))
    );
    assert!(objects.iter().any(|o| o["event"] == "shutdown"));
    assert!(
        objects
            .iter()
            .all(|o| o["ts"].is_string() && o["name"].is_string())
    );
}

#[test]
fn a_one_mib_json_line_is_one_valid_object() {
    let app = App::new("big: python3 -c \"print('\\\"' * 1048576)\"\n");
    let done = app.procmux(&["start", "--format", "json"]).run();
    let objects = json_lines(&done.stdout);
    let big = objects
        .iter()
        .find(|o| o["stream"] == "stdout")
        .expect("the line");
    assert_eq!(big["line"].as_str().unwrap().len(), 1048576);
    assert!(big["line"].as_str().unwrap().chars().all(|c| c == '"'));
}

#[test]
fn json_in_the_config_file_and_quiet_processes_stay_quiet() {
    let app = App::new("a: echo visible\nb: echo hidden; sleep 0.5\n");
    app.write("procmux.toml", "format = \"json\"\nquiet = [\"b\"]\n");
    let done = app.procmux(&["start"]).run();
    let objects = json_lines(&done.stdout);
    assert!(objects.iter().any(|o| o["line"] == "visible"));
    assert!(!objects.iter().any(|o| o["line"] == "hidden"));
    assert!(
        lines_of(&done.stdout, "a.1").is_empty(),
        "no text lines in JSON mode"
    );
}
