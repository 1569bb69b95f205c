//! Drives the real `procmux` binary against real Procfiles and real child processes.
//!
//! Every wait has a deadline; `Running` kills procmux and every pid a test learned about if a
//! test fails half-way, so a failure never leaves processes behind.

#![allow(dead_code)]

pub mod export;
pub mod platform;
pub mod socket;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Generous: CI machines are slow and shared. Tests finish far sooner when things work.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A temporary app directory holding a Procfile and whatever else a test writes.
pub struct App {
    dir: tempfile::TempDir,
}

impl App {
    pub fn new(procfile: &str) -> App {
        let app = App {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        app.write("Procfile", procfile);
        app
    }

    /// Writes `name` (a path under the app's directory; missing directories are made).
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> &App {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("make test file's directory");
        }
        fs::write(path, content).expect("write test file");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `procmux start ARGS…`, running: `app.start(&["--no-timestamp"]).wait_for("ready")`.
    pub fn start(&self, args: &[&str]) -> Running {
        let mut all = vec!["start"];
        all.extend_from_slice(args);
        self.procmux(&all).spawn()
    }

    /// `procmux ARGS…` run in the app directory with a neutral environment: no colour
    /// variables, no inherited PORT, unbuffered Python.
    pub fn procmux(&self, args: &[&str]) -> Procmux {
        let mut command = Command::new(env!("CARGO_BIN_EXE_procmux"));
        command.args(args);
        self.neutral(command)
    }

    /// `sh -c SCRIPT` with `$PROCMUX` naming the binary, in the same neutral environment (for
    /// tests that need a shell to set something up before it `exec`s procmux).
    pub fn shell(&self, script: &str) -> Procmux {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .env("PROCMUX", env!("CARGO_BIN_EXE_procmux"));
        self.neutral(command)
    }

    fn neutral(&self, mut command: Command) -> Procmux {
        command
            .current_dir(self.path())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("PORT")
            .env("TERM", "xterm")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Procmux {
            command,
            stdin: None,
        }
    }
}

pub struct Procmux {
    command: Command,
    /// Bytes for a piped stdin.
    stdin: Option<Vec<u8>>,
}

impl Procmux {
    pub fn env(mut self, key: &str, value: &str) -> Procmux {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Procmux {
        self.command.env_remove(key);
        self
    }

    /// procmux's stdin is a pipe the test writes `bytes` into, and keeps open.
    pub fn stdin_bytes(mut self, bytes: &[u8]) -> Procmux {
        self.command.stdin(Stdio::piped());
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Runs it as another user (procmux runs as root in CI; PostgreSQL refuses root). Its
    /// supplementary groups are dropped with root's.
    pub fn run_as(mut self, uid: u32, gid: u32) -> Procmux {
        use std::os::unix::process::CommandExt;
        self.command.uid(uid).gid(gid).env("HOME", "/nonexistent");
        self
    }

    /// procmux's stdout goes to `file` instead of the test (`/dev/full`, say).
    pub fn stdout_to(mut self, file: fs::File) -> Procmux {
        self.command.stdout(file);
        self
    }

    pub fn spawn(mut self) -> Running {
        let mut child = self.command.spawn().expect("spawn procmux");
        let stdin = match (self.stdin.take(), child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => {
                use std::io::Write;
                pipe.write_all(&bytes).expect("write procmux's stdin");
                Some(pipe)
            }
            _ => None,
        };
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done) = mpsc::channel();
        let stdout_pipe = child.stdout.take();
        let sink = Arc::clone(&stdout);
        thread::spawn(move || {
            if let Some(pipe) = stdout_pipe {
                collect(pipe, &sink);
            }
            let _ = done_tx.send(());
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let (stderr_tx, stderr) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr_pipe.read_to_end(&mut buf);
            let _ = stderr_tx.send(buf);
        });
        Running {
            child: Some(child),
            stdout,
            stderr,
            stdout_done: done,
            pids: Vec::new(),
            _stdin: stdin,
        }
    }

    /// Spawns with stdout left for the caller to read (and close).
    pub fn spawn_raw(mut self) -> (Child, ChildStdout) {
        let mut child = self.command.spawn().expect("spawn procmux");
        let stdout = child.stdout.take().expect("stdout");
        (child, stdout)
    }

    /// Runs to the end and returns (exit code, stdout, stderr).
    pub fn run(self) -> Finished {
        self.spawn().wait()
    }
}

fn collect(mut pipe: ChildStdout, sink: &Mutex<Vec<u8>>) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
        }
    }
}

pub struct Finished {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts procmux's exit code, showing what it wrote when it differs.
    pub fn exits_with(&self, code: i32) -> &Finished {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.text(),
            self.stderr
        );
        self
    }

    /// Asserts that stdout has every one of `needles`.
    pub fn shows(&self, needles: &[&str]) -> &Finished {
        let text = self.text();
        for needle in needles {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        self
    }
}

pub struct Running {
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    /// All of stderr, sent by its reader thread at EOF.
    stderr: Receiver<Vec<u8>>,
    stdout_done: Receiver<()>,
    /// Pids the test learned about, killed on drop if still alive.
    pids: Vec<Pid>,
    /// procmux's stdin, held open.
    _stdin: Option<std::process::ChildStdin>,
}

impl Running {
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits until stdout contains `needle`; returns all stdout so far.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(|text| text.contains(needle), needle)
    }

    /// Waits at most `limit` for stdout to contain `needle`; true if it did.
    pub fn appears_within(&self, needle: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.text().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.text().contains(needle)
    }

    /// Waits until stdout contains `needle` `count` times.
    pub fn wait_for_count(&self, needle: &str, count: usize) -> String {
        self.wait_until(|text| text.matches(needle).count() >= count, needle)
    }

    fn wait_until(&self, done: impl Fn(&str) -> bool, what: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.text();
            if done(&text) {
                return text;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what:?}; stdout so far:\n{text}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a `TAG <pid>…` line and returns (and records) the pids of every such line.
    pub fn wait_for_pids(&mut self, tag: &str) -> Vec<Pid> {
        self.wait_for(&format!("{tag} "));
        self.pids_after(tag)
    }

    /// Records pids to clean up (and to check) from every `TAG <pid>…` line seen so far.
    pub fn pids_after(&mut self, tag: &str) -> Vec<Pid> {
        let pids = pids_after(&self.text(), tag);
        self.pids.extend(&pids);
        pids
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal procmux");
    }

    /// Waits (bounded) for procmux to exit and for its stdout to close.
    pub fn wait(mut self) -> Finished {
        let mut child = self.child.take().expect("running");
        // The pids are for the test to check now: dropping `self` must not kill them, or every
        // "gone by pid" assertion would pass whatever procmux did.
        let _ = std::mem::take(&mut self.pids);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "procmux did not exit in {DEADLINE:?}; stdout:\n{}",
                    self.text()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        // Both readers end at EOF, which comes once procmux and whatever it started are gone.
        let _ = self.stdout_done.recv_timeout(DEADLINE);
        let stderr = self.stderr.recv_timeout(DEADLINE).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        Finished {
            code: status.code(),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for &pid in &self.pids {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Each case (the `procmux.toml` to write, `start`'s flags, the start of the error): `procmux
/// start` refuses it with exit 2 and that one line on stderr, and starts nothing (no line of
/// the app's processes, which all say `started`).
pub fn refuses_each(app: &App, cases: &[(&str, &[&str], &str)]) {
    for (toml, flags, start) in cases {
        app.write("procmux.toml", toml);
        let mut args = vec!["start"];
        args.extend_from_slice(flags);
        let done = app.procmux(&args).run();
        assert_eq!(done.code, Some(2), "{toml}{flags:?}: {}", done.stderr);
        assert!(
            done.stderr.starts_with(start),
            "{toml}{flags:?}\n{}",
            done.stderr
        );
        assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
        assert!(!done.text().contains("started"), "{}", done.text());
    }
}

/// Waits (bounded) for a child started with `spawn_raw`; kills it and panics after DEADLINE.
pub fn wait_raw(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("procmux did not exit in {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `f` on another thread and waits at most DEADLINE for its result; on timeout kills
/// `child` (so that blocked reads of its output end) and panics.
pub fn within_deadline<T: Send + 'static>(
    child: &mut Child,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(value) => value,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {DEADLINE:?}");
        }
    }
}

/// Every whitespace-separated number after `TAG` on lines that contain `TAG `.
pub fn pids_after(text: &str, tag: &str) -> Vec<Pid> {
    let marker = format!("{tag} ");
    text.lines()
        .filter_map(|line| line.split_once(&marker).map(|(_, rest)| rest))
        .flat_map(|rest| {
            rest.split_whitespace()
                .filter_map(|w| w.parse::<i32>().ok())
        })
        .map(Pid::from_raw)
        .collect()
}

/// True while `pid` exists and is not a zombie. A process whose first thread exited while
/// others run on says `Z` in its `stat` too, and is alive: it has threads left.
pub fn alive(pid: Pid) -> bool {
    if kill(pid, None).is_err() {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit_once(')')
                .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z'))
                || fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|t| t.count() > 1)
        }
        Err(_) => false,
    }
}

/// Asserts that every pid is gone, allowing a short time for the kernel to finish the job.
pub fn assert_all_gone(pids: &[Pid]) {
    assert!(!pids.is_empty(), "the test learned no pids to check");
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) {
        if start.elapsed() >= Duration::from_secs(2) {
            let left: Vec<Pid> = pids.iter().copied().filter(|&p| alive(p)).collect();
            // A failing test leaves nothing running on the machine either.
            for &pid in &left {
                let _ = kill(pid, Signal::SIGKILL);
            }
            panic!("still alive: {left:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// stdout with `started with pid N` numbers replaced by `N`, for byte-exact comparisons.
pub fn normalize_pids(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once("started with pid ") {
            Some((head, _)) => format!("{head}started with pid N\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

/// The lines of `text` written under `label`, without their prefix.
pub fn lines_of<'a>(text: &'a [u8], label: &str) -> Vec<&'a [u8]> {
    let marker = format!("{label} ");
    text.split(|&b| b == b'\n')
        .filter(|line| line.starts_with(marker.as_bytes()))
        .map(|line| {
            let at = line
                .windows(3)
                .position(|w| w == b" | ")
                .expect("separator");
            &line[at + 3..]
        })
        .collect()
}

pub fn script_path(app: &App, name: &str, body: impl AsRef<[u8]>) -> PathBuf {
    app.write(name, body);
    app.path().join(name)
}

/// Runs a Python `body` that drives a pseudo-terminal, with `procmux` as `sys.argv[1]`, in the
/// app directory, bounded by `timeout`. The body gets `wait_for(master, needle)` (5 s per wait),
/// and `seen`, what the master has shown so far, and `procmux_on_pty(*args)`; it exits
/// non-zero on failure, printing `seen`.
pub fn run_pty_driver(app: &App, body: &str) -> Result<(), String> {
    const PRELUDE: &str = r#"
import fcntl, os, select, signal, struct, sys, termios, time
seen = b""
def wait_for(master, needle, limit=5):
    global seen
    end = time.time() + limit
    while needle not in seen and time.time() < end:
        if select.select([master], [], [], 0.1)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return needle in seen
def fail():
    sys.stderr.write(repr(seen))
    sys.exit(1)
def procmux_on_pty(*args):
    """procmux ARGS in a session of its own, a new pty its terminal: (pid, master)."""
    import pty
    pid, master = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], [sys.argv[1], *args])
    return pid, master
def procmux_on_terminal(slave, *args):
    """procmux ARGS in a session of its own, the pty `slave` (kept open by the caller, so
    its settings can be read after procmux is gone) its controlling terminal: pid."""
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.execv(sys.argv[1], [sys.argv[1], *args])
    return pid
"#;
    app.write("driver.py", format!("{PRELUDE}\n{body}"));
    let output = Command::new("timeout")
        .args(["60", "python3", "driver.py", env!("CARGO_BIN_EXE_procmux")])
        .current_dir(app.path())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
