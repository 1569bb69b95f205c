//! Restart on file change: real files, real children, inotify in procmux's own poll loop.

mod support;

use std::fs;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{App, Running};

const STACK: &str = "web: echo \"pid $$\"; exec sleep 1000\n\
                     worker: echo \"pid $$\"; exec sleep 1000\n";

fn app_watching(globs: &str) -> App {
    let app = App::new(STACK);
    app.write(
        "procmux.toml",
        format!("[process.web]\nwatch = [{globs}]\nwatch_ignore = [\"app/cache/**\"]\n"),
    );
    fs::create_dir_all(app.path().join("app/models")).unwrap();
    app.write("app/models/user.rb", "class User; end\n");
    app
}

fn started(app: &App) -> Running {
    let running = app.start(&["--no-timestamp", "--pty", "never"]);
    running.wait_for_count("| pid ", 2);
    running
}

/// A change to a watched file restarts only that process, and says which file did it.
#[test]
fn a_watched_change_restarts_only_its_process() {
    let app = app_watching("\"app/**/*.rb\"");
    let running = started(&app);
    app.write("app/models/user.rb", "class User; def x; end; end\n");
    running.wait_for("system   | web.1 restarting: app/models/user.rb changed");
    let text = running.wait_for_count("| pid ", 3);
    assert!(text.contains("web.1    | terminated by SIGTERM"), "{text}");
    assert!(!text.contains("worker.1 | terminated"), "{text}");
    // A new subdirectory's files are watched too.
    fs::create_dir_all(app.path().join("app/services/deep")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    app.write("app/services/deep/billing.rb", "module Billing; end\n");
    running.wait_for("web.1 restarting: app/services/deep/billing.rb changed");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// A burst (a `git checkout` of 200 files) gives exactly one restart.
#[test]
fn a_burst_of_changes_gives_one_restart() {
    let app = app_watching("\"app/**/*.rb\"");
    let running = started(&app);
    for i in 0..200 {
        app.write(&format!("app/models/m{i}.rb"), format!("# {i}\n"));
    }
    restarts_once(&running, "app/models/m");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `.git/`, `.gitignore`d paths, editor swap files and `watch_ignore` never restart
/// anything, even under a glob that matches everything.
#[test]
fn ignored_changes_restart_nothing() {
    let app = app_watching("\"**\"");
    app.write(".gitignore", "tmp/\n*.log\n");
    fs::create_dir_all(app.path().join(".git/refs")).unwrap();
    fs::create_dir_all(app.path().join("tmp")).unwrap();
    fs::create_dir_all(app.path().join("app/cache")).unwrap();
    let running = started(&app);
    app.write(".git/refs/HEAD", "ref\n");
    app.write("tmp/x.rb", "x\n");
    app.write("app/debug.log", "x\n");
    app.write("app/models/.user.rb.swp", "x\n");
    app.write("app/models/user.rb~", "x\n");
    app.write("app/models/4913", "x\n");
    app.write("app/cache/page.html", "x\n");
    assert!(
        !running.appears_within("restarting", Duration::from_millis(1200)),
        "{}",
        running.text()
    );
    // The watcher is alive: a real change does restart.
    app.write("app/models/user.rb", "class User; end # changed\n");
    running.wait_for("web.1 restarting: app/models/user.rb changed");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// `procmux status` shows what each instance watches.
#[test]
fn status_shows_the_watched_globs() {
    let app = app_watching("\"app/**/*.rb\", \"config/*.yml\"");
    let running = started(&app);
    let done = app.procmux(&["status", "--json"]).run();
    let first: serde_json::Value =
        serde_json::from_str(done.text().lines().next().unwrap()).unwrap();
    assert_eq!(
        first["watch"],
        serde_json::json!(["app/**/*.rb", "config/*.yml"])
    );
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// Waits (bounded) for exactly one restart: the line naming `file` (or a file starting so),
/// the new pid, and no second one for longer than the debounce.
fn restarts_once(running: &Running, file: &str) {
    running.wait_for(&format!("web.1 restarting: {file}"));
    running.wait_for_count("| pid ", 3);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        running.text().matches("restarting: ").count(),
        1,
        "{}",
        running.text()
    );
}

/// `tar -x` creates `pkg/`, `pkg/deep/`, `pkg/deep/er/` and the file before procmux can add
/// watches: the file is found by the scan of each new directory, and counts once.
#[test]
fn a_tree_unpacked_into_the_watched_tree_restarts_once() {
    let app = app_watching("\"**/*.py\"");
    let source = tempfile::tempdir().unwrap();
    fs::create_dir_all(source.path().join("pkg/deep/er")).unwrap();
    fs::write(source.path().join("pkg/deep/er/x.py"), "x = 1\n").unwrap();
    let archive = source.path().join("pkg.tar");
    let packed = std::process::Command::new("tar")
        .args(["-cf", archive.to_str().unwrap(), "-C"])
        .arg(source.path())
        .arg("pkg")
        .status()
        .unwrap();
    assert!(packed.success());
    let running = started(&app);
    // Unpacked while procmux is stopped: every directory and the file exist before procmux
    // sees the first event, as on a busy machine.
    nix::sys::signal::kill(running.pid(), Signal::SIGSTOP).unwrap();
    let unpacked = std::process::Command::new("tar")
        .args(["-xf", archive.to_str().unwrap(), "-C"])
        .arg(app.path())
        .status();
    nix::sys::signal::kill(running.pid(), Signal::SIGCONT).unwrap();
    assert!(unpacked.unwrap().success());
    restarts_once(&running, "pkg/deep/er/x.py");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}

/// More events than the inotify queue holds (16384 by default), while procmux is stopped
/// with SIGSTOP: the overflow is said, the tree rescanned, and the process restarted once.
#[test]
fn an_inotify_queue_overflow_is_said_and_restarts_once() {
    let app = app_watching("\"app/**/*.rb\"");
    let running = started(&app);
    nix::sys::signal::kill(running.pid(), Signal::SIGSTOP).unwrap();
    // Two events a file (create, close-write): 20000 files overflow the default queue.
    let burst = std::process::Command::new("python3")
        .arg("-c")
        .arg("import os\nfor i in range(20000):\n    open('app/models/m%d.rb' % i, 'w').close()\n")
        .current_dir(app.path())
        .status();
    nix::sys::signal::kill(running.pid(), Signal::SIGCONT).unwrap();
    assert!(burst.unwrap().success());
    running.wait_for("system   | watch: events were lost (the inotify queue overflowed)");
    restarts_once(&running, "the watched tree");
    // Still watching.
    app.write("app/models/user.rb", "class User; end # changed\n");
    running.wait_for("web.1 restarting: app/models/user.rb changed");
    running.signal(Signal::SIGTERM);
    running.wait().exits_with(143);
}
