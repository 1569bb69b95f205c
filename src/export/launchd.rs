//! launchd (macOS): a property list per instance, `ProgramArguments` as an array (foreman
//! split commands on spaces), `EnvironmentVariables`, `KeepAlive` from `on_exit`,
//! `ExitTimeOut` from the stop timeout. Written by the `plist` crate (XML escaping).

use plist::{Dictionary, Value};

use super::{File, MARK, Options, instance_env, restarts, shell_command, whole_seconds};
use crate::config::Stack;

pub fn render(stack: &Stack, options: &Options) -> Vec<File> {
    let mut files = Vec::new();
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let label = format!("{}.{}.{}", options.app, spec.name, spec.number);
        let mut plist = Dictionary::new();
        plist.insert("Label".into(), Value::from(label.clone()));
        plist.insert(
            "ProgramArguments".into(),
            Value::Array(
                ["/bin/sh", "-c", &shell_command(&kind.command)]
                    .iter()
                    .map(|a| Value::from(*a))
                    .collect(),
            ),
        );
        let mut env = Dictionary::new();
        for (key, value) in instance_env(stack, i) {
            env.insert(key, Value::from(value));
        }
        plist.insert("EnvironmentVariables".into(), Value::Dictionary(env));
        plist.insert(
            "WorkingDirectory".into(),
            Value::from(options.root.display().to_string()),
        );
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
        plist.insert("ProcmuxExport".into(), Value::from(MARK));
        let mut bytes = Vec::new();
        if Value::Dictionary(plist).to_writer_xml(&mut bytes).is_err() {
            continue;
        }
        let mut contents = String::from_utf8_lossy(&bytes).into_owned();
        contents.push('\n');
        files.push(File {
            path: format!("{label}.plist").into(),
            contents,
            executable: false,
        });
    }
    files
}
