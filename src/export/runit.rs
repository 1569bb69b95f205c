//! runit: a service directory per instance, `APP-TYPE-N/run` (`exec chpst -e ./env …`, stderr
//! into stdout for the log service a supervisor attaches) and `env/KEY` files with the raw
//! values (`chpst -e` reads them byte for byte: no quoting to get wrong).

use std::fmt::Write;

use super::{File, MARK, Options, escape, instance_env, restarts, shell_command};
use crate::config::Stack;

pub fn render(stack: &Stack, options: &Options) -> Vec<File> {
    let app = &options.app;
    let mut files = Vec::new();
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let dir = format!("{app}-{}-{}", spec.name, spec.number);
        let mut run = format!("#!/bin/sh\n# {MARK}\n");
        if !kind.after.is_empty() {
            let _ = writeln!(
                run,
                "# Not expressible here: after = {:?} (runit starts services independently).",
                kind.after
            );
        }
        if restarts(kind.policy.on_exit).is_none() {
            run.push_str(
                "# on_exit lets it exit: runit restarts every service (`sv once` runs it once).\n",
            );
        }
        let user = options
            .user
            .as_deref()
            .map(|u| format!("-u {} ", escape::sh_quote(u)))
            .unwrap_or_default();
        // runsv starts `run` in the service directory: ./env is read there, then the
        // process goes to the root.
        let inner = format!(
            "cd {} && {}",
            escape::sh_quote(&options.root.display().to_string()),
            shell_command(&kind.command)
        );
        let _ = writeln!(
            run,
            "exec 2>&1\nexec chpst {user}-e ./env /bin/sh -c {}",
            escape::sh_quote(&inner)
        );
        files.push(File {
            path: format!("{dir}/run").into(),
            contents: run,
            executable: true,
        });
        for (key, value) in instance_env(stack, i) {
            files.push(File {
                path: format!("{dir}/env/{key}").into(),
                contents: escape::runit_env(&value),
                executable: false,
            });
        }
    }
    files
}
