//! systemd: `APP.target`, which `systemctl start|stop|restart APP.target` drives, and one
//! `APP-TYPE.N.service` per instance, part of it. The whole tree is stopped
//! (`KillMode=control-group`: `process` leaked grandchildren, honcho#230); output goes to the
//! journal (systemd's default; `StandardOutput=syslog` is obsolete); the environment is
//! written in systemd's own quoting (`EnvironmentFile=.env` would read dotenv with systemd's
//! grammar, which differs).

use std::fmt::Write;

use super::{File, MARK, Options, escape, instance_env, restarts, shell_command, whole_seconds};
use crate::config::Stack;

pub fn render(stack: &Stack, options: &Options, user_units: bool) -> Vec<File> {
    let app = &options.app;
    let unit = |i: usize| format!("{app}-{}.service", stack.instances[i].label());
    let mut files = Vec::new();
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
    files.push(File {
        path: format!("{app}.target").into(),
        contents: target,
        executable: false,
    });
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let policy = &kind.policy;
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
        text.push_str("\n[Service]\nType=simple\n");
        if !user_units && let Some(user) = &options.user {
            let _ = writeln!(text, "User={user}");
        }
        let _ = writeln!(
            text,
            "WorkingDirectory={}",
            options.root.display().to_string().replace('%', "%%")
        );
        for (key, value) in instance_env(stack, i) {
            let _ = writeln!(
                text,
                "Environment={}",
                escape::systemd(&format!("{key}={value}"), false)
            );
        }
        let _ = writeln!(
            text,
            "ExecStart=/bin/sh -c {}",
            escape::systemd(&shell_command(&kind.command), true)
        );
        let restart = match restarts(policy.on_exit) {
            Some(true) => "always",
            Some(false) => "on-failure",
            None => "no",
        };
        let _ = writeln!(
            text,
            "Restart={restart}\nRestartSec={}\nKillMode=control-group\nKillSignal={}\nTimeoutStopSec={}",
            whole_seconds(policy.backoff.initial),
            policy.stop_signal.as_str(),
            whole_seconds(policy.stop_timeout)
        );
        let _ = write!(
            text,
            "SyslogIdentifier={app}-{}\n\n[Install]\nWantedBy={app}.target\n",
            spec.label()
        );
        if !matches!(policy.ready, crate::config::Ready::Started) {
            text.insert_str(
                text.find("[Service]").unwrap_or(0),
                "# Not expressible here: procmux's `ready` probe (systemd orders by start, not readiness).\n",
            );
        }
        files.push(File {
            path: unit(i).into(),
            contents: text,
            executable: false,
        });
    }
    files
}
