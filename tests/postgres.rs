//! The real PostgreSQL (Debian's `postgresql` package), run by procmux as `nobody` in a temp
//! dir on a free port, its socket in that dir: stopped cleanly with a client connected and a
//! query running, and waited for with `pg_isready` before a migration runs.
//!
//! Ignored by plain `cargo test`: `.ci/run` installs PostgreSQL and runs them.

mod support;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{App, DEADLINE, Running, assert_all_gone};

const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;

/// The newest `/usr/lib/postgresql/N/bin`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run .ci/run")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            Some((version, path.join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("no PostgreSQL version installed").1
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `nobody` runs `program ARGS` to its end, bounded by `timeout(1)`; its output.
fn run_as_nobody(program: &Path, args: &[&str]) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let output = Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .uid(NOBODY)
        .gid(NOGROUP)
        .env("HOME", "/nonexistent")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .expect("run a PostgreSQL tool");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// An app dir owned by `nobody` with a fresh cluster in `data` and a socket dir `sock`.
struct Cluster {
    app: App,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn new(procfile: &str) -> Cluster {
        let bin = postgres_bin();
        let port = free_port();
        let procfile = procfile
            .replace("BIN", bin.to_str().unwrap())
            .replace("PGPORT", &port.to_string());
        let app = App::new(&procfile);
        fs::create_dir(app.path().join("sock")).unwrap();
        chown_tree(app.path());
        let data = app.path().join("data");
        let (ok, text) = run_as_nobody(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        assert!(ok, "initdb: {text}");
        Cluster { app, bin, port }
    }

    /// `procmux start` as `nobody`, the db on the cluster's port.
    fn start(&self) -> Running {
        self.app
            .procmux(&["start", "--no-timestamp", "-p", &self.port.to_string()])
            .env("LC_ALL", "C")
            .run_as(NOBODY, NOGROUP)
            .spawn()
    }

    /// `psql -c SQL` as `nobody`, left running.
    fn psql(&self, sql: &str) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new(self.bin.join("psql"))
            .args(["-X", "-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(["-c", sql])
            .uid(NOBODY)
            .gid(NOGROUP)
            .env("HOME", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn psql")
    }

    /// A one-off query's output (tuples only), or its error.
    fn query(&self, sql: &str) -> (bool, String) {
        let port = self.port.to_string();
        run_as_nobody(
            &self.bin.join("psql"),
            &[
                "-X",
                "-At",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
                &port,
                "-c",
                sql,
            ],
        )
    }

    /// `Database cluster state` from `pg_controldata`.
    fn state(&self) -> String {
        let data = self.app.path().join("data");
        let (ok, text) = run_as_nobody(&self.bin.join("pg_controldata"), &[data.to_str().unwrap()]);
        assert!(ok, "pg_controldata: {text}");
        text.lines()
            .find_map(|l| l.strip_prefix("Database cluster state:"))
            .unwrap_or("")
            .trim()
            .to_owned()
    }
}

/// A `procmux.toml` whose db is ready when `pg_isready` says so, then `rest`.
fn db_ready_by_pg_isready(rest: &str) -> String {
    format!(
        "[process.db]\nready = 'exec:{}/pg_isready -h 127.0.0.1 -p $PORT'\nready_interval = 0.2\n{rest}",
        postgres_bin().display()
    )
}

fn chown_tree(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOGROUP}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) for a child to exit; its stderr.
fn finish(mut child: Child) -> String {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("psql did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// The report: with a client connected and a query running, Ctrl-C used to give
/// PostgreSQL SIGTERM (its smart shutdown, which waits for every client), SIGKILL 5 s later,
/// and crash recovery at the next start. Now Ctrl-C (SIGINT) and SIGTERM alike send it
/// SIGINT, its fast shutdown: the query is cancelled, the cluster is cleanly shut down.
#[test]
#[ignore = "needs PostgreSQL: run .ci/run"]
fn postgres_with_a_query_running_stops_with_a_fast_shutdown() {
    let cluster = Cluster::new(
        "db: exec BIN/postgres -D data -k $PWD/sock -h 127.0.0.1 -p $PORT\n\
         web: echo \"web-up $$\"; exec sleep 1000\n",
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let mut running = cluster.start();
        running.wait_for("database system is ready to accept connections");
        running.wait_for("web-up ");
        let mut pids = running.pids_after("web-up");
        pids.extend(running.pids_after("started with pid"));
        let client = cluster.psql("SELECT pg_sleep(30)");
        wait_until("the query to run", || {
            let (_, text) = cluster
                .query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'");
            text.trim() == "1"
        });
        running.signal(signal);
        let done = running.wait();
        let text = done.text();
        assert!(text.contains("received fast shutdown request"), "{text}");
        assert!(text.contains("database system is shut down"), "{text}");
        assert!(!text.contains("SIGKILL"), "{text}");
        let line = match signal {
            Signal::SIGINT => "system | sending SIGINT to all processes\n",
            _ => "system | sending SIGINT to db.1, SIGTERM to web.1\n",
        };
        assert!(text.contains(line), "{line} in {text}");
        let client_error = finish(client);
        assert!(
            client_error.contains("terminating connection due to administrator command"),
            "{client_error}"
        );
        assert_eq!(cluster.state(), "shut down");
        assert_all_gone(&pids);
    }
    // No recovery at the next start.
    let running = cluster.start();
    running.wait_for("database system is ready to accept connections");
    running.signal(Signal::SIGINT);
    let text = running.wait().text();
    assert!(!text.contains("recovery"), "{text}");
    assert!(!text.contains("was interrupted"), "{text}");
}

/// `ready = "exec:pg_isready …"` holds the migration until the database accepts connections:
/// the migration connects once, without retrying, and succeeds, although the database starts
/// listening only a second after it started (as it would after a crash, with recovery to do).
#[test]
#[ignore = "needs PostgreSQL: run .ci/run"]
fn pg_isready_holds_the_migration_until_postgres_accepts_connections() {
    let cluster = Cluster::new(
        "db: sleep 1; exec BIN/postgres -D data -k $PWD/sock -h 127.0.0.1 -p $PORT\n\
         migrate: BIN/psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p PGPORT -U postgres -c 'CREATE TABLE migrated (id int)' && echo migration-done\n\
         web: echo \"web-up $$\"; exec sleep 1000\n",
    );
    cluster.app.write(
        "procmux.toml",
        db_ready_by_pg_isready(
            "[process.migrate]\nafter = [\"db\"]\nready = \"exit:0\"\n\
             [process.web]\nafter = [\"migrate\"]\n",
        ),
    );
    chown_tree(cluster.app.path());
    let mut running = cluster.start();
    running.wait_for("web-up ");
    let mut pids = running.pids_after("web-up");
    pids.extend(running.pids_after("started with pid"));
    let text = running.text();
    assert!(text.contains("migrate.1 | CREATE TABLE"), "{text}");
    assert!(text.contains("migrate.1 | migration-done"), "{text}");
    assert!(
        text.find("database system is ready to accept connections")
            .unwrap()
            < text.find("db.1 is ready").unwrap(),
        "{text}"
    );
    assert!(text.contains("migrate.1 | exited with code 0"), "{text}");
    let (ok, tables) = cluster.query("SELECT count(*) FROM migrated");
    assert!(ok && tables.trim() == "0", "{tables}");
    running.signal(Signal::SIGINT);
    let text = running.wait().text();
    assert!(text.contains("received fast shutdown request"), "{text}");
    assert_all_gone(&pids);
}

/// The release phase with a real migration: `release` waits for PostgreSQL (it needs it:
/// `after = ["db"]`), creates a table with psql, and only then does web start (web's own query
/// of the table succeeds). `procmux restart '*'` restarts db and web (web after db is ready
/// again, as it says `after = ["db"]`) but does not run the migration again (a second `CREATE TABLE` would fail and stop the stack); naming it does.
#[test]
#[ignore = "needs PostgreSQL: run .ci/run"]
fn a_release_phase_migrates_a_real_database_once() {
    let cluster = Cluster::new(
        "db: exec BIN/postgres -D data -k $PWD/sock -h 127.0.0.1 -p $PORT\n\
         release: BIN/psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p PGPORT -U postgres -c 'CREATE TABLE users (id int)'\n\
         web: BIN/psql -X -At -h 127.0.0.1 -p PGPORT -U postgres -c 'SELECT count(*) FROM users' && echo \"web-up $$\" && exec sleep 1000\n",
    );
    cluster.app.write(
        "procmux.toml",
        db_ready_by_pg_isready(
            "[process.release]\nafter = [\"db\"]\n[process.web]\nafter = [\"db\"]\n",
        ),
    );
    chown_tree(cluster.app.path());
    let mut running = cluster.start();
    let text = running.wait_for("web-up ");
    let mut pids = running.pids_after("web-up");
    pids.extend(running.pids_after("started with pid"));
    assert!(text.contains("release.1 | CREATE TABLE"), "{text}");
    assert!(
        text.find("release.1 | exited with code 0").unwrap()
            < text.find("web.1     | started with pid").unwrap(),
        "{text}"
    );
    let restart = |name: &str| {
        let done = cluster
            .app
            .procmux(&["restart", name])
            .run_as(NOBODY, NOGROUP)
            .run();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
    };
    restart("*");
    let text = running.wait_for_count("web-up ", 2);
    pids.extend(running.pids_after("web-up"));
    assert_eq!(text.matches("CREATE TABLE").count(), 1, "{text}");
    // Named, it runs again: the table exists, the migration fails, the stack stops with its code.
    restart("release");
    let done = running.wait();
    let text = done.text();
    assert!(text.contains("relation \"users\" already exists"), "{text}");
    let code = done.code.unwrap();
    assert!(code != 0, "{text}");
    assert!(
        text.contains(&format!("release.1 | exited with code {code}\n")),
        "{text}"
    );
    assert!(text.contains("received fast shutdown request"), "{text}");
    assert_all_gone(&pids);
}

/// `restart_with` with the real PostgreSQL: web holds a connection (a query running); on
/// `procmux restart db` web is stopped first (it ends by its own stop, not by the server
/// going away), PostgreSQL then shuts down cleanly, and web starts again only once
/// `pg_isready` says the database is back, connecting at its first try.
#[test]
#[ignore = "needs PostgreSQL: run .ci/run"]
fn a_web_server_follows_a_real_database_restart() {
    let cluster = Cluster::new(
        "db: exec BIN/postgres -D data -k $PWD/sock -h 127.0.0.1 -p $PORT\n\
         web: BIN/psql -X -At -h 127.0.0.1 -p PGPORT -U postgres -c 'SELECT 41 + 1' && echo \"web-up $$\" && exec BIN/psql -X -h 127.0.0.1 -p PGPORT -U postgres -c 'SELECT pg_sleep(1000)'\n",
    );
    cluster.app.write(
        "procmux.toml",
        db_ready_by_pg_isready("[process.web]\nrestart_with = [\"db\"]\n"),
    );
    chown_tree(cluster.app.path());
    let mut running = cluster.start();
    running.wait_for("web-up ");
    let mut pids = running.pids_after("web-up");
    pids.extend(running.pids_after("started with pid"));
    wait_until("web's query to run", || {
        let (_, text) = cluster
            .query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1000)'");
        text.trim() == "1"
    });
    let done = cluster
        .app
        .procmux(&["restart", "db"])
        .run_as(NOBODY, NOGROUP)
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let text = running.wait_for_count("web-up ", 2);
    pids.extend(running.pids_after("web-up"));
    pids.extend(running.pids_after("started with pid"));
    let restart = text.find("web.1 restarting with db.1").unwrap();
    let after = &text[restart..];
    let web_stopped = after.find("web.1  | terminated by SIGTERM").unwrap();
    let db_stop = after.find("received fast shutdown request").unwrap();
    let db_ready = after.find("system | db.1 is ready").unwrap();
    let web_again = after.find("web.1  | started with pid").unwrap();
    assert!(
        web_stopped < db_stop && db_stop < db_ready && db_ready < web_again,
        "{after}"
    );
    // web never saw the database go away (it did not crash), and reconnected at once. (The
    // server's backend of web's old query still runs until the shutdown ends it: psql does not
    // cancel a query when it is killed.)
    assert!(!text.contains("web.1  | exited with code"), "{text}");
    assert!(!text.contains("web.1  | psql: error"), "{text}");
    assert_eq!(text.matches("web.1  | 42").count(), 2, "{text}");
    running.signal(Signal::SIGINT);
    let done = running.wait();
    assert!(done.text().contains("database system is shut down"));
    assert_all_gone(&pids);
}
