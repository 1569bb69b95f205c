//! Backpressure: a slow reader of procmux's stdout. Alone in its test binary, so that no other
//! test competes for the CPU while it measures what a stalled writer looks like.

mod support;

use support::{App, lines_of};

/// A slow reader makes procmux block on stdout; a partial line waiting in procmux's buffer
/// meanwhile must not be taken for an idle prompt and cut.
#[test]
fn a_slow_reader_does_not_cut_lines() {
    use std::io::Read;
    let app = App::new(
        "a: python3 writer.py a\n\
         b: python3 writer.py b\n",
    );
    app.write(
        "writer.py",
        "import sys, time\n\
         tag = sys.argv[1].encode()\n\
         data = b''.join(tag + b' %06d ' % i + b'x' * 90 + b'\\n' for i in range(20000))\n\
         for at in range(0, len(data), 65536):\n\
         \x20   sys.stdout.buffer.write(data[at:at + 65536])\n\
         \x20   sys.stdout.buffer.flush()\n\
         \x20   time.sleep(0.005)\n\
         time.sleep(0.5)\n",
    );
    // Both may exit: whichever writer finishes first must not stop the other mid-way (the
    // pipes are not read round-robin by bytes, so one can finish well before the other).
    let (mut child, mut stdout) = app
        .procmux(&["start", "--no-timestamp", "--may-exit", "a,b"])
        .spawn_raw();
    let bytes = support::within_deadline(&mut child, move || {
        let mut bytes = Vec::new();
        let mut chunk = vec![0; 2 * 1024];
        // About 2 MB/s: procmux spends most of its time blocked on stdout, and writing out
        // one writer's 64 KiB burst takes longer than the idle-flush delay, while the other
        // writer's partial line waits (its next burst comes 5 ms later: it is not idle).
        loop {
            std::thread::sleep(std::time::Duration::from_millis(1));
            match stdout.read(&mut chunk).unwrap() {
                0 => break,
                n => bytes.extend_from_slice(&chunk[..n]),
            }
        }
        bytes
    });
    support::wait_raw(&mut child);
    for tag in ["a", "b"] {
        let lines: Vec<&[u8]> = lines_of(&bytes, &format!("{tag}.1"))
            .into_iter()
            .filter(|l| {
                !l.starts_with(b"started")
                    && !l.starts_with(b"exited")
                    && !l.starts_with(b"terminated")
            })
            .collect();
        assert_eq!(lines.len(), 20000, "{tag}: lines were cut or lost");
        for (i, line) in lines.iter().enumerate() {
            let head = format!("{tag} {i:06} ");
            assert!(
                line.starts_with(head.as_bytes()) && line.len() == 99,
                "{tag}: line {i} damaged"
            );
        }
    }
}

/// While stdout is read slowly and four processes flood, a process that prints now and then
/// is still read in its turn: its lines are not held back until the stack stops.
#[test]
fn a_quiet_process_is_read_while_others_flood_a_slow_reader() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    // One flood of 2-byte lines: more lines a read, so procmux takes longer over each.
    let procfile = format!(
        "tick: i=0; while :; do i=$((i+1)); echo \"tick $i\"; sleep 0.05; done\n\
         f1: yes {}\nf2: yes {}\nf3: yes {}\nf4: yes b\n",
        "a".repeat(75),
        "b".repeat(76),
        "c".repeat(64),
    );
    let app = App::new(&procfile);
    let (mut child, mut stdout) = app.procmux(&["start", "--no-timestamp"]).spawn_raw();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (early, all) = support::within_deadline(&mut child, move || {
        let mut bytes = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        let start = Instant::now();
        let mut early = None;
        loop {
            if early.is_none() && start.elapsed() > Duration::from_secs(4) {
                // What was read while it ran; then the stop, and the rest read at once.
                early = Some(bytes.len());
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            }
            match stdout.read(&mut chunk).unwrap() {
                0 => break,
                n => bytes.extend_from_slice(&chunk[..n]),
            }
            if early.is_none() {
                // About 5 MB/s, far less than four `yes` write.
                std::thread::sleep(Duration::from_micros(12_800));
            }
        }
        (early.unwrap_or(bytes.len()), bytes)
    });
    support::wait_raw(&mut child);
    let last_tick = |bytes: &[u8]| {
        lines_of(bytes, "tick.1")
            .iter()
            .filter_map(|l| {
                std::str::from_utf8(l)
                    .ok()?
                    .strip_prefix("tick ")?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0_u32)
    };
    let (while_running, at_the_end) = (last_tick(&all[..early]), last_tick(&all));
    assert!(at_the_end > 20, "{at_the_end} ticks in all");
    assert!(
        at_the_end - while_running <= 10,
        "tick {while_running} was the last read while it ran, tick {at_the_end} at the stop"
    );
}
