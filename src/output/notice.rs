//! How each [`Notice`] reads: a sentence for the text stream (foreman's wording where foreman
//! has one), and for JSON an `event` kind with the facts as fields.

use std::io::{self, Write};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::supervisor::{CheckEnding, Exit, Notice};

/// The name and number of an instance (`web`, 1), as notices refer to instances by index.
pub(super) struct Names<'a> {
    pub(super) names: &'a [(String, usize)],
}

impl Names<'_> {
    fn label(&self, instance: usize) -> Label<'_> {
        let (name, number) = &self.names[instance];
        Label(name, *number)
    }
}

/// `web.1`.
struct Label<'a>(&'a str, usize);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// How a process ended, in words: `exited with code 3`, `terminated by SIGKILL` (foreman's).
pub struct ExitText(pub Exit);

impl std::fmt::Display for ExitText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(signal) => write!(f, "terminated by {}", signal.as_str()),
        }
    }
}

/// True when the notice's text line goes under the instance's own label (its start and
/// exit, as foreman does); every other notice is a `system` line.
pub(super) fn under_own_label(notice: &Notice) -> bool {
    matches!(
        notice,
        Notice::Started { .. } | Notice::Exited { .. } | Notice::FailedToStart { .. }
    )
}

/// Writes the notice's sentence (no newline).
pub(super) fn text(notice: &Notice, names: &Names<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let label = |i: usize| names.label(i);
    match notice {
        Notice::Started { pid, .. } => write!(out, "started with pid {pid}"),
        Notice::Exited { exit, .. } => write!(out, "{}", ExitText(*exit)),
        Notice::FailedToStart { error, .. } => write!(out, "failed to start: {error}"),
        Notice::NotWaiting {
            instance,
            dependency,
        } => write!(
            out,
            "{} starts without waiting for {dependency}, which is not started (--no-deps)",
            label(*instance)
        ),
        Notice::NamesDropped { instance, names } => write!(
            out,
            "{}: /bin/sh passes no variable named {names} to a command that is not one simple command",
            label(*instance)
        ),
        Notice::WaitingForInput { instance, name } => write!(
            out,
            "{} is waiting for input: run 'procmux attach {name}' in another terminal",
            label(*instance)
        ),
        Notice::FileChanged { instance, file } => {
            write!(out, "{} restarting: {file} changed", label(*instance))
        }
        Notice::Follows { instance, leader } => write!(
            out,
            "{} restarting with {}: stopped now, started again once {} is ready",
            label(*instance),
            label(*leader),
            label(*leader)
        ),
        Notice::Ready { instance } => write!(out, "{} is ready", label(*instance)),
        Notice::MayExit { instance, exit } => write!(
            out,
            "{} {}; it may exit, the others keep running",
            label(*instance),
            ExitText(*exit)
        ),
        Notice::ExitedBeforeReady { instance, exit } => {
            let exit = ExitText(*exit);
            write!(out, "{} {exit} before it was ready", label(*instance))
        }
        Notice::Restarting {
            instance,
            exit,
            delay,
            attempt,
            max_attempts,
        } => write!(
            out,
            "{} {}, restarting in {} (attempt {attempt}/{max_attempts})",
            label(*instance),
            ExitText(*exit),
            Seconds(*delay)
        ),
        Notice::GaveUp {
            instance,
            exit,
            restarts,
            window,
        } => write!(
            out,
            "{} {}, giving up after {restarts} restarts in {}",
            label(*instance),
            ExitText(*exit),
            Seconds(*window)
        ),
        Notice::WillNotBeReady { instance } => {
            write!(out, "{} will not become ready", label(*instance))
        }
        Notice::NotReady { instance, timeout } => write!(
            out,
            "{} not ready after {}, stopping",
            label(*instance),
            Seconds(*timeout)
        ),
        Notice::ReadyCheckFailed {
            instance,
            command,
            ending,
            silent,
        } => {
            write!(out, "{}'s last ready check ({command}) ", label(*instance))?;
            match ending {
                CheckEnding::Exited(exit) => write!(out, "{}", ExitText(*exit))?,
                CheckEnding::TimedOut(after) => {
                    write!(out, "timed out after {} and was killed", Seconds(*after))?
                }
                CheckEnding::StillRunning => write!(out, "was still running (killed)")?,
                CheckEnding::FailedToStart(error) => write!(out, "could not start: {error}")?,
            }
            out.extend_from_slice(if *silent { b", printing nothing" } else { b":" });
            Ok(())
        }
        Notice::ReadyCheckOutput { instance, line } => {
            write!(out, "{} ready check: {line}", label(*instance))
        }
        Notice::Stopping { instance, signal } => {
            write!(out, "sending {} to {}", signal.as_str(), label(*instance))
        }
        Notice::Stopped { instance } => write!(out, "{} stopped", label(*instance)),
        Notice::StopAsked => write!(out, "stop asked for (procmux stop), starting shutdown"),
        Notice::WatchProblem { message } => write!(out, "watch: {message}"),
        Notice::AutoPorts { first, last } => write!(
            out,
            "ports {first}-{last} for this checkout (port = \"auto\")"
        ),
        Notice::SignalReceived { signal } => {
            write!(out, "{} received, starting shutdown", signal.as_str())
        }
        Notice::SignalAgain { signal } => {
            write!(out, "{} received again, stopping at once", signal.as_str())
        }
        Notice::ShuttingDown { given, signals } => shutdown_text(*given, signals, names, out),
        Notice::Killing { remaining } => write!(out, "sending SIGKILL to {remaining} processes"),
        Notice::Abandoned { after } => write!(
            out,
            "processes survived SIGKILL for {}, exiting",
            Seconds(*after)
        ),
    }
}

/// The JSON `event` kind.
fn kind(notice: &Notice) -> &'static str {
    match notice {
        Notice::Started { .. } => "started",
        Notice::Exited { .. } => "exited",
        Notice::FailedToStart { .. } => "failed",
        Notice::NotWaiting { .. } => "not_waiting",
        Notice::WaitingForInput { .. } => "waiting_for_input",
        Notice::FileChanged { .. } => "file_changed",
        Notice::Follows { .. } => "follows",
        Notice::NamesDropped { .. } => "names_dropped",
        Notice::Ready { .. } => "ready",
        Notice::MayExit { .. } => "may_exit",
        Notice::ExitedBeforeReady { .. } => "exited_before_ready",
        Notice::Restarting { .. } => "restarting",
        Notice::GaveUp { .. } => "gave_up",
        Notice::WillNotBeReady { .. } => "will_not_be_ready",
        Notice::NotReady { .. } => "not_ready",
        Notice::ReadyCheckFailed { .. } => "ready_check_failed",
        Notice::ReadyCheckOutput { .. } => "ready_check_output",
        Notice::Stopping { .. } => "stopping",
        Notice::Stopped { .. } => "stopped",
        Notice::SignalReceived { .. } | Notice::SignalAgain { .. } => "signal",
        Notice::ShuttingDown { .. } => "shutdown",
        Notice::StopAsked => "stop_asked",
        Notice::WatchProblem { .. } => "watch_problem",
        Notice::AutoPorts { .. } => "auto_ports",
        Notice::Killing { .. } => "kill",
        Notice::Abandoned { .. } => "abandoned",
    }
}

/// Writes the JSON fields after `"name":"system"`: `"event":…`, the process and the facts,
/// each field preceded by a comma. Names are Procfile names (`[A-Za-z0-9_-]`), so they need
/// no escaping; the message is escaped by the caller.
pub(super) fn json_fields(notice: &Notice, names: &Names<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    write!(out, ",\"event\":\"{}\"", kind(notice))?;
    if let Some(instance) = notice.instance() {
        let (name, number) = &names.names[instance];
        write!(out, ",\"process\":\"{name}\",\"instance\":{number}")?;
    }
    match notice {
        Notice::Started { pid, .. } => write!(out, ",\"pid\":{pid}"),
        Notice::Exited { pid, exit, .. } => {
            write!(out, ",\"pid\":{pid}")?;
            exit_fields(*exit, out)
        }
        Notice::MayExit { exit, .. } | Notice::ExitedBeforeReady { exit, .. } => {
            exit_fields(*exit, out)
        }
        Notice::Restarting {
            exit,
            delay,
            attempt,
            max_attempts,
            ..
        } => {
            exit_fields(*exit, out)?;
            write!(
                out,
                ",\"delay_ms\":{},\"attempt\":{attempt},\"max_attempts\":{max_attempts}",
                delay.as_millis()
            )
        }
        Notice::GaveUp {
            exit,
            restarts,
            window,
            ..
        } => {
            exit_fields(*exit, out)?;
            write!(
                out,
                ",\"restarts\":{restarts},\"window_ms\":{}",
                window.as_millis()
            )
        }
        Notice::NotReady { timeout, .. } => write!(out, ",\"timeout_ms\":{}", timeout.as_millis()),
        Notice::Stopping { signal, .. } | Notice::SignalReceived { signal } => {
            write!(out, ",\"signal\":\"{}\"", signal.as_str())
        }
        Notice::SignalAgain { signal } => {
            write!(out, ",\"signal\":\"{}\",\"again\":true", signal.as_str())
        }
        Notice::Killing { remaining } => write!(out, ",\"remaining\":{remaining}"),
        Notice::Abandoned { after } => write!(out, ",\"after_ms\":{}", after.as_millis()),
        Notice::NotWaiting { dependency, .. } => write!(out, ",\"dependency\":\"{dependency}\""),
        Notice::Follows { leader, .. } => write!(out, ",\"leader\":\"{}\"", names.label(*leader)),
        Notice::ShuttingDown { signals, .. } => {
            out.extend_from_slice(b",\"signals\":{");
            for (n, (instance, signal)) in signals.iter().enumerate() {
                let comma = if n == 0 { "" } else { "," };
                let label = names.label(*instance);
                write!(out, "{comma}\"{label}\":\"{}\"", signal.as_str())?;
            }
            out.push(b'}');
            Ok(())
        }
        Notice::ReadyCheckFailed {
            command, ending, ..
        } => {
            string_field("command", command, out);
            match ending {
                CheckEnding::Exited(exit) => exit_fields(*exit, out),
                CheckEnding::TimedOut(after) => {
                    write!(out, ",\"timed_out_ms\":{}", after.as_millis())
                }
                CheckEnding::StillRunning => write!(out, ",\"still_running\":true"),
                CheckEnding::FailedToStart(error) => {
                    string_field("error", error, out);
                    Ok(())
                }
            }
        }
        Notice::ReadyCheckOutput { line, .. } => {
            string_field("line", line, out);
            Ok(())
        }
        Notice::FileChanged { file, .. } => {
            string_field("file", file, out);
            Ok(())
        }
        Notice::NamesDropped { names, .. } => {
            string_field("names", names, out);
            Ok(())
        }
        Notice::FailedToStart { .. }
        | Notice::WaitingForInput { .. }
        | Notice::Ready { .. }
        | Notice::WillNotBeReady { .. }
        | Notice::Stopped { .. }
        | Notice::StopAsked
        | Notice::WatchProblem { .. } => Ok(()),
        Notice::AutoPorts { first, last } => write!(out, ",\"first\":{first},\"last\":{last}"),
    }
}

/// `sending SIGTERM to all processes` when every process gets the same signal (foreman's
/// line), else `sending SIGINT to db.1, SIGTERM to 6 others`: the most common signal last.
fn shutdown_text(
    given: Signal,
    signals: &[(usize, Signal)],
    names: &Names<'_>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut groups: Vec<(Signal, Vec<usize>)> = Vec::new();
    for &(instance, signal) in signals {
        match groups.iter_mut().find(|(s, _)| *s == signal) {
            Some((_, members)) => members.push(instance),
            None => groups.push((signal, vec![instance])),
        }
    }
    if groups.len() <= 1 {
        let signal = groups.first().map_or(given, |(s, _)| *s);
        return write!(out, "sending {} to all processes", signal.as_str());
    }
    // The largest group (the given signal's on a tie) goes last, as "the others".
    let largest = (0..groups.len())
        .max_by_key(|&g| (groups[g].1.len(), groups[g].0 == given))
        .unwrap_or(0);
    let others = groups.remove(largest);
    out.extend_from_slice(b"sending ");
    for (signal, members) in &groups {
        write!(out, "{} to ", signal.as_str())?;
        if members.len() > 3 {
            write!(out, "{} processes, ", members.len())?;
            continue;
        }
        for instance in members {
            write!(out, "{}, ", names.label(*instance))?;
        }
    }
    match others.1.as_slice() {
        [one] => write!(out, "{} to {}", others.0.as_str(), names.label(*one)),
        many => write!(out, "{} to {} others", others.0.as_str(), many.len()),
    }
}

/// `,"NAME":"VALUE"`, the value escaped.
fn string_field(name: &str, value: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(format!(",\"{name}\":\"").as_bytes());
    super::json::escape(value.as_bytes(), &mut |b| out.extend_from_slice(b));
    out.push(b'"');
}

fn exit_fields(exit: Exit, out: &mut Vec<u8>) -> io::Result<()> {
    match exit {
        Exit::Code(code) => write!(out, ",\"code\":{code}"),
        Exit::Signal(signal) => write!(out, ",\"signal\":\"{}\"", signal.as_str()),
    }
}

/// `2s`, `1.5s`, `0.05s`: durations as short as they can be.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = format!("{:.3}", self.0.as_secs_f64());
        write!(f, "{}s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_short() {
        let show = |ms| Seconds(Duration::from_millis(ms)).to_string();
        assert_eq!(show(50), "0.05s");
        assert_eq!(show(1500), "1.5s");
        assert_eq!(show(60_000), "60s");
    }

    #[test]
    fn exits_read_as_foreman_says_them() {
        let text = |exit| ExitText(exit).to_string();
        let term = nix::sys::signal::Signal::SIGTERM;
        assert_eq!(text(Exit::Signal(term)), "terminated by SIGTERM");
        assert_eq!(text(Exit::Code(1)), "exited with code 1");
    }
}
