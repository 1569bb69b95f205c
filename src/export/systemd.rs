//! systemd: `APP.target`, which `systemctl start|stop|restart APP.target` drives, and one
//! `APP-TYPE.N.service` per instance, part of it. The whole tree is stopped
//! (`KillMode=control-group`: `process` leaked grandchildren, honcho#230); output goes to the
//! journal (systemd's default; `StandardOutput=syslog` is obsolete); the environment is
//! written in systemd's own quoting (`EnvironmentFile=.env` would read dotenv with systemd's
//! grammar, which differs). A one-shot (`ready = "exit:0"`) is `Type=oneshot` with
//! `RemainAfterExit=yes`, so what is `after` it starts once it has finished; the release phase
//! is one too, and the others also `Requires=` it, so a failed release starts none of them.

use std::fmt::Write;

use super::{
    Export, File, Gate, MARK, Note, Options, escape, gate, instance_env, restarts, shell_command,
    shell_command_in, whole_seconds, workdir,
};
use crate::config::Stack;
use crate::config::command::is_shell_name;

pub fn render(stack: &Stack, options: &Options, user_units: bool) -> Export {
    let app = &options.app;
    let unit = |i: usize| format!("{app}-{}.service", stack.instances[i].label());
    let mut export = Export::default();
    let mut target = format!("# {MARK}\n[Unit]\nDescription={app} (procmux export)\n");
    for i in 0..stack.instances.len() {
        let _ = writeln!(target, "Wants={}", unit(i));
    }
    let wanted_by = if user_units {
        "default.target"
    } else {
        "multi-user.target"
    };
    let _ = write!(target, "\n[Install]\nWantedBy={wanted_by}\n");
    export.files.push(File {
        path: format!("{app}.target").into(),
        contents: target,
        executable: false,
        secret: false,
    });
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let policy = &kind.policy;
        let mut notes = Vec::new();
        let mut text = format!(
            "# {MARK}\n[Unit]\nDescription={app} {}\nPartOf={app}.target\n",
            spec.label()
        );
        let dependencies: Vec<String> = kind
            .after
            .iter()
            .flat_map(|name| stack.instances_of(name))
            .map(unit)
            .collect();
        if !dependencies.is_empty() {
            let list = dependencies.join(" ");
            let _ = writeln!(text, "After={list}\nWants={list}");
        }
        // The release phase holds the others: a failed one keeps them from starting.
        let releases: Vec<String> = kind
            .after
            .iter()
            .filter(|name| stack.types.iter().any(|t| &t.name == *name && t.release))
            .flat_map(|name| stack.instances_of(name))
            .map(unit)
            .collect();
        if !releases.is_empty() {
            let _ = writeln!(text, "Requires={}", releases.join(" "));
        }
        let mut restart = match restarts(policy.on_exit) {
            Some(true) => "always",
            Some(false) => "on-failure",
            None => "no",
        };
        let mut service = String::new();
        match gate(&policy.ready, spec.port) {
            Gate::Completed => {
                // Ready once it has exited 0: what is after it waits for that.
                let _ = writeln!(
                    service,
                    "Type=oneshot\nRemainAfterExit=yes\nTimeoutStartSec={}",
                    whole_seconds(policy.ready_timeout)
                );
                if restart == "always" {
                    restart = "on-failure";
                    notes.push("on_exit = \"restart\" of a one-shot: systemd restarts it on failure only (Type=oneshot)".to_owned());
                }
            }
            Gate::Started => service.push_str("Type=simple\n"),
            Gate::Probe(_) => {
                service.push_str("Type=simple\n");
                notes.push(
                    "its ready probe: systemd orders units by start, not by a probe".to_owned(),
                );
            }
            Gate::Unsupported(what) => {
                service.push_str("Type=simple\n");
                notes.push(what);
            }
        }
        if !user_units && let Some(user) = &options.user {
            let _ = writeln!(service, "User={}", user.replace('%', "%%"));
        }
        // WorkingDirectory= keeps no quotes, escapes or blanks at its ends, and wants a
        // normalised path: a directory that needs more is entered by the shell instead.
        let dir = workdir(options, kind);
        let line = if escape::systemd_plain_path(&dir) && !dir.split('/').any(|p| p == "..") {
            let _ = writeln!(service, "WorkingDirectory={}", dir.replace('%', "%%"));
            shell_command(kind)
        } else {
            shell_command_in(kind, &dir)
        };
        // systemd refuses names that are not identifiers: the shell line carries them.
        for (key, value) in instance_env(stack, i)
            .into_iter()
            .filter(|(k, _)| is_shell_name(k))
        {
            let _ = writeln!(
                service,
                "Environment={}",
                escape::systemd(&format!("{key}={value}"), false)
            );
        }
        let _ = writeln!(
            service,
            "ExecStart=/bin/sh -c {}",
            escape::systemd(&line, true)
        );
        let _ = writeln!(
            service,
            "Restart={restart}\nRestartSec={}\nKillMode=control-group\nKillSignal={}\nTimeoutStopSec={}",
            whole_seconds(policy.backoff.initial),
            policy.stop_signal.as_str(),
            whole_seconds(policy.stop_timeout)
        );
        let _ = writeln!(service, "SyslogIdentifier={app}-{}", spec.label());
        for note in &notes {
            let _ = writeln!(text, "# Not expressible here: {note}.");
        }
        let _ = write!(
            text,
            "\n[Service]\n{service}\n[Install]\nWantedBy={app}.target\n"
        );
        export.files.push(File {
            path: unit(i).into(),
            contents: text,
            executable: false,
            secret: true,
        });
        if spec.number == 1 {
            export.notes.extend(Note::about(&kind.name, notes));
        }
    }
    export
}
