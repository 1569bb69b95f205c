//! `procmux export` never harms: a second export and a `--dry-run` change nothing, modes
//! follow the umask and env values stay private, a foreign file survives whatever its bytes,
//! and a failing export leaves the old one as it was.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::App;
use support::export::{export, files_in, policies};

/// Every file under a directory: its path, mode and bytes.
type Tree = BTreeMap<PathBuf, (u32, Vec<u8>)>;

/// The [`Tree`] under `dir` (runsv's own `supervise/` left out).
fn tree(dir: &Path) -> Tree {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                if entry.file_name() != "supervise" {
                    stack.push(entry.path());
                }
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                files.insert(entry.path(), (mode, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    files
}

const FORMATS: [&str; 6] = [
    "systemd",
    "supervisord",
    "runit",
    "launchd",
    "compose",
    "kubernetes",
];

/// A second export, and a --dry-run over it, succeed and change nothing, in every format.
#[test]
fn a_second_export_and_a_dry_run_change_nothing() {
    for format in FORMATS {
        let app = policies();
        let out = export(&app, format);
        let first = tree(&out);
        assert!(!first.is_empty());
        export(&app, format);
        assert_eq!(tree(&out), first, "{format}: a second export");
        let done = app
            .procmux(&[
                "export",
                format,
                "out",
                "--app",
                "demo",
                "--image",
                "demo:1",
                "--dry-run",
            ])
            .run();
        assert_eq!(done.code, Some(0), "{format}: {}", done.stderr);
        assert!(done.text().contains("would write "), "{}", done.text());
        assert_eq!(tree(&out), first, "{format}: --dry-run");
    }
}

/// Modes come from the umask, and a file holding env values is owner-only: under umask 022
/// the target is 0644, a unit 0600, a run script 0700, a control script 0755; under 077
/// every file is owner-only.
#[test]
fn modes_follow_the_umask_and_env_values_stay_private() {
    let app = policies();
    let mode = |path: &str| {
        std::fs::metadata(app.path().join("out").join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for (umask, format, files) in [
        (
            "022",
            "systemd",
            vec![("demo.target", 0o644), ("demo-web.1.service", 0o600)],
        ),
        (
            "022",
            "runit",
            vec![("demo-web-1/run", 0o700), ("demo-web-1/control/t", 0o755)],
        ),
        (
            "077",
            "runit",
            vec![("demo-web-1/run", 0o700), ("demo-web-1/control/t", 0o700)],
        ),
        (
            "077",
            "systemd",
            vec![("demo.target", 0o600), ("demo-web.1.service", 0o600)],
        ),
    ] {
        let _ = std::fs::remove_dir_all(app.path().join("out"));
        let done = app
            .shell(&format!(
                "umask {umask}; exec \"$PROCMUX\" export {format} out --app demo"
            ))
            .run();
        assert_eq!(done.code, Some(0), "{}", done.stderr);
        for (path, expected) in files {
            assert_eq!(
                mode(path),
                expected,
                "umask {umask}: {path}: {:o}",
                mode(path)
            );
        }
    }
}

/// A file procmux did not write is never replaced without --force, whatever its bytes (not
/// UTF-8 here), and --dry-run fails on it the same way; with --force it is replaced.
#[test]
fn a_foreign_file_survives_whatever_its_bytes() {
    let app = policies();
    std::fs::create_dir(app.path().join("out")).unwrap();
    let mine: &[u8] = b"# mine \xff\xfe not UTF-8\n";
    app.write("out/demo.target", mine);
    for extra in [None, Some("--dry-run")] {
        let mut args = vec!["export", "systemd", "out", "--app", "demo"];
        args.extend(extra);
        let done = app.procmux(&args).run();
        assert_eq!(done.code, Some(2), "{extra:?}");
        assert!(
            done.stderr.contains(
                "demo.target: exists and was not written by procmux export (--force replaces it)"
            ),
            "{}",
            done.stderr
        );
        assert_eq!(
            std::fs::read(app.path().join("out/demo.target")).unwrap(),
            mine
        );
        assert_eq!(
            files_in(&app.path().join("out")).len(),
            1,
            "nothing else written"
        );
    }
    let done = app
        .procmux(&["export", "systemd", "out", "--app", "demo", "--force"])
        .run();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_ne!(
        std::fs::read(app.path().join("out/demo.target")).unwrap(),
        mine
    );
}

/// A failing write mid-export leaves the old export as it was, with no file of the new one
/// and no temporary file: a directory where a file goes, a file where a directory goes, a
/// link in the way, and a write refused while staging (a temporary file's name too long for
/// the file system, after the first file was staged).
/// Runs `procmux ARGS` in `app`: it must fail with an error, and leave `out/` as it was
/// (no new file, no temporary file). Returns its stderr.
fn fails_leaving_out_intact(app: &App, args: &[&str], what: &str) -> String {
    let out = app.path().join("out");
    let before = tree(&out);
    let done = app.procmux(args).run();
    assert!(done.code.is_some_and(|c| c != 0), "{what}: {}", done.stderr);
    assert!(
        done.stderr.contains("procmux: error: "),
        "{what}: {}",
        done.stderr
    );
    assert_eq!(tree(&out), before, "{what}");
    done.stderr
}

#[test]
fn a_failing_export_leaves_the_old_one_intact() {
    let app = policies();
    let out = export(&app, "runit");
    let grow = [
        "export",
        "runit",
        "out",
        "--app",
        "demo",
        "--formation",
        "web=3",
    ];
    // A directory where the last file goes.
    std::fs::remove_file(out.join("demo-worker-1/control/t")).unwrap();
    std::fs::create_dir(out.join("demo-worker-1/control/t")).unwrap();
    fails_leaving_out_intact(&app, &grow, "a directory in the way");
    std::fs::remove_dir(out.join("demo-worker-1/control/t")).unwrap();
    // A file where a directory goes.
    std::fs::write(out.join("demo-web-3"), "").unwrap();
    fails_leaving_out_intact(&app, &grow, "a file in the way");
    std::fs::remove_file(out.join("demo-web-3")).unwrap();
    // A link where a file goes: never written through.
    std::os::unix::fs::symlink("/etc/passwd", out.join("demo-worker-1/control/t")).unwrap();
    fails_leaving_out_intact(&app, &grow, "a link in the way");
    std::fs::remove_file(out.join("demo-worker-1/control/t")).unwrap();
    export(&app, "runit");

    // An old export whose names leave room for the first temporary file, not the second.
    let app = policies();
    let name = "a".repeat(224);
    std::fs::create_dir(app.path().join("out")).unwrap();
    for file in [
        format!("{name}.target"),
        format!("{name}-migrate.1.service"),
    ] {
        app.write(
            &format!("out/{file}"),
            "# Generated by procmux export\nold\n",
        );
    }
    let args = ["export", "systemd", "out", "--app", &name];
    let stderr = fails_leaving_out_intact(&app, &args, "a temporary file refused");
    assert!(
        stderr.contains("-migrate.1.service: writing a file beside it: File name too long"),
        "{stderr}"
    );
}

/// A --user that would start a line of its own in a unit is refused, and nothing is written.
#[test]
fn a_user_name_cannot_add_lines() {
    let app = policies();
    for format in ["systemd", "supervisord"] {
        let done = app
            .procmux(&[
                "export",
                format,
                "out",
                "--user",
                "deploy\nExecStartPre=/bin/false",
            ])
            .run();
        assert_eq!(done.code, Some(2), "{}", done.stderr);
        assert!(
            done.stderr.contains("--user \"deploy\\nExecStartPre"),
            "{}",
            done.stderr
        );
        assert!(!app.path().join("out").exists());
    }
}

/// A root whose name is not UTF-8 cannot be named in the exported files: an error, not a
/// lossy name that would run elsewhere.
#[test]
fn a_root_that_is_not_utf8_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let app = policies();
    std::fs::create_dir(app.path().join(std::ffi::OsStr::from_bytes(b"root-\xff"))).unwrap();
    let done = app
        .shell("exec \"$PROCMUX\" export systemd out --app demo --root \"$(printf 'root-\\377')\"")
        .run();
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("exported files name it in UTF-8"),
        "{}",
        done.stderr
    );
    assert!(!app.path().join("out").exists());
}
