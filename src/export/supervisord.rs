//! supervisord: one `[program:APP-TYPE]` per type, `numprocs` its formation, every process of
//! its tree stopped (`stopasgroup`, `killasgroup`), its output on supervisord's own stdout
//! (no log file procmux invents), `%` and quotes escaped (honcho#73, foreman#394).

use std::fmt::Write;

use super::{File, MARK, Options, escape, restarts, shell_command, whole_seconds};
use crate::config::Stack;

pub fn render(stack: &Stack, options: &Options) -> Vec<File> {
    let app = &options.app;
    let mut text = format!("; {MARK}\n");
    let mut group = Vec::new();
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let base_port = stack.first_port(&kind.name);
        let program = format!("{app}-{}", kind.name);
        group.push(program.clone());
        let policy = &kind.policy;
        let _ = writeln!(text, "\n[program:{program}]");
        // Each process gets its own PORT and PS from its process number, which supervisord
        // expands in `command` (its environment is per program): the one unescaped `%`.
        let line = format!(
            "PORT=$(({base_port} + NUM)); PS={name}.$((NUM + 1)); export PORT PS; {command}",
            name = kind.name,
            command = shell_command(&kind.command)
        );
        let command = escape::supervisord_command(&line).replace("NUM", "%(process_num)d");
        let _ = writeln!(text, "command={command}");
        let _ = writeln!(
            text,
            "process_name=%(program_name)s-%(process_num)d\nnumprocs={}\nnumprocs_start=0",
            kind.count
        );
        let _ = writeln!(
            text,
            "directory={}",
            options.root.display().to_string().replace('%', "%%")
        );
        if let Some(user) = &options.user {
            let _ = writeln!(text, "user={user}");
        }
        let mut env = Vec::new();
        let mut dropped = Vec::new();
        for (key, value) in stack.env.iter().filter(|(k, _)| k != "PORT" && k != "PS") {
            match escape::supervisord_env(value) {
                Some(quoted) => env.push(format!("{key}={quoted}")),
                None => dropped.push(key.as_str()),
            }
        }
        if !dropped.is_empty() {
            let _ = writeln!(
                text,
                "; Not expressible here: {} (a newline, or both kinds of quote: supervisord's environment cannot carry them).",
                dropped.join(", ")
            );
        }
        if !env.is_empty() {
            let _ = writeln!(text, "environment={}", env.join(","));
        }
        let autorestart = match restarts(policy.on_exit) {
            Some(true) => "true",
            Some(false) => "unexpected",
            None => "false",
        };
        let _ = writeln!(
            text,
            "autostart=true\nautorestart={autorestart}\nstartsecs=0\nstopsignal={}\nstopwaitsecs={}\nstopasgroup=true\nkillasgroup=true",
            policy.stop_signal.as_str().trim_start_matches("SIG"),
            whole_seconds(policy.stop_timeout)
        );
        text.push_str(
            "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\nredirect_stderr=true\n",
        );
        if !kind.after.is_empty() {
            let _ = writeln!(
                text,
                "; Not expressible here: after = {:?} (supervisord has priorities, not readiness).",
                kind.after
            );
        }
    }
    let _ = write!(text, "\n[group:{app}]\nprograms={}\n", group.join(","));
    vec![File {
        path: format!("{app}.conf").into(),
        contents: text,
        executable: false,
    }]
}
