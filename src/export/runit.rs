//! runit: a service directory per instance, `APP-TYPE-N/`, with
//!
//! - `run`: stderr into stdout (for the log service a supervisor attaches), the root entered,
//!   the environment exported in POSIX single quotes (an `env/` directory would lose trailing
//!   blanks: `chpst -e` strips them), then `chpst -P` (a session, so a process group, of its
//!   own) and the shell line `procmux start` runs. It holds the env values: owner-only.
//! - `control/t`: what `sv down`, `sv restart` and `sv exit` run instead of sending TERM to
//!   `run`'s process alone: the stop signal to the whole group, SIGKILL to what is left of it
//!   after the stop timeout, as `procmux start` stops it. runsv waits for the script without
//!   reaping the service, so the group's id cannot be reused meanwhile: never a stranger's.

use std::fmt::Write;

use super::{
    Export, File, MARK, Note, Options, escape, instance_env, restarts, shell_command,
    whole_seconds, without_readiness, workdir,
};
use crate::config::Stack;
use crate::config::command::is_shell_name;

pub fn render(stack: &Stack, options: &Options) -> Export {
    let app = &options.app;
    let mut export = Export::default();
    for (i, spec) in stack.instances.iter().enumerate() {
        let kind = stack.type_of(i);
        let policy = &kind.policy;
        let dir = format!("{app}-{}-{}", spec.name, spec.number);
        let mut notes = Vec::new();
        if !kind.after.is_empty() {
            notes.push(format!(
                "after = {:?}: runit starts services independently",
                kind.after
            ));
        }
        if restarts(policy.on_exit).is_none() {
            notes.push(
                "on_exit lets it exit: runit restarts every service (`sv once` runs it once)"
                    .to_owned(),
            );
        }
        notes.extend(without_readiness(kind, "runit"));
        let mut run = format!("#!/bin/sh\n# {MARK}\n");
        for note in &notes {
            let _ = writeln!(run, "# Not expressible here: {note}.");
        }
        // chpst is found with runsv's PATH, before the env files' PATH (if any) is exported;
        // $1 holds it, which no exported name can change.
        let _ = writeln!(
            run,
            "exec 2>&1\ncd {} || exit 1\nset -- \"$(command -v chpst)\"",
            escape::sh_quote(&workdir(options, kind))
        );
        // A name the shell cannot export (`spring.datasource.url`) travels in the shell line.
        for (key, value) in instance_env(stack, i) {
            if is_shell_name(&key) {
                let _ = writeln!(run, "export {key}={}", escape::sh_quote(&value));
            }
        }
        let user = options
            .user
            .as_deref()
            .map(|u| format!("-u {} ", escape::sh_quote(u)))
            .unwrap_or_default();
        let _ = writeln!(
            run,
            "exec \"$1\" -P {user}/bin/sh -c {}",
            escape::sh_quote(&shell_command(kind))
        );
        export.files.push(File {
            path: format!("{dir}/run").into(),
            contents: run,
            executable: true,
            secret: true,
        });
        export.files.push(File {
            path: format!("{dir}/control/t").into(),
            contents: control_script(
                policy.stop_signal.as_str().trim_start_matches("SIG"),
                whole_seconds(policy.stop_timeout),
            ),
            executable: true,
            secret: false,
        });
        if spec.number == 1 {
            export.notes.extend(Note::about(&kind.name, notes));
        }
    }
    export
}

/// `control/t`: the stop signal to the service's group, then SIGKILL after `timeout` seconds
/// if a live member is left (a zombie leader, which runsv reaps later, does not count).
fn control_script(signal: &str, timeout: u64) -> String {
    format!(
        r#"#!/bin/sh
# {MARK}
# sv down|restart|exit: SIG{signal} to the whole process group of run (chpst -P made it one),
# SIGKILL to what is left after {timeout} s. Exits 0, so runsv sends no TERM of its own.
pgid=$(cat supervise/pid 2>/dev/null)
[ -n "$pgid" ] || exit 1
kill -s {signal} -- "-$pgid" 2>/dev/null || exit 0
alive() {{
  for stat in /proc/[0-9]*/stat; do
    read -r line < "$stat" 2>/dev/null || continue
    set -- ${{line##*) }}
    [ "$3" = "$pgid" ] && [ "$1" != Z ] && return 0
  done
  return 1
}}
tenths=0
while alive; do
  if [ "$tenths" -ge {tenths} ]; then
    kill -s KILL -- "-$pgid" 2>/dev/null
    exit 0
  fi
  sleep 0.1
  tenths=$((tenths + 1))
done
exit 0
"#,
        tenths = timeout * 10
    )
}
