//! `procmux export`, checked by each target's own tool, and run for real: runit and
//! supervisord start the exported stack and its processes see the right PORT, PS and env
//! values, byte for byte.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::App;

/// Two types, a formation, values that broke other exporters (`%`, `$`, quotes, a backslash,
/// commas, spaces, a newline), policies and `after`. Each process writes what it got into
/// files named after its PS, then sleeps.
fn project() -> App {
    let app = App::new(
        "web: printf '%s' \"$TRICKY\" > \"got-$PS-tricky\"; printf '%s %s' \"$PORT\" \"$PS\" > \"got-$PS-port\"; exec sleep 1000\n\
         worker: printf '%s' \"$TRICKY\" > \"got-$PS-tricky\"; printf '%s %s' \"$PORT\" \"$PS\" > \"got-$PS-port\"; exec sleep 1000\n",
    );
    app.write(
        ".env",
        "TRICKY='50% off $HOME \"q\" back\\slash, a b'\nPLAIN=x\n",
    );
    app.write(
        "procmux.toml",
        "formation = \"web=2\"\n[process.web]\nafter = [\"worker\"]\nstop_signal = \"INT\"\nstop_timeout = 7\non_exit = \"restart\"\n",
    );
    app
}

const TRICKY: &str = "50% off $HOME \"q\" back\\slash, a b";

fn export(app: &App, format: &str) -> std::path::PathBuf {
    let done = app
        .procmux(&["export", format, "out", "--app", "demo"])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.text().contains("wrote "), "{}", done.text());
    app.path().join("out")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// `systemd-analyze verify` exits 0 on unknown keys: any output at all is a failure.
#[test]
fn systemd_units_verify_cleanly() {
    let app = project();
    let out = export(&app, "systemd");
    let files = files_in(&out);
    assert_eq!(files.len(), 4, "{files:?}");
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .expect("systemd-analyze (Debian's systemd)");
    assert!(verify.status.success());
    assert_eq!(
        String::from_utf8_lossy(&verify.stderr).trim(),
        "",
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let web = std::fs::read_to_string(out.join("demo-web.2.service")).unwrap();
    assert!(
        web.contains("Environment=\"PORT=5001\"\nEnvironment=\"PS=web.2\""),
        "{web}"
    );
    assert!(web.contains("Environment=\"TRICKY=50%% off $HOME \\\"q\\\" back\\\\slash, a b\""));
    assert!(web.contains("KillMode=control-group\nKillSignal=SIGINT\nTimeoutStopSec=7"));
    assert!(web.contains("After=demo-worker.1.service"));

    let user = project();
    let out = export(&user, "systemd-user");
    let runtime = tempfile::tempdir().unwrap();
    let verify = Command::new("systemd-analyze")
        .args(["--user", "verify", "--man=no"])
        .args(files_in(&out))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    assert!(verify.status.success());
    assert_eq!(String::from_utf8_lossy(&verify.stderr).trim(), "");
    let target = std::fs::read_to_string(out.join("demo.target")).unwrap();
    assert!(target.contains("WantedBy=default.target"), "{target}");
}

/// Waits (bounded) until `path` exists and holds something.
fn read_when_written(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// runit runs an exported service for real: `runsv` on it, `sv status` says it runs, and the
/// process sees PORT, PS and the env values byte for byte.
#[test]
fn runit_runs_the_exported_service() {
    let app = project();
    let out = export(&app, "runit");
    let service = out.join("demo-web-2");
    assert!(service.join("run").exists());
    let mut runsv = Command::new("runsv")
        .arg(&service)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("runsv (Debian's runit)");
    let tricky = read_when_written(&app.path().join("got-web.2-tricky"));
    let port = read_when_written(&app.path().join("got-web.2-port"));
    let status = Command::new("sv")
        .arg("status")
        .arg(&service)
        .output()
        .unwrap();
    let _ = Command::new("sv").arg("exit").arg(&service).output();
    let start = Instant::now();
    while runsv.try_wait().unwrap().is_none() && start.elapsed() < support::DEADLINE {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = runsv.kill();
    let _ = runsv.wait();
    assert_eq!(tricky, TRICKY);
    assert_eq!(port, "5001 web.2");
    assert!(
        String::from_utf8_lossy(&status.stdout).starts_with("run: "),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// supervisord accepts the exported program (its own loader, and only keys it knows: it
/// ignores unknown ones silently), runs it, and the processes see the right values.
#[test]
fn supervisord_runs_the_exported_programs() {
    let app = project();
    let out = export(&app, "supervisord");
    let conf = out.join("demo.conf");
    let check = format!(
        "import configparser\n\
         from supervisor.options import ServerOptions\n\
         known = {{'command', 'process_name', 'numprocs', 'numprocs_start', 'directory', 'user', 'environment', 'autostart', 'autorestart', 'startsecs', 'stopsignal', 'stopwaitsecs', 'stopasgroup', 'killasgroup', 'stdout_logfile', 'stdout_logfile_maxbytes', 'redirect_stderr', 'programs'}}\n\
         parser = configparser.RawConfigParser()\n\
         parser.read('{conf}')\n\
         unknown = [k for s in parser.sections() for k in parser[s] if k not in known]\n\
         assert not unknown, unknown\n\
         open('supervisord.conf', 'w').write('[supervisord]\\nnodaemon=true\\nlogfile=/dev/null\\npidfile=%(here)s/supervisord.pid\\n[include]\\nfiles = {conf}\\n')\n\
         options = ServerOptions()\n\
         options.configfile = 'supervisord.conf'\n\
         options.process_config(do_usage=False)\n\
         names = sorted(p.name for g in options.process_group_configs for p in g.process_configs)\n\
         print(' '.join(names))\n",
        conf = conf.display()
    );
    let output = Command::new("python3")
        .args(["-c", &check])
        .current_dir(app.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "demo-web-0 demo-web-1 demo-worker-0\n"
    );
    let mut supervisord = Command::new("timeout")
        .args([
            "30",
            "python3",
            "-m",
            "supervisor.supervisord",
            "-c",
            "supervisord.conf",
        ])
        .current_dir(app.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = read_when_written(&app.path().join("got-web.2-port"));
    let worker = read_when_written(&app.path().join("got-worker.1-port"));
    let tricky = read_when_written(&app.path().join("got-web.1-tricky"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisord.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = supervisord.wait();
    assert_eq!(port, "5001 web.2");
    assert_eq!(worker, "5100 worker.1");
    assert_eq!(tricky, TRICKY);
}

/// A file procmux did not write is never replaced without --force; --dry-run writes nothing.
#[test]
fn export_never_replaces_a_stranger_s_file() {
    let app = project();
    std::fs::create_dir(app.path().join("out")).unwrap();
    app.write("out/demo.target", "# mine\n");
    let done = app
        .procmux(&["export", "systemd", "out", "--app", "demo"])
        .run();
    assert_eq!(done.code, Some(2));
    assert!(
        done.stderr
            .contains("was not written by procmux export (--force replaces it)")
    );
    let done = app
        .procmux(&[
            "export",
            "systemd",
            "out",
            "--app",
            "demo",
            "--dry-run",
            "--force",
        ])
        .run();
    assert_eq!(done.code, Some(0));
    assert!(done.text().contains("would write "));
    assert_eq!(
        std::fs::read_to_string(app.path().join("out/demo.target")).unwrap(),
        "# mine\n"
    );
    let done = app
        .procmux(&["export", "systemd", "out", "--app", "demo", "--force"])
        .run();
    assert_eq!(done.code, Some(0));
    // Written before by procmux export: replaced without --force.
    let done = app
        .procmux(&["export", "systemd", "out", "--app", "demo"])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
}

fn export_with_image(app: &App, format: &str) -> std::path::PathBuf {
    let done = app
        .procmux(&[
            "export", format, "out", "--app", "demo", "--image", "demo:1",
        ])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    app.path().join("out")
}

fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (.ci/run installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Compose: the compose-spec schema accepts it (check-jsonschema, PyPI); `$` is doubled.
#[test]
fn compose_matches_the_compose_spec() {
    let app = project();
    let out = export_with_image(&app, "compose");
    let file = out.join("compose.yaml");
    let (ok, text) = tool(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            &file.to_string_lossy(),
        ],
    );
    assert!(ok, "{text}");
    let compose: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let web = &compose["services"]["web"];
    assert_eq!(web["deploy"]["replicas"], 2);
    assert_eq!(web["environment"]["TRICKY"], TRICKY.replace('$', "$$"));
    assert_eq!(web["stop_signal"], "SIGINT");
    assert_eq!(web["init"], true);
    assert_eq!(web["depends_on"]["worker"]["condition"], "service_started");
    // Without --image: a clear error.
    let done = app.procmux(&["export", "compose"]).run();
    assert_eq!(done.code, Some(2));
    assert!(done.stderr.contains("--image IMAGE"), "{}", done.stderr);
}

/// Kubernetes: `kubernetes-validate --strict` (PyPI) accepts every document; selectors match
/// their templates' labels.
#[test]
fn kubernetes_validates_strictly() {
    let app = project();
    let out = export_with_image(&app, "kubernetes");
    let file = out.join("demo.yaml");
    let (ok, text) = tool(
        "kubernetes-validate",
        &["--strict", &file.to_string_lossy()],
    );
    assert!(ok, "{text}");
    assert!(text.contains("deployment/demo-web"), "{text}");
    let text = std::fs::read_to_string(&file).unwrap();
    for document in text.split("---\n").filter(|d| !d.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(document).unwrap();
        if value["kind"] == "Deployment" {
            assert_eq!(
                value["spec"]["selector"]["matchLabels"],
                value["spec"]["template"]["metadata"]["labels"]
            );
        }
    }
}

/// launchd: Python's plistlib reads every property list strictly.
#[test]
fn launchd_plists_parse_strictly() {
    let app = project();
    let out = export(&app, "launchd");
    let check = format!(
        "import glob, plistlib\n\
         for f in sorted(glob.glob('{}/*.plist')):\n\
         \x20   d = plistlib.load(open(f, 'rb'), fmt=plistlib.FMT_XML)\n\
         \x20   print(d['Label'], d['EnvironmentVariables']['PORT'], d['EnvironmentVariables']['TRICKY'] == {:?})\n",
        out.display(),
        TRICKY
    );
    let (ok, text) = tool("python3", &["-c", &check]);
    assert!(ok, "{text}");
    assert_eq!(
        text,
        "demo.web.1 5000 True\ndemo.web.2 5001 True\ndemo.worker.1 5100 True\n"
    );
}
