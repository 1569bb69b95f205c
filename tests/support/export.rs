//! The harness of `tests/export.rs` and `tests/export_safety.rs`: a project whose commands,
//! env values and root hold every hostile byte, what `procmux start` gives its processes, and
//! running what an exported file says to compare with it.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use super::{App, DEADLINE, Finished, alive, assert_all_gone};

/// The root every process runs in: a directory name holding every hostile byte it may hold.
const ROOT: &str =
    " root 'sq' \"dq\" $HOME $(X) ${X} 50% %(here)s a # b ; c & d \\ e\tf\ng\u{7f}\u{85} ünï ";

/// Env values, in the env file's own grammar (`'…'` literal, `"…"` with `\n` `\t` `\r`).
const ENV: &str = "X_SPACE=\"  lead and trail  \"\n\
    X_SQ=\"it's 'single'\"\n\
    X_DQ='say \"hi\"'\n\
    X_BOTH=\"'both' \\\"kinds\\\"\"\n\
    X_DOLLAR='$HOME $(X_SQ) ${X_SQ} $$ $'\n\
    X_PCT='50% %(here)s %(ENV_HOME)s %%'\n\
    X_HASH='a # not a comment ; nor this'\n\
    X_AMP='a&b|c<d>e'\n\
    X_BS='back\\slash \\n \\'\n\
    X_NL=\"line1\\nline2\\n  indented\\n\"\n\
    X_TAB=\"tab\\there\"\n\
    X_CTRL='del\u{7f} c1\u{85}\u{9b} esc\u{1b}'\n\
    X_CR=\"a\\rb\"\n\
    X_UTF='ünïcødé ✓ 日本'\n\
    X_EMPTY=''\n\
    X_URL='postgres://127.0.0.1:5432/db?a=1&b=2'\n\
    X_PORTS=\"http://localhost:${PORT_SIMPLE}/ ${PORT_MIXED} $PS\"\n\
    chpst='a name the run script must not confuse'\n\
    x.dotted-name='a value dash drops unless it is put back'\n";

/// `simple`'s own directory under the root: a name with blanks, quotes, `$`, `%`, non-ASCII.
pub const SIMPLE_CWD: &str = "sub dir 'sq' \"dq\" $X 50% %(here)s ünï";

/// `simple`'s own env file (beside `procmux.toml`), read after the root's `.env`.
const SIMPLE_ENV: &str = "X_FILE='from its own file: $HOME 50% \"q\"'\n\
    X_TAB=\"replaced by its own file\"\n";

/// `simple`'s settings: a `cwd`, an `env_file`, and an `env` table that replaces `X_DQ` (its
/// command's argument) and interpolates a value of the files.
const SIMPLE_TOML: &str = r#"[process.simple]
cwd = "sub dir 'sq' \"dq\" $X 50% %(here)s ünï"
env_file = ["simple.env"]
env = { X_DQ = "own \"dq\" ${X_SQ} \\$HOME 50%", X_OWN = "a # b ; c & d %(here)s $$" }
"#;

/// The program every process runs: it writes its argv, its `X_*`, `PORT_*`, `PORT` and `PS` variables,
/// its cwd and its pid as JSON into `DUMPS/PS.json`, then sleeps.
const DUMP: &str = r#"import json, os, sys, time
env = {k: v for k, v in os.environ.items() if k.startswith(("X_", "x.", "chpst", "PORT_")) or k in ("PORT", "PS")}
data = {"argv": sys.argv[1:], "env": env, "cwd": os.getcwd(), "pid": os.getpid()}
path = os.path.join(DUMPS, os.environ["PS"] + ".json")
with open(path + ".tmp", "w") as f:
    f.write(json.dumps(data, sort_keys=True))
os.rename(path + ".tmp", path)
time.sleep(1000)
"#;

/// The hostile project: `mixed` is a command for the shell (`;`, `&`, quotes: it runs as is),
/// `simple` one simple command (it runs as `exec …`).
pub struct Hostile {
    pub app: App,
    pub root: PathBuf,
    pub dumps: PathBuf,
}

pub fn hostile() -> Hostile {
    let app = App::new("");
    let root = app.path().join(ROOT);
    let dumps = app.path().join("dumps");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&dumps).unwrap();
    let script = app.path().join("dump.py");
    std::fs::write(
        &script,
        format!("DUMPS = {:?}\n{DUMP}", dumps.to_str().unwrap()),
    )
    .unwrap();
    let script = script.to_str().unwrap();
    app.write(
        "Procfile",
        format!(
            "mixed: python3 {script} ' lead and trail ' \"it's\" 'say \"hi\"' '$HOME $(X_SQ) ${{X}}' '50% %(here)s' 'a # b ; c' 'a&b' 'back\\slash' '\ttab' '\u{7f}\u{85}' 'ünï' \"$X_SQ\" \"$X_NL\"\n\
             simple: python3 {script} plain 'two words' '$HOME' '50%' \"$X_DQ\"\n"
        ),
    );
    std::fs::write(root.join(".env"), ENV).unwrap();
    std::fs::create_dir(root.join(SIMPLE_CWD)).unwrap();
    app.write("simple.env", SIMPLE_ENV);
    app.write("procmux.toml", SIMPLE_TOML);
    Hostile { app, root, dumps }
}

impl Hostile {
    pub fn export(&self, format: &str) -> Finished {
        let root = self.root.to_str().unwrap();
        let done = self
            .app
            .procmux(&[
                "export", format, "out", "--app", "demo", "--root", root, "--image", "demo:1",
            ])
            .run();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        done
    }

    pub fn out(&self) -> PathBuf {
        self.app.path().join("out")
    }

    /// Waits (bounded) for the dump of each of `names` (PS values), then empties the dumps.
    pub fn collect(&self, names: &[&str]) -> BTreeMap<String, Value> {
        let mut dumps = BTreeMap::new();
        for name in names {
            let text = when_written(&self.dumps.join(format!("{name}.json")));
            dumps.insert(name.to_string(), serde_json::from_str(&text).unwrap());
        }
        for entry in std::fs::read_dir(&self.dumps).unwrap().flatten() {
            std::fs::remove_file(entry.path()).unwrap();
        }
        dumps
    }

    /// What `procmux start` gives each process.
    pub fn reference(&self) -> BTreeMap<String, Value> {
        let root = self.root.to_str().unwrap();
        let running = self.app.start(&["--root", root, "--no-timestamp"]);
        let dumps = self.collect(&["mixed.1", "simple.1"]);
        running.signal(Signal::SIGINT);
        running.wait();
        all_gone(&pids(&dumps));
        assert_eq!(
            dumps["mixed.1"]["cwd"],
            Value::from(self.root.to_str().unwrap())
        );
        // A name that is not an identifier reaches a simple command only (as start warns).
        assert!(dumps["simple.1"]["env"]["x.dotted-name"].is_string());
        assert!(dumps["mixed.1"]["env"]["x.dotted-name"].is_null());
        assert_eq!(
            dumps["mixed.1"]["env"]["X_SPACE"],
            Value::from("  lead and trail  ")
        );
        // Env values see the ports and PS each process gets; every process gets PORT_<NAME>.
        for (ps, port) in [("mixed.1", "5000"), ("simple.1", "5100")] {
            let env = &dumps[ps]["env"];
            let expected = format!("http://localhost:5100/ 5000 {ps}");
            assert_eq!(env["X_PORTS"], Value::from(expected), "{ps}");
            assert_eq!(env["PORT"], Value::from(port));
            assert_eq!(env["PORT_SIMPLE"], Value::from("5100"));
        }
        // simple's own directory and variables, after the root's `.env`; mixed has neither.
        let simple = &dumps["simple.1"];
        assert_eq!(
            simple["cwd"],
            Value::from(self.root.join(SIMPLE_CWD).to_str().unwrap())
        );
        assert_eq!(
            simple["env"]["X_DQ"],
            Value::from("own \"dq\" it's 'single' $HOME 50%")
        );
        assert_eq!(simple["argv"][4], simple["env"]["X_DQ"]);
        assert_eq!(
            simple["env"]["X_FILE"],
            Value::from("from its own file: $HOME 50% \"q\"")
        );
        assert_eq!(
            simple["env"]["X_TAB"],
            Value::from("replaced by its own file")
        );
        assert_eq!(
            simple["env"]["X_OWN"],
            Value::from("a # b ; c & d %(here)s $$")
        );
        for key in ["X_FILE", "X_OWN"] {
            assert!(dumps["mixed.1"]["env"][key].is_null(), "{key}");
        }
        assert_eq!(dumps["mixed.1"]["env"]["X_TAB"], Value::from("tab\there"));
        dumps
    }
}

/// Waits (bounded) for `path` to exist, and reads it.
pub fn when_written(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until every pid is gone, and says which are not.
pub fn all_gone(pids: &[Pid]) {
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_all_gone(pids);
}

/// Sends `signal` to `child` and waits (bounded) for its exit; SIGKILL at the deadline.
pub fn stop(child: &mut Child, signal: Signal) {
    let _ = kill(Pid::from_raw(child.id() as i32), signal);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The pids of the processes that dumped.
pub fn pids(dumps: &BTreeMap<String, Value>) -> Vec<Pid> {
    dumps
        .values()
        .map(|d| Pid::from_raw(d["pid"].as_i64().unwrap() as i32))
        .collect()
}

/// Asserts that `got` is what `procmux start` gave, but for the env values named in
/// `left_out` (which the export said on stderr it could not carry).
pub fn assert_same(
    got: &BTreeMap<String, Value>,
    reference: &BTreeMap<String, Value>,
    left_out: &[&str],
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (name, dump) in reference {
        let mut expected = dump.clone();
        for key in left_out {
            expected["env"].as_object_mut().unwrap().remove(*key);
        }
        assert_eq!(got[name]["argv"], expected["argv"], "{name}: argv");
        assert_eq!(got[name]["cwd"], expected["cwd"], "{name}: cwd");
        assert_eq!(got[name]["env"], expected["env"], "{name}: environment");
    }
}

/// The env keys stderr says were left out, in order.
pub fn left_out(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("left out"))
        .filter_map(|l| l.split("not expressible: ").nth(1))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect()
}

/// Runs what a decoded unit, service or plist says: `argv` with `env` over a clean PATH, in
/// `cwd`, in a process group of its own (killed once `ps` has dumped).
pub fn run_decoded(
    hostile: &Hostile,
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    ps: &str,
) -> Value {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let group = Pid::from_raw(child.id() as i32);
    let dumps = hostile.collect(&[ps]);
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
    all_gone(&pids(&dumps));
    dumps[ps].clone()
}

/// Three types with policies: a one-shot migration, a web server after it with its own stop
/// signal and a formation, a worker.
pub fn policies() -> App {
    let app = App::new("migrate: echo migrated\nweb: exec sleep 1000\nworker: exec sleep 1000\n");
    app.write(
        "procmux.toml",
        "formation = \"web=2\"\n[process.migrate]\nready = \"exit:0\"\n[process.web]\nafter = [\"migrate\", \"worker\"]\nstop_signal = \"INT\"\nstop_timeout = 7\non_exit = \"restart\"\nready = \"http://127.0.0.1:$PORT/health?a=1&b=$x\"\n",
    );
    app
}

pub fn export(app: &App, format: &str) -> PathBuf {
    let done = exported(app, format);
    assert!(done.text().contains("wrote "), "{}", done.text());
    app.path().join("out")
}

/// `procmux export FORMAT out --app demo --image demo:1`, which must succeed: what it said.
pub fn exported(app: &App, format: &str) -> Finished {
    let done = app
        .procmux(&[
            "export", format, "out", "--app", "demo", "--image", "demo:1",
        ])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    done
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}
