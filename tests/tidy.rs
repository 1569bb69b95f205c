//! The invariants of ARCHITECTURE.md, enforced by reading the source (as rust-analyzer's
//! `tidy` tests do): an invariant kept only in prose drifts within one batch of features.
//!
//! Only the code that ships is read: a file's test module (from its `#[cfg(test)]` on) and
//! files named `tests.rs` are left out, and so are comments.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// What each top-level module may use of the crate: the pipeline's direction
/// (`cli` ← `config` ← `supervisor` ← `output` ← `control` ← `runtime` ← `lib`, with `export`
/// and `manual` beside it). `error` is everyone's; `platform` (what differs by OS) is for the
/// parts that talk to the OS, and uses nothing of the crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("cli", &[]),
    ("error", &[]),
    ("test_support", &[]),
    ("platform", &[]),
    ("config", &["cli", "platform", "error"]),
    ("supervisor", &["config", "error"]),
    ("output", &["config", "supervisor", "platform", "error"]),
    ("control", &["config", "output", "platform", "error"]),
    (
        "runtime",
        &[
            "config",
            "supervisor",
            "output",
            "control",
            "platform",
            "error",
        ],
    ),
    ("export", &["config", "output", "error"]),
    ("manual", &["cli", "config", "error"]),
];

/// Every shipped source file under `src/` (not `lib.rs`, `main.rs`): (top-level module,
/// path, code without tests and comments).
fn sources() -> Vec<(String, PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name != "tests.rs" && name != "lib.rs" && name != "main.rs"
        })
        .map(|path| {
            let relative = path.strip_prefix(&root).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
            let text = fs::read_to_string(&path).unwrap();
            (module, path, shipped_code(&text))
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The code up to the test module, without `//` comments.
fn shipped_code(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            // A `//` inside a string ("http://") is rare in this crate; the checks below are
            // about identifiers, which such a line would still show before the `//`.
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The crate's top-level modules that `code` uses (`crate::NAME`).
fn uses(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
            .collect();
        if let Some(group) = name.strip_prefix('{') {
            // `use crate::{config::X, output::Y}`: every name of the group.
            let end = rest.find('}').unwrap_or(rest.len());
            for part in rest[1..end].split(',') {
                let part = part.trim();
                let head = part.split("::").next().unwrap_or("").to_owned();
                if !head.is_empty() {
                    found.push(head);
                }
            }
            let _ = group;
        } else {
            found.push(name);
        }
    }
    found
}

#[test]
fn modules_import_only_along_the_pipeline() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for (module, path, code) in sources() {
        let Some(may) = allowed.get(module.as_str()) else {
            problems.push(format!(
                "{}: a top-level module tidy.rs does not know",
                path.display()
            ));
            continue;
        };
        for used in uses(&code) {
            if used != module && !may.contains(&used.as_str()) {
                problems.push(format!("{}: {module} uses crate::{used}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// `unsafe` lives in four small files: `runtime/sys.rs` (fork, `pre_exec`, ioctls) and, inside
/// the platform seam, `platform/macos/sys.rs` (a `sysctl`, a union the kernel filled),
/// `platform/linux/sys.rs` (`pwritev2`) and `platform/bytes.rs` (SSE2 instructions, in every
/// x86_64's baseline).
#[test]
fn unsafe_lives_in_the_sys_files_only() {
    let problems: Vec<String> = sources()
        .into_iter()
        .filter(|(_, path, code)| {
            !path.ends_with("runtime/sys.rs")
                && !path.ends_with("platform/macos/sys.rs")
                && !path.ends_with("platform/bytes.rs")
                && !path.ends_with("platform/linux/sys.rs")
                && code
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .any(|w| w == "unsafe")
        })
        .map(|(_, path, _)| path.display().to_string())
        .collect();
    assert!(
        problems.is_empty(),
        "unsafe outside runtime/sys.rs and platform's sys.rs and bytes.rs: {problems:?}"
    );
}

/// What differs by OS is chosen in `platform/` only: no `#[cfg(...)]` or `cfg!` anywhere else
/// in the shipped code (`cfg(test)` excepted), so the rest of the crate reads the same on
/// every OS and a port touches one folder.
#[test]
fn cfg_lives_in_platform_only() {
    let code = sources()
        .into_iter()
        .filter(|(module, _, _)| module != "platform")
        .map(|(_, path, code)| (path, code));
    assert_no_cfg(code, "src/platform/");
}

/// The tests and the benchmark have their own seam: `tests/support/platform.rs`.
#[test]
fn tests_choose_by_cfg_in_their_platform_file_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("tests"), &mut files);
    collect(&root.join("benches"), &mut files);
    let code = files
        .into_iter()
        // tidy.rs names what it looks for.
        .filter(|p| !p.ends_with("tests/support/platform.rs") && !p.ends_with("tests/tidy.rs"))
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let code: String = text
                .lines()
                .map(|line| line.find("//").map_or(line, |at| &line[..at]))
                .collect::<Vec<_>>()
                .join("\n");
            (path, code)
        });
    assert_no_cfg(code, "tests/support/platform.rs");
}

/// Fails naming every line of `files` that chooses by `cfg`; `seam` is where they belong.
fn assert_no_cfg(files: impl Iterator<Item = (PathBuf, String)>, seam: &str) {
    let mut problems = Vec::new();
    for (path, code) in files {
        for line in code.lines().filter(|line| chooses_by_cfg(line)) {
            problems.push(format!("{}: {}", path.display(), line.trim()));
        }
    }
    assert!(
        problems.is_empty(),
        "cfg outside {seam}:\n{}",
        problems.join("\n")
    );
}

/// True when `line` holds a `#[cfg(...)]`, `#[cfg_attr(...)]` or `cfg!(...)` other than
/// `cfg(test)` (what tests see is not what ships).
fn chooses_by_cfg(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    ["#[cfg(", "#![cfg(", "#[cfg_attr(", "#![cfg_attr(", "cfg!("]
        .iter()
        .any(|opening| {
            compact.match_indices(opening).any(|(at, _)| {
                let rest = &compact[at + opening.len()..];
                !(rest.starts_with("test)") || rest.starts_with("not(test)"))
            })
        })
}

/// Only `output` writes procmux's stdout; elsewhere stdout is only asked whether it is a
/// terminal (and how large).
#[test]
fn only_output_writes_stdout() {
    let mut problems = Vec::new();
    for (module, path, code) in sources() {
        if module == "output" {
            continue;
        }
        for line in code.lines() {
            let writes = line.contains("print!")
                || line.contains("println!")
                || line.contains("STDOUT_FILENO")
                || stdout_used_beyond_asking(line);
            if writes {
                problems.push(format!("{}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// True when `line` uses `io::stdout()` for more than `.is_terminal()` or
/// `window_size(io::stdout())`.
fn stdout_used_beyond_asking(line: &str) -> bool {
    line.match_indices("stdout()").any(|(at, _)| {
        let after = &line[at + "stdout()".len()..];
        let before = &line[..at];
        !(after.trim_start().starts_with(".is_terminal()") || before.ends_with("window_size(io::"))
    })
}

/// clap stops at `config`: later stages get plain types.
#[test]
fn nothing_past_config_sees_clap() {
    let problems: Vec<String> = sources()
        .into_iter()
        .filter(|(module, _, code)| {
            !["cli", "config", "manual"].contains(&module.as_str())
                && (code.contains("clap") || uses(code).iter().any(|u| u == "cli"))
        })
        .map(|(_, path, _)| path.display().to_string())
        .collect();
    assert!(problems.is_empty(), "clap past config: {problems:?}");
}

/// The supervisor decides; how a decision reads is `output`'s.
#[test]
fn the_supervisor_formats_no_text() {
    let mut problems = Vec::new();
    for (module, path, code) in sources() {
        if module != "supervisor" {
            continue;
        }
        for word in [
            "format!",
            "write!",
            "Display for",
            "to_string()",
            "println!",
        ] {
            if code.contains(word) {
                problems.push(format!("{}: {word}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
}

/// The checks themselves: a reintroduced cycle is found.
#[test]
fn the_checks_find_what_they_look_for() {
    let code = "use crate::{control::Target, error::Error};\nfn f() { crate::output::x(); }\n";
    assert_eq!(uses(code), ["control", "error", "output"]);
    let shipped = shipped_code("use crate::x; // crate::y\n#[cfg(test)]\nuse crate::z;\n");
    assert_eq!(uses(&shipped), ["x"]);
    assert!(stdout_used_beyond_asking(
        "io::stdout().lock().write_all(b)"
    ));
    assert!(stdout_used_beyond_asking("let out = io::stdout();"));
    assert!(!stdout_used_beyond_asking(
        "let tty = io::stdout().is_terminal();"
    ));
    assert!(!stdout_used_beyond_asking(
        ".then(|| sys::window_size(io::stdout()));"
    ));
    assert!(chooses_by_cfg("#[cfg(target_os = \"linux\")]"));
    assert!(chooses_by_cfg(
        "    #[cfg(any(target_os = \"macos\"))] mod x;"
    ));
    assert!(chooses_by_cfg("if cfg!(target_arch = \"aarch64\") {"));
    assert!(chooses_by_cfg(
        "#[cfg_attr(target_os = \"linux\", allow(dead_code))]"
    ));
    assert!(!chooses_by_cfg("#[cfg(test)]"));
    assert!(!chooses_by_cfg(
        "#[cfg_attr(not(test), deny(clippy::unwrap_used))]"
    ));
}
