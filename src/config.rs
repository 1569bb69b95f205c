//! Turns the command line into a [`Project`] and a [`StartConfig`] of plain values: files read
//! and parsed, formation expanded into instances, ports assigned, colour decided. Every user
//! mistake is found here, before any process starts.

use std::fs;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{ColorArg, ProjectArgs, StartArgs};
use crate::color::{self, ColorChoice};
use crate::dotenv;
use crate::error::{Error, Result};
use crate::formation::Formation;
use crate::procfile::Procfile;

const DEFAULT_PORT: u16 = 5000;

/// The app as files describe it: the Procfile, where it runs, and its `.env` variables.
#[derive(Debug)]
pub struct Project {
    pub procfile: Procfile,
    /// The Procfile path as the user named it, for messages.
    pub procfile_name: String,
    pub root: PathBuf,
    /// Variables from the env files, each key once, later files winning.
    pub env: Vec<(String, String)>,
}

/// One instance to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The process type (Procfile entry name).
    pub name: String,
    /// 1-based instance number: `web.2` is instance 2.
    pub instance: usize,
    pub command: String,
    pub port: u16,
    /// Index of the type in the Procfile, which picks its colour.
    pub type_index: usize,
}

impl ProcessSpec {
    /// `web.1`: the label in the output and the value of `PS`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.name, self.instance)
    }
}

/// Everything `procmux start` needs, resolved.
#[derive(Debug)]
pub struct StartConfig {
    pub project: Project,
    pub processes: Vec<ProcessSpec>,
    pub timeout: Duration,
    pub color: bool,
    pub timestamps: bool,
    /// Width that labels are padded to.
    pub width: usize,
}

impl Project {
    pub fn load(args: &ProjectArgs) -> Result<Project> {
        let procfile_path = args
            .procfile
            .clone()
            .unwrap_or_else(|| PathBuf::from("Procfile"));
        let procfile_name = procfile_path.display().to_string();
        let text = read_text(&procfile_path, &procfile_name)?;
        let procfile = Procfile::parse(&text).map_err(|e| e.in_file(&procfile_name))?;
        let root = match &args.root {
            Some(root) => root.clone(),
            None => match procfile_path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
                _ => PathBuf::from("."),
            },
        };
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "--root {}: not a directory",
                root.display()
            )));
        }
        let env_files = if args.env.is_empty() {
            let default = if root == Path::new(".") {
                PathBuf::from(".env")
            } else {
                root.join(".env")
            };
            if default.exists() {
                vec![default]
            } else {
                Vec::new()
            }
        } else {
            args.env.clone()
        };
        let env = load_env(&env_files)?;
        Ok(Project {
            procfile,
            procfile_name,
            root,
            env,
        })
    }

    /// The value of `name` from the env files.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        dotenv::lookup(&self.env, name)
    }
}

impl StartConfig {
    pub fn resolve(args: &StartArgs) -> Result<StartConfig> {
        let project = Project::load(&args.project)?;
        let formation = match &args.formation {
            Some(spec) => {
                Formation::parse(spec).map_err(|e| Error::Usage(format!("--formation {e}")))?
            }
            None => Formation::default(),
        };
        if let Some(name) = formation.unknown_names(&project.procfile).next() {
            return Err(unknown_name(&project, name, "--formation: "));
        }
        for name in &args.names {
            if project.procfile.position(name).is_none() {
                return Err(unknown_name(&project, name, ""));
            }
        }
        let base = base_port(args.port, &project)?;
        let mut processes = Vec::new();
        let mut largest_count = 0;
        for (type_index, entry) in project.procfile.entries.iter().enumerate() {
            let count = formation.count(&entry.name, &args.names);
            largest_count = largest_count.max(count);
            for instance in 1..=count {
                let port = base + 100 * type_index as u32 + instance as u32 - 1;
                let port = u16::try_from(port).map_err(|_| {
                    Error::Usage(format!(
                        "{}.{instance} would get port {port}, above 65535",
                        entry.name
                    ))
                })?;
                processes.push(ProcessSpec {
                    name: entry.name.clone(),
                    instance,
                    command: entry.command.clone(),
                    port,
                    type_index,
                });
            }
        }
        if processes.is_empty() {
            return Err(Error::Usage("the formation starts no process".to_owned()));
        }
        let longest_name = project.procfile.names().map(str::len).max().unwrap_or(0);
        let width = (longest_name + largest_count.to_string().len() + 1).max(6);
        let choice = match args.color {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        };
        let color = color::enabled(
            choice,
            &|name| std::env::var(name).ok(),
            io::stdout().is_terminal(),
        );
        Ok(StartConfig {
            project,
            processes,
            timeout: Duration::from_secs_f64(args.timeout),
            color,
            timestamps: !args.no_timestamp,
            width,
        })
    }
}

/// `-p`, else `PORT` from the env files, else from the environment, else 5000.
fn base_port(flag: Option<u16>, project: &Project) -> Result<u32> {
    if let Some(port) = flag {
        return Ok(port.into());
    }
    let (value, source) = match project.env_value("PORT") {
        Some(value) => (value.to_owned(), "the env file"),
        None => match std::env::var("PORT") {
            Ok(value) => (value, "the environment"),
            Err(_) => return Ok(DEFAULT_PORT.into()),
        },
    };
    value.trim().parse::<u16>().map(u32::from).map_err(|_| {
        Error::Usage(format!(
            "PORT from {source} is not a port number: \"{value}\""
        ))
    })
}

fn unknown_name(project: &Project, name: &str, context: &str) -> Error {
    let known: Vec<&str> = project.procfile.names().collect();
    let hint = match closest(name, &known) {
        Some(close) => format!("did you mean \"{close}\"?"),
        None => format!("defined: {}", known.join(", ")),
    };
    Error::input(
        &project.procfile_name,
        None,
        format!("{context}no process named \"{name}\" ({hint})"),
    )
}

/// The known name within edit distance 2 of `name`, if one is.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Reads the env files in order into one list, each key once (the last value).
fn load_env(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let text = read_text(file, &name)?;
        dotenv::parse_into(&text, &mut vars, &|key| std::env::var(key).ok())
            .map_err(|e| e.in_file(&name))?;
    }
    let mut merged: Vec<(String, String)> = Vec::with_capacity(vars.len());
    for (key, value) in vars {
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => merged.push((key, value)),
        }
    }
    Ok(merged)
}

/// Reads a user file as UTF-8, naming the file (and the line of a bad byte) on failure.
fn read_text(path: &Path, name: &str) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| {
        let message = match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_owned(),
            _ => format!("cannot read: {e}"),
        };
        Error::input(name, None, message)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::input(name, Some(line), "not valid UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_name_hint() {
        assert_eq!(closest("wrker", &["web", "worker"]), Some("worker"));
        assert_eq!(closest("zzzzzz", &["web", "worker"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
