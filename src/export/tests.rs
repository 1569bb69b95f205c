//! Snapshots of every format on one project: two types, a formation, values with `%`, `$`,
//! quotes, commas, spaces and a newline, policies and `after`. (The target tools check the
//! same output in `tests/export.rs`.)

use super::*;
use crate::cli::{Arguments, Command};
use crate::config::{Host, Project, resolve_start};

fn stack() -> Stack {
    let env = vec![
        (
            "TRICKY".to_owned(),
            "50% off $HOME \"q\" back\\slash, a b".to_owned(),
        ),
        ("MULTI".to_owned(), "line1\nline2".to_owned()),
    ];
    stack_of(
        "web: bundle exec puma -p $PORT\nworker: sidekiq -c 5 && echo done\n",
        "formation = \"web=2\"\n[process.web]\nafter = [\"worker\"]\nstop_signal = \"INT\"\nstop_timeout = 7\non_exit = \"restart\"\n",
        env,
    )
}

/// The stack `procmux start` resolves from a Procfile, a `procmux.toml` and env values.
fn stack_of(procfile: &str, config: &str, env: Vec<(String, String)>) -> Stack {
    let project = Project::from_text(procfile, Some(config), env).unwrap();
    let args = match <Arguments as clap::Parser>::try_parse_from(["procmux", "start"])
        .unwrap()
        .command
    {
        Command::Start(args) => *args,
        _ => unreachable!(),
    };
    let host = Host {
        var: &|_| None,
        stdout_is_tty: false,
        port_free: &|_| true,
    };
    resolve_start(project, &args, &host).unwrap().0
}

fn rendered(format: Format) -> String {
    let options = Options {
        app: "demo".to_owned(),
        user: Some("deploy".to_owned()),
        root: "/srv/demo".to_owned(),
        image: Some("registry.example/demo:1.0".to_owned()),
    };
    let export = render(format, &stack(), &options).unwrap();
    let notes: String = export
        .notes
        .iter()
        .map(|n| format!("==> stderr: not expressible: {n}\n"))
        .collect();
    let files: String = export
        .files
        .iter()
        .map(|f| {
            let executable = if f.executable { " (executable)" } else { "" };
            let secret = if f.secret { " (owner-only)" } else { "" };
            format!(
                "==> {}{executable}{secret}\n{}",
                f.path.display(),
                f.contents
            )
        })
        .collect();
    files + &notes
}

#[test]
fn systemd() {
    insta::assert_snapshot!(rendered(Format::Systemd));
}

#[test]
fn systemd_user() {
    insta::assert_snapshot!(rendered(Format::SystemdUser));
}

#[test]
fn supervisord() {
    insta::assert_snapshot!(rendered(Format::Supervisord));
}

#[test]
fn runit() {
    insta::assert_snapshot!(rendered(Format::Runit));
}

#[test]
fn launchd() {
    insta::assert_snapshot!(rendered(Format::Launchd));
}

#[test]
fn compose() {
    insta::assert_snapshot!(rendered(Format::Compose));
}

#[test]
fn kubernetes() {
    insta::assert_snapshot!(rendered(Format::Kubernetes));
}

/// What goes into a comment never ends it: a pattern with a newline stays on its line.
#[test]
fn notes_stay_in_their_comments() {
    let stack = stack_of(
        "web: sleep 1\n",
        "[process.web]\nready = \"log:a\\nrm -rf x\"\n",
        Vec::new(),
    );
    let options = Options {
        app: "demo".to_owned(),
        user: None,
        root: "/srv/demo".to_owned(),
        image: Some("demo:1".to_owned()),
    };
    for format in [Format::Systemd, Format::Supervisord, Format::Runit] {
        let export = render(format, &stack, &options).unwrap();
        let quoted = r#""log:a\nrm -rf x""#;
        assert!(
            export.notes.iter().any(|n| n.text.contains(quoted)),
            "{:?}",
            export.notes
        );
        for file in &export.files {
            assert!(
                !file.contents.lines().any(|l| l.starts_with("rm ")),
                "{}",
                file.contents
            );
        }
    }
}
