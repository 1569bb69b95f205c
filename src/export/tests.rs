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
    let project = Project::from_text(
        "web: bundle exec puma -p $PORT\nworker: sidekiq -c 5 && echo done\n",
        Some("formation = \"web=2\"\n[process.web]\nafter = [\"worker\"]\nstop_signal = \"INT\"\nstop_timeout = 7\non_exit = \"restart\"\n"),
        env,
    )
    .unwrap();
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
