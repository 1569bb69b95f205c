//! The output stream: exact bytes, colour rules, whole lines under load, odd bytes.

mod support;

use support::{App, lines_of, normalize_pids};

#[test]
fn exact_bytes_match_foreman_without_colour() {
    let app = App::new("web: echo hello\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--color", "never"])
        .run();
    assert_eq!(done.code, Some(0));
    assert_eq!(
        normalize_pids(&done.text()),
        "web.1  | started with pid N\n\
         web.1  | hello\n\
         web.1  | exited with code 0\n\
         system | sending SIGTERM to all processes\n"
    );
}

#[test]
fn padding_follows_the_longest_procfile_name() {
    let app = App::new("web: sleep 30\nscheduler: sleep 30\nquick: echo out\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "-m", "web=10,quick=1", "quick"])
        .run();
    // Only quick runs (web gets no instance when names are given): width is
    // len("scheduler") + digits(1) + 1 = 11, from every Procfile name.
    assert_eq!(
        normalize_pids(&done.text()),
        "quick.1     | started with pid N\n\
         quick.1     | out\n\
         quick.1     | exited with code 0\n\
         system      | sending SIGTERM to all processes\n"
    );
}

#[test]
fn timestamps_are_local_hh_mm_ss() {
    let app = App::new("web: echo hello\n");
    let text = app.procmux(&["start"]).run().text();
    let line = text
        .lines()
        .find(|l| l.ends_with("| hello"))
        .expect("hello line");
    let (stamp, rest) = line.split_at(9);
    assert_eq!(rest, "web.1  | hello");
    let bytes = stamp.as_bytes();
    assert!(
        bytes.len() == 9
            && bytes[2] == b':'
            && bytes[5] == b':'
            && bytes[8] == b' '
            && [0, 1, 3, 4, 6, 7]
                .iter()
                .all(|&i| bytes[i].is_ascii_digit()),
        "bad timestamp in {line:?}"
    );
}

#[test]
fn colour_rules() {
    let app = App::new("web: echo hi\n");
    let colored = |args: &[&str], env: &[(&str, &str)]| {
        let mut procmux = app.procmux(args);
        for (k, v) in env {
            procmux = procmux.env(k, v);
        }
        procmux.run().text().contains('\x1b')
    };
    // stdout is a pipe here, so `auto` means no colour unless forced.
    assert!(!colored(&["start"], &[]));
    assert!(colored(
        &["start", "--color", "always"],
        &[("NO_COLOR", "1")]
    ));
    assert!(colored(&["start"], &[("CLICOLOR_FORCE", "1")]));
    assert!(!colored(
        &["start"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(!colored(
        &["start", "--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    ));
}

#[test]
fn colour_wraps_the_prefix_and_resets_every_line() {
    let app = App::new("web: printf 'a\\033[1mbold\\n'\n");
    let text = app
        .procmux(&["start", "--no-timestamp", "--color", "always"])
        .run()
        .text();
    assert!(
        text.contains("\x1b[36mweb.1  | \x1b[0ma\x1b[1mbold\x1b[0m\n"),
        "{text:?}"
    );
    assert!(
        text.contains("\x1b[37msystem | \x1b[0msending SIGTERM to all processes\x1b[0m\n"),
        "{text:?}"
    );
}

#[test]
fn colours_cycle_by_procfile_order() {
    let entries: String = (0..7)
        .map(|i| format!("p{i}: echo x; sleep 30\n"))
        .collect();
    let app = App::new(&entries);
    let running = app
        .procmux(&["start", "--no-timestamp", "--color", "always"])
        .spawn();
    running.wait_for_count("| \x1b[0mx", 7);
    running.signal(nix::sys::signal::Signal::SIGTERM);
    let text = running.wait().text();
    for (i, code) in ["36", "33", "32", "35", "31", "34", "36"]
        .iter()
        .enumerate()
    {
        assert!(
            text.contains(&format!("\x1b[{code}mp{i}.1   | \x1b[0mx")),
            "p{i} not in {code}: {text:?}"
        );
    }
}

/// Four writers with lines of 1 B, 4 KiB, 64 KiB and 1 MiB: every line arrives whole, with
/// one prefix, in order.
#[test]
fn concurrent_writers_lines_arrive_whole_and_in_order() {
    let app = App::new(
        "tiny: python3 writer.py 1 20000\n\
         small: python3 writer.py 4096 2000\n\
         medium: python3 writer.py 65536 200\n\
         large: python3 writer.py 1048576 12\n",
    );
    app.write(
        "writer.py",
        "import sys, time\n\
         size, count = int(sys.argv[1]), int(sys.argv[2])\n\
         out = sys.stdout.buffer\n\
         for i in range(count):\n\
         \x20   head = (b'%d ' % i) if size > 16 else b''\n\
         \x20   out.write(head + b'x' * (size - len(head)) + b'\\n')\n\
         out.flush()\n\
         print('done', flush=True)\n\
         time.sleep(60)\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for_count("| done", 4);
    running.signal(nix::sys::signal::Signal::SIGTERM);
    let done = running.wait();
    assert_eq!(done.code, Some(143));
    for (label, size, count) in [
        ("tiny.1", 1, 20000),
        ("small.1", 4096, 2000),
        ("medium.1", 65536, 200),
        ("large.1", 1048576, 12),
    ] {
        let lines: Vec<&[u8]> = lines_of(&done.stdout, label)
            .into_iter()
            .filter(|l| {
                !l.starts_with(b"started with") && !l.starts_with(b"terminated") && *l != b"done"
            })
            .collect();
        assert_eq!(lines.len(), count, "{label}: line count");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line.len(), size, "{label}: line {i} length");
            if size > 16 {
                let head = format!("{i} ");
                assert!(
                    line.starts_with(head.as_bytes()),
                    "{label}: line {i} out of order"
                );
            }
        }
    }
}

#[test]
fn a_line_over_one_mib_is_cut_without_loss() {
    let app = App::new("big: python3 -c \"import sys; sys.stdout.write('y' * 2621440 + '\\n')\"\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let pieces: Vec<&[u8]> = lines_of(&done.stdout, "big.1")
        .into_iter()
        .filter(|l| l.iter().all(|&b| b == b'y'))
        .collect();
    assert!(
        pieces.len() >= 3,
        "expected the line cut in pieces, got {}",
        pieces.len()
    );
    assert!(pieces.iter().all(|p| p.len() <= 1024 * 1024 + 1));
    assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), 2621440);
}

#[test]
fn a_line_of_exactly_one_mib_is_whole() {
    let app = App::new("big: python3 -c \"import sys; sys.stdout.write('z' * 1048576 + '\\n')\"\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let lines = lines_of(&done.stdout, "big.1");
    assert!(
        lines.iter().any(|l| l.len() == 1048576),
        "no whole 1 MiB line"
    );
    assert!(!lines.contains(&&b""[..]), "an empty line was invented");
}

#[test]
fn last_line_without_newline_is_printed_before_the_exit_line() {
    let app = App::new("web: printf 'no newline'\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(
        normalize_pids(&done.text()).contains("web.1  | no newline\nweb.1  | exited with code 0\n"),
        "{}",
        done.text()
    );
}

#[test]
fn bytes_pass_through_unchanged() {
    let app = App::new("bin: printf 'a\\000b\\377\\376\\033[31mc\\r\\n'\n");
    let done = app
        .procmux(&["start", "--no-timestamp", "--color", "never"])
        .run();
    assert!(
        done.stdout
            .windows(22)
            .any(|w| w == b"bin.1  | a\0b\xff\xfe\x1b[31mc\r\n"),
        "{:?}",
        done.text()
    );
}

#[test]
fn idle_partial_line_is_shown_while_the_process_runs() {
    let app = App::new(
        "prompt: printf 'name? '; sleep 30\nother: sleep 0.1; echo other-line; sleep 30\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("prompt.1 | name? \n");
    let text = running.wait_for("other.1  | other-line\n");
    assert!(text.contains("other-line"));
    running.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(running.wait().code, Some(130));
}

#[test]
fn stderr_and_stdout_share_the_stream_in_order() {
    let app = App::new("web: echo one; echo two >&2; echo three\n");
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    assert!(
        done.text()
            .contains("web.1  | one\nweb.1  | two\nweb.1  | three\n"),
        "{}",
        done.text()
    );
}

/// A progress bar redrawn with `\r`, slower than the idle flush of a partial line.
const PROGRESS: &str = "import sys, time\nfor p in (10, 20, 50):\n    sys.stdout.write('%d%%\\r' % p)\n    sys.stdout.flush()\n    time.sleep(0.12)\nprint('100%')\n";

/// In a pipe only the settled text of a redrawn line is kept: no timestamp or name
/// overwritten, no flood of pieces.
#[test]
fn progress_bars_in_a_pipe_keep_only_their_last_state() {
    let (shown, text) = shown_in_a_pipe("prog", PROGRESS);
    assert_eq!(shown, [b"100%".to_vec()], "{text}");
}

/// `--no-prefix` writes lines as they are: a redrawn line keeps every state, however many
/// reads it came in, as it does when it comes in one; and a long one is written in pieces
/// about once a second, each with the bytes since the last, none dropped.
#[test]
fn no_prefix_keeps_every_state_of_a_redrawn_line() {
    let app = App::new("prog: python3 script.py; sleep 10\nlong: python3 slow.py\n");
    app.write("script.py", PROGRESS);
    app.write(
        "slow.py",
        "import sys, time\nfor p in range(0, 60, 2):\n    sys.stdout.write('%d%%\\r' % p)\n    sys.stdout.flush()\n    time.sleep(0.08)\nprint('end')\n",
    );
    let done = app.procmux(&["start", "--no-prefix"]).run();
    assert!(
        done.stdout.windows(16).any(|w| w == b"10%\r20%\r50%\r100%"),
        "{}",
        done.text()
    );
    let long: Vec<u8> = done
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"%\r") || l.ends_with(b"end"))
        .flat_map(|l| l.iter().copied())
        .collect();
    let expected: String = (0..60).step_by(2).map(|p| format!("{p}%\r")).collect();
    assert_eq!(
        String::from_utf8_lossy(&long),
        format!("{expected}end"),
        "{}",
        done.text()
    );
}

/// Runs `NAME: python3 script.py` in a pipe: the lines shown under `NAME.1` between its start
/// and its exit, and all the text.
fn shown_in_a_pipe(name: &str, script: &str) -> (Vec<Vec<u8>>, String) {
    let app = App::new(&format!("{name}: python3 script.py\n"));
    app.write("script.py", script);
    let done = app.procmux(&["start", "--no-timestamp"]).run();
    let shown = support::lines_of(&done.stdout, &format!("{name}.1"))
        .into_iter()
        .filter(|l| !l.starts_with(b"started") && !l.starts_with(b"exited"))
        .map(<[u8]>::to_vec)
        .collect();
    (shown, done.text())
}

/// On a terminal the update overwrites in place, behind its prefix.
#[test]
fn progress_bars_on_a_terminal_redraw_behind_the_prefix() {
    shown_on_a_terminal(
        "prog",
        PROGRESS,
        r#"[b"\rprog.1 | 20%\x1b[K", b"\rprog.1 | 50%\x1b[K", b"\r\x1b[Kprog.1 | 100%"]"#,
        "[]",
    );
}

/// Runs `NAME: python3 script.py` on a pty: every one of `needles` (a Python list of bytes)
/// is shown, none of `absent`.
fn shown_on_a_terminal(name: &str, script: &str, needles: &str, absent: &str) {
    let app = App::new(&format!("{name}: python3 script.py\n"));
    app.write("script.py", script);
    let driver = format!(
        r#"
pid, master = procmux_on_pty("start", "--no-timestamp", "--color", "never")
if not wait_for(master, b"exited with code 0"):
    fail()
os.waitpid(pid, 0)
if any(n not in seen for n in {needles}) or any(a in seen for a in {absent}):
    fail()
"#
    );
    support::run_pty_driver(&app, &driver).unwrap();
}

/// esbuild's spinner: each frame starts with `ESC[1G ESC[0K` (cursor to column 1, erase the
/// line), which on a terminal would wipe the prefix.
const SPINNER: &str = "import sys, time\nfor frame in '|/-':\n    sys.stdout.write('\\x1b[1G\\x1b[0K%s building' % frame)\n    sys.stdout.flush()\n    time.sleep(0.12)\nsys.stdout.write('\\x1b[1G\\x1b[0K[watch] build finished, watching for changes...\\n')\n";

/// Cursor-to-column-1 and erase-line redraws settle as `\r` does: in a pipe, the line's last
/// state behind its prefix, no escape that would move to column 1 or erase the prefix.
#[test]
fn spinners_in_a_pipe_keep_only_their_last_state() {
    let (shown, text) = shown_in_a_pipe("assets", SPINNER);
    assert_eq!(
        shown,
        [b"[watch] build finished, watching for changes...".to_vec()],
        "{text}"
    );
}

/// On a terminal each frame is redrawn behind the prefix, and the message keeps it.
#[test]
fn spinners_on_a_terminal_redraw_behind_the_prefix() {
    shown_on_a_terminal(
        "assets",
        SPINNER,
        r#"[b"\rassets.1 | / building\x1b[K", b"assets.1 | [watch] build finished, watching for changes...\r\n"]"#,
        r#"[b"\x1b[1G", b"\x1b[0K"]"#,
    );
}

/// A long progress bar in a pipe (`procmux start | tee dev.log`, CI): its settled state is
/// written about once a second while it changes, the first piece within about a second, and
/// the final line once more when it ends; never a piece per redraw.
#[test]
fn a_long_progress_bar_in_a_pipe_shows_progress_once_a_second() {
    let app = App::new("prog: python3 slow.py\n");
    app.write(
        "slow.py",
        "import sys, time\nfor p in range(0, 100, 2):\n    sys.stdout.write('%d%%\\r' % p)\n    sys.stdout.flush()\n    time.sleep(0.08)\nprint('100%')\nprint('done')\ntime.sleep(60)\n",
    );
    let running = app.procmux(&["start", "--no-timestamp"]).spawn();
    running.wait_for("started with pid");
    // The bar takes 4 s; a piece shows well before its end.
    assert!(
        running.appears_within("%\n", std::time::Duration::from_secs(3)),
        "{}",
        running.text()
    );
    assert!(!running.text().contains("100%"), "{}", running.text());
    running.wait_for("| done");
    running.signal(nix::sys::signal::Signal::SIGTERM);
    let done = running.wait();
    let pieces: Vec<u32> = support::lines_of(&done.stdout, "prog.1")
        .into_iter()
        .filter_map(|l| std::str::from_utf8(l).ok()?.strip_suffix('%')?.parse().ok())
        .collect();
    // About one a second over 4 s, then the final state; in order, each settled.
    assert!((3..=7).contains(&pieces.len()), "{pieces:?}");
    assert!(pieces.windows(2).all(|w| w[0] < w[1]), "{pieces:?}");
    assert_eq!(pieces.last(), Some(&100));
    assert!(!done.stdout.contains(&b'\r'), "{}", done.text());
}

/// A pipe as stdout is grown (Linux: to 256 KiB), so
/// that a reader that reads in bursts finds room for whole batches; what goes through it is
/// unchanged.
#[test]
fn a_pipe_as_stdout_is_grown_where_the_os_allows() {
    use std::io::Read;
    let app = App::new("a: echo one; echo two\n");
    let (mut child, mut stdout) = app.procmux(&["start", "--no-timestamp"]).spawn_raw();
    let (text, size) = support::within_deadline(&mut child, move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        (text, support::platform::pipe_size(&stdout))
    });
    support::wait_raw(&mut child);
    if let Some(size) = size {
        assert!(size >= 256 * 1024, "stdout's pipe holds {size} bytes");
    }
    assert!(text.contains("a.1    | one\na.1    | two\n"), "{text}");
}
