//! supervisord: one `[program:APP-TYPE]` per type, `numprocs` its formation, every process of
//! its tree stopped (`stopasgroup`, `killasgroup`), its output on supervisord's own stdout
//! (no log file procmux invents).
//!
//! supervisord's `environment=` cannot carry every value: its list is split by Python's
//! non-POSIX `shlex` (no escapes, quotes stripped from both ends of a value) after an INI
//! reader that cuts at ` #` and ` ;`. So the values travel in `command=` instead, as
//! arguments of `env`, which execs the shell at once: each a word in the quoting of
//! [`escape::supervisord_word`], which keeps every byte but a carriage return.

use std::fmt::Write;

use super::{
    Export, File, MARK, Note, Options, escape, exported_env, restarts, shell_command_in,
    whole_seconds, with_ports, without_readiness, workdir,
};
use crate::config::Stack;
use crate::error::Error;

/// What supervisord expands into each process's number, in `command=`.
const PROCESS_NUM: &str = "%(process_num)d";

pub fn render(stack: &Stack, options: &Options) -> Result<Export, Error> {
    let app = &options.app;
    let mut text = format!("; {MARK}\n");
    let mut group = Vec::new();
    let mut notes: Vec<Note> = Vec::new();
    for (key, value) in exported_env(stack) {
        if escape::supervisord_word(&format!("{key}={value}")).is_none()
            && !notes.iter().any(|n| n.name == key)
        {
            notes.push(Note {
                name: key,
                text: "holds a carriage return, which supervisord's config reader cannot keep: left out".to_owned(),
                warning: false,
            });
        }
    }
    // The env values left out come first in `notes`, then each type's.
    let left_out = notes.len();
    for kind in stack.types.iter().filter(|t| t.count > 0) {
        let base_port = stack.first_port(&kind.name);
        let program = format!("{app}-{}", kind.name);
        group.push(program.clone());
        let policy = &kind.policy;
        // The words that can be kept (the ones left out are said once, above).
        let env = with_ports(stack, &kind.env)
            .into_iter()
            .filter_map(|(key, value)| escape::supervisord_word(&format!("{key}={value}")));
        let _ = writeln!(text, "\n[program:{program}]");
        // Each process gets its own PORT and PS from its process number, which supervisord
        // expands in `command`: the one `%` not doubled, outside every quote.
        let pieces = [
            format!("PORT=$(({base_port} + "),
            format!(")); PS={}.$((", kind.name),
            format!(
                " + 1)); export PORT PS; {}",
                shell_command_in(kind, &workdir(options, kind))
            ),
        ];
        let words: Option<Vec<String>> =
            pieces.iter().map(|p| escape::supervisord_word(p)).collect();
        let Some(words) = words else {
            return Err(Error::Usage(format!(
                "{}: its command holds a carriage return, which supervisord's config reader cannot keep",
                kind.name
            )));
        };
        let mut command = vec!["/usr/bin/env".to_owned()];
        command.extend(env);
        command.extend([
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            words.join(PROCESS_NUM),
        ]);
        let _ = writeln!(text, "command={}", command.join(" "));
        let _ = writeln!(
            text,
            "process_name=%(program_name)s-%(process_num)d\nnumprocs={}\nnumprocs_start=0",
            kind.count
        );
        if let Some(user) = &options.user {
            let _ = writeln!(text, "user={}", user.replace('%', "%%"));
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
        let mut own = Vec::new();
        if !kind.after.is_empty() {
            own.push(format!(
                "after = {:?}: supervisord has priorities, not readiness",
                kind.after
            ));
        }
        own.extend(without_readiness(kind, "supervisord"));
        if kind.count > 1 && !kind.instance_env.is_empty() {
            let differ: Vec<&str> = kind
                .env
                .iter()
                .filter(|pair| kind.instance_env.iter().any(|env| !env.contains(pair)))
                .map(|(key, _)| key.as_str())
                .collect();
            own.push(format!(
                "{} differ between its processes (a value names $PORT or $PS), and a program \
                 has one environment: every process gets {}.1's",
                differ.join(", "),
                kind.name
            ));
        }
        for note in &own {
            let _ = writeln!(text, "; Not expressible here: {note}.");
        }
        notes.extend(Note::about(&kind.name, own));
    }
    for note in &notes[..left_out] {
        let _ = writeln!(text, "; Not expressible here: {note}.");
    }
    let _ = write!(text, "\n[group:{app}]\nprograms={}\n", group.join(","));
    Ok(Export {
        files: vec![File {
            path: format!("{app}.conf").into(),
            contents: text,
            executable: false,
            secret: true,
        }],
        notes,
    })
}
