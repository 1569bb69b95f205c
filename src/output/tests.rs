//! Unit tests of the writer: byte-exact text and JSON, batching, notices, progress lines.
use jiff::tz::TimeZone;
use nu_ansi_term::Color;

use nix::sys::signal::Signal::{self, SIGINT, SIGQUIT, SIGTERM};

use super::*;
use crate::supervisor::Exit;

/// 2025-11-26T12:00:01.234Z
const NOON_MS: i64 = 1_764_158_401_234;

fn clock(format: TimestampFormat) -> Clock {
    Clock::frozen(format, NOON_MS, TimeZone::UTC)
}

fn style(color: bool, timestamp: TimestampFormat, json: bool, strip_ansi: bool) -> Style {
    Style {
        color,
        timestamp,
        json,
        prefix: true,
        strip_ansi,
        width: 6,
        terminal: false,
        status_line: false,
        bell: false,
    }
}

fn web(name: &str, number: usize) -> InstanceSpec {
    InstanceSpec {
        type_index: 0,
        name: name.to_owned(),
        number,
        port: 5000,
    }
}

/// An output into a `Vec` for one instance, `web.1`.
fn output<W: Write>(sink: W, stamp: TimestampFormat, json: bool, strip: bool) -> Output<W> {
    Output::new(
        sink,
        clock(stamp),
        &style(false, stamp, json, strip),
        &[web("web", 1)],
    )
}

impl<W: Write> Output<W> {
    /// One read's lines as the runtime writes them when it reads no more: gathered, then
    /// written out.
    fn lines(&mut self, prefix: &mut Prefix, lines: &[u8]) {
        self.gather_lines(prefix, lines);
        self.end_lines();
    }
}

fn render(
    color: bool,
    stamp: TimestampFormat,
    f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix),
) -> String {
    let mut out = output(Vec::new(), stamp, false, false);
    let mut prefix = Prefix::text("web.1", 6, color.then_some(Color::Cyan), stamp, '|');
    f(&mut out, &mut prefix);
    String::from_utf8(out.into_sink()).unwrap()
}

#[test]
fn foreman_format_without_colour() {
    let text = render(false, TimestampFormat::Local, |o, p| {
        o.lines(p, b"hello\n\nworld\r\n")
    });
    assert_eq!(
        text,
        "12:00:01 web.1  | hello\n12:00:01 web.1  | \n12:00:01 web.1  | world\r\n"
    );
    let text = render(false, TimestampFormat::None, |o, p| o.piece(p, b"prompt> "));
    assert_eq!(text, "web.1  | prompt> \n");
}

#[test]
fn other_timestamp_formats_and_the_stderr_marker() {
    let text = render(false, TimestampFormat::Ms, |o, p| o.lines(p, b"x\n"));
    assert_eq!(text, "12:00:01.234 web.1  | x\n");
    let text = render(false, TimestampFormat::Iso, |o, p| o.lines(p, b"x\n"));
    assert_eq!(text, "2025-11-26T12:00:01.234+00:00 web.1  | x\n");
    let mut out = output(Vec::new(), TimestampFormat::None, false, false);
    let mut prefix = Prefix::text(
        "web.1",
        6,
        None,
        TimestampFormat::None,
        Stream::Stderr.separator(),
    );
    out.lines(&mut prefix, b"oops\n");
    assert_eq!(out.into_sink(), b"web.1  ! oops\n");
}

#[test]
fn colour_wraps_the_prefix_and_resets_after_each_line() {
    let text = render(true, TimestampFormat::Local, |o, p| {
        o.lines(p, b"a\x1b[31mred\nb\n")
    });
    assert_eq!(
        text,
        "\x1b[36m12:00:01 web.1  | \x1b[0ma\x1b[31mred\x1b[0m\n\x1b[36m12:00:01 web.1  | \x1b[0mb\x1b[0m\n"
    );
}

#[test]
fn events_and_many_lines_in_several_batches() {
    let many: Vec<u8> = (0..3000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let text = render(false, TimestampFormat::None, |o, p| {
        o.notice(&Notice::Started {
            instance: 0,
            pid: Pid::from_raw(42),
        });
        o.lines(p, &many);
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "web.1  | started with pid 42");
    assert_eq!(lines.len(), 3001);
    assert_eq!(lines[3000], "web.1  | 2999");
}

/// Each write, as the sink was handed it.
#[derive(Default)]
struct Writes(Vec<Vec<u8>>);

impl Write for Writes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf.to_vec());
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bytes: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.write(&bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reads of one wake fill whole batches: each read of 64 KiB of lines is more than a
/// batch once prefixed, so written one read at a time it made a full batch and a short one;
/// gathered, every write but the last is full, and the bytes are the same.
#[test]
fn the_reads_of_one_stream_fill_whole_batches() {
    let read: Vec<u8> = (0..650)
        .flat_map(|i| format!("{i:03} {}\n", "x".repeat(96)).into_bytes())
        .collect();
    let line = 101 + "web.1  | ".len();
    let mut separate = output(Writes::default(), TimestampFormat::None, false, false);
    let mut gathered = output(Writes::default(), TimestampFormat::None, false, false);
    let mut prefix = gathered.stream_prefix(0, Pid::from_raw(7), Stream::Stdout);
    for _ in 0..10 {
        separate.lines(&mut prefix, &read);
        gathered.gather_lines(&mut prefix, &read);
    }
    gathered.end_lines();
    let (separate, gathered) = (separate.into_sink().0, gathered.into_sink().0);
    assert_eq!(separate.len(), 20, "a full batch and a short one per read");
    assert_eq!(gathered.len(), 12);
    let full = batch::CAPACITY - batch::OVERSHOOT - line;
    assert!(
        gathered[..11]
            .iter()
            .all(|w| (full..=batch::CAPACITY).contains(&w.len()))
    );
    assert_eq!(gathered.concat(), separate.concat());
}

/// Coloured `grep` or gcc output, an `ESC[K` after each coloured run, is written in whole
/// batches, as it is: such an erase is its own settled text (once, each line was settled on
/// its own, a write per line). Lines that are each redrawn are settled into the batch too.
#[test]
fn lines_with_an_erase_or_a_redraw_each_fill_whole_batches() {
    for redrawn in [false, true] {
        // Each line as read, and as shown.
        let (read, expected): (String, String) = (0..600)
            .map(|i| match redrawn {
                false => {
                    let line = format!("src/f{i}.rs:1: \x1b[01;31m\x1b[Kneedle\x1b[m\x1b[K = v;\n");
                    (line.clone(), format!("web.1  | {line}"))
                }
                true => (
                    format!("step {i}: 10%\r\x1b[2Kstep {i}: done\n"),
                    format!("web.1  | step {i}: done\n"),
                ),
            })
            .unzip();
        let mut out = output(Writes::default(), TimestampFormat::None, false, false);
        let mut prefix = out.stream_prefix(0, Pid::from_raw(7), Stream::Stdout);
        out.lines(&mut prefix, read.as_bytes());
        let writes = out.into_sink().0;
        assert_eq!(writes.len(), 1, "{} writes", writes.len());
        assert_eq!(String::from_utf8_lossy(&writes.concat()), expected);
    }
}

/// A batch left open takes another process's lines, the tail keeping each process's under
/// its own, and is written out before anything else: a notice (the tail marks procmux's own
/// lines), a partial line.
#[test]
fn an_open_batch_takes_other_lines_and_is_written_out_before_anything_else() {
    let mut out = Output::new(
        Writes::default(),
        clock(TimestampFormat::None),
        &style(false, TimestampFormat::None, false, false),
        &[web("web", 1), web("worker", 1)],
    );
    out.keep_tail(100_000);
    let mut web = out.stream_prefix(0, Pid::from_raw(7), Stream::Stdout);
    let mut worker = out.stream_prefix(1, Pid::from_raw(8), Stream::Stdout);
    out.gather_lines(&mut web, b"w1\n");
    out.gather_lines(&mut web, b"w2\n");
    out.gather_lines(&mut worker, b"k1\n");
    out.notice(&Notice::Started {
        instance: 1,
        pid: Pid::from_raw(8),
    });
    out.gather_lines(&mut worker, b"k2\n");
    out.piece(&mut web, b"prompt> ");
    out.gather_lines(&mut web, b"w3\n");
    out.end_lines();
    let kept = |out: &Output<Writes>, who: usize, own: bool| {
        let mut got = Vec::new();
        let wants = |o: Option<usize>| o == Some(who);
        out.tail()
            .copy_pieces(0, u64::MAX, usize::MAX, 0, wants, &mut |piece, bytes| {
                if piece.own == own {
                    got.extend_from_slice(bytes);
                }
            });
        String::from_utf8(got).unwrap()
    };
    assert_eq!(
        kept(&out, 0, false),
        "web.1  | w1\nweb.1  | w2\nweb.1  | prompt> \nweb.1  | w3\n"
    );
    assert_eq!(kept(&out, 1, false), "worker.1 | k1\nworker.1 | k2\n");
    assert_eq!(kept(&out, 1, true), "worker.1 | started with pid 8\n");
    let writes: Vec<String> = out
        .into_sink()
        .0
        .into_iter()
        .map(|w| String::from_utf8(w).unwrap())
        .collect();
    assert_eq!(
        writes,
        [
            "web.1  | w1\nweb.1  | w2\nworker.1 | k1\n",
            "worker.1 | started with pid 8\n",
            "worker.1 | k2\n",
            "web.1  | prompt> \n",
            "web.1  | w3\n",
        ]
    );
}

#[test]
fn long_lines_bypass_the_batch_in_order() {
    let long = "y".repeat(COPY_LIMIT + 1);
    let input = format!("a\n{long}\nb\n");
    let text = render(true, TimestampFormat::None, |o, p| {
        o.lines(p, input.as_bytes())
    });
    let expected: String = ["a", &long, "b"]
        .iter()
        .map(|l| format!("\x1b[36mweb.1  | \x1b[0m{l}\x1b[0m\n"))
        .collect();
    assert_eq!(text, expected);
}

#[test]
fn strip_ansi_removes_escapes_from_child_lines_only() {
    let mut out = output(Vec::new(), TimestampFormat::None, false, true);
    let mut prefix = Prefix::text("web.1", 6, Some(Color::Cyan), TimestampFormat::None, '|');
    out.lines(&mut prefix, b"\x1b[1;31mred\x1b[0m text\n");
    let text = String::from_utf8(out.into_sink()).unwrap();
    assert_eq!(text, "\x1b[36mweb.1  | \x1b[0mred text\x1b[0m\n");
}

fn json_output(f: impl FnOnce(&mut Output<Vec<u8>>, &mut Prefix)) -> String {
    let mut out = output(Vec::new(), TimestampFormat::Iso, true, false);
    let mut prefix = Prefix::json("web", 1, Pid::from_raw(4242), Stream::Stdout);
    f(&mut out, &mut prefix);
    String::from_utf8(out.into_sink()).unwrap()
}

#[test]
fn json_lines() {
    let text = json_output(|o, p| o.lines(p, b"say \"hi\"\tnow\n\xff\xfeok\n"));
    let lines: Vec<&str> = text.lines().collect();
    let head = r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"web","instance":1,"pid":4242,"stream":"stdout","line":""#;
    assert_eq!(lines[0], format!(r#"{head}say \"hi\"\tnow"}}"#));
    assert_eq!(
        lines[1],
        format!("{head}\u{fffd}\u{fffd}ok\",\"line_base64\":\"//5vaw==\"}}")
    );
}

#[test]
fn json_lines_keep_the_settled_text_of_redrawn_lines() {
    // In one read: plain lines around a progress bar, a spinner, an erase at the start, and
    // CRLF; long lines too, so that the lane, not only a slow path, sees them.
    let plain = "x".repeat(100);
    let read = format!(
        "{plain}\n10%\r20%\r100%\n{plain}\n\x1b[1G\x1b[0K\u{280b} build\x1b[1G\x1b[0Kbuilt\n\
         \x1b[Kcleared\ncrlf\r\n{plain}{plain}\n"
    );
    let text = json_output(|o, p| o.lines(p, read.as_bytes()));
    let shown: Vec<String> = text
        .lines()
        .map(|l| {
            let object: serde_json::Value = serde_json::from_str(l).unwrap();
            object["line"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected = [
        plain.clone(),
        "100%".into(),
        plain.clone(),
        "built".into(),
        "cleared".into(),
        "crlf\r".into(),
        format!("{plain}{plain}"),
    ];
    assert_eq!(shown, expected);
}

#[test]
fn json_events() {
    let text = json_output(|o, _| {
        let pid = Pid::from_raw(7);
        let exit = Exit::Signal(nix::sys::signal::Signal::SIGTERM);
        o.notice(&Notice::Exited {
            instance: 0,
            pid,
            exit,
        });
        o.notice(&Notice::ShuttingDown {
            given: SIGTERM,
            signals: vec![(0, SIGINT)],
        });
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"exited","process":"web","instance":1,"pid":7,"signal":"SIGTERM","message":"terminated by SIGTERM"}"#
    );
    assert_eq!(
        lines[1],
        r#"{"ts":"2025-11-26T12:00:01.234+00:00","name":"system","event":"shutdown","signals":{"web.1":"SIGINT"},"message":"sending SIGINT to all processes"}"#
    );
}

/// Any name length, every notice its own kind, always valid JSON (a fixed head buffer
/// once cut long names and labelled every supervisor message "shutdown").
#[test]
fn json_notices_with_a_long_name_are_valid_and_typed() {
    let name = "w".repeat(200);
    let mut out = Output::new(
        Vec::new(),
        clock(TimestampFormat::Iso),
        &style(false, TimestampFormat::Iso, true, false),
        &[web(&name, 1)],
    );
    out.notice(&Notice::Restarting {
        instance: 0,
        exit: Exit::Code(1),
        delay: std::time::Duration::from_millis(1500),
        attempt: 2,
        max_attempts: 5,
    });
    out.notice(&Notice::FailedToStart {
        instance: 0,
        error: "cannot cd to \"/gone\"".to_owned(),
    });
    let text = String::from_utf8(out.into_sink()).unwrap();
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let restart = &objects[0];
    assert_eq!(restart["event"], "restarting");
    assert_eq!(restart["process"], name.as_str());
    assert_eq!(
        (restart["code"].as_i64(), restart["delay_ms"].as_i64()),
        (Some(1), Some(1500))
    );
    assert_eq!(
        (
            restart["attempt"].as_i64(),
            restart["max_attempts"].as_i64()
        ),
        (Some(2), Some(5))
    );
    assert_eq!(
        restart["message"],
        format!("{name}.1 exited with code 1, restarting in 1.5s (attempt 2/5)")
    );
    assert_eq!(objects[1]["event"], "failed");
    assert_eq!(
        objects[1]["message"],
        "failed to start: cannot cd to \"/gone\""
    );
}

#[test]
fn the_shutdown_line_names_what_is_sent() {
    let instances: Vec<InstanceSpec> = (1..=8).map(|n| web("web", n)).collect();
    let line = |given, signals: &[(usize, Signal)]| {
        let stamp = TimestampFormat::None;
        let mut out = Output::new(
            Vec::new(),
            clock(stamp),
            &style(false, stamp, false, false),
            &instances,
        );
        out.notice(&Notice::ShuttingDown {
            given,
            signals: signals.to_vec(),
        });
        String::from_utf8(out.into_sink()).unwrap()
    };
    // Nothing runs, or everything gets the same: foreman's line.
    assert_eq!(
        line(SIGINT, &[]),
        "system | sending SIGINT to all processes\n"
    );
    assert_eq!(
        line(SIGTERM, &[(0, SIGTERM), (1, SIGTERM)]),
        "system | sending SIGTERM to all processes\n"
    );
    let mut seven: Vec<(usize, Signal)> = (1..7).map(|i| (i, SIGTERM)).collect();
    seven.insert(0, (0, SIGINT));
    assert_eq!(
        line(SIGTERM, &seven),
        "system | sending SIGINT to web.1, SIGTERM to 6 others\n"
    );
    assert_eq!(
        line(
            SIGINT,
            &[(0, SIGQUIT), (1, SIGQUIT), (2, SIGINT), (3, SIGINT)]
        ),
        "system | sending SIGQUIT to web.1, web.2, SIGINT to 2 others\n"
    );
    assert_eq!(
        line(SIGTERM, &[(0, SIGINT), (1, SIGTERM)]),
        "system | sending SIGINT to web.1, SIGTERM to web.2\n"
    );
    let many: Vec<(usize, Signal)> = (0..8)
        .map(|i| (i, if i < 4 { SIGQUIT } else { SIGTERM }))
        .collect();
    assert_eq!(
        line(SIGTERM, &many),
        "system | sending SIGQUIT to 4 processes, SIGTERM to 4 others\n"
    );
}

#[test]
fn supervisor_notices_are_system_lines_and_lifecycle_lines_are_the_instance_s() {
    let mut out = output(Vec::new(), TimestampFormat::None, false, false);
    out.notice(&Notice::Exited {
        instance: 0,
        pid: Pid::from_raw(9),
        exit: Exit::Code(3),
    });
    out.notice(&Notice::MayExit {
        instance: 0,
        exit: Exit::Code(3),
    });
    out.notice(&Notice::Killing { remaining: 2 });
    let text = String::from_utf8(out.into_sink()).unwrap();
    assert_eq!(
        text,
        "web.1  | exited with code 3\n\
         system | web.1 exited with code 3; it may exit, the others keep running\n\
         system | sending SIGKILL to 2 processes\n"
    );
}

#[test]
fn a_json_line_longer_than_the_batch_streams_through_it() {
    let long = vec![b'"'; 3 * batch::CAPACITY];
    let mut input = long.clone();
    input.push(b'\n');
    let text = json_output(|o, p| o.lines(p, &input));
    assert!(text.ends_with("\"}\n"));
    assert_eq!(text.matches("\\\"").count(), long.len());
}

/// A sink that accepts at most 7 bytes per call and fails after a budget.
struct Trickle {
    data: Vec<u8>,
    budget: usize,
}
impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(7).min(self.budget);
        self.data.extend_from_slice(&buf[..n]);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn short_writes_are_finished_and_a_broken_sink_closes_the_output() {
    let sink = Trickle {
        data: Vec::new(),
        budget: 1000,
    };
    let mut out = output(sink, TimestampFormat::None, false, false);
    let mut prefix = Prefix::text("w.1", 6, None, TimestampFormat::None, '|');
    out.lines(&mut prefix, b"abc\ndef\n");
    assert_eq!(out.sink.inner.data, b"w.1    | abc\nw.1    | def\n");
    assert_eq!(out.closed(), None);
    out.sink.inner.budget = 0;
    out.lines(&mut prefix, b"x\n");
    assert_eq!(out.closed(), Some(Closed::Reader));
}

#[test]
fn lines_redrawn_with_carriage_returns_keep_their_last_state() {
    let text = render(false, TimestampFormat::None, |o, p| {
        o.lines(p, b"10%\r20%\r100%\nplain\r\n\r\n")
    });
    assert_eq!(text, "web.1  | 100%\nweb.1  | plain\r\nweb.1  | \r\n");
    assert_eq!(redraw::settled(b"a\rb\r"), b"b\r");
}

#[test]
fn a_progress_line_is_redrawn_in_place_and_ended_by_the_next_write() {
    let mut style = style(false, TimestampFormat::None, false, false);
    style.terminal = true;
    let mut out = Output::new(
        Vec::new(),
        clock(TimestampFormat::None),
        &style,
        &[web("web", 1), web("worker", 1)],
    );
    assert!(out.shows_progress());
    let mut web_prefix = out.stream_prefix(0, Pid::from_raw(1), Stream::Stdout);
    let mut worker_prefix = out.stream_prefix(1, Pid::from_raw(2), Stream::Stdout);
    out.progress(&mut web_prefix, b"10%\r");
    out.progress(&mut web_prefix, b"20%");
    // Another process writes: the progress line is ended, its last state kept.
    out.lines(&mut worker_prefix, b"hello\n");
    out.progress(&mut web_prefix, b"50%\r");
    // Its own line comes: the progress line is cleared and the line written whole.
    out.lines(&mut web_prefix, b"50%\r100%\n");
    let text = String::from_utf8(out.into_sink()).unwrap();
    assert_eq!(
        text,
        "\rweb.1  | 10%\x1b[K\rweb.1  | 20%\x1b[K\n\
         worker.1 | hello\n\
         \rweb.1  | 50%\x1b[K\r\x1b[Kweb.1  | 100%\n"
    );
}

#[test]
fn why_the_output_closed() {
    let of = |errno| Closed::of(&io::Error::from_raw_os_error(errno));
    assert_eq!(of(nix::libc::EPIPE), Closed::Reader);
    assert_eq!(of(nix::libc::EIO), Closed::Terminal);
    assert_eq!(of(nix::libc::ENOSPC), Closed::Failed);
}

/// A terminal answers a write of nothing with 0: writing nothing is not a closed stdout (a
/// status line with no room to draw once stopped the whole stack over it).
#[test]
fn writing_nothing_does_not_close_stdout() {
    struct Terminal(Vec<u8>);
    impl Write for Terminal {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink::new(Terminal(Vec::new()));
    sink.owner = None;
    sink.write_all(&mut [IoSlice::new(b"")]);
    sink.write_all(&mut [IoSlice::new(b""), IoSlice::new(b"")]);
    assert!(!sink.closed());
    sink.write_all(&mut [IoSlice::new(b"a"), IoSlice::new(b"")]);
    assert!(!sink.closed());
    assert_eq!(sink.inner.0, b"a");
}

/// Whatever path a write takes (a batch built in the tail's space or in the spare buffer, a
/// long line straight from the read, a JSON line escaped, a notice), the tail holds the
/// stream's newest bytes, from a line's start, within its budget, each with its owner.
#[test]
fn the_tail_keeps_the_newest_whole_lines_of_what_was_written() {
    use crate::test_support::XorShift;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let letters: Vec<u8> = (0..3 * COPY_LIMIT).map(|i| b'a' + (i % 26) as u8).collect();
    for round in 0..48 {
        let json = round % 2 == 1;
        let budget = [0, 1, 100, 5_000, 20_000, 70_000][round / 8];
        let mut out = Output::new(
            Vec::new(),
            clock(TimestampFormat::None),
            &style(false, TimestampFormat::None, json, false),
            &[web("web", 1), web("worker", 1)],
        );
        out.keep_tail(budget);
        let mut prefixes = [0, 1].map(|i| out.stream_prefix(i, Pid::from_raw(7), Stream::Stdout));
        // Per byte of the stream, those of a batch still open included: its owner.
        let mut owners: Vec<u8> = Vec::new();
        for op in 0..40 {
            let owner = match rng.below(12) {
                0 => {
                    out.notice(&Notice::Started {
                        instance: 0,
                        pid: Pid::from_raw(42),
                    });
                    0
                }
                1 => {
                    let line = vec![b'z'; rng.below(3 * COPY_LIMIT as u64)];
                    out.piece(&mut prefixes[1], &line);
                    1
                }
                n => {
                    let mut lines = Vec::new();
                    for _ in 0..rng.below(600) {
                        let len = match rng.below(50) {
                            0 => COPY_LIMIT + rng.below(COPY_LIMIT as u64),
                            _ => rng.below(120),
                        };
                        let from = rng.below(26);
                        lines.extend_from_slice(&letters[from..from + len]);
                        if rng.below(20) == 0 {
                            // A byte JSON escapes.
                            lines.push(b'"');
                        }
                        lines.push(b'\n');
                    }
                    let who = n % 2;
                    // Left open, as between two reads of one stream, or written out.
                    out.gather_lines(&mut prefixes[who], &lines);
                    if rng.below(2) == 0 {
                        out.end_lines();
                    }
                    who as u8
                }
            };
            // Every byte this call added, written or in the open batch, is its owner's: a
            // batch left open goes on under another owner, or is written out first.
            owners.resize(out.sink.inner.len() + out.sink.batch_len, owner);
            if op == 39 {
                // The round ends as a wake does: the open batch written out, all checked.
                out.end_lines();
            }
            if out.sink.batch_len > 0 {
                // Nothing reads the tail while a batch is open.
                continue;
            }
            let stream = &out.sink.inner;
            let tail = out.tail();
            assert_eq!(tail.end(), stream.len() as u64, "round {round}");
            let kept = &stream[tail.start() as usize..];
            assert!(kept.len() <= budget, "round {round}: {} kept", kept.len());
            let at_line = tail.start() == 0 || stream[tail.start() as usize - 1] == b'\n';
            assert!(at_line || !kept.contains(&b'\n'), "round {round}");
            // Owners are checked now and then: a slow check in a debug build.
            for who in (0..2).filter(|_| op % 8 == 7) {
                let mut got = Vec::new();
                let wants = |o: Option<usize>| o == Some(who);
                tail.copy(0, u64::MAX, usize::MAX, wants, &mut |b| {
                    got.extend_from_slice(b)
                });
                let expected: Vec<u8> = kept
                    .iter()
                    .zip(&owners[tail.start() as usize..])
                    .filter(|&(_, &o)| o == who as u8)
                    .map(|(&b, _)| b)
                    .collect();
                assert!(
                    got == expected,
                    "round {round}, owner {who}: {} bytes kept, {} expected",
                    got.len(),
                    expected.len()
                );
            }
        }
    }
}

/// Once stdout failed in the middle of a JSON line being escaped into a batch, what was left
/// of that line must not land in the tail's ring over kept bytes: `procmux logs`, still
/// served while the stack stops, shows whole lines only.
#[test]
fn a_failed_write_leaves_the_tail_whole() {
    /// Takes every byte until `budget` is spent, then fails as a closed pipe does.
    struct Breaks {
        budget: usize,
    }
    impl Write for Breaks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    // Lines with bytes to escape: the lane leaves each to the escaper, which fills the batch
    // piece by piece, so a batch fills (and is written) in the middle of a line.
    let mut chunk = Vec::new();
    for i in 0..40 {
        chunk.extend_from_slice(&b"0123456789\x01".repeat(150 + i * 37));
        chunk.push(b'\n');
    }
    for budget in (0..40).map(|i| 300_000 + i * 7_919) {
        let mut out = output(Breaks { budget }, TimestampFormat::None, true, false);
        out.keep_tail(200_000);
        let mut prefix = out.stream_prefix(0, Pid::from_raw(7), Stream::Stdout);
        for _ in 0..100 {
            out.lines(&mut prefix, &chunk);
        }
        assert_eq!(out.closed(), Some(Closed::Reader));
        let mut kept = Vec::new();
        out.tail()
            .copy(0, u64::MAX, usize::MAX, |_| true, &mut |b| {
                kept.extend_from_slice(b)
            });
        assert!(!kept.is_empty());
        // Whole lines, but for the last one when the failed write cut it (it is kept as far as
        // it went, as written).
        for line in kept.split_inclusive(|&b| b == b'\n') {
            let whole = line.ends_with(b"}\n") || !line.ends_with(b"\n");
            assert!(
                line.starts_with(b"{\"ts\":") && whole,
                "budget {budget}: a cut line in the tail: {:?}…",
                String::from_utf8_lossy(&line[..line.len().min(60)])
            );
        }
    }
}
