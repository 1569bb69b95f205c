//! `procmux logs` that answers a question: `--since`, `--until`, `--grep`, `-n`, `--json`,
//! with names and `-f`, against a real stack.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use support::{App, Running, assert_all_gone};

/// web writes two early lines (one on stderr), waits 3 s, writes a late one; worker one line.
const STACK: &str = "web: echo \"child $$ .\"; echo 'GET / 200'; echo 'ERROR boom \"q\" $HOME %d' >&2; \
                     sleep 3; echo 'late ERROR x'; exec sleep 1000\n\
                     worker: echo \"child $$ .\"; echo 'worker ERROR'; exec sleep 1000\n";

fn client(app: &App, args: &[&str]) -> (i32, String, String) {
    let done = app.procmux(args).run();
    (done.code.unwrap_or(-1), done.text(), done.stderr)
}

/// The text of each line (the prefix `label  | ` or `label  ! ` taken off).
fn texts(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            l.split_once([' '; 1])
                .map_or(l, |(_, rest)| rest.trim_start())
        })
        .map(|l| l[2..].to_owned())
        .collect()
}

fn started(app: &App, args: &[&str]) -> (Running, Vec<nix::unistd::Pid>) {
    let mut all = vec!["--no-timestamp", "--pty", "never"];
    all.extend_from_slice(args);
    let mut running = app.start(&all);
    running.wait_for("late ERROR x");
    let pids = running.pids_after("child");
    assert_eq!(pids.len(), 2);
    (running, pids)
}

fn stop(running: Running, pids: &[nix::unistd::Pid]) {
    running.signal(Signal::SIGTERM);
    running.wait();
    assert_all_gone(pids);
}

#[test]
fn logs_select_by_text_time_count_and_name() {
    let app = App::new(STACK);
    let (running, pids) = started(&app, &["--stderr", "mark"]);

    let (code, out, err) = client(&app, &["logs", "--grep", "ERROR"]);
    assert_eq!(code, 0, "{err}");
    let mut got = texts(&out);
    got.sort();
    assert_eq!(
        got,
        ["ERROR boom \"q\" $HOME %d", "late ERROR x", "worker ERROR"],
        "{out}"
    );
    // The prefix is not matched: no line's text says "web".
    let (_, out, _) = client(&app, &["logs", "--grep", "^web"]);
    assert_eq!(out, "");
    let (_, out, _) = client(&app, &["logs", "--grep", "(?i)error", "web"]);
    assert_eq!(texts(&out), ["ERROR boom \"q\" $HOME %d", "late ERROR x"]);
    assert!(out.contains("web.1    ! ERROR boom"), "{out}");

    // The late line is well under 1.5 s old, the early ones over 3 s.
    let (_, out, _) = client(&app, &["logs", "--since", "1500ms"]);
    assert_eq!(texts(&out), ["late ERROR x"], "{out}");
    let (_, out, _) = client(&app, &["logs", "--until", "1500ms", "web"]);
    assert!(!out.contains("late"), "{out}");
    assert!(out.contains("GET / 200"), "{out}");
    let (_, out, _) = client(&app, &["logs", "--since", "1h", "--until", "2h"]);
    assert_eq!(out, "");

    let (_, out, _) = client(&app, &["logs", "-n", "1", "web"]);
    assert_eq!(texts(&out), ["late ERROR x"]);
    let (_, out, _) = client(&app, &["logs", "-n", "2", "--grep", "ERROR"]);
    assert_eq!(texts(&out).len(), 2);
    assert_eq!(texts(&out)[1], "late ERROR x");
    let (_, out, _) = client(&app, &["logs", "-n", "0"]);
    assert_eq!(out, "");
    stop(running, &pids);
}

#[test]
fn logs_json_has_time_instance_stream_and_text() {
    let app = App::new(STACK);
    // The stream itself coloured: the JSON text has none of procmux's colour.
    let (running, pids) = started(&app, &["--stderr", "mark", "--color", "always"]);
    let (code, out, err) = client(&app, &["logs", "--json", "--grep", "boom|worker"]);
    assert_eq!(code, 0, "{err}");
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2, "{out}");
    let web = objects.iter().find(|o| o["instance"] == "web.1").unwrap();
    assert_eq!(web["stream"], "stderr");
    assert_eq!(web["text"], "ERROR boom \"q\" $HOME %d");
    let worker = objects
        .iter()
        .find(|o| o["instance"] == "worker.1")
        .unwrap();
    assert_eq!(worker["stream"], "stdout");
    assert_eq!(worker["text"], "worker ERROR");
    // RFC 3339 with milliseconds, within the last minute.
    let time = web["time"].as_str().unwrap();
    let at: jiff::Timestamp = time.parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let age = now.as_millis() as i64 - at.as_millisecond();
    assert!((0..60_000).contains(&age), "{time} is {age} ms old");
    assert_eq!(time.len(), 29, "{time}");

    // procmux's own lines are stream "system", about their instance; the child's "child N"
    // is its output.
    let (_, out, _) = client(
        &app,
        &["logs", "--json", "--grep", "^started with pid", "web"],
    );
    let object: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(object["stream"], "system");
    assert_eq!(object["instance"], "web.1");
    let (_, out, _) = client(&app, &["logs", "--json", "--grep", "^child", "web"]);
    let object: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(object["stream"], "stdout");
    stop(running, &pids);
}

#[test]
fn logs_json_of_a_json_stream() {
    let app = App::new(STACK);
    let (running, pids) = started(&app, &["--format", "json", "--stderr", "mark"]);
    let (_, out, _) = client(&app, &["logs", "--json", "--grep", "boom"]);
    let object: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(object["instance"], "web.1");
    assert_eq!(object["stream"], "stderr");
    assert_eq!(object["text"], "ERROR boom \"q\" $HOME %d");
    // Without --json, the stream's own lines as they were.
    let (_, out, _) = client(&app, &["logs", "--grep", "late"]);
    let object: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(object["line"], "late ERROR x");
    stop(running, &pids);
}

#[test]
fn logs_follow_with_a_question() {
    let app = App::new(STACK);
    let (running, pids) = started(&app, &[]);
    // The last line of web, then web's new lines only.
    let follower = app.procmux(&["logs", "-f", "-n", "1", "web"]).spawn();
    follower.wait_for("late ERROR x");
    // Only new lines matching.
    let grepper = app.procmux(&["logs", "-f", "--grep", "GET"]).spawn();
    // Give the grepper its LIVE frame before the restart (it would otherwise see the past).
    std::thread::sleep(Duration::from_millis(300));
    let (code, _, err) = client(&app, &["restart", "web"]);
    assert_eq!(code, 0, "{err}");
    follower.wait_for_count("GET / 200", 1);
    grepper.wait_for("GET / 200");
    let text = follower.text();
    assert!(!text.contains("worker"), "{text}");
    assert_eq!(text.matches("late ERROR x").count(), 1, "{text}");
    let text = grepper.text();
    assert_eq!(texts(&text), ["GET / 200"], "{text}");
    follower.signal(Signal::SIGTERM);
    grepper.signal(Signal::SIGTERM);
    follower.wait();
    grepper.wait();
    let mut running = running;
    let pids: Vec<_> = pids
        .into_iter()
        .chain(running.pids_after("child"))
        .collect();
    stop(running, &pids);
}

#[test]
fn logs_questions_that_cannot_be_asked() {
    let app = App::new("web: exec sleep 1000\n");
    for (args, needle) in [
        (&["logs", "--grep", "("][..], "--grep \"(\""),
        (
            &["logs", "--grep", "a{1000}{1000}"],
            "--grep \"a{1000}{1000}\": ",
        ),
        (
            &["logs", "--since", "yesterday"],
            "--since \"yesterday\": expected",
        ),
        (&["logs", "--until", "5"], "--until \"5\": expected"),
        (&["logs", "-f", "--until", "5m"], "--until ends the lines"),
        (&["logs", "-n", "-1"], "-1"),
    ] {
        let (code, _, err) = client(&app, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Asked of no stack: said so.
    let (code, _, err) = client(&app, &["logs", "--grep", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no procmux is running"), "{err}");
}

/// A line of random bits with runs of zeros, cut into 64 KiB pieces: what makes
/// `[01]*1[01]{998}[^01]` leave the lazy DFA for the PikeVM, whose cost is positions × bytes.
const BITS: &str = "awk 'BEGIN { srand(7); for (b = 0; b < 256; b++) { \
                    for (i = 0; i < 3000; i++) printf \"%d\", rand() < 0.5; \
                    for (i = 0; i < 1000; i++) printf \"0\"; printf \"2\" } printf \"\\n\" }'";

#[test]
fn logs_grep_is_bounded_by_pattern_size_and_line_length() {
    let app = App::new(&format!(
        "web: head -c 300000 /dev/zero | tr '\\0' x; echo; {BITS}; echo 'child '$$' done'; \
         exec sleep 1000\n"
    ));
    let args = ["--no-timestamp", "--pty", "never", "--tail-kib", "4096"];
    let mut running = app.start(&args);
    running.wait_for("done");
    let pids = running.pids_after("child");

    // Took over 40 s on the 300 KB line before the bound: now refused at once.
    let (code, _, err) = client(&app, &["logs", "--grep", "x{100000}"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--grep \"x{100000}\": pattern too large: 100000 positions, at most 1000"),
        "{err}"
    );
    let (code, _, err) = client(&app, &["logs", "--grep", r"\w{1000}"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("compiles to more than 1024 KiB"), "{err}");

    // The largest pattern allowed, built to defeat the lazy DFA, on a 1 MiB line: it looks
    // at the first 16 KiB only (release build: about 0.35 s per 1 MiB piece of line at worst,
    // 1.3 s for a 4 MiB line; README, Patterns), so the client ends within the
    // harness's deadline even in a debug build. The other lines are matched whole.
    let (code, out, err) = client(&app, &["logs", "--grep", "[01]*1[01]{993}[^01]|done$"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(texts(&out), [format!("child {} done", pids[0])], "{err}");
    let (_, out, _) = client(&app, &["logs", "--grep", "x{20}$"]);
    assert_eq!(
        out.len(),
        300_000 + "web.1  | ".len() + 1,
        "the whole line is looked at"
    );
    stop(running, &pids);
}

/// A partial line shown on its own (a prompt with no newline, written once its process has
/// been quiet a while) is kept as its own process's, not as the one that wrote last.
#[test]
fn a_prompt_without_a_newline_is_kept_as_its_process_s() {
    let app = App::new(
        "web: echo \"child $$ .\"; sleep 1; printf 'prompt> '; exec sleep 1000\n\
         worker: echo \"child $$ .\"; while :; do echo tick; sleep 0.02; done\n",
    );
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for("prompt> ");
    let pids = running.pids_after("child");
    let (code, out, err) = client(&app, &["logs", "web"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web.1    | prompt> "), "{out}");
    let (_, out, _) = client(&app, &["logs", "worker"]);
    assert!(!out.contains("prompt"), "{out}");
    stop(running, &pids);
}

/// Lines of processes writing at once share procmux's writes; `logs NAME` still shows each
/// process's own lines only, every one, in order.
#[test]
fn logs_of_processes_writing_at_once_are_each_their_own() {
    let app = App::new(
        "a: echo \"child $$ .\"; seq -f 'a %g' 50000; echo 'a done'; exec sleep 1000\n\
         b: echo \"child $$ .\"; seq -f 'b %g' 50000; echo 'b done'; exec sleep 1000\n\
         c: echo \"child $$ .\"; seq -f 'c %g' 50000; echo 'c done'; exec sleep 1000\n",
    );
    // A tail that keeps all of it (about 2.4 MB).
    let mut running = app.start(&["--no-timestamp", "--pty", "never", "--tail-kib", "8192"]);
    for name in ["a", "b", "c"] {
        running.wait_for(&format!("{name} done"));
    }
    let pids = running.pids_after("child");
    assert_eq!(pids.len(), 3);
    for name in ["a", "b", "c"] {
        let (code, out, err) = client(&app, &["logs", name]);
        assert_eq!(code, 0, "{err}");
        // Its lines, after its `child` line and procmux's notice that it started.
        let got: Vec<String> = texts(&out)
            .into_iter()
            .filter(|l| !l.starts_with("child ") && !l.starts_with("started with pid "))
            .collect();
        let mut expected: Vec<String> = (1..=50_000).map(|n| format!("{name} {n}")).collect();
        expected.push(format!("{name} done"));
        assert!(got == expected, "logs {name}: {} lines", got.len());
    }
    stop(running, &pids);
}
