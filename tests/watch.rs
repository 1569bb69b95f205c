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
    running.wait_for("web.1 restarting: ");
    running.wait_for_count("| pid ", 3);
    // Longer than the debounce: no second restart comes.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        running.text().matches("restarting: ").count(),
        1,
        "{}",
        running.text()
    );
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
