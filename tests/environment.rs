//! What each child gets: the inherited environment, `.env` files, `PORT` and `PS`, its root.

mod support;

use support::{App, lines_of};

fn output_of(app: &App, args: &[&str]) -> Vec<u8> {
    let mut full = vec!["start", "--no-timestamp"];
    full.extend_from_slice(args);
    let done = app.procmux(&full).run();
    assert_eq!(done.code, Some(0), "{}\n{}", done.text(), done.stderr);
    done.stdout
}

fn said(stdout: &[u8], label: &str) -> Vec<String> {
    lines_of(stdout, label)
        .into_iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .filter(|l| {
            !l.starts_with("started with")
                && !l.contains("exited with")
                && !l.contains("terminated")
        })
        .collect()
}

#[test]
fn port_and_ps_follow_the_formation() {
    let app = App::new(
        "web: echo \"$PS $PORT\"; sleep 1\n\
         worker: echo \"$PS $PORT\"; sleep 1\n\
         last: echo \"$PS $PORT\"; sleep 1\n",
    );
    let out = output_of(&app, &["-m", "web=2,worker=1,last=0"]);
    assert_eq!(said(&out, "web.1"), ["web.1 5000"]);
    assert_eq!(said(&out, "web.2"), ["web.2 5001"]);
    assert_eq!(said(&out, "worker.1"), ["worker.1 5100"]);
    assert!(said(&out, "last.1").is_empty());

    // `start NAME` keeps the type's usual port; -p sets the base.
    let out = output_of(&app, &["-p", "7000", "worker"]);
    assert_eq!(said(&out, "worker.1"), ["worker.1 7100"]);
    assert!(said(&out, "web.1").is_empty());
}

#[test]
fn base_port_from_env_file_then_environment() {
    let app = App::new("web: echo \"port $PORT\"\n");
    let done = app
        .procmux(&["start", "--no-timestamp"])
        .env("PORT", "6000")
        .run();
    assert_eq!(said(&done.stdout, "web.1"), ["port 6000"]);
    app.write(".env", "PORT=8000\n");
    let done = app
        .procmux(&["start", "--no-timestamp"])
        .env("PORT", "6000")
        .run();
    assert_eq!(said(&done.stdout, "web.1"), ["port 8000"]);
    let done = app
        .procmux(&["start", "--no-timestamp", "-p", "9000"])
        .env("PORT", "6000")
        .run();
    assert_eq!(said(&done.stdout, "web.1"), ["port 9000"]);
}

#[test]
fn env_files_overlay_the_environment_in_order() {
    let app = App::new("web: echo \"$A|$B|$C|$D|$INHERITED\"\n");
    app.write(".env", "A=from-default\n");
    app.write(
        "one.env",
        "export A=one\nB='single $A'\nC=\"x\\ny\" # comment\n",
    );
    app.write("two.env", "A=two\nD=${A}-${INHERITED}-${NOPE:-dflt}\n");
    let out = output_of(&app, &[]);
    assert_eq!(
        said(&out, "web.1"),
        ["from-default||||inh"].map(|s| s.replace("inh", ""))
    );

    let done = app
        .procmux(&["start", "--no-timestamp", "-e", "one.env,two.env"])
        .env("INHERITED", "inh")
        .run();
    assert_eq!(
        said(&done.stdout, "web.1"),
        ["two|single $A|x", "y|two-inh-dflt|inh"]
    );
}

#[test]
fn env_values_are_never_spliced_into_the_command() {
    let app = App::new("web: echo \"$EVIL\"\n");
    app.write(".env", "EVIL='$(touch pwned); `touch pwned2`'\n");
    let out = output_of(&app, &[]);
    assert_eq!(said(&out, "web.1"), ["$(touch pwned); `touch pwned2`"]);
    assert!(!app.path().join("pwned").exists() && !app.path().join("pwned2").exists());
}

#[test]
fn processes_run_in_the_root() {
    let app = App::new("");
    std::fs::create_dir(app.path().join("app")).unwrap();
    app.write("app/Procfile", "web: pwd\n");
    let out = output_of(&app, &["-f", "app/Procfile"]);
    let lines = said(&out, "web.1");
    assert!(lines[0].ends_with("/app"), "{lines:?}");

    let out = output_of(&app, &["-f", "app/Procfile", "-d", "."]);
    assert!(!said(&out, "web.1")[0].ends_with("/app"));
}

#[test]
fn each_process_leads_its_own_group() {
    let app = App::new("web: echo \"pid $$ group $(cut -d' ' -f5 /proc/$$/stat)\"\n");
    let out = output_of(&app, &[]);
    let line = &said(&out, "web.1")[0];
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[1], words[3], "{line}");
}

/// `.env` as real projects write it: a PEM key in double quotes across lines, keys with `.`
/// and `-`, a byte-order mark; a NUL byte is an error at `check` time, with its line.
#[test]
fn real_world_env_files() {
    let app = App::new("\u{feff}web: python3 show.py\n");
    app.write(
        "show.py",
        "import os\nprint(repr(os.environ['KEY']))\nprint(os.environ['FOO.BAR'], os.environ['A-B'])\n",
    );
    app.write(
        ".env",
        "\u{feff}KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nFOO.BAR=dotted\nA-B=dashed\n",
    );
    let out = output_of(&app, &[]);
    let lines = said(&out, "web.1");
    assert_eq!(lines[0], "'-----BEGIN KEY-----\\nabc\\n-----END KEY-----'");
    assert_eq!(lines[1], "dotted dashed");

    // A complex command goes through the shell, which drops such names: procmux says so.
    app.write("Procfile", "web: true && echo \"[$FOO.BAR]\"\n");
    let out = String::from_utf8(output_of(&app, &[])).unwrap();
    assert!(
        out.contains("system | web.1: /bin/sh passes no variable named FOO.BAR, A-B to a command that is not one simple command"),
        "{out}"
    );

    app.write(".env", "A=1\nB=x\0y\n");
    let done = app.procmux(&["check"]).run();
    assert_eq!(done.code, Some(2));
    assert_eq!(done.stderr, "procmux: error: .env:2: contains a NUL byte\n");
}
