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
