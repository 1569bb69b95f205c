//! The release phase (issue 19): an entry named `release` (or with `phase = "release"`) runs
//! once, before every other process, which waits for its exit 0; a failure stops the start
//! with its exit code and its output; `--no-release` skips it; a restart of the stack does
//! not run it again unless it is named. Real processes, checked by their lines and pids.

mod support;

use nix::sys::signal::Signal;
use support::{App, assert_all_gone, refuses_each};

/// A release that takes a while and leaves a mark; web and worker say whether they saw it.
const STACK: &str = "web: test -f migrated && echo \"web saw the release $$\"; exec sleep 1000\n\
     release: echo \"release running $$\"; sleep 0.3; touch migrated; echo release-done\n\
     worker: test -f migrated && echo \"worker saw the release $$\"; exec sleep 1000\n";

fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"))
}

#[test]
fn the_release_runs_first_and_once_and_holds_the_rest() {
    let app = App::new(STACK);
    let mut running = app.start(&["--no-timestamp"]);
    running.wait_for("web saw the release");
    let text = running.wait_for("worker saw the release");
    let mut pids = running.pids_after("saw the release");
    pids.extend(running.pids_after("started with pid"));
    let done_at = position(&text, "release.1 | exited with code 0");
    assert!(
        done_at < position(&text, "web.1     | started with pid"),
        "{text}"
    );
    assert!(
        done_at < position(&text, "worker.1  | started with pid"),
        "{text}"
    );
    assert_eq!(text.matches("release running").count(), 1, "{text}");
    // A restart of the whole stack leaves it alone; naming it runs it again.
    let done = app.procmux(&["restart", "*"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    running.wait_for_count("web saw the release", 2);
    running.wait_for_count("worker saw the release", 2);
    assert_eq!(running.text().matches("release running").count(), 1);
    let done = app.procmux(&["restart", "release*"]).run();
    assert_eq!(done.code, Some(1));
    assert!(
        done.stderr.contains("name it to run it again"),
        "{}",
        done.stderr
    );
    let done = app.procmux(&["restart", "release"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = running.wait_for_count("release-done", 2);
    assert_eq!(text.matches("release running").count(), 2, "{text}");
    pids.extend(running.pids_after("saw the release"));
    running.signal(Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143), "{}", done.text());
    assert_all_gone(&pids);
}

#[test]
fn a_failed_release_stops_the_start_with_its_code_and_output() {
    let app = App::new(
        "web: echo web-started; exec sleep 1000\n\
         release: echo 'migration 42 failed: relation \"users\" exists' >&2; exit 3\n",
    );
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert_eq!(done.code, Some(3), "{}", done.text());
    let text = done.text();
    assert!(
        text.contains("release.1 | migration 42 failed: relation \"users\" exists\n"),
        "{text}"
    );
    assert!(text.contains("release.1 | exited with code 3\n"), "{text}");
    assert!(!text.contains("web"), "{text}");
}

#[test]
fn no_release_skips_it_and_start_name_runs_it_first() {
    let app = App::new(STACK);
    let mut running = app.start(&["--no-timestamp", "--no-release"]);
    let text = running.wait_for("worker.1  | started with pid");
    running.wait_for("web.1     | started with pid");
    running.pids_after("started with pid");
    assert!(!text.contains("release"), "{text}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
    // `start web` brings the release, as it brings what web waits for; not the worker.
    let mut running = app.start(&["--no-timestamp", "web"]);
    let text = running.wait_for("web saw the release");
    running.pids_after("started with pid");
    assert!(text.contains("release-done"), "{text}");
    assert!(!text.contains("worker"), "{text}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

/// `phase = "release"` makes any entry the release, `phase = "run"` makes `release` an
/// ordinary process; a release waits for what it needs itself (`after`), and that starts
/// before it.
#[test]
fn phase_and_the_release_own_dependencies() {
    // db makes the mark the migration needs, then says it is up (its readiness).
    let app = App::new(
        "db: touch db-ready; echo \"db up $$\"; exec sleep 1000\n\
         migrate: test -f db-ready && echo migrated\n\
         web: echo \"web up $$\"; exec sleep 1000\n\
         release: echo \"an ordinary process $$\"; exec sleep 1000\n",
    );
    app.write(
        "procmux.toml",
        "[process.db]\nready = \"log:db up\"\n[process.migrate]\nphase = \"release\"\nafter = [\"db\"]\n\
         [process.release]\nphase = \"run\"\n",
    );
    let mut running = app.start(&["--no-timestamp"]);
    running.wait_for("web up");
    let text = running.wait_for("an ordinary process");
    running.pids_after("started with pid");
    assert!(text.contains("migrate.1 | migrated"), "{text}");
    let migrated = position(&text, "migrate.1 | exited with code 0");
    assert!(position(&text, "db.1      | db up") < migrated, "{text}");
    assert!(migrated < position(&text, "web.1     | started"), "{text}");
    assert!(migrated < position(&text, "release.1 | started"), "{text}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

#[test]
fn check_says_the_release_phase() {
    let app = App::new(STACK);
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(
        done.text().contains(
            "release phase: release runs once, before the others, which wait for its exit 0"
        ),
        "{}",
        done.text()
    );
}

#[test]
fn what_a_release_cannot_be_is_an_error_at_its_place() {
    let app = App::new("web: echo started-web\nrelease: echo migrating\n");
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "[process.release]\nphase = \"first\"\n",
            &[],
            "procmux: error: procmux.toml:2:9: phase: \"first\": expected release or run",
        ),
        (
            "[process.release]\nready = \"tcp:$PORT\"\n",
            &[],
            "procmux: error: procmux.toml:2:9: ready: release is a release phase",
        ),
        (
            "[process.web]\nphase = \"release\"\non_exit = \"restart\"\n",
            &[],
            "procmux: error: procmux.toml:3:11: on_exit: web is a release phase",
        ),
        (
            "",
            &["-m", "release=2"],
            "procmux: error: release: a release phase runs once, and the formation asks for 2",
        ),
        (
            "",
            &["-m", "release=0"],
            "procmux: error: web starts after release, but the formation runs no release (--no-release skips the release phase)",
        ),
        (
            "",
            &["--may-exit", "release"],
            "procmux: error: --may-exit release: a release phase runs once",
        ),
    ];
    refuses_each(&app, &cases);
}
