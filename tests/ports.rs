//! `port = "auto"`: checkouts of one app side by side, each with ports of its own, and
//! `PORT_<NAME>`; a fixed port another stack holds names that stack.

mod support;

use std::net::TcpListener;

use nix::sys::signal::Signal;
use support::{App, Running, assert_all_gone};

/// web serves HTTP on its port and says which ports it was given; api-web says too.
const STACK: &str = "web: echo \"child $$ . web=$PORT_WEB api=$PORT_API_WEB port=$PORT\"; \
                     exec python3 -m http.server $PORT --bind 127.0.0.1\n\
                     api-web: echo \"child $$ . api port=$PORT web=${PORT_WEB}\"; exec sleep 1000\n";
const READY: &str = "[process.web]\nready = \"tcp:$PORT\"\n";

fn checkout() -> App {
    let app = App::new(STACK);
    app.write("procmux.toml", READY);
    app
}

fn start(app: &App, args: &[&str]) -> (Running, Vec<nix::unistd::Pid>) {
    let mut all = vec!["--no-timestamp", "--pty", "never"];
    all.extend_from_slice(args);
    let mut running = app.start(&all);
    running.wait_for("web.1 is ready");
    running.wait_for_count("child ", 2);
    let pids = running.pids_after("child");
    (running, pids)
}

fn stop(running: Running, pids: &[nix::unistd::Pid]) {
    running.signal(Signal::SIGTERM);
    running.wait();
    assert_all_gone(pids);
}

/// From the output: (PORT_WEB, PORT_API_WEB, web's PORT, api-web's PORT).
fn ports(text: &str) -> (u16, u16, u16, u16) {
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    let (web, api) = (line(" . web="), line("api port="));
    (
        value_in(web, "web="),
        value_in(web, "api="),
        value_in(web, "port="),
        value_in(api, "api port="),
    )
}

fn value_in(line: &str, key: &str) -> u16 {
    let at = line.find(key).unwrap() + key.len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn two_checkouts_with_auto_ports_run_side_by_side() {
    let (a, b) = (checkout(), checkout());
    let (run_a, pids_a) = start(&a, &["--port", "auto"]);
    // The other one says it in its procmux.toml.
    b.write("procmux.toml", format!("port = \"auto\"\n{READY}"));
    let (run_b, pids_b) = start(&b, &[]);
    let (text_a, text_b) = (run_a.text(), run_b.text());
    let (web_a, api_a, port_a, api_port_a) = ports(&text_a);
    let (web_b, api_b, port_b, _) = ports(&text_b);
    // Each process sees the others' ports; web's is its own PORT.
    assert_eq!((web_a, api_a), (port_a, api_port_a));
    assert_eq!(api_a, web_a + 100);
    assert!(
        text_a.contains(&format!("api port={api_a} web={web_a}")),
        "{text_a}"
    );
    assert_ne!(web_a, web_b);
    assert_eq!(api_b, web_b + 100);
    assert_eq!(port_b, web_b);
    assert!(
        text_a.contains(&format!("ports {web_a}-{} for this checkout", web_a + 199)),
        "{text_a}"
    );
    // Both serve, each on its own port.
    for port in [web_a, web_b] {
        let done = a
            .shell(&format!(
                "exec python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/').status)\""
            ))
            .run();
        assert_eq!(done.text().trim(), "200", "{}", done.stderr);
    }
    // status shows them.
    let done = a.procmux(&["status", "--json"]).run();
    let row: serde_json::Value = serde_json::from_str(done.text().lines().next().unwrap()).unwrap();
    assert_eq!(row["port"], web_a);
    assert_eq!(row["listening"][0], web_a);
    stop(run_a, &pids_a);
    stop(run_b, &pids_b);

    // Stable across runs; a held port moves the checkout to the next free block.
    let (again, pids) = start(&a, &["--port", "auto"]);
    assert_eq!(ports(&again.text()).0, web_a);
    stop(again, &pids);
    let held = TcpListener::bind(("127.0.0.1", web_a + 100)).unwrap();
    let (moved, pids) = start(&a, &["--port", "auto"]);
    let web_moved = ports(&moved.text()).0;
    assert_ne!(web_moved, web_a);
    assert_eq!(web_moved % 200, web_a % 200, "{web_moved} {web_a}");
    stop(moved, &pids);
    drop(held);
}

#[test]
fn a_fixed_port_held_by_another_stack_names_it() {
    let (a, b) = (checkout(), checkout());
    let (run_a, pids_a) = start(&a, &["--port", "23456"]);
    for args in [
        &["start", "-p", "23456"][..],
        &["start", "-D", "-p", "23456"],
    ] {
        let done = b.procmux(args).run();
        done.exits_with(2);
        let dir = std::fs::canonicalize(a.path()).unwrap();
        assert!(
            done.stderr.contains(&format!(
                "port 23456 of web.1 is held by another procmux stack, in {}",
                dir.display()
            )),
            "{}",
            done.stderr
        );
        assert!(done.stderr.contains("port = \"auto\""), "{}", done.stderr);
    }
    // With auto, b runs beside it.
    let (run_b, pids_b) = start(&b, &["--port", "auto"]);
    stop(run_b, &pids_b);
    stop(run_a, &pids_a);
}

#[test]
fn run_gets_every_port_too() {
    let app = checkout();
    let done = app
        .procmux(&[
            "run",
            "-p",
            "7000",
            "sh",
            "-c",
            "echo $PORT $PORT_WEB $PORT_API_WEB",
        ])
        .run();
    done.exits_with(0);
    assert_eq!(done.text(), "7000 7000 7100\n");
}

#[test]
fn port_values_that_are_not_ports() {
    let app = checkout();
    let done = app.procmux(&["start", "--port", "automatic"]).run();
    done.exits_with(2);
    assert!(done.stderr.contains("or auto"), "{}", done.stderr);
    app.write("procmux.toml", "port = \"x\"\n");
    let done = app.procmux(&["check"]).run();
    done.exits_with(2);
    assert!(
        done.stderr.contains("procmux.toml:1:8")
            && done.stderr.contains("expected a port number or \"auto\""),
        "{}",
        done.stderr
    );
    app.write("procmux.toml", READY);
    for command in [&["start", "-p", "0"][..], &["run", "-p", "0", "true"]] {
        let done = app.procmux(command).run();
        done.exits_with(2);
        assert!(
            done.stderr
                .contains("--port 0: port 0 lets a server listen where the kernel picks"),
            "{command:?}: {}",
            done.stderr
        );
    }
    // Near the top: what does not fit is said, and a type left out is given no PORT_<NAME>
    // that is no port.
    let done = app.procmux(&["start", "-p", "65500"]).run();
    done.exits_with(2);
    assert!(
        done.stderr
            .contains("api-web.1 would get port 65600, above 65535"),
        "{}",
        done.stderr
    );
    let done = app
        .procmux(&[
            "run",
            "-p",
            "65500",
            "sh",
            "-c",
            "echo ${PORT_WEB}-${PORT_API_WEB-none}",
        ])
        .run();
    assert_eq!(done.text(), "65500-none\n");
    app.write("procmux.toml", "port = 70000\n");
    let done = app.procmux(&["check"]).run();
    done.exits_with(2);
    assert!(
        done.stderr.contains("70000 is not a port number"),
        "{}",
        done.stderr
    );
}

/// Two names that make one `PORT_<NAME>` are an error before anything starts, not one
/// process silently given the other's port.
#[test]
fn names_that_make_one_port_variable_are_refused() {
    let app = App::new("my-svc: sleep 100\nmy_svc: sleep 100\n");
    for command in ["check", "start"] {
        let done = app.procmux(&[command]).run();
        done.exits_with(2);
        assert_eq!(
            done.stderr.trim_end(),
            "procmux: error: Procfile:2: \"my_svc\" would be given PORT_MY_SVC, as \"my-svc\" \
             (Procfile:1) is: rename one",
            "{command}"
        );
    }
    // An included entry is named with its own Procfile and line.
    let app = App::new("web: sleep 100\nmy_svc: sleep 100\n");
    app.write("sub/Procfile", "# its services\nsvc: sleep 100\n");
    app.write(
        "procmux.toml",
        "[include.my]\nprocfile = \"sub/Procfile\"\n",
    );
    let done = app.procmux(&["check"]).run();
    done.exits_with(2);
    assert_eq!(
        done.stderr.trim_end(),
        "procmux: error: sub/Procfile:2: \"my.svc\" would be given PORT_MY_SVC, as \"my_svc\" \
         (Procfile:2) is: rename one"
    );
}

/// `procmux run` while this checkout's stack runs gives the ports that stack uses: with
/// `port = "auto"` it may have moved past a held block, which computing again does not see.
/// A stack that does not answer (stopped) leaves `run` to compute them, with a warning.
#[test]
fn run_gives_the_ports_of_the_running_stack_that_moved() {
    let app = checkout();
    app.write("procmux.toml", format!("port = \"auto\"\n{READY}"));
    app.write(".env", "API_URL=http://localhost:${PORT_API_WEB}/\n");
    let script = "echo $PORT $PORT_WEB $PORT_API_WEB $API_URL";
    let ask = || {
        let done = app.procmux(&["run", "sh", "-c", script]).run();
        done.exits_with(0);
        (done.text(), done.stderr.clone())
    };
    let (unmoved, _) = ask();
    let first: u16 = unmoved.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        unmoved,
        format!(
            "{first} {first} {} http://localhost:{}/\n",
            first + 100,
            first + 100
        )
    );
    // api-web's port of the first block held: the stack moves to the next.
    let held = TcpListener::bind(("127.0.0.1", first + 100)).unwrap();
    let (running, pids) = start(&app, &[]);
    let (web, api, _, _) = ports(&running.text());
    assert_ne!(web, first);
    let (moved, _) = ask();
    assert_eq!(
        moved,
        format!("{web} {web} {api} http://localhost:{api}/\n")
    );
    // `auto`, said on the command line or in the environment, is the stack's too.
    for (flag, env) in [(&["-p", "auto"][..], None), (&[][..], Some("auto"))] {
        let mut args = vec!["run"];
        args.extend_from_slice(flag);
        args.extend(["sh", "-c", script]);
        let mut command = app.procmux(&args);
        if let Some(value) = env {
            command = command.env("PROCMUX_PORT", value);
        }
        let done = command.run();
        done.exits_with(0);
        assert_eq!(done.text(), moved, "{flag:?} {env:?}");
    }
    // An explicit --port is what the user asked for.
    let done = app
        .procmux(&["run", "-p", "7000", "sh", "-c", script])
        .run();
    assert_eq!(done.text(), "7000 7000 7100 http://localhost:7100/\n");
    // A stack that does not answer: computed, said, within the client's timeout.
    running.signal(Signal::SIGSTOP);
    let started = std::time::Instant::now();
    let (computed, stderr) = ask();
    running.signal(Signal::SIGCONT);
    assert_eq!(computed, unmoved);
    assert!(
        stderr.contains("warning: PORT and PORT_<NAME> are computed as if no stack ran")
            && stderr.contains("did not answer"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    stop(running, &pids);
    drop(held);
    // None running: computed again.
    assert_eq!(ask().0, unmoved);
}

/// `${PORT_<NAME>}`, `${PORT}` and `${PS}` in every env value source (`.env`, an `env_file`,
/// an `env` table) are the ports procmux gives, for `start`, `run` and `export`.
#[test]
fn env_values_carry_the_ports() {
    let app = App::new(
        "web: echo \"child $$ . $PS api=$API_URL self=$SELF back=$BACK\"; exec sleep ${NAP:-1000}\n\
         api-web: echo \"child $$ . $PS api=$API_URL self=$SELF back=$BACK\"; exec sleep 1000\n",
    );
    app.write(
        ".env",
        "PORT_API_WEB=1\nAPI_URL=http://localhost:${PORT_API_WEB}/\nLITERAL='${PORT_WEB}'\n",
    );
    app.write("web.env", "BACK=\"${PORT_WEB}+$PORT_API_WEB\"\n");
    app.write(
        "procmux.toml",
        "formation = \"web=2\"\n[process.web]\nenv_file = [\"web.env\"]\n\
         env = { SELF = \"$PS@${PORT}\" }\n",
    );
    let mut running = app.start(&["--no-timestamp", "--pty", "never", "-p", "23400"]);
    let text = running.wait_for_count("child ", 3);
    let pids = running.pids_after("child");
    for line in [
        ". web.1 api=http://localhost:23500/ self=web.1@23400 back=23400+23500",
        ". web.2 api=http://localhost:23500/ self=web.2@23401 back=23400+23500",
        ". api-web.1 api=http://localhost:23500/ self= back=",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    stop(running, &pids);

    let done = app
        .procmux(&[
            "run",
            "-p",
            "23400",
            "sh",
            "-c",
            "echo $API_URL $LITERAL $PORT_API_WEB",
        ])
        .run();
    assert_eq!(done.text(), "http://localhost:23500/ ${PORT_WEB} 23500\n");
    let done = app
        .procmux(&["run", "-p", "23400", "web"])
        .env("NAP", "0")
        .run();
    assert!(
        done.text()
            .contains(". run.1 api=http://localhost:23500/ self=run.1@23400 back=23400+23500"),
        "{}",
        done.text()
    );

    let done = app
        .procmux(&["export", "systemd", "out", "--app", "demo", "-p", "23400"])
        .run();
    done.exits_with(0);
    let unit = |name: &str| std::fs::read_to_string(app.path().join("out").join(name)).unwrap();
    let (web1, web2) = (unit("demo-web.1.service"), unit("demo-web.2.service"));
    for (text, own) in [(&web1, "web.1@23400"), (&web2, "web.2@23401")] {
        assert!(text.contains("API_URL=http://localhost:23500/"), "{text}");
        assert!(text.contains(&format!("SELF={own}")), "{text}");
        assert!(text.contains("BACK=23400+23500"), "{text}");
    }
    // supervisord has one environment per program: it says so.
    let done = app
        .procmux(&[
            "export",
            "supervisord",
            "sv",
            "--app",
            "demo",
            "-p",
            "23400",
        ])
        .run();
    done.exits_with(0);
    assert!(
        done.stderr.contains("SELF differ between its processes"),
        "{}",
        done.stderr
    );
}

/// An include's processes: its own `.env` and `env` table see the ports too, and its
/// entries' `PORT_<NAME>` is named after `NAME.entry`.
#[test]
fn an_include_sees_the_ports() {
    let app = App::new("main: echo \"child $$ . main $PORT_API_WEB\"; exec sleep 1000\n");
    std::fs::create_dir(app.path().join("api")).unwrap();
    app.write(
        "api/Procfile",
        "web: echo \"child $$ . inc $PORT $URL $OWN\"; exec sleep 1000\n",
    );
    app.write("api/.env", "URL=http://localhost:${PORT_MAIN}/\n");
    app.write(
        "procmux.toml",
        "[include.api]\nprocfile = \"api/Procfile\"\nenv = { OWN = \"${PORT}-${PORT_API_WEB}\" }\n",
    );
    let mut running = app.start(&["--no-timestamp", "--pty", "never", "-p", "23700"]);
    let text = running.wait_for_count("child ", 2);
    let pids = running.pids_after("child");
    assert!(text.contains(". main 23800"), "{text}");
    assert!(
        text.contains(". inc 23800 http://localhost:23700/ 23800-23800"),
        "{text}"
    );
    stop(running, &pids);
}

/// A port held on the IPv6 loopback only (Node's `localhost` since v17, so Vite's default)
/// is held: `auto` moves past it rather than giving it to a second server.
#[test]
fn auto_moves_past_a_port_held_on_ipv6_loopback_only() {
    let app = checkout();
    app.write("procmux.toml", format!("port = \"auto\"\n{READY}"));
    let done = app
        .procmux(&["run", "sh", "-c", "echo $PORT_API_WEB"])
        .run();
    let api: u16 = done.text().trim().parse().unwrap();
    let Ok(held) = TcpListener::bind(("::1", api)) else {
        eprintln!("no IPv6 loopback here: nothing to hold");
        return;
    };
    let (running, pids) = start(&app, &[]);
    let (_, moved, _, _) = ports(&running.text());
    assert_ne!(moved, api);
    stop(running, &pids);
    drop(held);
}
