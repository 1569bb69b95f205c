//! `procmux export`, byte for byte: each format is exported from a project whose commands, env
//! values and root hold every hostile byte (blanks at both ends, quotes, `$`, `$(X)`, `${X}`,
//! `%`, `%(here)s`, ` # `, ` ; `, `&`, backslashes, newlines, tabs, DEL, C1, non-ASCII), the
//! file is read back by the target's own rules (the real runsvdir and supervisord, a decoder
//! of systemd's quoting, PyYAML for Compose and Kubernetes, plistlib for launchd), what it
//! says is run, and a tiny program dumps the argv, environment and cwd it got, compared with
//! what `procmux start` gives it (the harness is `support/export.rs`). What must never harm
//! is in `export_safety.rs`.
//!
//! Tests that need a validator a fresh machine lacks are `#[ignore]`d: `.ci/run` installs
//! them and runs `cargo test -- --include-ignored`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;
use support::App;
use support::export::{
    all_gone, assert_same, export, exported, files_in, hostile, left_out, pids, policies,
    run_decoded, stop, when_written,
};

// --- systemd ---------------------------------------------------------------------------

/// A unit's `[Service]` read by systemd's rules: `Environment=` words unquoted and
/// C-unescaped, then `%%`; `ExecStart=` `%%` first, then words unquoted and C-unescaped,
/// then `$$` (a lone `$` would be a variable: none may be left).
struct Unit {
    env: Vec<(String, String)>,
    exec: Vec<String>,
    cwd: Option<String>,
    kind: String,
}

fn systemd_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(first) = chars.next() else {
            return words;
        };
        let mut word = String::new();
        let quote = (first == '"').then_some('"');
        if quote.is_none() {
            assert!(first != '\\' && first != '\'', "unquoted escape in {text}");
            word.push(first);
        }
        while let Some(c) = chars.next() {
            match c {
                '"' if quote.is_some() => break,
                ' ' if quote.is_none() => break,
                '\\' => match chars.next().unwrap() {
                    'n' => word.push('\n'),
                    't' => word.push('\t'),
                    'r' => word.push('\r'),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        word.push(char::from(u8::from_str_radix(&hex, 16).unwrap()));
                    }
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        word.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    c @ ('\\' | '"' | '\'') => word.push(c),
                    c => panic!("unknown escape \\{c} in {text}"),
                },
                c => {
                    assert!(!c.is_control(), "raw control character in {text:?}");
                    word.push(c);
                }
            }
        }
        words.push(word);
    }
}

fn dollars(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            assert_eq!(chars.next(), Some('$'), "a lone $ in {word:?}");
        }
        out.push(c);
    }
    out
}

fn decode_unit(text: &str) -> Unit {
    let mut unit = Unit {
        env: Vec::new(),
        exec: Vec::new(),
        cwd: None,
        kind: String::new(),
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "Environment" => {
                for word in systemd_words(value) {
                    let word = word.replace("%%", "%");
                    let (k, v) = word.split_once('=').unwrap();
                    unit.env.push((k.to_owned(), v.to_owned()));
                }
            }
            "ExecStart" => {
                unit.exec = systemd_words(&value.replace("%%", "%"))
                    .iter()
                    .map(|w| dollars(w))
                    .collect();
            }
            "WorkingDirectory" => unit.cwd = Some(value.replace("%%", "%")),
            "Type" => unit.kind = value.to_owned(),
            _ => {}
        }
    }
    unit
}

/// systemd: each unit decoded by systemd's rules runs what `procmux start` runs.
#[test]
fn systemd_units_decode_to_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("systemd");
    assert_eq!(
        left_out(&done.stderr),
        Vec::<String>::new(),
        "{}",
        done.stderr
    );
    let mut got = BTreeMap::new();
    for ps in ["mixed.1", "simple.1"] {
        let text =
            std::fs::read_to_string(hostile.out().join(format!("demo-{ps}.service"))).unwrap();
        let unit = decode_unit(&text);
        assert_eq!(unit.kind, "simple");
        // The root needs bytes WorkingDirectory= cannot hold: the shell enters it.
        assert_eq!(unit.cwd, None, "{text}");
        got.insert(
            ps.to_owned(),
            run_decoded(&hostile, &unit.exec, &unit.env, Path::new("/"), ps),
        );
    }
    assert_same(&got, &reference, &[]);
}

/// `systemd-analyze verify` exits 0 on unknown keys: any output at all is a failure.
fn verify_units(dir: &Path, user: bool) {
    let runtime = tempfile::tempdir().unwrap();
    let mut command = Command::new("systemd-analyze");
    if user {
        command.arg("--user");
    }
    let verify = command
        .args(["verify", "--man=no"])
        .args(files_in(dir))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("systemd-analyze (Debian's systemd; .ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(verify.status.success() && text.trim().is_empty(), "{text}");
}

/// systemd-analyze accepts the hostile units and a project with policies, `after` and a
/// one-shot (`Type=oneshot`, `RemainAfterExit=yes`: what is after it waits for its end).
#[test]
#[ignore = "needs systemd-analyze: run .ci/run"]
fn systemd_units_verify_cleanly() {
    let hostile = hostile();
    hostile.export("systemd");
    verify_units(&hostile.out(), false);

    let app = policies();
    let out = export(&app, "systemd");
    assert_eq!(files_in(&out).len(), 5);
    verify_units(&out, false);
    let web = std::fs::read_to_string(out.join("demo-web.2.service")).unwrap();
    assert!(
        web.contains("Environment=\"PORT=5101\"\nEnvironment=\"PS=web.2\""),
        "{web}"
    );
    assert!(web.contains("KillMode=control-group\nKillSignal=SIGINT\nTimeoutStopSec=7"));
    assert!(
        web.contains("After=demo-migrate.1.service demo-worker.1.service"),
        "{web}"
    );
    let migrate = std::fs::read_to_string(out.join("demo-migrate.1.service")).unwrap();
    assert!(
        migrate.contains("Type=oneshot\nRemainAfterExit=yes\n"),
        "{migrate}"
    );

    let user = policies();
    let out = export(&user, "systemd-user");
    verify_units(&out, true);
    let target = std::fs::read_to_string(out.join("demo.target")).unwrap();
    assert!(target.contains("WantedBy=default.target"), "{target}");
}

// --- runit -----------------------------------------------------------------------------

fn service_pid(service: &Path) -> Pid {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(service.join("supervise/pid"))
            && let Ok(pid) = text.trim().parse()
        {
            return Pid::from_raw(pid);
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "{} never ran",
            service.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// runit runs the exported services for real (runsvdir over the output directory): the
/// processes get what `procmux start` gives them, byte for byte.
#[test]
#[ignore = "needs runit (runsvdir, chpst): run .ci/run"]
fn runit_runs_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("runit");
    assert_eq!(
        left_out(&done.stderr),
        Vec::<String>::new(),
        "{}",
        done.stderr
    );
    let mut runsvdir = Command::new("runsvdir")
        .arg(hostile.out())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runsvdir (Debian's runit)");
    let got = hostile.collect(&["mixed.1", "simple.1"]);
    let mut services = pids(&got);
    services.push(service_pid(&hostile.out().join("demo-mixed-1")));
    services.push(service_pid(&hostile.out().join("demo-simple-1")));
    // SIGHUP: runsvdir sends TERM to each runsv, which stops its service with `control/t`.
    stop(&mut runsvdir, Signal::SIGHUP);
    all_gone(&services);
    assert_same(&got, &reference, &[]);
}

/// `sv down` stops the whole tree with the configured stop signal (a grandchild that handles
/// SIGINT says it got it), and SIGKILLs what ignores it after the stop timeout: no process of
/// the service is left, checked by pid.
#[test]
#[ignore = "needs runit (runsv, sv, chpst): run .ci/run"]
fn runit_sv_down_leaves_no_descendant() {
    let app = App::new("");
    let trap = app.path().join("trap.py");
    std::fs::write(
        &trap,
        "import os, signal, sys, time\n\
         def stop(number, frame):\n\
         \x20   open('got', 'w').write(signal.Signals(number).name)\n\
         \x20   sys.exit(0)\n\
         signal.signal(signal.SIGINT, stop)\n\
         signal.signal(signal.SIGTERM, stop)\n\
         open('trap.pid.tmp', 'w').write(str(os.getpid()))\n\
         os.rename('trap.pid.tmp', 'trap.pid')\n\
         time.sleep(1000)\n",
    )
    .unwrap();
    app.write(
        "Procfile",
        format!(
            "db: sh -c 'python3 {} & sleep 1000 & echo $$ $! > pids.tmp; mv pids.tmp pids; wait'\n",
            trap.display()
        ),
    );
    app.write(
        "procmux.toml",
        "[process.db]\nstop_signal = \"INT\"\nstop_timeout = 1\n",
    );
    let out = export(&app, "runit");
    let service = out.join("demo-db-1");
    let mut runsv = Command::new("runsv")
        .arg(&service)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runsv (Debian's runit)");
    let leader = service_pid(&service);
    let read = |name: &str| when_written(&app.path().join(name));
    let mut pids: Vec<Pid> = read("pids")
        .split_whitespace()
        .map(|p| Pid::from_raw(p.parse().unwrap()))
        .collect();
    pids.push(Pid::from_raw(read("trap.pid").parse().unwrap()));
    pids.push(leader);
    let started = Instant::now();
    let down = Command::new("sv")
        .args(["-w", "10", "down"])
        .arg(&service)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stdout)
    );
    all_gone(&pids);
    let elapsed = started.elapsed();
    stop(&mut runsv, Signal::SIGTERM);
    assert_eq!(read("got"), "SIGINT");
    // The sleep ignores SIGINT (a background job of sh): SIGKILL after the 1 s timeout.
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
}

// --- supervisord -----------------------------------------------------------------------

/// supervisord (its own socket and pidfile in the test's directory, in the foreground) runs
/// the exported programs: they get what `procmux start` gives them, but the value with a
/// carriage return, which its config reader cannot keep and the export says so.
#[test]
#[ignore = "needs supervisord (PyPI supervisor): run .ci/run"]
fn supervisord_runs_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("supervisord");
    assert_eq!(left_out(&done.stderr), ["X_CR"], "{}", done.stderr);
    let dir = hostile.app.path();
    hostile.app.write(
        "supervisord.conf",
        format!(
            "[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n\
             [unix_http_server]\nfile={d}/supervisor.sock\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [include]\nfiles = {d}/out/demo.conf\n",
            d = dir.display()
        ),
    );
    let mut supervisord = Command::new("supervisord")
        .args(["-n", "-c"])
        .arg(dir.join("supervisord.conf"))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("supervisord (PyPI supervisor; .ci/run installs it)");
    let got = hostile.collect(&["mixed.1", "simple.1"]);
    stop(&mut supervisord, Signal::SIGTERM);
    all_gone(&pids(&got));
    assert_same(&got, &reference, &["X_CR"]);
}

// --- Compose and Kubernetes ------------------------------------------------------------

/// The documents of a YAML file, as PyYAML reads them.
fn yaml_documents(file: &Path) -> Vec<Value> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\nprint(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))",
        ])
        .arg(file)
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "PyYAML: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs a validator on `file`; asserts it accepts it, and returns what it said.
fn validate(program: &str, args: &[&str], file: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (.ci/run installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program}: {text}");
    text
}

const COMPOSE_SPEC: [&str; 2] = ["--builtin-schema", "vendor.compose-spec"];

/// Asserts that the export warned about the loopback address in `X_URL`.
fn warns_of_loopback(done: &support::Finished) {
    assert!(
        done.stderr
            .contains("procmux: export: warning: X_URL: names a loopback address"),
        "{}",
        done.stderr
    );
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Compose: PyYAML reads the file, `$$` is `$` (no lone `$` is left to interpolate), and the
/// service's command and environment, run in the root (the image's WORKDIR stands for it),
/// are what `procmux start` gives; the compose-spec schema accepts it; a loopback address
/// in an env value is warned about.
#[test]
#[ignore = "needs PyYAML and check-jsonschema: run .ci/run"]
fn compose_reads_back_to_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("compose");
    warns_of_loopback(&done);
    let file = hostile.out().join("compose.yaml");
    validate("check-jsonschema", &COMPOSE_SPEC, &file);
    let [compose] = &yaml_documents(&file)[..] else {
        panic!("one document");
    };
    let mut got = BTreeMap::new();
    for name in ["mixed", "simple"] {
        let service = &compose["services"][name];
        let argv: Vec<String> = strings(&service["command"])
            .iter()
            .map(|w| dollars(w))
            .collect();
        let env: Vec<(String, String)> = service["environment"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), dollars(v.as_str().unwrap())))
            .collect();
        let ps = format!("{name}.1");
        got.insert(
            ps.clone(),
            run_decoded(&hostile, &argv, &env, &hostile.root, &ps),
        );
    }
    assert_same(&got, &reference, &[]);
}

/// Compose from the policies: the http probe is one quoted word of the `CMD-SHELL` line (run
/// by sh, it reaches wget as one argument), `service_completed_successfully` for the
/// one-shot, `service_healthy` for a probed dependency.
#[test]
#[ignore = "needs check-jsonschema: run .ci/run"]
fn compose_matches_the_compose_spec() {
    let app = policies();
    let out = export(&app, "compose");
    let file = out.join("compose.yaml");
    validate("check-jsonschema", &COMPOSE_SPEC, &file);
    let compose: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let web = &compose["services"]["web"];
    assert_eq!(web["deploy"]["replicas"], 2);
    assert_eq!(web["stop_signal"], "SIGINT");
    assert_eq!(
        web["depends_on"]["migrate"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(web["depends_on"]["worker"]["condition"], "service_started");
    let test = strings(&web["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD-SHELL");
    let words = Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf '%s\\n' {}",
                dollars(&test[1]).replace("wget -q -O /dev/null ", "")
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&words.stdout),
        "http://127.0.0.1:5100/health?a=1&b=$x\n"
    );
    let done = app.procmux(&["export", "compose"]).run();
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("--image IMAGE"), "{}", done.stderr);
}

/// The kubelet's expansion of `command`: `$$` is `$`, `$(VAR)` the variable's value.
fn kubelet_expand(input: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(')
            && let Some(end) = tail.find(')')
        {
            match env.get(&tail[..end]) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[at..at + end + 3]),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out + rest
}

/// Kubernetes: PyYAML reads every document, the command is expanded as the kubelet expands
/// it (every env value defined), and what runs gets what `procmux start` gives (PS is the
/// pod's name there: the test sets it); `kubernetes-validate --strict` accepts it.
#[test]
#[ignore = "needs PyYAML and kubernetes-validate: run .ci/run"]
fn kubernetes_reads_back_to_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("kubernetes");
    warns_of_loopback(&done);
    let file = hostile.out().join("demo.yaml");
    validate("kubernetes-validate", &["--strict"], &file);
    let documents = yaml_documents(&file);
    // Each ConfigMap's and Secret's variables, by name.
    let mut sources: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for document in &documents {
        for field in ["data", "stringData"] {
            if let Some(map) = document[field].as_object() {
                let name = document["metadata"]["name"].as_str().unwrap().to_owned();
                let vars = map
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
                sources.entry(name).or_default().extend(vars);
            }
        }
    }
    let mut got = BTreeMap::new();
    for document in documents.iter().filter(|d| d["kind"] == "Deployment") {
        let container = &document["spec"]["template"]["spec"]["containers"][0];
        let name = container["name"].as_str().unwrap();
        let ps = format!("{name}.1");
        // envFrom in order, the last source of a key winning, as the kubelet does.
        let mut env = BTreeMap::new();
        for source in container["envFrom"].as_array().unwrap() {
            let reference = source
                .get("configMapRef")
                .or_else(|| source.get("secretRef"))
                .unwrap();
            let vars = &sources[reference["name"].as_str().unwrap()];
            env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        env.insert("PS".to_owned(), ps.clone());
        env.insert(
            "PORT".to_owned(),
            container["env"][0]["value"].as_str().unwrap().to_owned(),
        );
        let argv: Vec<String> = strings(&container["command"])
            .iter()
            .map(|w| kubelet_expand(w, &env))
            .collect();
        let env: Vec<(String, String)> = env.into_iter().collect();
        got.insert(
            ps.clone(),
            run_decoded(&hostile, &argv, &env, &hostile.root, &ps),
        );
    }
    assert_same(&got, &reference, &[]);
}

/// Kubernetes from the policies: a Job for the one-shot, selectors = template labels, the
/// stop signal and `after` said in an annotation and on stderr.
#[test]
#[ignore = "needs kubernetes-validate: run .ci/run"]
fn kubernetes_validates_strictly() {
    let app = policies();
    let done = exported(&app, "kubernetes");
    assert!(
        done.stderr.contains("web: stop_signal = SIGINT"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("web: after = "), "{}", done.stderr);
    let file = app.path().join("out/demo.yaml");
    let text = validate("kubernetes-validate", &["--strict"], &file);
    assert!(text.contains("deployment/demo-web"), "{text}");
    assert!(text.contains("job/demo-migrate"), "{text}");
    let text = std::fs::read_to_string(&file).unwrap();
    for document in text.split("---\n").filter(|d| !d.trim().is_empty()) {
        let value: Value = serde_json::from_str(document).unwrap();
        if value["kind"] == "Deployment" {
            assert_eq!(
                value["spec"]["selector"]["matchLabels"],
                value["spec"]["template"]["metadata"]["labels"]
            );
        }
        if value["metadata"]["name"] == "demo-web" && value["kind"] == "Deployment" {
            let note = value["metadata"]["annotations"]["procmux/not-expressible"].as_str();
            assert!(note.unwrap().contains("stop_signal = SIGINT"), "{value}");
        }
    }
}

// --- launchd ---------------------------------------------------------------------------

/// launchd: Python's plistlib reads each property list strictly, and what it says runs as
/// `procmux start` runs it, but the value with an escape character, which XML 1.0 cannot
/// carry and the export says so.
#[test]
fn launchd_plists_read_back_to_what_start_runs() {
    let hostile = hostile();
    let reference = hostile.reference();
    let done = hostile.export("launchd");
    assert_eq!(left_out(&done.stderr), ["X_CTRL"], "{}", done.stderr);
    let mut got = BTreeMap::new();
    for ps in ["mixed.1", "simple.1"] {
        let plist = hostile.out().join(format!("demo.{ps}.plist"));
        let output = Command::new("python3")
            .args([
                "-c",
                "import json, plistlib, sys\nd = plistlib.load(open(sys.argv[1], 'rb'), fmt=plistlib.FMT_XML)\nprint(json.dumps(d))",
            ])
            .arg(&plist)
            .output()
            .expect("python3");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let plist: Value = serde_json::from_slice(&output.stdout).unwrap();
        let env: Vec<(String, String)> = plist["EnvironmentVariables"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let cwd = PathBuf::from(plist["WorkingDirectory"].as_str().unwrap());
        let argv = strings(&plist["ProgramArguments"]);
        got.insert(ps.to_owned(), run_decoded(&hostile, &argv, &env, &cwd, ps));
    }
    assert_same(&got, &reference, &["X_CTRL"]);
}

// --- per-process directory and variables ---------------------------------------------------

/// A process with its own `cwd`, `env_file` and `env`, in a plain root: every format runs it
/// in its directory with its variables, and the others without them (the round trips of the
/// hostile project check the bytes; this checks each format's own setting for a directory).
#[test]
fn every_format_carries_a_process_cwd_and_env() {
    let app = App::new("api: exec sleep 1000\nweb: exec sleep 1000\n");
    std::fs::create_dir(app.path().join("api")).unwrap();
    app.write("api/.env", "API_ONLY=from-file\n");
    app.write(
        "procmux.toml",
        "[process.api]\ncwd = \"api\"\nenv_file = [\"api/.env\"]\nenv = { API_KEY_NAME = \"k-${API_ONLY}\" }\n",
    );
    let root = std::fs::canonicalize(app.path()).unwrap();
    let api = root.join("api");
    let api = api.to_str().unwrap();
    let read = |path: &str| std::fs::read_to_string(app.path().join("out").join(path)).unwrap();
    let clean = |app: &App| std::fs::remove_dir_all(app.path().join("out")).unwrap();

    export(&app, "systemd");
    let unit = read("demo-api.1.service");
    assert!(
        unit.contains(&format!("WorkingDirectory={api}\n")),
        "{unit}"
    );
    assert!(
        unit.contains("Environment=\"API_ONLY=from-file\"\n"),
        "{unit}"
    );
    assert!(
        unit.contains("Environment=\"API_KEY_NAME=k-from-file\"\n"),
        "{unit}"
    );
    let web = read("demo-web.1.service");
    assert!(web.contains(&format!("WorkingDirectory={}\n", root.display())));
    assert!(!web.contains("API_ONLY"), "{web}");
    clean(&app);

    export(&app, "runit");
    let run = read("demo-api-1/run");
    assert!(run.contains(&format!("cd '{api}' || exit 1")), "{run}");
    assert!(run.contains("export API_KEY_NAME='k-from-file'"), "{run}");
    assert!(!read("demo-web-1/run").contains("API_ONLY"));
    clean(&app);

    export(&app, "supervisord");
    let conf = read("demo.conf");
    let (api_part, web_part) = conf.split_once("[program:demo-web]").unwrap();
    assert!(
        api_part.contains(&format!("cd '\\''{api}'\\'' || exit 1")),
        "{conf}"
    );
    assert!(api_part.contains("API_ONLY=from-file"), "{conf}");
    assert!(!web_part.contains("API_ONLY"), "{conf}");
    clean(&app);

    export(&app, "launchd");
    let plist = read("demo.api.1.plist");
    assert!(
        plist.contains(&format!("<string>{api}</string>")),
        "{plist}"
    );
    assert!(plist.contains("<string>k-from-file</string>"), "{plist}");
    clean(&app);

    let out = export(&app, "compose");
    let compose: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap()).unwrap();
    let service = &compose["services"]["api"];
    assert_eq!(service["command"][2], "cd 'api' || exit 1; exec sleep 1000");
    assert_eq!(service["environment"]["API_KEY_NAME"], "k-from-file");
    assert!(compose["services"]["web"]["environment"]["API_ONLY"].is_null());
    clean(&app);

    export(&app, "kubernetes");
    let documents: Vec<Value> = read("demo.yaml")
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let named = |kind: &str, name: &str| {
        documents
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name}"))
    };
    assert_eq!(
        named("ConfigMap", "demo-api-env")["data"]["API_ONLY"],
        "from-file"
    );
    // A secret-looking key goes to the process's own Secret.
    assert_eq!(
        named("Secret", "demo-api-secrets")["stringData"]["API_KEY_NAME"],
        "k-from-file"
    );
    let container = &named("Deployment", "demo-api")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["envFrom"][2]["configMapRef"]["name"],
        "demo-api-env"
    );
    assert_eq!(
        container["envFrom"][3]["secretRef"]["name"],
        "demo-api-secrets"
    );
    assert_eq!(
        container["command"][2],
        "cd 'api' || exit 1; exec sleep 1000"
    );
    let web = &named("Deployment", "demo-web")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web["envFrom"].as_array().unwrap().len(), 2);
}

// --- the release phase -------------------------------------------------------------------

/// A project with a release phase that waits for db, and a web server held by it.
fn with_release() -> App {
    let app = App::new("db: exec sleep 1000\nrelease: echo migrated\nweb: exec sleep 1000\n");
    app.write("procmux.toml", "[process.release]\nafter = [\"db\"]\n");
    app
}

/// Each format's mapping of the release phase: a systemd oneshot the others want, start after
/// and require; a Compose service the others wait for with `service_completed_successfully`,
/// never restarted; a Kubernetes Job (an Argo CD PreSync hook); and the engines that cannot
/// hold the others say so, in the file and on stderr.
#[test]
fn every_format_maps_the_release_phase() {
    let app = with_release();
    let read = |path: &str| std::fs::read_to_string(app.path().join("out").join(path)).unwrap();
    let clean = |app: &App| std::fs::remove_dir_all(app.path().join("out")).unwrap();

    export(&app, "systemd");
    let release = read("demo-release.1.service");
    assert!(
        release.contains("Type=oneshot\nRemainAfterExit=yes\n"),
        "{release}"
    );
    assert!(release.contains("After=demo-db.1.service\n"), "{release}");
    assert!(!release.contains("Requires="), "{release}");
    let web = read("demo-web.1.service");
    assert!(web.contains("After=demo-release.1.service\n"), "{web}");
    assert!(web.contains("Requires=demo-release.1.service\n"), "{web}");
    assert!(
        !read("demo-db.1.service").contains("release"),
        "db starts before it"
    );
    clean(&app);

    let out = export(&app, "compose");
    let compose: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap()).unwrap();
    assert_eq!(
        compose["services"]["web"]["depends_on"]["release"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(compose["services"]["release"]["restart"], "no");
    assert!(compose["services"]["db"]["depends_on"].is_null());
    clean(&app);

    let done = exported(&app, "kubernetes");
    assert!(
        done.stderr
            .contains("release: the release phase: a Job Argo CD runs first"),
        "{}",
        done.stderr
    );
    let job: Value = read("demo.yaml")
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|d| d["kind"] == "Job")
        .expect("a Job");
    assert_eq!(job["metadata"]["name"], "demo-release");
    assert_eq!(
        job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
        "PreSync"
    );
    clean(&app);

    for format in ["supervisord", "runit", "launchd"] {
        let done = exported(&app, format);
        let said = format!("release: the release phase: {format} cannot hold the other processes");
        assert!(done.stderr.contains(&said), "{format}: {}", done.stderr);
        let written: String = files_in(&app.path().join("out"))
            .iter()
            .filter(|p| p.is_file())
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let runit_written: String = if format == "runit" {
            std::fs::read_to_string(app.path().join("out/demo-release-1/run")).unwrap()
        } else {
            String::new()
        };
        assert!(
            (written + &runit_written).contains("the release phase"),
            "{format}: the note is in the file too"
        );
        clean(&app);
    }
}

/// The release mapping passes the targets' own checks: systemd-analyze, the compose-spec
/// schema, kubernetes-validate --strict.
#[test]
#[ignore = "needs systemd-analyze, check-jsonschema and kubernetes-validate: run .ci/run"]
fn the_release_mapping_validates() {
    let app = with_release();
    let out = export(&app, "systemd");
    verify_units(&out, false);
    std::fs::remove_dir_all(&out).unwrap();
    let out = export(&app, "compose");
    validate("check-jsonschema", &COMPOSE_SPEC, &out.join("compose.yaml"));
    std::fs::remove_dir_all(&out).unwrap();
    let out = export(&app, "kubernetes");
    let text = validate("kubernetes-validate", &["--strict"], &out.join("demo.yaml"));
    assert!(text.contains("job/demo-release"), "{text}");
}
