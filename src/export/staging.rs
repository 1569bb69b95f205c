//! Putting exported files on disk without harm.
//!
//! An export replaces several files that only work together (a target and its units, a run
//! script and its control script), so it is all or nothing, in three steps:
//!
//! 1. **Check** every target before touching anything: a directory, a symbolic link, a
//!    special file or a file without [`MARK`] (whatever its bytes: UTF-8 or not) stops the
//!    export (a file without the mark and a link may be replaced with `--force`). `--dry-run`
//!    stops here, so it fails exactly where the export would.
//! 2. **Stage** every file beside its target: a temporary file created exclusively
//!    (`O_CREAT | O_EXCL | O_NOFOLLOW`, so never through a link nor over anything), its mode
//!    from the umask (owner-only when it holds environment values), written and fsynced.
//!    An existing target gets a hard link beside it, the way back. Any failure removes what
//!    was staged, and the directories this export created: the old files were never touched.
//! 3. **Commit**: each temporary file renamed over its target. A rename that fails puts the
//!    targets already replaced back from their links. Then the directories are fsynced and
//!    the links removed.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{File, MARK};
use crate::error::Error;

/// Writes `files` under `out` (or to stdout when `out` is `None` and there is one file), all
/// or nothing, refusing to replace a file that does not carry [`MARK`] unless `force`; with
/// `dry_run` only checks and says what it would write. Returns the report lines.
pub fn write(
    files: &[File],
    out: Option<&Path>,
    dry_run: bool,
    force: bool,
) -> Result<Vec<String>, Error> {
    let Some(out) = out else {
        let [file] = files else {
            return Err(Error::Usage(format!(
                "this format writes {} files: give an output directory",
                files.len()
            )));
        };
        if !dry_run {
            crate::output::print_document(file.contents.as_bytes())?;
        }
        return Ok(Vec::new());
    };
    let mut targets = Vec::with_capacity(files.len());
    for file in files {
        let path = out.join(&file.path);
        let existing = check(out, &path, force)?;
        targets.push(Target {
            path,
            file,
            existing,
        });
    }
    let verb = if dry_run { "would write" } else { "wrote" };
    let report = targets
        .iter()
        .map(|t| format!("{verb} {}", t.path.display()))
        .collect();
    if dry_run {
        return Ok(report);
    }
    let mut stage = Stage::default();
    let result = stage_all(&mut stage, &targets).and_then(|()| stage.commit(&targets));
    stage.clean();
    result.map(|()| report)
}

/// One file to write, where, and whether something is there now.
struct Target<'a> {
    path: PathBuf,
    file: &'a File,
    existing: bool,
}

/// Whether `path` may be written: `Ok(true)` when it holds an earlier export (or `force`),
/// `Ok(false)` when nothing is there (nor in the way of its directories).
fn check(out: &Path, path: &Path, force: bool) -> Result<bool, Error> {
    let refuse = |why: &str| Err(Error::Usage(format!("{}: {why}", path.display())));
    for dir in path.ancestors().skip(1) {
        match fs::symlink_metadata(dir) {
            Ok(meta) if !(meta.is_dir() || meta.is_symlink() && dir == out) => {
                return Err(Error::Usage(format!(
                    "{}: is in the way of {} (not a directory)",
                    dir.display(),
                    path.display()
                )));
            }
            _ => {}
        }
        if dir == out {
            break;
        }
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::file(path, "reading it", e)),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        return refuse("is a directory where procmux export writes a file");
    }
    if kind.is_symlink() {
        return if force {
            Ok(true)
        } else {
            refuse("is a symbolic link, never written through (--force replaces the link)")
        };
    }
    if kind.is_fifo() || kind.is_socket() || kind.is_block_device() || kind.is_char_device() {
        return refuse("is not a regular file");
    }
    if force {
        return Ok(true);
    }
    let bytes = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .and_then(|mut f| {
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
        })
        .map_err(|e| Error::file(path, "reading it", e))?;
    if memchr::memmem::find(&bytes, MARK.as_bytes()).is_none() {
        return refuse("exists and was not written by procmux export (--force replaces it)");
    }
    Ok(true)
}

/// What has been staged so far, so that it can be undone.
#[derive(Default)]
struct Stage {
    /// Directories this export created, outermost first.
    created: Vec<PathBuf>,
    /// The temporary file of each target, in the targets' order (taken once renamed).
    temporary: Vec<Option<PathBuf>>,
    /// A hard link to each existing target (`None` for a new one; taken once used).
    backup: Vec<Option<PathBuf>>,
    /// True once every rename is done: the directories created stay.
    done: bool,
}

fn stage_all(stage: &mut Stage, targets: &[Target<'_>]) -> Result<(), Error> {
    for target in targets {
        if let Some(dir) = target.path.parent() {
            stage
                .create_dirs(dir)
                .map_err(|e| Error::file(dir, "creating the directory", e))?;
        }
        let temporary = create_temporary(&target.path, target.file)
            .map_err(|e| Error::file(&target.path, "writing a file beside it", e))?;
        stage.temporary.push(Some(temporary));
        let backup = if target.existing {
            let link = beside(&target.path, "old")
                .into_iter()
                .find(|p| fs::symlink_metadata(p).is_err())
                .ok_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists))
                .and_then(|p| fs::hard_link(&target.path, &p).map(|()| p))
                .map_err(|e| Error::file(&target.path, "keeping a link to it", e))?;
            Some(link)
        } else {
            None
        };
        stage.backup.push(backup);
    }
    Ok(())
}

impl Stage {
    /// Creates `dir` and its missing parents (`out`'s too), remembering each.
    fn create_dirs(&mut self, dir: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        for ancestor in dir.ancestors() {
            if ancestor.as_os_str().is_empty() || fs::symlink_metadata(ancestor).is_ok() {
                break;
            }
            missing.push(ancestor.to_path_buf());
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir)?;
            self.created.push(dir);
        }
        Ok(())
    }

    /// Renames every temporary file over its target; on a failure, puts back the targets
    /// already replaced.
    fn commit(&mut self, targets: &[Target<'_>]) -> Result<(), Error> {
        for (i, target) in targets.iter().enumerate() {
            let Some(temporary) = self.temporary[i].take() else {
                continue;
            };
            if let Err(e) = fs::rename(&temporary, &target.path) {
                self.temporary[i] = Some(temporary);
                self.roll_back(&targets[..i]);
                return Err(Error::file(&target.path, "replacing it", e));
            }
        }
        self.done = true;
        // The new names, and the directories this export created, are durable once their
        // directories are synced.
        let parents = targets
            .iter()
            .map(|t| t.path.as_path())
            .chain(self.created.iter().map(PathBuf::as_path));
        let mut dirs: Vec<&Path> = parents
            .filter_map(Path::parent)
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::file(dir, "syncing the directory", e))?;
        }
        Ok(())
    }

    /// Puts back what `replaced` held before (or removes what was new).
    fn roll_back(&mut self, replaced: &[Target<'_>]) {
        for (i, target) in replaced.iter().enumerate().rev() {
            let _ = match self.backup[i].take() {
                Some(link) => fs::rename(link, &target.path),
                None => fs::remove_file(&target.path),
            };
        }
    }

    /// Removes the temporary files and links left, and (unless committed) the directories
    /// this export created.
    fn clean(&mut self) {
        for path in self.temporary.iter().chain(&self.backup).flatten() {
            let _ = fs::remove_file(path);
        }
        if !self.done {
            for dir in self.created.iter().rev() {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

/// Candidate names beside `path` for a file of this export (`.NAME.procmux-PID-N.KIND`).
fn beside(path: &Path, kind: &str) -> Vec<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pid = std::process::id();
    (0..100)
        .map(|n| path.with_file_name(format!(".{name}.procmux-{pid}-{n}.{kind}")))
        .collect()
}

/// Creates, writes and fsyncs the temporary file for `path`: exclusively, never through a
/// link, the mode from the umask (owner-only for a file holding environment values).
fn create_temporary(path: &Path, file: &File) -> io::Result<PathBuf> {
    let mode = match (file.executable, file.secret) {
        (true, true) => 0o700,
        (true, false) => 0o777,
        (false, true) => 0o600,
        (false, false) => 0o666,
    };
    for candidate in beside(path, "tmp") {
        let opened = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&candidate);
        let mut handle = match opened {
            Ok(handle) => handle,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = handle
            .write_all(file.contents.as_bytes())
            .and_then(|()| handle.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&candidate);
            return Err(e);
        }
        return Ok(candidate);
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> File {
        File {
            path: path.into(),
            contents: format!("# {MARK}\n{contents}\n"),
            executable: false,
            secret: false,
        }
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A rename that fails once others are done puts back what they replaced, removes what
    /// was new, and leaves no temporary file or link behind.
    #[test]
    fn a_failed_rename_rolls_back_the_renames_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let files = [file("a", "new a"), file("b", "new b"), file("c", "new c")];
        write(&files[..1], Some(out), false, false).unwrap();
        let old_a = fs::read(out.join("a")).unwrap();
        let mut targets = Vec::new();
        for file in &files {
            let path = out.join(&file.path);
            let existing = check(out, &path, false).unwrap();
            targets.push(Target {
                path,
                file,
                existing,
            });
        }
        let mut stage = Stage::default();
        stage_all(&mut stage, &targets).unwrap();
        // Something takes c's place between staging and commit: its rename fails.
        fs::create_dir(out.join("c")).unwrap();
        fs::write(out.join("c/inside"), "").unwrap();
        let error = stage.commit(&targets).unwrap_err();
        stage.clean();
        assert!(error.to_string().contains("c: replacing it"), "{error}");
        assert_eq!(fs::read(out.join("a")).unwrap(), old_a);
        assert_eq!(names(out), ["a", "c"]);
    }

    /// Staging that fails removes what was staged and the directories it created.
    #[test]
    fn a_failed_stage_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let long = "x".repeat(250);
        let files = [file("svc/run", "run"), file(&format!("svc/{long}"), "long")];
        let error = write(&files, Some(&out), false, false).unwrap_err();
        assert!(
            error.to_string().contains("writing a file beside it"),
            "{error}"
        );
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }

    /// The output directory is created with its missing parents, and so are the files'
    /// directories; a failed export removes every directory it created.
    #[test]
    fn missing_directories_are_created_and_removed_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("deep/er/out");
        write(&[file("svc/run", "run")], Some(&out), false, false).unwrap();
        assert!(out.join("svc/run").is_file());
        let other = dir.path().join("other/out");
        let files = [file("svc/run", "run"), file(&"x".repeat(250), "long")];
        assert!(write(&files, Some(&other), false, false).is_err());
        assert_eq!(names(dir.path()), ["deep"]);
    }

    /// What is checked: a file without the mark, whatever its bytes; a link; a directory; a
    /// file in the way of a directory. --force replaces the first two only.
    #[test]
    fn check_refuses_what_is_not_an_earlier_export() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        fs::write(out.join("foreign"), b"\xff\xfe\x00 not UTF-8").unwrap();
        fs::write(out.join("ours"), [b"\xff ", MARK.as_bytes()].concat()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", out.join("link")).unwrap();
        fs::create_dir(out.join("dir")).unwrap();
        fs::write(out.join("plain"), "").unwrap();
        let check = |name: &str, force: bool| check(out, &out.join(name), force);
        assert!(!check("new", false).unwrap());
        assert!(check("ours", false).unwrap());
        for name in ["foreign", "link", "dir", "plain/below"] {
            assert!(check(name, false).is_err(), "{name}");
        }
        assert!(check("foreign", true).unwrap());
        assert!(check("link", true).unwrap());
        assert!(check("dir", true).is_err());
        assert!(check("plain/below", true).is_err());
    }
}
