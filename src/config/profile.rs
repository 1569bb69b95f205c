//! Profiles: `[profile.backend] processes = ["db", "redis", "api.*"]` names a set of processes,
//! started with `procmux start --profile backend` or `procmux start @backend`, with what they
//! wait for (`after`) unless `--no-deps`, as for names given one by one.
//!
//! Every profile is checked whenever the project is (`check` included): each name or glob
//! must select at least one Procfile entry, and a bad glob is an error at its place.

use super::project::Project;
use crate::error::{Error, Result};

/// A profile, with the Procfile names it selects in Procfile order.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub processes: Vec<String>,
}

/// Every profile of the config file, resolved.
pub fn resolve(project: &Project) -> Result<Vec<Profile>> {
    let Some(file) = &project.file else {
        return Ok(Vec::new());
    };
    let mut profiles = Vec::new();
    for (name, table) in &file.config.profile {
        let mut selected = vec![false; project.procfile.entries.len()];
        for pattern in &table.processes {
            let glob = globset::Glob::new(pattern.get_ref())
                .map_err(|e| {
                    file.error_at(
                        pattern.span(),
                        format!("profile {}: {}", name.get_ref(), e.kind()),
                    )
                })?
                .compile_matcher();
            let mut matched = false;
            for (index, entry) in project.procfile.entries.iter().enumerate() {
                if glob.is_match(&entry.name) {
                    selected[index] = true;
                    matched = true;
                }
            }
            if !matched {
                let message = project.unknown_message(pattern.get_ref());
                return Err(file.error_at(
                    pattern.span(),
                    format!("profile {}: {message}", name.get_ref()),
                ));
            }
        }
        if table.processes.is_empty() {
            return Err(file.error_at(
                name.span(),
                format!("profile {}: processes is empty", name.get_ref()),
            ));
        }
        let processes = project
            .procfile
            .entries
            .iter()
            .zip(&selected)
            .filter(|(_, s)| **s)
            .map(|(e, _)| e.name.clone())
            .collect();
        profiles.push(Profile {
            name: name.get_ref().clone(),
            processes,
        });
    }
    Ok(profiles)
}

/// `start`'s names with each `@PROFILE` and each `--profile` replaced by its processes, each
/// name once, in the order given.
pub fn expand(profiles: &[Profile], names: &[String], flags: &[String]) -> Result<Vec<String>> {
    let mut expanded: Vec<String> = Vec::new();
    let mut add = |name: &String| {
        if !expanded.contains(name) {
            expanded.push(name.clone());
        }
    };
    let find = |name: &str, how: &str| {
        profiles.iter().find(|p| p.name == name).ok_or_else(|| {
            let defined: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
            let hint = if defined.is_empty() {
                "procmux.toml defines none: [profile.NAME] processes = [...]".to_owned()
            } else {
                format!("defined: {}", defined.join(", "))
            };
            Error::Usage(format!("{how}{name}: no profile named \"{name}\" ({hint})"))
        })
    };
    for flag in flags {
        find(flag, "--profile ")?
            .processes
            .iter()
            .for_each(&mut add);
    }
    for name in names {
        match name.strip_prefix('@') {
            Some(profile) => find(profile, "@")?.processes.iter().for_each(&mut add),
            None => add(name),
        }
    }
    Ok(expanded)
}
