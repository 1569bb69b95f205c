//! The command line, as clap sees it. [`crate::config`] turns it into plain values; nothing past
//! that boundary knows about clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run the processes of a Procfile and multiplex their output into one prefixed stream.
#[derive(Debug, Parser)]
#[command(name = "procmux", version, propagate_version = true)]
pub struct Arguments {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the processes (all types, or the NAMEs given) and stream their output.
    Start(StartArgs),
    /// Validate the Procfile and env files without starting anything.
    Check(ProjectArgs),
}

/// Where the app is: options shared by every subcommand.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Procfile to read [default: ./Procfile]
    #[arg(short = 'f', long = "procfile", value_name = "FILE")]
    pub procfile: Option<PathBuf>,

    /// Working directory of the processes, where .env is looked up [default: the Procfile's directory]
    #[arg(short = 'd', long = "root", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Env files to load, in order, later values winning [default: .env in the root, if present]
    #[arg(short = 'e', long = "env", value_name = "FILE", value_delimiter = ',')]
    pub env: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Instances per process type, e.g. web=2,worker=0; all=N sets the default
    #[arg(short = 'm', long = "formation", value_name = "FORMATION")]
    pub formation: Option<String>,

    /// Base port: PORT is base + 100 × type index + instance − 1 [default: PORT from .env or the environment, else 5000]
    #[arg(short = 'p', long = "port", value_name = "N")]
    pub port: Option<u16>,

    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short = 't', long = "timeout", value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub timeout: f64,

    /// Leave the HH:MM:SS timestamp out of each line
    #[arg(long = "no-timestamp")]
    pub no_timestamp: bool,

    /// When to colour the output
    #[arg(long = "color", value_name = "WHEN", default_value = "auto")]
    pub color: ColorArg,

    /// Process types to start [default: all]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err("expected a number of seconds between 0 and 86400".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Arguments::command().debug_assert();
    }
}
