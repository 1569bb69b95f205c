//! The procmux benchmark: `cargo bench --bench procmux` (add `-- --quick` for a short run).
//!
//! Every figure is measured in the same run as the limits it is compared with, because these
//! machines are noisy and absolute times drift:
//! - **direct**: the writers (`cat` of a pre-made file) write straight into `/dev/null`;
//! - **relay limit**: the same writers write into one pipe read by `cat > /dev/null` — one pipe
//!   hop, the least any supervisor must do;
//! - **procmux → /dev/null** and **procmux → pipe** (`| cat > /dev/null`, two hops), the
//!   pipe also without the tail kept for `procmux logs` (`--tail-kib 0`) and with a `logs -f`
//!   client that reads;
//! - **pty relay limit**: the same writers each on a pty set up as procmux sets them, their
//!   masters read by one `poll` loop in this harness — the yardstick of `--pty always`;
//! - `--baseline PATH` measures an earlier build in the same runs, in columns of its own;
//! - honcho and foreman, when they are installed (`pip install honcho`,
//!   `apt-get install ruby-foreman`), on a smaller workload since they are ~1000× slower.
//!
//! Writers must not stop the stack when they finish (any exit stops everything), so each one
//! signals a FIFO and sleeps; a `done` process exits when all have signalled.
//! procmux's own CPU time and peak RSS are read from `/proc/PID`, sampled every 10 ms while it
//! runs (CPU at 10 ms resolution; RSS as `VmHWM`).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};

// The tests' helpers the benchmark has no use for (`pipe_size`) are left unused.
#[allow(dead_code)]
#[path = "../tests/support/platform.rs"]
mod platform;
// Used by platform.rs's Linux side only.
#[allow(dead_code)]
#[path = "../tests/support/socket.rs"]
mod socket;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

/// The binary measured: `PROCMUX_BENCH_BIN` (another build), or this source built as
/// `cargo build --release` builds it, into `target/bench-bin`. Not the binary `cargo bench`
/// builds: its profile gives the symbols other names, so the release layout
/// (`layout/procmux.order`, see build.rs) would not apply and the figures would not be those
/// of the program users run.
fn bin() -> String {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("PROCMUX_BENCH_BIN") {
            return bin;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target/bench-bin");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--quiet",
                "--bin",
                "procmux",
            ])
            .arg("--target-dir")
            .arg(&target)
            // Symbols kept (RUSTFLAGS do not change the names, the profile does) so that
            // `layout_coverage` can count them; they are not loaded, so they cost no memory.
            .env("RUSTFLAGS", "-C strip=none")
            .current_dir(root)
            .status()
            .expect("cargo build --release");
        assert!(status.success(), "cargo build --release failed");
        let bin = target.join("release/procmux");
        if let Some(line) = layout_coverage(&root.join("layout/procmux.order"), &bin) {
            println!("{line}");
        }
        bin.display().to_string()
    })
    .clone()
}

/// How many of the functions `layout/procmux.order` lists are in `bin` under those names: a
/// dependency or toolchain change renames them all, and a stale list silently stops saving
/// memory (build.rs). Needs `nm` (binutils); `None` without it.
fn layout_coverage(order: &Path, bin: &Path) -> Option<String> {
    let listed: Vec<String> = fs::read_to_string(order)
        .ok()?
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    let out = Command::new("nm").arg(bin).output().ok()?;
    let names: std::collections::HashSet<&str> = std::str::from_utf8(&out.stdout)
        .ok()?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let found = listed.iter().filter(|n| names.contains(n.as_str())).count();
    let stale = if found * 10 < listed.len() * 9 {
        " — stale: run layout/update"
    } else {
        ""
    };
    Some(format!(
        "layout: {found} of {} listed functions found{stale}",
        listed.len()
    ))
}

/// The binaries measured, each in the same runs: [`bin`], then `--baseline PATH` (an earlier
/// release) when given, in a column of its own.
fn binaries(opts: &Opts) -> Vec<String> {
    std::iter::once(bin())
        .chain(opts.baseline.clone())
        .collect()
}
/// Ports go up by 100 per Procfile entry: more writers than this run as extra instances of
/// `w0` (see [`formation`]).
const MAX_TYPES: usize = 64;

/// The `-m` value that runs `writers` writers from [`writer_procfile`]'s Procfile.
fn formation(writers: usize) -> String {
    if writers > MAX_TYPES {
        format!("w0={}", writers - MAX_TYPES + 1)
    } else {
        "all=1".to_owned()
    }
}

struct Opts {
    writers: usize,
    lines: usize,
    runs: usize,
    idle_secs: u64,
    peers: bool,
    throughput_only: bool,
    /// `logs -f` followers that never read, for the followers rows (0: no such rows).
    followers: usize,
    /// An earlier build, measured beside this one (`--baseline PATH`).
    baseline: Option<String>,
}

impl Opts {
    fn parse() -> Opts {
        let mut opts = Opts {
            writers: 4,
            lines: 500_000,
            runs: 5,
            idle_secs: 10,
            peers: true,
            throughput_only: false,
            followers: 100,
            baseline: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .expect("a number after the flag")
            };
            match arg.as_str() {
                "--quick" => (opts.lines, opts.runs, opts.idle_secs) = (100_000, 3, 3),
                "--writers" => opts.writers = value(),
                "--lines" => opts.lines = value(),
                "--runs" => opts.runs = value(),
                "--no-peers" => opts.peers = false,
                "--throughput-only" => opts.throughput_only = true,
                "--followers" => opts.followers = value(),
                "--baseline" => opts.baseline = Some(args.next().expect("a path after --baseline")),
                _ => {} // `cargo bench` passes `--bench`
            }
        }
        opts
    }
}

/// One measured run.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    /// procmux's own user+system time, when procmux ran.
    cpu: Option<Duration>,
    /// procmux's peak RSS in KiB, when procmux ran.
    rss_kib: Option<u64>,
    /// The time procmux's main thread (the loop) spent on a CPU, in nanoseconds
    /// (`/proc/PID/schedstat`): the precise figure `cpu`'s 10 ms ticks are not.
    loop_cpu: Option<Duration>,
    /// Of a median of runs in rounds: the median of its runs' wall times over the relay
    /// limit's in the same round (see [`interleaved`]).
    paired: Option<f64>,
}

fn main() {
    let opts = Opts::parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    println!("# procmux benchmark\n");
    println!("machine: {}", machine());
    println!("procmux: {}", bin());
    if let Some(baseline) = &opts.baseline {
        println!("baseline: {baseline}");
    }
    println!();

    let mut table = String::new();
    throughput(&opts, dir, 100, opts.lines, &mut table);
    throughput(&opts, dir, 1024, opts.lines / 10, &mut table);
    fixed_cost(&opts, dir, &mut table);
    println!("{table}");
    if opts.throughput_only {
        return;
    }
    check_integrity(&opts, dir);
    let bins = binaries(&opts);
    regressions(&bins, dir);
    for bin in &bins {
        println!("# {bin}\n");
        idle(bin, dir, opts.idle_secs);
        let (spawned, shutdown, rss) = spawn_and_shutdown(bin, dir, 100);
        println!(
            "## 100 processes\n\nall started in {:.0} ms; SIGTERM to exit (all gone) in {:.0} \
             ms; procmux RSS {:.1} MiB\n",
            spawned.as_secs_f64() * 1e3,
            shutdown.as_secs_f64() * 1e3,
            rss as f64 / 1024.0
        );
        for writers in [4, 64, 1000] {
            peak_rss(bin, dir, writers);
        }
    }
}

/// Runs of latency and of 1,000 processes, the same for every binary.
const REGRESSION_ROUNDS: usize = 3;

/// The figures that must not regress (latency, the start and stop of 1,000 processes), each
/// binary's runs alternating with the others' in rounds, each round begun with the next
/// binary: measured one binary after the other, the host's drift between them had made the
/// same build's p99 latency and start time move by more than the builds differ.
fn regressions(bins: &[String], dir: &Path) {
    let mut delays: Vec<Vec<i64>> = vec![Vec::new(); bins.len()];
    let mut thousands: Vec<Vec<(Duration, Duration, u64)>> = vec![Vec::new(); bins.len()];
    for round in 0..REGRESSION_ROUNDS {
        for k in 0..bins.len() {
            let b = (round + k) % bins.len();
            delays[b].extend(latency(&bins[b], dir));
            thousands[b].push(spawn_and_shutdown(&bins[b], dir, 1000));
        }
    }
    let alternating = if bins.len() > 1 {
        ", alternating with the other build's"
    } else {
        ""
    };
    for (b, bin) in bins.iter().enumerate() {
        println!("# {bin}\n");
        let delays = &mut delays[b];
        delays.sort_unstable();
        let pct = |p: f64| delays[((delays.len() as f64 - 1.0) * p) as usize] as f64 / 1e6;
        println!(
            "## Latency\n\n{} lines at ~1k lines/s in {REGRESSION_ROUNDS} runs{alternating}: \
             median {:.3} ms, p99 {:.3} ms, max {:.3} ms (child write → line read from \
             procmux's stdout)\n",
            delays.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
        let runs = &thousands[b];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "## 1000 processes\n\nmedian of {REGRESSION_ROUNDS} runs{alternating}: all \
             started in {:.0} ms; SIGTERM to exit (all gone) in {:.0} ms; procmux RSS {:.1} \
             MiB\n",
            median(runs.iter().map(|r| ms(r.0)).collect()),
            median(runs.iter().map(|r| ms(r.1)).collect()),
            runs.iter().map(|r| r.2).max().unwrap_or(0) as f64 / 1024.0
        );
    }
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l[l.find(':').unwrap() + 2..].to_owned())
        })
        .unwrap_or_default();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// A file of `count` lines of `size` bytes (newline included), each starting `TAG SEQ `.
fn make_lines(path: &Path, tag: &str, size: usize, count: usize) {
    let mut out = std::io::BufWriter::new(File::create(path).expect("create data file"));
    let mut line = Vec::with_capacity(size);
    for i in 0..count {
        line.clear();
        write!(line, "{tag} {i:07} ").unwrap();
        line.resize(size - 1, b'x');
        line.push(b'\n');
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
}

/// A Procfile of `writers` writers that each run `writer(i)` and then signal `fifo`, and a
/// `done` entry that exits once all have signalled.
fn writer_procfile(
    dir: &Path,
    name: &str,
    writers: usize,
    writer: impl Fn(usize) -> String,
) -> PathBuf {
    let fifo = fresh_fifo(dir, name);
    let mut text = String::new();
    for i in 0..writers.min(MAX_TYPES) {
        writeln!(
            text,
            "w{i}: {}; printf x > '{}'; exec sleep 100000",
            writer(i),
            fifo.display()
        )
        .unwrap();
    }
    writeln!(
        text,
        "done: exec 3<>'{}'; head -c {writers} <&3 > /dev/null",
        fifo.display()
    )
    .unwrap();
    let path = dir.join(format!("{name}.Procfile"));
    fs::write(&path, text).unwrap();
    path
}

/// A new FIFO `NAME.fifo` in `dir`, in place of any earlier one.
fn fresh_fifo(dir: &Path, name: &str) -> PathBuf {
    let fifo = dir.join(format!("{name}.fifo"));
    let _ = fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    fifo
}

fn throughput(opts: &Opts, dir: &Path, size: usize, lines: usize, table: &mut String) {
    let data = dir.join(format!("lines{size}"));
    make_lines(&data, "w", size, lines);
    let p = opts.writers;
    let cats = |sink: &str| {
        format!(
            "for i in $(seq {p}); do cat '{}'{sink} & done; wait",
            data.display()
        )
    };
    let procfile = writer_procfile(dir, "tp", p, |_| format!("cat '{}'", data.display()));
    let total_lines = (p * lines) as f64;
    let total_bytes = (p * lines * size) as f64;
    let bins = binaries(opts);

    let shell_fifo = fresh_fifo(dir, "tp-shell");
    let relay_fifo = fresh_fifo(dir, "tp-relay");
    let scripts = [
        cats(" > /dev/null"),
        format!("({}) | cat > /dev/null", cats("")),
        procfile_in_shell(p, &data, &shell_fifo),
    ];
    // The same writers held until procmux is up (and until its followers are connected): what
    // a `logs -f` that reads, and followers that never read, cost the main stream.
    let gate = dir.join("go");
    let gated = writer_procfile(dir, "gated", p, |_| {
        format!(
            "while [ ! -e '{}' ]; do sleep 0.005; done; cat '{}'",
            gate.display(),
            data.display()
        )
    });

    // Every row is a job; all are run in rounds (see `interleaved`).
    let mut jobs: Vec<Box<dyn FnMut() -> Option<Sample> + '_>> = Vec::new();
    for script in &scripts {
        jobs.push(Box::new(move || Some(time_shell(script))));
    }
    for (channel, sink, work, commands) in [
        (Channel::Pty, Sink::DevNull, Work::Copy, None),
        (Channel::Pipe, Sink::DevNull, Work::Copy, None),
        (Channel::Pipe, Sink::Pipe, Work::Copy, None),
        (Channel::Pipe, Sink::DevNull, Work::Prefix, None),
        (Channel::Pipe, Sink::Pipe, Work::Prefix, None),
        (
            Channel::Pipe,
            Sink::DevNull,
            Work::Prefix,
            Some(&relay_fifo),
        ),
        (Channel::Pipe, Sink::Pipe, Work::Prefix, Some(&relay_fifo)),
        (Channel::Pipe, Sink::DevNull, Work::Json, Some(&relay_fifo)),
    ] {
        let data = &data;
        jobs.push(Box::new(move || {
            Some(poll_relay(
                data,
                p,
                channel,
                sink,
                work,
                commands.map(PathBuf::as_path),
            ))
        }));
    }
    let limits = jobs.len();
    // Each procmux row, for each binary.
    let procmux_rows: [(&[&str], Sink); 7] = [
        (&["--color", "never"], Sink::DevNull),
        (&["--color", "never"], Sink::Pipe),
        (&["--color", "never", "--tail-kib", "0"], Sink::Pipe),
        (&["--format", "json"], Sink::DevNull),
        (&["--color", "never", "--pty", "always"], Sink::DevNull),
        (&["--color", "never"], Sink::Terminal),
        (&["--color", "never", "--no-status-line"], Sink::Terminal),
    ];
    for (args, sink) in procmux_rows {
        for bin in &bins {
            let procfile = &procfile;
            jobs.push(Box::new(move || run_procmux(bin, procfile, args, sink)));
        }
    }
    let mut followed = vec![Followers::Stalled(0), Followers::Reading];
    if opts.followers > 0 {
        followed.push(Followers::Stalled(opts.followers));
    }
    for &followers in &followed {
        for bin in &bins {
            let (gated, gate) = (&gated, &gate);
            jobs.push(Box::new(move || {
                run_followed(bin, gated, gate, &["--color", "never"], followers)
            }));
        }
    }
    // Job 1 is the relay limit (`scripts[1]`), every row's yardstick.
    let samples = interleaved(opts.runs, 1, &mut jobs);
    drop(jobs);
    let limit_samples: Vec<Sample> = samples[..limits]
        .iter()
        .map(|s| s.expect("the limits do not fail"))
        .collect();
    let [
        direct,
        relay,
        shell_relay,
        pty_relay,
        poll_null,
        poll_pipe,
        prefix_null,
        prefix_pipe,
        commands_null,
        commands_pipe,
        commands_json,
    ] = limit_samples[..]
    else {
        unreachable!("eleven limits")
    };
    let mut rows = samples[limits..].chunks(bins.len()).map(<[_]>::to_vec);
    let mut next = || rows.next().expect("a row per job group");
    let (to_null, to_pipe, untailed, json) = (next(), next(), next(), next());
    let (pty, status_line, no_status_line) = (next(), next(), next());
    let (unfollowed, reading) = (next(), next());
    let stalled = (opts.followers > 0).then(&mut next);

    writeln!(
        table,
        "## Throughput: {p} writers × {lines} lines of {size} B (median of {})\n",
        opts.runs
    )
    .unwrap();
    let baseline_heads = if bins.len() > 1 {
        " baseline × limit | baseline CPU | baseline peak RSS |"
    } else {
        ""
    };
    writeln!(
        table,
        "| run | wall | lines/s | MB/s | × limit | procmux CPU | procmux peak RSS |{baseline_heads}"
    )
    .unwrap();
    let columns = if bins.len() > 1 { 10 } else { 7 };
    writeln!(table, "|{}", "---|".repeat(columns)).unwrap();
    // Over the relay limit, the median of the rounds' ratios (see `interleaved`).
    let cells = |s: Option<Sample>, limit: Duration| match s {
        Some(s) => format!(
            " {:.2}× | {} | {} |",
            match s.paired {
                Some(paired) if limit == relay.wall => paired,
                _ => s.wall.as_secs_f64() / limit.as_secs_f64(),
            },
            s.cpu.map_or("".into(), |c| format!("{} ms", c.as_millis())),
            s.rss_kib
                .map_or("".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
        ),
        None => " (failed) | | |".into(),
    };
    let mut row = |name: &str, samples: &[Option<Sample>], limit: Option<Duration>| {
        let Some(first) = samples.first().copied().flatten() else {
            writeln!(table, "| {name} | (failed) |").unwrap();
            return;
        };
        let secs = first.wall.as_secs_f64();
        let mut line = format!(
            "| {name} | {:.1} ms | {} | {:.0} |",
            secs * 1e3,
            rate(total_lines / secs),
            total_bytes / secs / 1e6
        );
        match limit {
            Some(limit) => {
                for s in samples {
                    line.push_str(&cells(*s, limit));
                }
            }
            None => line.push_str(&" |".repeat(columns - 4)),
        }
        writeln!(table, "{line}").unwrap();
    };
    // Each binary's row over another row of its own (the status line's cost).
    let over = |samples: &[Option<Sample>], base: &[Option<Sample>]| -> String {
        let ratios: Vec<String> = samples
            .iter()
            .zip(base)
            .map(|(s, b)| match (s, b) {
                (Some(s), Some(b)) => {
                    format!("{:.2}×", s.wall.as_secs_f64() / b.wall.as_secs_f64())
                }
                _ => "—".into(),
            })
            .collect();
        ratios.join(" / ")
    };
    let limit = Some(relay.wall);
    let pty_limit = Some(pty_relay.wall);
    row("writers → /dev/null (direct)", &[Some(direct)], None);
    row(
        "writers → one pipe → cat (**relay limit**)",
        &[Some(relay)],
        None,
    );
    row(
        "the Procfile's commands (`sh -c`, FIFO, `exec sleep`) → one pipe → cat (**relay \
         limit, same commands**)",
        &[Some(shell_relay)],
        limit,
    );
    row(
        "writers on pipes → one poll relay → /dev/null (**poll relay**)",
        &[Some(poll_null)],
        limit,
    );
    row(
        "writers on pipes → one poll relay → pipe → cat (**two-hop relay**)",
        &[Some(poll_pipe)],
        limit,
    );
    row(
        "writers on pipes → one poll relay that prefixes lines → /dev/null (**prefixing \
         relay**)",
        &[Some(prefix_null)],
        limit,
    );
    row(
        "writers on pipes → one poll relay that prefixes lines → pipe → cat (**two-hop \
         prefixing relay**)",
        &[Some(prefix_pipe)],
        limit,
    );
    row(
        "the Procfile's commands on pipes → one poll relay that prefixes lines → /dev/null \
         (**prefixing relay, same commands**)",
        &[Some(commands_null)],
        limit,
    );
    row(
        "the Procfile's commands on pipes → one poll relay that prefixes lines → pipe → cat \
         (**two-hop prefixing relay, same commands**)",
        &[Some(commands_pipe)],
        limit,
    );
    row("procmux → /dev/null", &to_null, limit);
    row("procmux → pipe → cat", &to_pipe, limit);
    row(
        "procmux → pipe → cat, `--tail-kib 0` (no tail kept)",
        &untailed,
        limit,
    );
    row(
        "the Procfile's commands on pipes → one poll relay that writes JSON lines → /dev/null \
         (**JSON relay, same commands**)",
        &[Some(commands_json)],
        limit,
    );
    row("procmux --format json → /dev/null", &json, limit);
    row(
        "writers on ptys → one relay → /dev/null (**pty relay limit**)",
        &[Some(pty_relay)],
        None,
    );
    row(
        "procmux --pty always → /dev/null (× pty relay limit)",
        &pty,
        pty_limit,
    );
    row(
        "procmux → a terminal the harness reads, `--no-status-line`",
        &no_status_line,
        limit,
    );
    row(
        &format!(
            "procmux → the same terminal, with the status line ({} the row above)",
            over(&status_line, &no_status_line)
        ),
        &status_line,
        limit,
    );
    row(
        "procmux → pipe → cat, writers started once it is up",
        &unfollowed,
        limit,
    );
    let ratio = |with: &[Option<Sample>]| -> String {
        let ratios: Vec<String> = with
            .iter()
            .zip(&unfollowed)
            .map(|(w, u)| match (w, u) {
                (Some(w), Some(u)) => {
                    format!("{:.2}×", w.wall.as_secs_f64() / u.wall.as_secs_f64())
                }
                _ => "—".into(),
            })
            .collect();
        ratios.join(" / ")
    };
    row(
        &format!(
            "the same with one `logs -f` that reads ({} the row above)",
            ratio(&reading)
        ),
        &reading,
        limit,
    );
    if let Some(stalled) = stalled {
        row(
            &format!(
                "the same with {} `logs -f` followers that never read ({} the row above)",
                opts.followers,
                ratio(&stalled)
            ),
            &stalled,
            limit,
        );
    }
    if opts.peers {
        let small_lines = 20_000.min(lines);
        let small = dir.join(format!("small{size}"));
        make_lines(&small, "w", size, small_lines);
        let peer_procfile =
            writer_procfile(dir, "peer", p, |_| format!("cat '{}'", small.display()));
        for (name, program, args) in [
            (
                "honcho",
                "honcho",
                format!("-f '{}' start", peer_procfile.display()),
            ),
            (
                "foreman",
                "foreman",
                format!("start -f '{}'", peer_procfile.display()),
            ),
        ] {
            if which(program) {
                let s = time_shell(&format!("{program} {args} > /dev/null 2>&1"));
                let secs = s.wall.as_secs_f64();
                let (l, b) = ((p * small_lines) as f64, (p * small_lines * size) as f64);
                writeln!(
                    table,
                    "| {name} → /dev/null ({small_lines} lines each) | {:.1} ms | {} | {:.0} |{}",
                    secs * 1e3,
                    rate(l / secs),
                    b / secs / 1e6,
                    " |".repeat(columns - 4)
                )
                .unwrap();
            }
        }
    }
    writeln!(
        table,
        "\n× limit: wall time over the relay limit's in the same round, the median of the \
         rounds' ratios (the pty row: its median over the pty relay limit's median); wall: the \
         median."
    )
    .unwrap();
    let all = |s: Sample| vec![Some(s); bins.len()];
    writeln!(
        table,
        "Over the poll relay: procmux → /dev/null {}; over the two-hop relay: procmux → pipe → \
         cat {}, `--tail-kib 0` {} (this build / baseline).",
        over(&to_null, &all(poll_null)),
        over(&to_pipe, &all(poll_pipe)),
        over(&untailed, &all(poll_pipe)),
    )
    .unwrap();
    writeln!(
        table,
        "Over the prefixing relays: procmux → /dev/null {}, → pipe → cat {}; over them with \
         the same commands: {}, {}; `--format json` over the JSON relay: {}; over the relay \
         limit with the same commands: procmux → /dev/null {}, → pipe → cat {} (this build / \
         baseline).",
        over(&to_null, &all(prefix_null)),
        over(&to_pipe, &all(prefix_pipe)),
        over(&to_null, &all(commands_null)),
        over(&to_pipe, &all(commands_pipe)),
        over(&json, &all(commands_json)),
        over(&to_null, &all(shell_relay)),
        over(&to_pipe, &all(shell_relay)),
    )
    .unwrap();
    let tail_cost: Vec<String> = bins
        .iter()
        .map(|bin| {
            tail_cost(
                opts.runs * 3,
                || run_procmux(bin, &procfile, &["--color", "never"], Sink::Pipe),
                || {
                    run_procmux(
                        bin,
                        &procfile,
                        &["--color", "never", "--tail-kib", "0"],
                        Sink::Pipe,
                    )
                },
            )
        })
        .collect();
    writeln!(
        table,
        "The tail's cost on the pipe path, as procmux's main thread's time on a CPU \
         (`/proc/PID/schedstat`), kept / `--tail-kib 0`, in {} alternating pairs of runs: {} \
         (this build / baseline; medians, then the median of each pair's ratio).",
        opts.runs * 3,
        tail_cost.join("; ")
    )
    .unwrap();
    table.push('\n');
}

/// What every throughput row spends besides moving the bytes: the same Procfile with writers
/// that have nothing to write. procmux's rows pay for starting and stopping the stack, and
/// for each writer's shell, FIFO signal and `exec sleep`, which the relay limit's bare `cat`s
/// do not; a shell that runs the same commands shows which part is the writers'.
fn fixed_cost(opts: &Opts, dir: &Path, table: &mut String) {
    let empty = dir.join("empty");
    fs::write(&empty, "").unwrap();
    let p = opts.writers;
    let procfile = writer_procfile(dir, "fixed", p, |_| format!("cat '{}'", empty.display()));
    let runs = opts.runs * 3;
    let fifo = fresh_fifo(dir, "fixed-shell");
    let scripts = [
        format!(
            "(for i in $(seq {p}); do cat '{}' & done; wait) | cat > /dev/null",
            empty.display()
        ),
        procfile_in_shell(p, &empty, &fifo),
    ];
    let bins = binaries(opts);
    let mut jobs: Vec<Box<dyn FnMut() -> Option<Sample> + '_>> = Vec::new();
    for script in &scripts {
        jobs.push(Box::new(move || Some(time_shell(script))));
    }
    for bin in &bins {
        let procfile = &procfile;
        jobs.push(Box::new(move || {
            run_procmux(bin, procfile, &["--color", "never"], Sink::DevNull)
        }));
    }
    let samples = interleaved(runs, 0, &mut jobs);
    drop(jobs);
    let ms = |s: &Option<Sample>| s.map(|s| s.wall.as_secs_f64() * 1e3);
    let (relay, shell) = (ms(&samples[0]), ms(&samples[1]));
    let procmux: Vec<String> = samples[2..]
        .iter()
        .map(|s| ms(s).map_or("—".into(), |ms| format!("{ms:.1} ms")))
        .collect();
    writeln!(
        table,
        "## Fixed cost: the same Procfile, writers with nothing to write (median of {runs}, in \
         rounds)\n\n\
         procmux → /dev/null {} (this build / baseline); the relay limit's bare `cat`s {:.1} ms; \
         a shell running the Procfile's {} commands into one pipe {:.1} ms. Every throughput \
         row above includes its fixed cost.\n",
        procmux.join(" / "),
        relay.expect("a shell does not fail"),
        p + 1,
        shell.expect("a shell does not fail"),
    )
    .unwrap();
}

/// A shell script that runs the commands of [`writer_procfile`]'s Procfile (`cat DATA`, each
/// writer's FIFO signal and `exec sleep`, and the `done` entry), all with one pipe to
/// `cat > /dev/null` as their stdout, and stops the sleepers once `done` is: the relay limit
/// with procmux's writers, wrappers and all, in place of bare `cat`s.
fn procfile_in_shell(writers: usize, data: &Path, fifo: &Path) -> String {
    format!(
        "(P=''; for i in $(seq {writers}); do sh -c \"cat '{data}'; printf x > '{fifo}'; \
         exec sleep 100000\" & P=\"$P $!\"; done; \
         sh -c \"exec 3<>'{fifo}'; head -c {writers} <&3 > /dev/null\"; kill $P; wait) \
         | cat > /dev/null",
        data = data.display(),
        fifo = fifo.display()
    )
}

/// What the writers of a relay are on.
#[derive(Clone, Copy)]
enum Channel {
    /// A pipe each, as procmux's children by default.
    Pipe,
    /// A pty each, set up as procmux sets them (no output processing).
    Pty,
}

/// What a relay does to the bytes it reads.
#[derive(Clone, Copy, PartialEq)]
enum Work {
    /// Nothing: written as read.
    Copy,
    /// The least a supervisor that prefixes must do: each line found (`memchr`) and copied
    /// behind a 16-byte prefix (`12:00:00 w0   | `, as procmux's with `--color never`) into
    /// one 64 KiB buffer, written when the next line would not fit; a partial line kept per
    /// writer until its end comes.
    Prefix,
    /// [`Work::Prefix`] as JSON lines: each line behind a JSON head as procmux's (time to the
    /// millisecond, name, instance, pid, stream: 102 bytes) and ending in `"}` before its
    /// newline. No byte is checked for escaping (these lines need none): less than any JSON
    /// writer must do.
    Json,
}

/// The least any supervisor must do: `writers` copies of `cat DATA`, each on a pipe or pty of
/// its own, read 64 KiB at a time by one `poll` loop in this harness and written, unchanged
/// ([`Work::Copy`]) or as prefixed lines ([`Work::Prefix`]), into `/dev/null` or into a pipe
/// read by `cat > /dev/null`. What is left of a supervisor once its own work is taken away.
/// With `commands` (the FIFO), the writers are the Procfile's own commands, each in a group
/// of its own, and its `done` entry, whose end stops them (SIGTERM to each group), as
/// procmux runs them: the least a supervisor of that Procfile must do.
fn poll_relay(
    data: &Path,
    writers: usize,
    channel: Channel,
    sink: Sink,
    work: Work,
    commands: Option<&Path>,
) -> Sample {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::termios::{OutputFlags, SetArg, tcgetattr, tcsetattr};
    use std::os::fd::AsFd;
    let start = Instant::now();
    let mut readers = Vec::new();
    let mut cats = Vec::new();
    for _ in 0..writers {
        let (reader, writer) = match channel {
            Channel::Pty => {
                let pair = nix::pty::openpty(None, None).expect("openpty");
                let mut termios = tcgetattr(&pair.slave).expect("tcgetattr");
                termios
                    .output_flags
                    .remove(OutputFlags::OPOST | OutputFlags::ONLCR);
                tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).expect("tcsetattr");
                (File::from(pair.master), File::from(pair.slave))
            }
            Channel::Pipe => {
                let (reader, writer) = nix::unistd::pipe().expect("pipe");
                (File::from(reader), File::from(writer))
            }
        };
        let mut command = match commands {
            None => {
                let mut cat = Command::new("cat");
                cat.arg(data);
                cat
            }
            Some(fifo) => shell(&format!(
                "cat '{}'; printf x > '{}'; exec sleep 100000",
                data.display(),
                fifo.display()
            )),
        };
        cats.push(command.stdout(writer).spawn().expect("writer"));
        readers.push(reader);
    }
    // The Procfile's `done` entry, on a pipe of its own as procmux gives it: its end is the
    // signal to stop the writers' `sleep`s, whose pipes then end too.
    let done = commands.map(|fifo| {
        let (reader, writer) = nix::unistd::pipe().expect("pipe");
        let command = shell(&format!(
            "exec 3<>'{}'; head -c {writers} <&3 > /dev/null",
            fifo.display()
        ))
        .stdout(File::from(writer))
        .spawn()
        .expect("done");
        cats.push(command);
        readers.push(File::from(reader));
        readers.len() - 1
    });
    let mut last = None;
    let mut out: Box<dyn Write> = match sink {
        Sink::DevNull | Sink::Terminal => Box::new(File::create("/dev/null").unwrap()),
        Sink::Pipe => {
            let mut cat = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("cat");
            let stdin = cat.stdin.take().unwrap();
            last = Some(cat);
            Box::new(stdin)
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); readers.len()];
    let mut open: Vec<bool> = vec![true; readers.len()];
    while open.iter().any(|&o| o) {
        let mut fds: Vec<PollFd> = readers
            .iter()
            .zip(&open)
            .filter(|(_, o)| **o)
            .map(|(m, _)| PollFd::new(m.as_fd(), PollFlags::POLLIN))
            .collect();
        poll(&mut fds, PollTimeout::NONE).expect("poll");
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut ready = ready.into_iter();
        for (i, (reader, open)) in readers.iter_mut().zip(open.iter_mut()).enumerate() {
            if !*open || !ready.next().unwrap_or(false) {
                continue;
            }
            // End of file (a pipe) or EIO (a pty) once its writer is gone: that one is done.
            match std::io::Read::read(reader, &mut buf) {
                Ok(0) | Err(_) if done == Some(i) => {
                    *open = false;
                    for writer in &cats[..writers] {
                        let group = Pid::from_raw(writer.id() as i32);
                        let _ = nix::sys::signal::killpg(group, Signal::SIGTERM);
                    }
                }
                Ok(0) | Err(_) => *open = false,
                Ok(n) if work == Work::Copy => out.write_all(&buf[..n]).unwrap(),
                Ok(n) => prefix_lines(
                    &buf[..n],
                    i,
                    work == Work::Json,
                    &mut partial[i],
                    &mut batch,
                    &mut out,
                ),
            }
        }
    }
    out.write_all(&batch).unwrap();
    drop(out);
    for mut cat in cats.into_iter().chain(last) {
        cat.wait().unwrap();
    }
    Sample {
        wall: start.elapsed(),
        ..Sample::default()
    }
}

/// [`Work::Prefix`] (or, `json`, [`Work::Json`]) for one read `chunk` of writer `writer`:
/// whole lines, each behind its prefix, into `batch` (written to `out` when the next would not
/// fit); the rest into `partial`, which goes before the writer's next line.
fn prefix_lines(
    mut chunk: &[u8],
    writer: usize,
    json: bool,
    partial: &mut Vec<u8>,
    batch: &mut Vec<u8>,
    out: &mut dyn Write,
) {
    let mut text = *b"12:00:00 w0   | ";
    text[10] = b'0' + (writer % 10) as u8;
    let mut head = *br#"{"ts":"2026-12-01T12:00:00.000+00:00","name":"w0","instance":1,"pid":123456,"stream":"stdout","line":""#;
    head[47] = b'0' + (writer % 10) as u8;
    let (prefix, end): (&[u8], &[u8]) = if json {
        (&head, b"\"}\n")
    } else {
        (&text, b"\n")
    };
    while let Some(newline) = memchr::memchr(b'\n', chunk) {
        let line = &chunk[..newline];
        if batch.len() + prefix.len() + partial.len() + line.len() + end.len() > batch.capacity() {
            out.write_all(batch).unwrap();
            batch.clear();
        }
        batch.extend_from_slice(prefix);
        batch.extend_from_slice(partial);
        batch.extend_from_slice(line);
        batch.extend_from_slice(end);
        partial.clear();
        chunk = &chunk[newline + 1..];
    }
    partial.extend_from_slice(chunk);
}

/// `23.04 M` or `43.7 k`.
fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M", per_second / 1e6)
    } else {
        format!("{:.1} k", per_second / 1e3)
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Each job's median over `runs` runs (`None` when one of its runs failed), run in rounds:
/// every job once per round, each round begun one job later than the last. The host's drift
/// during the minutes this takes then falls on every row alike; rows run one after the
/// other, `runs` times each, had moved against each other by up to ±10 %. Each median also
/// carries, as `paired`, the median over the rounds of its wall time over job `reference`'s
/// in the same round: a ratio of two medians pairs runs minutes apart, and moved by up to
/// ±0.15× between runs of the harness.
fn interleaved(
    runs: usize,
    reference: usize,
    jobs: &mut [Box<dyn FnMut() -> Option<Sample> + '_>],
) -> Vec<Option<Sample>> {
    let n = jobs.len();
    let mut samples: Vec<Option<Vec<Sample>>> = vec![Some(Vec::new()); n];
    for round in 0..runs.max(1) {
        for k in 0..n {
            let job = (round + k) % n;
            let sample = jobs[job]();
            match (&mut samples[job], sample) {
                (Some(list), Some(sample)) => list.push(sample),
                (slot, _) => *slot = None,
            }
        }
    }
    let reference: Option<Vec<Duration>> = samples[reference]
        .as_ref()
        .map(|list| list.iter().map(|s| s.wall).collect());
    samples
        .into_iter()
        .map(|list| {
            let list = list?;
            let paired = reference.as_ref().map(|walls| {
                median(
                    list.iter()
                        .zip(walls)
                        .map(|(s, r)| s.wall.as_secs_f64() / r.as_secs_f64())
                        .collect(),
                )
            });
            let mut sorted = list;
            sorted.sort_by_key(|s| s.wall);
            Some(Sample {
                paired,
                ..sorted[sorted.len() / 2]
            })
        })
        .collect()
}

/// The middle of `values` (the upper one of an even count); `values` is not empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The loop's CPU time with the tail kept (`kept`) and without (`none`), run in `pairs`
/// alternating pairs (each pair's order swapped with the next), so that the host's drift
/// during the runs falls on both alike: each one's median, and the median of the pairs'
/// ratios.
fn tail_cost(
    pairs: usize,
    mut kept: impl FnMut() -> Option<Sample>,
    mut none: impl FnMut() -> Option<Sample>,
) -> String {
    let cpu = |f: &mut dyn FnMut() -> Option<Sample>| f().and_then(|s| s.loop_cpu);
    let mut runs: Vec<(Duration, Duration)> = Vec::new();
    for i in 0..pairs {
        let pair = if i % 2 == 0 {
            (cpu(&mut kept), cpu(&mut none))
        } else {
            let none = cpu(&mut none);
            (cpu(&mut kept), none)
        };
        if let (Some(k), Some(n)) = pair {
            runs.push((k, n));
        }
    }
    if runs.is_empty() {
        return "—".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let kept = median(runs.iter().map(|r| ms(r.0)).collect());
    let none = median(runs.iter().map(|r| ms(r.1)).collect());
    let ratio = median(runs.iter().map(|r| ms(r.0) / ms(r.1)).collect());
    format!(
        "{kept:.1} / {none:.1} ms, pairs {:+.1} %",
        (ratio - 1.0) * 100.0
    )
}

/// `sh -c SCRIPT`, leading a process group of its own, as procmux starts a Procfile's entry.
fn shell(script: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new("sh");
    command.args(["-c", script]).process_group(0);
    command
}

fn time_shell(script: &str) -> Sample {
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", script])
        .status()
        .expect("sh");
    assert!(status.success(), "{script} failed");
    Sample {
        wall: start.elapsed(),
        ..Sample::default()
    }
}

#[derive(Clone, Copy)]
enum Sink {
    DevNull,
    Pipe,
    /// A pty of 50 rows and 200 columns whose master the harness reads into nothing: a
    /// terminal, where the status line is drawn.
    Terminal,
}

/// Runs `command` with a terminal as its stdout (see [`Sink::Terminal`]) to the end.
fn run_on_terminal(mut command: Command, start: Instant) -> Option<Sample> {
    use nix::pty::{Winsize, openpty};
    let size = Winsize {
        ws_row: 50,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pair = openpty(Some(&size), None).expect("openpty");
    let mut master = File::from(pair.master);
    command
        .stdout(File::from(pair.slave))
        .env("TERM", "xterm-256color");
    let mut child = command.spawn().expect("procmux");
    // The harness's copy of the terminal's other side goes with the command: while any copy
    // is open, reading the master never ends.
    drop(command);
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        // EIO once procmux (the last holder of the other side) is gone.
        while let Ok(n) = std::io::Read::read(&mut master, &mut buf) {
            if n == 0 {
                break;
            }
        }
    });
    let (cpu, rss, loop_cpu) = watch(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    status.success().then(|| Sample {
        wall: start.elapsed(),
        cpu: Some(cpu),
        rss_kib: Some(rss),
        loop_cpu: Some(loop_cpu),
        paired: None,
    })
}

/// Runs `BIN start -f PROCFILE ARGS…` to the end, measuring wall time (until the last byte
/// is consumed) and procmux's own CPU and peak RSS; `None` if it failed (a flag an older
/// build does not know).
fn run_procmux(bin: &str, procfile: &Path, args: &[&str], sink: Sink) -> Option<Sample> {
    let start = Instant::now();
    let mut command = Command::new(bin);
    command
        .args(["start", "-f"])
        .arg(procfile)
        .args(args)
        .stdin(Stdio::null());
    let (mut child, consumer) = match sink {
        Sink::DevNull => (
            command
                .stdout(File::create("/dev/null").unwrap())
                .spawn()
                .expect("procmux"),
            None,
        ),
        Sink::Terminal => return run_on_terminal(command, start),
        Sink::Pipe => {
            let mut child = command.stdout(Stdio::piped()).spawn().expect("procmux");
            let out = child.stdout.take().unwrap();
            let cat = Command::new("cat")
                .stdin(out)
                .stdout(File::create("/dev/null").unwrap())
                .spawn()
                .unwrap();
            (child, Some(cat))
        }
    };
    let (cpu, rss, loop_cpu) = watch(&child);
    let status = child.wait().unwrap();
    if let Some(mut cat) = consumer {
        cat.wait().unwrap();
    }
    status.success().then(|| Sample {
        wall: start.elapsed(),
        cpu: Some(cpu),
        rss_kib: Some(rss),
        loop_cpu: Some(loop_cpu),
        paired: None,
    })
}

/// Who follows the main stream with `logs -f` in [`run_followed`].
#[derive(Clone, Copy)]
enum Followers {
    /// One client that reads all it is sent.
    Reading,
    /// This many clients that never read.
    Stalled(usize),
}

/// Runs the `gated` Procfile (writers wait for `gate`) into a pipe read by `cat`: once procmux
/// listens, connects the `followers` (clients that ask for `logs -f`), then opens the gate;
/// the wall time counts from the gate.
fn run_followed(
    bin: &str,
    gated: &Path,
    gate: &Path,
    args: &[&str],
    followers: Followers,
) -> Option<Sample> {
    let _ = fs::remove_file(gate);
    let mut child = Command::new(bin)
        .args(["start", "-f"])
        .arg(gated)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("procmux");
    let out = child.stdout.take().unwrap();
    let mut cat = Command::new("cat")
        .stdin(out)
        .stdout(File::create("/dev/null").unwrap())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let address = loop {
        if let Some(address) = platform::control_address(pid) {
            break address;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let connect = || {
        let mut stream = std::os::unix::net::UnixStream::connect_addr(&address).unwrap();
        stream.write_all(b"follow\n").unwrap();
        stream
    };
    let mut clients = Vec::new();
    let mut reader = None;
    match followers {
        Followers::Reading => {
            let mut stream = connect();
            reader = Some(thread::spawn(move || {
                std::io::copy(&mut stream, &mut std::io::sink()).ok()
            }));
        }
        Followers::Stalled(n) => clients.extend((0..n).map(|_| connect())),
    }
    let start = Instant::now();
    fs::write(gate, "").unwrap();
    let (cpu, rss, loop_cpu) = watch(&child);
    let status = child.wait().unwrap();
    cat.wait().unwrap();
    let wall = start.elapsed();
    drop(clients);
    if let Some(reader) = reader {
        reader.join().unwrap();
    }
    status.success().then_some(Sample {
        wall,
        cpu: Some(cpu),
        rss_kib: Some(rss),
        loop_cpu: Some(loop_cpu),
        paired: None,
    })
}

/// How often [`watch`] samples a running procmux.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Samples `VmHWM` until `child` exits, then reads its CPU time from the unreaped zombie.
fn watch(child: &Child) -> (Duration, u64, Duration) {
    let pid = Pid::from_raw(child.id() as i32);
    let (exited, exit) = mpsc::channel();
    let waiter = thread::spawn(move || {
        platform::wait_exited_unreaped(pid);
        let _ = exited.send(());
    });
    let (mut peak, mut cpu, mut loop_cpu) = (0, Duration::ZERO, Duration::ZERO);
    loop {
        peak = peak.max(vm_hwm(pid).unwrap_or(0));
        // Sampled while running: a zombie's /proc/PID/stat no longer shows all of its time.
        cpu = cpu.max(cpu_time(pid));
        loop_cpu = loop_cpu.max(loop_time(pid));
        // Not more often: each sample reads three files of /proc on a machine whose two
        // cores the run keeps busy, a cost the relay rows do not pay. The peak is a
        // high-water mark and the loop's time is read again once it has exited, so neither
        // needs more. The exit ends the wait at once: a sleep here ran on past it, into the
        // wall time (half a period on average).
        if exit.recv_timeout(SAMPLE_EVERY) != Err(mpsc::RecvTimeoutError::Timeout) {
            break;
        }
    }
    waiter.join().unwrap();
    (cpu.max(cpu_time(pid)), peak, loop_cpu.max(loop_time(pid)))
}

/// The time `pid`'s main thread has spent on a CPU, to the nanosecond (`/proc/PID/schedstat`,
/// its first field; the thread leader's own, so procmux's loop without its writer thread).
fn loop_time(pid: Pid) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

fn vm_hwm(pid: Pid) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn vm_rss(pid: Pid) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A figure in KiB from `/proc/PID/status`.
fn status_kib(pid: Pid, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system time of `pid` from `/proc/PID/stat` (clock ticks of 10 ms).
fn cpu_time(pid: Pid) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // From the state field on: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime (tpgid can be -1, so every field is kept as text).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn voluntary_switches(pid: Pid) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))?
                .to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// `BIN start` on `procfile`, plain text, its stdout a pipe for the harness to read.
fn start_piped(bin: &str, procfile: &Path) -> Child {
    Command::new(bin)
        .args(["start", "--no-timestamp", "--color", "never", "-f"])
        .arg(procfile)
        .stdout(Stdio::piped())
        .spawn()
        .expect("procmux")
}

/// Every line arrives whole, attributed to its writer, in order.
fn check_integrity(opts: &Opts, dir: &Path) {
    let p = opts.writers;
    for i in 0..p {
        make_lines(
            &dir.join(format!("check{i}")),
            &format!("w{i}"),
            100,
            opts.lines,
        );
    }
    let procfile = writer_procfile(dir, "check", p, |i| {
        format!("cat '{}'", dir.join(format!("check{i}")).display())
    });
    let mut child = start_piped(&bin(), &procfile);
    let reader = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    let mut next = vec![0usize; p];
    let mut bad = 0;
    for line in reader.split(b'\n') {
        let line = line.unwrap();
        let Some(at) = line.windows(3).position(|w| w == b" | ") else {
            bad += 1;
            continue;
        };
        let (label, content) = (&line[..at], &line[at + 3..]);
        let label = String::from_utf8_lossy(label);
        let Some(index) = label
            .trim()
            .strip_prefix('w')
            .and_then(|l| l.strip_suffix(".1"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue; // system and done lines
        };
        if content.starts_with(b"started with") || content.starts_with(b"terminated") {
            continue;
        }
        let expected = format!("w{index} {:07} ", next[index]);
        if content.len() == 99
            && content.starts_with(expected.as_bytes())
            && content[expected.len()..].iter().all(|&b| b == b'x')
        {
            next[index] += 1;
        } else {
            if bad < 3 {
                eprintln!(
                    "unexpected line from w{index} (wanted {expected:?}): {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(120)])
                );
            }
            bad += 1;
        }
    }
    child.wait().unwrap();
    let complete = next.iter().all(|&n| n == opts.lines);
    println!(
        "## Integrity\n\n{p} writers × {} lines: {} lines arrived whole, attributed and in order; {bad} bad; {}\n",
        opts.lines,
        next.iter().sum::<usize>(),
        if complete && bad == 0 { "PASS" } else { "FAIL" }
    );
}

fn monotonic_ns() -> i64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() * 1_000_000_000 + t.tv_nsec()
}

/// Each line's delay in nanoseconds, from the child's write to its arrival on procmux's
/// stdout: a child prints its `CLOCK_MONOTONIC` time 2,000 times, about 1,000 a second, and
/// the harness compares it with the time it reads the line.
fn latency(bin: &str, dir: &Path) -> Vec<i64> {
    let script = dir.join("latency.py");
    fs::write(
        &script,
        "import time\nfor _ in range(2000):\n    print(time.monotonic_ns(), flush=True)\n    time.sleep(0.001)\n",
    )
    .unwrap();
    let procfile = dir.join("latency.Procfile");
    fs::write(
        &procfile,
        format!("clock: python3 '{}'\n", script.display()),
    )
    .unwrap();
    let mut child = start_piped(bin, &procfile);
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut delays: Vec<i64> = Vec::new();
    for line in reader.lines() {
        let now = monotonic_ns();
        let line = line.unwrap();
        if let Some(sent) = line
            .split(" | ")
            .nth(1)
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            delays.push(now - sent);
        }
    }
    child.wait().unwrap();
    delays
}

/// Starts `procmux` on `count` sleeping processes and returns it once every one has started.
fn start_sleepers(
    bin: &str,
    dir: &Path,
    count: usize,
) -> (Child, Duration, mpsc::Receiver<()>, Arc<AtomicU64>) {
    let procfile = dir.join("sleep.Procfile");
    fs::write(&procfile, "sleeper: exec sleep 100000\n").unwrap();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(["start", "--no-timestamp", "--color", "never", "-m"])
        .arg(format!("sleeper={count}"))
        .arg("-f")
        .arg(&procfile)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let (started_tx, started) = mpsc::channel();
    let terminated = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&terminated);
    thread::spawn(move || {
        let mut seen = 0;
        for line in reader.lines().map_while(Result::ok) {
            if line.contains("started with pid") {
                seen += 1;
                if seen == count {
                    let _ = started_tx.send(());
                }
            } else if line.contains("terminated by") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (child, start.elapsed(), started, terminated)
}

/// procmux's RSS with two sleeping children (after start-up, before any output), then its CPU
/// and wake-ups with 100.
fn idle(bin: &str, dir: &Path, secs: u64) {
    let (mut child, _, started, _) = start_sleepers(bin, dir, 2);
    started
        .recv_timeout(Duration::from_secs(60))
        .expect("2 sleepers started");
    let pid = Pid::from_raw(child.id() as i32);
    thread::sleep(Duration::from_millis(500));
    let rss = vm_rss(pid).unwrap_or(0);
    let peak = vm_hwm(pid).unwrap_or(0);
    kill(pid, Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    println!(
        "## Idle RSS\n\n2 sleeping children: procmux RSS {:.1} MiB (peak so far {:.1} MiB)\n",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    let (mut child, _, started, _) = start_sleepers(bin, dir, 100);
    started
        .recv_timeout(Duration::from_secs(60))
        .expect("100 sleepers started");
    let pid = Pid::from_raw(child.id() as i32);
    thread::sleep(Duration::from_millis(200));
    let (cpu0, switches0) = (cpu_time(pid), voluntary_switches(pid));
    thread::sleep(Duration::from_secs(secs));
    let (cpu1, switches1) = (cpu_time(pid), voluntary_switches(pid));
    kill(pid, Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    println!(
        "## Idle\n\n100 sleeping children for {secs} s: procmux used {} ms CPU and woke {} times\n",
        (cpu1 - cpu0).as_millis(),
        switches1 - switches0
    );
}

/// Starts `count` sleeping processes and stops them (SIGTERM to procmux): how long each
/// took, and procmux's peak RSS in KiB.
fn spawn_and_shutdown(bin: &str, dir: &Path, count: usize) -> (Duration, Duration, u64) {
    let start = Instant::now();
    let (mut child, _, started, _) = start_sleepers(bin, dir, count);
    started
        .recv_timeout(Duration::from_secs(60))
        .expect("sleepers started");
    let spawned = start.elapsed();
    let pid = Pid::from_raw(child.id() as i32);
    let rss = vm_hwm(pid).unwrap_or(0);
    let stop = Instant::now();
    kill(pid, Signal::SIGTERM).unwrap();
    child.wait().unwrap();
    let shutdown = stop.elapsed();
    (spawned, shutdown, rss)
}

fn peak_rss(bin: &str, dir: &Path, writers: usize) {
    let data = dir.join("rss-lines");
    make_lines(&data, "w", 100, 10_000);
    let procfile = writer_procfile(dir, "rss", writers, |_| format!("cat '{}'", data.display()));
    let m = formation(writers);
    let mib = |sink| {
        run_procmux(bin, &procfile, &["--color", "never", "-m", &m], sink)
            .and_then(|s| s.rss_kib)
            .map_or("(failed)".into(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            })
    };
    println!(
        "## Peak RSS, {writers} writers × 10000 lines\n\nprocmux → /dev/null: {}; → pipe: {}\n",
        mib(Sink::DevNull),
        mib(Sink::Pipe)
    );
}
