//! Typed errors, rendered once by `main` as `procmux: error: …`.

use std::fmt;
use std::io;

/// Everything that can stop procmux before or while it supervises.
#[derive(Debug)]
pub enum Error {
    /// A file the user wrote (Procfile, `.env`, `procmux.toml`) is missing, unreadable or
    /// malformed. `line` is `None` when the problem is the file as a whole.
    Input {
        file: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// A flag or argument that cannot be honoured.
    Usage(String),
    /// The running stack refused a request (`the stack is stopping`), or did not answer in
    /// time. (A name that matches no instance is the user's mistake: `Usage`.)
    Refused(String),
    /// The operating system refused something procmux needs (poll, signals, stdout).
    Os {
        context: &'static str,
        source: io::Error,
    },
    /// The operating system refused something procmux does to one file (`procmux export`).
    File {
        path: std::path::PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

impl Error {
    pub fn input(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.to_owned(),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// Adds the column to an input error located at a line.
    pub fn with_column(self, column: usize) -> Self {
        match self {
            Error::Input {
                file,
                line,
                message,
                ..
            } => Error::Input {
                file,
                line,
                column: Some(column),
                message,
            },
            other => other,
        }
    }

    pub fn os(context: &'static str, source: io::Error) -> Self {
        Error::Os { context, source }
    }

    pub fn file(path: &std::path::Path, action: &'static str, source: io::Error) -> Self {
        Error::File {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// The process exit code for this error: 2 for anything the user can fix in their input,
    /// 1 when the machine refused.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage(_) => 2,
            Error::Refused(_) | Error::Os { .. } | Error::File { .. } => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input {
                file,
                line,
                column,
                message,
            } => {
                f.write_str(file)?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                }
                if let Some(column) = column {
                    write!(f, ":{column}")?;
                }
                write!(f, ": {message}")
            }
            Error::Usage(message) | Error::Refused(message) => f.write_str(message),
            Error::Os { context, source } => write!(f, "{context}: {source}"),
            Error::File {
                path,
                action,
                source,
            } => write!(f, "{}: {action}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// A parse error located at a line of the text being parsed; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number; `None` for an error about the whole text.
    pub line: Option<usize>,
    pub message: String,
}

impl LineError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        LineError {
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn whole(message: impl Into<String>) -> Self {
        LineError {
            line: None,
            message: message.into(),
        }
    }

    pub fn in_file(self, file: &str) -> Error {
        Error::input(file, self.line, self.message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
