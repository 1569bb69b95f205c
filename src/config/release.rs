//! The release phase, as on Heroku: a Procfile entry named `release` (unless its `phase =
//! "run"`) or any entry with `phase = "release"` runs once, before every other process, and
//! nothing else starts until it exits 0; a failure stops the start with its exit code.
//!
//! It is resolved into what the supervisor already knows, so there is one path for it: its
//! readiness is its exit 0 (`ready = "exit:0"`), any other exit stops the stack
//! (`on_exit = "stop-all"`), and every other type waits for it (`after`), except the types it
//! needs itself (a migration that waits for `db`: `db` starts first). `--no-release` leaves it
//! out, and every `after` that names it.

use toml::Spanned;

use super::policy::{OnExit, Ready, TypeSettings};
use super::project::Project;
use crate::cli::StartArgs;
use crate::error::{Error, Result};

/// The words of `phase = "…"`.
const RELEASE: &str = "release";
const RUN: &str = "run";

/// Which types are the release phase (per Procfile entry); each is checked and given its
/// policy, and the others are made to wait for it, unless `--no-release`.
pub fn apply(project: &Project, args: &StartArgs, types: &mut [TypeSettings]) -> Result<Vec<bool>> {
    let mut release = Vec::with_capacity(types.len());
    for (index, entry) in project.procfile.entries.iter().enumerate() {
        let table = project
            .file
            .as_ref()
            .and_then(|f| f.config.table(&entry.name).map(|t| (f, t)));
        let phase = table.and_then(|(file, t)| t.phase.as_ref().map(|p| (file, p)));
        let is_release = match phase {
            Some((_, p)) if p.get_ref() == RELEASE => true,
            Some((_, p)) if p.get_ref() == RUN => false,
            Some((file, p)) => {
                return Err(file.error_at(
                    p.span(),
                    format!("phase: \"{}\": expected release or run", p.get_ref()),
                ));
            }
            None => entry.name == RELEASE,
        };
        release.push(is_release);
        if !is_release {
            continue;
        }
        // What a release is cannot be changed: said where it is written.
        if let Some((file, table)) = table {
            let refuse = |value: &Option<Spanned<String>>, key: &str, allowed: &str| {
                match value {
                    Some(v) if v.get_ref() != allowed => Err(file.error_at(
                        v.span(),
                        format!(
                            "{key}: {} is a release phase, which is ready when it exits 0 and stops the start otherwise ({key} = \"{allowed}\")",
                            entry.name
                        ),
                    )),
                    _ => Ok(()),
                }
            };
            refuse(&table.ready, "ready", "exit:0")?;
            refuse(&table.on_exit, "on_exit", "stop-all")?;
        }
        for (flag, list) in [
            ("--may-exit", &args.may_exit),
            ("--restart", &args.restart),
            ("--restart-on-failure", &args.restart_on_failure),
        ] {
            if list.contains(&entry.name) {
                return Err(Error::Usage(format!(
                    "{flag} {}: a release phase runs once, and a failure stops the start",
                    entry.name
                )));
            }
        }
        let policy = &mut types[index].policy;
        policy.ready = Ready::ExitZero;
        policy.on_exit = OnExit::StopAll;
    }
    let names: Vec<&str> = project
        .procfile
        .entries
        .iter()
        .zip(&release)
        .filter(|(_, r)| **r)
        .map(|(e, _)| e.name.as_str())
        .collect();
    if args.no_release {
        for settings in types.iter_mut() {
            settings
                .after
                .retain(|name| !names.contains(&name.as_str()));
        }
        return Ok(release);
    }
    let needed = needed_by(project, types, &release);
    for (index, settings) in types.iter_mut().enumerate() {
        if release[index] || needed[index] {
            continue;
        }
        for name in &names {
            if !settings.after.iter().any(|a| a == name) {
                settings.after.push((*name).to_owned());
            }
        }
    }
    Ok(release)
}

/// Per type: whether a release type waits for it, directly or through others.
fn needed_by(project: &Project, types: &[TypeSettings], release: &[bool]) -> Vec<bool> {
    let mut needed = vec![false; types.len()];
    let mut queue: Vec<usize> = (0..types.len()).filter(|&i| release[i]).collect();
    while let Some(index) = queue.pop() {
        for name in &types[index].after {
            if let Some(dependency) = project.procfile.position(name)
                && !needed[dependency]
            {
                needed[dependency] = true;
                queue.push(dependency);
            }
        }
    }
    needed
}
