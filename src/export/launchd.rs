//! launchd (macOS): a property list per instance, `ProgramArguments` as an array (foreman
//! split commands on spaces), `EnvironmentVariables`, `KeepAlive` from `on_exit`,
//! `ExitTimeOut` from the stop timeout. Written by the `plist` crate (XML escaping).

use plist::{Dictionary, Value};

use super::{
    Export, File, MARK, Note, Options, escape, exported_env, instance_env, restarts, shell_command,
    whole_seconds, without_readiness, workdir,
};
use crate::config::Stack;
use crate::error::Error;

pub fn render(stack: &Stack, options: &Options) -> Result<Export, Error> {
    let mut export = Export::default();
    for (key, value) in exported_env(stack) {
        if !escape::xml_can_carry(&value) && !export.notes.iter().any(|n| n.name == key) {
            export.notes.push(Note {
                name: key,
                text: "holds a control character a property list (XML 1.0) cannot carry: left out"
                    .to_owned(),
                warning: false,
            });
        }
    }
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let mut notes = Vec::new();
        let label = format!("{}.{}.{}", options.app, spec.name, spec.number);
        let mut plist = Dictionary::new();
        plist.insert("Label".into(), Value::from(label.clone()));
        plist.insert(
            "ProgramArguments".into(),
            Value::Array(
                ["/bin/sh", "-c", &shell_command(kind)]
                    .iter()
                    .map(|a| Value::from(*a))
                    .collect(),
            ),
        );
        let dir = workdir(options, kind);
        for text in [&kind.command, &dir] {
            if !escape::xml_can_carry(text) {
                return Err(Error::Usage(format!(
                    "{}: {text:?} holds a control character a property list (XML 1.0) cannot carry",
                    kind.name
                )));
            }
        }
        let mut env = Dictionary::new();
        for (key, value) in instance_env(stack, i) {
            if escape::xml_can_carry(&value) {
                env.insert(key, Value::from(value));
            }
        }
        plist.insert("EnvironmentVariables".into(), Value::Dictionary(env));
        plist.insert("WorkingDirectory".into(), Value::from(dir));
        if let Some(user) = &options.user {
            plist.insert("UserName".into(), Value::from(user.clone()));
        }
        plist.insert("RunAtLoad".into(), Value::Boolean(true));
        let keep_alive = match restarts(kind.policy.on_exit) {
            Some(true) => Value::Boolean(true),
            Some(false) => {
                let mut when = Dictionary::new();
                when.insert("SuccessfulExit".into(), Value::Boolean(false));
                Value::Dictionary(when)
            }
            None => Value::Boolean(false),
        };
        plist.insert("KeepAlive".into(), keep_alive);
        // launchd waits this long between restarts (procmux's first restart delay).
        plist.insert(
            "ThrottleInterval".into(),
            Value::Integer(whole_seconds(kind.policy.backoff.initial).into()),
        );
        plist.insert(
            "ExitTimeOut".into(),
            Value::Integer(whole_seconds(kind.policy.stop_timeout).into()),
        );
        if kind.policy.stop_signal != nix::sys::signal::Signal::SIGTERM {
            notes.push(format!(
                "stop_signal = {}: launchd stops a job with SIGTERM",
                kind.policy.stop_signal.as_str()
            ));
        }
        if !kind.after.is_empty() {
            notes.push(format!(
                "after = {:?}: launchd starts jobs independently",
                kind.after
            ));
        }
        notes.extend(without_readiness(kind, "launchd"));
        plist.insert("ProcmuxExport".into(), Value::from(MARK));
        if !notes.is_empty() {
            plist.insert(
                "ProcmuxNotExpressible".into(),
                Value::Array(notes.iter().map(|n| Value::from(n.clone())).collect()),
            );
        }
        let mut bytes = Vec::new();
        Value::Dictionary(plist)
            .to_writer_xml(&mut bytes)
            .map_err(|e| {
                Error::Usage(format!(
                    "{label}: cannot be written as a property list: {e}"
                ))
            })?;
        let mut contents = String::from_utf8(bytes)
            .map_err(|_| Error::Usage(format!("{label}: the property list is not UTF-8")))?;
        contents.push('\n');
        export.files.push(File {
            path: format!("{label}.plist").into(),
            contents,
            executable: false,
            secret: true,
        });
        if spec.number == 1 {
            export.notes.extend(Note::about(&kind.name, notes));
        }
    }
    Ok(export)
}
