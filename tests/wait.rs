//! `procmux wait`: a script's way to block until the stack is ready, with real stacks.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, assert_all_gone};

const STACK: &str = "web: echo \"pid $$\"; sleep 0.8; echo listening; exec sleep 1000\n\
                     migrate: echo migrated\n\
                     bad: echo \"pid $$\"; echo 'boom \"quoted\" $HOME'; sleep 1.5; exit 3\n";

const CONFIG: &str = "[process.web]\nready = \"log:listening\"\n\
                      [process.migrate]\non_exit = \"ignore\"\n\
                      [process.bad]\non_exit = \"ignore\"\n";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

#[test]
fn wait_exits_0_once_ready_and_1_naming_a_failure_with_its_last_lines() {
    let app = App::new(STACK);
    app.write("procmux.toml", CONFIG);
    let started = Instant::now();
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    // Before anything is ready: wait blocks until web's line, migrate done with 0 counts.
    let done = app.procmux(&["wait", "web", "migrate"]).run();
    done.exits_with(0);
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(done.text().is_empty(), "{}", done.text());
    let done = app.procmux(&["status", "--json"]).run();
    let web = done.text().lines().map(json).find(|r| r["name"] == "web.1");
    assert_eq!(web.expect("web.1")["state"], "ready");

    // All: bad exited with 3 (its lines are the tail's).
    running.wait_for("exited with code 3");
    let done = app.procmux(&["wait", "--timeout", "10s"]).run();
    done.exits_with(1);
    assert!(
        done.stderr
            .contains("bad.1 exited with code 3; its last lines:"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("boom \"quoted\" $HOME"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("listening"), "{}", done.stderr);

    let done = app.procmux(&["wait", "--json", "b*"]).run();
    done.exits_with(1);
    let doc = json(&done.text());
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(doc["failure"]["name"], "bad.1");
    assert_eq!(doc["failure"]["exit_code"], 3);
    let lines = doc["failure"]["last_lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().ends_with("boom \"quoted\" $HOME")),
        "{lines:?}"
    );
    assert_eq!(doc["instances"].as_array().unwrap().len(), 3);

    let done = app.procmux(&["wait", "--json", "web"]).run();
    done.exits_with(0);
    assert_eq!(json(&done.text())["outcome"], "ready");

    let pids = running.pids_after("pid");
    running.signal(Signal::SIGTERM);
    running.wait();
    assert_all_gone(&pids);
}

#[test]
fn wait_times_out_with_what_is_not_ready() {
    let app = App::new("slow: echo \"pid $$\"; exec sleep 1000\nquick: exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "[process.slow]\nready = \"log:never\"\nready_timeout = 60\n",
    );
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    let pids = running.wait_for_pids("pid");
    let started = Instant::now();
    let done = app.procmux(&["wait", "--timeout", "0.5s"]).run();
    done.exits_with(1);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        done.stderr
            .contains("timed out after 0.5s waiting for slow.1 (starting)"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("quick"), "{}", done.stderr);

    let done = app.procmux(&["wait", "--timeout", "300ms", "--json"]).run();
    done.exits_with(1);
    let doc = json(&done.text());
    assert_eq!(doc["outcome"], "timeout");
    assert_eq!(doc["pending"], serde_json::json!(["slow.1"]));

    app.procmux(&["wait", "--timeout", "1s", "quick"])
        .run()
        .exits_with(0);
    // The stack ends while waited for: 1 at once, not at the timeout.
    let waiting = app.procmux(&["wait", "--timeout", "60s"]).spawn();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    running.signal(Signal::SIGTERM);
    running.wait();
    let done = waiting.wait();
    done.exits_with(1);
    assert!(stopped.elapsed() < Duration::from_secs(10));
    assert_all_gone(&pids);
}

#[test]
fn wait_without_a_stack_and_with_bad_input() {
    let app = App::new("web: exec sleep 1000\n");
    let started = Instant::now();
    let done = app.procmux(&["wait", "--timeout", "300ms"]).run();
    done.exits_with(1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        done.stderr.contains("no procmux is running for Procfile"),
        "{}",
        done.stderr
    );
    let done = app.procmux(&["wait", "--timeout", "soon"]).run();
    done.exits_with(2);
    assert!(
        done.stderr.contains("--timeout: \"soon\""),
        "{}",
        done.stderr
    );
    let done = app.procmux(&["wait", "--timeout", "1h2"]).run();
    done.exits_with(2);
    let done = app.procmux(&["wait", "--timeout", "-1"]).run();
    done.exits_with(2);
}

#[test]
fn wait_for_a_name_the_stack_lacks_is_a_usage_error() {
    let app = App::new("web: echo \"pid $$\"; exec sleep 1000\n");
    let mut running = app.start(&["--no-timestamp", "--pty", "never"]);
    let pids = running.wait_for_pids("pid");
    let done = app.procmux(&["wait", "nope", "--timeout", "5s"]).run();
    done.exits_with(2);
    assert!(
        done.stderr.contains("no process named \"nope\""),
        "{}",
        done.stderr
    );
    running.signal(Signal::SIGTERM);
    running.wait();
    assert_all_gone(&pids);
}
