//! Fairness: a process that prints now and then among others that flood. Alone in its test
//! binary: its four floods take both cores for seconds, which would skew the timing of any
//! test beside it.

mod support;

use support::{App, lines_of};

/// While stdout is read slowly and four processes flood, a process that prints now and then
/// is still read in its turn: its lines are not held back until the stack stops.
#[test]
fn a_quiet_process_is_read_while_others_flood_a_slow_reader() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    // One flood of 2-byte lines: more lines a read, so procmux takes longer over each.
    let procfile = format!(
        "tick: echo \"child $$ .\"; i=0; while :; do i=$((i+1)); echo \"tick $i\"; sleep 0.05; \
         done\n\
         f1: echo \"child $$ .\"; exec yes {}\n\
         f2: echo \"child $$ .\"; exec yes {}\n\
         f3: echo \"child $$ .\"; exec yes {}\n\
         f4: echo \"child $$ .\"; exec yes b\n",
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
    let pids = support::pids_after(&String::from_utf8_lossy(&all), "child");
    assert_eq!(pids.len(), 5, "every process said its pid");
    support::assert_all_gone(&pids);
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
