//! The real esbuild (npm's `esbuild`, installed by `.ci/run` into `target/npm`) in watch
//! mode on a pty, as Rails' `Procfile.dev` runs it: its lines keep their prefix, a rebuild
//! after a change is seen, and it never gets the "waiting for input" hint (it waits for file
//! changes, not for someone to type).
//!
//! Ignored by plain `cargo test`: `.ci/run` installs esbuild and runs it.

mod support;

use std::path::PathBuf;

use support::App;

fn esbuild() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules/.bin/esbuild");
    assert!(
        path.exists(),
        "esbuild is not installed at {}: run .ci/run",
        path.display()
    );
    path
}

#[test]
#[ignore = "needs esbuild: run .ci/run"]
fn esbuild_watch_on_a_pty_keeps_its_prefix_and_gets_no_input_hint() {
    let app = App::new(&format!(
        "assets: {} app.js --bundle --outfile=out.js --watch\n",
        esbuild().display()
    ));
    app.write("app.js", "console.log('one')\n");
    let result = support::run_pty_driver(
        &app,
        r#"
pid, master = procmux_on_pty("start", "--no-timestamp", "--color", "never")
ok = wait_for(master, b"assets.1 | \x1b[37m[watch] build finished, watching for changes...", 10)
# A change: esbuild rebuilds, and says so under its prefix.
with open("app.js.tmp", "w") as f:
    f.write("console.log('two')\n")
os.rename("app.js.tmp", "app.js")
ok = ok and wait_for(master, b"assets.1 | \x1b[37m[watch] build started (change: \"app.js\")", 10)
time.sleep(1)
os.kill(pid, signal.SIGINT)
os.waitpid(pid, 0)
if not ok or b"waiting for input" in seen or b"\x1b[1G" in seen:
    fail()
if "two" not in open("out.js").read():
    fail()
"#,
    );
    result.unwrap();
}
