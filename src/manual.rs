//! The documentation that ships with the binary: `procmux man [COMMAND]` (roff) and
//! `procmux completions SHELL`, and showing a page on a terminal (through `man -l -`, or as
//! plain text).
//!
//! The man page is clap's rendering of every command's options (so it cannot drift from
//! `--help`), with the sections clap cannot know: the Procfile and `.env` grammar, the
//! `procmux.toml` keys, signals and the known servers' stop signals, exit codes, environment
//! and files. `procmux man start` is `procmux-start(1)`, the page the main one refers to.
//!
//! Completion scripts are clap's, completed with the process names of the Procfile where
//! `start` and `run` take a name, through the hidden `procmux __names`.

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::Arguments;
use crate::config::servers::KNOWN_SERVERS;

/// The subcommands with a page of their own (`procmux man COMMAND` takes these).
pub use crate::cli::MAN_PAGES as PAGES;

/// `procmux man` (no `topic`): procmux(1), every command in it; `procmux man start`:
/// procmux-start(1).
pub fn page(topic: Option<&str>) -> std::io::Result<Vec<u8>> {
    let root = Arguments::command().disable_help_subcommand(true);
    let mut out = Vec::new();
    match topic.and_then(|t| root.find_subcommand(t).cloned()) {
        Some(sub) => {
            let name = format!("procmux-{}", sub.get_name());
            let sub = sub
                .bin_name(name.replacen('-', " ", 1))
                .name(name)
                .version(env!("CARGO_PKG_VERSION"));
            clap_mangen::Man::new(sub).render(&mut out)?;
            out.extend_from_slice(b".SH \"SEE ALSO\"\n\\fBprocmux\\fR(1)\n");
        }
        None => {
            let man = clap_mangen::Man::new(root.clone());
            man.render_title(&mut out)?;
            man.render_name_section(&mut out)?;
            man.render_synopsis_section(&mut out)?;
            man.render_description_section(&mut out)?;
            for name in PAGES {
                if let Some(sub) = root.find_subcommand(name) {
                    command_section(sub, &mut out)?;
                }
            }
            let sections = SECTIONS.replace("@KNOWN_SERVERS@", &known_servers());
            out.extend_from_slice(sections.as_bytes());
        }
    }
    Ok(out)
}

/// Shows a page on the terminal as `git help` does: `man -l -` formats it from stdin and
/// runs its pager, which waits for its reader (no timeout: it is the user's). procmux waits
/// out Ctrl-C and Ctrl-\ meanwhile (they are the pager's). False when man is missing or
/// failed before showing anything (then the caller prints plain text).
pub fn show(page: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let mut man = match Command::new("man")
        .args(["-l", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(man) => man,
        Err(_) => return Ok(false),
    };
    let waited_out = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGQUIT] {
        signal_hook::flag::register(signal, Arc::clone(&waited_out))?;
    }
    if let Some(mut stdin) = man.stdin.take() {
        // A pager quit before reading it all closes the pipe: not an error.
        let _ = stdin.write_all(page);
    }
    Ok(man.wait()?.success())
}

/// A page as plain text, for a terminal without man: headings, paragraphs and the words,
/// the roff requests and font escapes left out.
pub fn plain(page: &[u8]) -> String {
    let text = String::from_utf8_lossy(page);
    let mut out = String::new();
    for line in text.lines() {
        match line.split_whitespace().next() {
            Some(".SH" | ".SS") => {
                let heading = line[3..].trim().trim_matches('"');
                out.push('\n');
                out.push_str(&unescape(heading));
                out.push('\n');
            }
            Some(".PP" | ".TP" | ".IP" | ".LP" | ".P") => {
                if !out.ends_with("\n\n") {
                    out.push('\n');
                }
            }
            Some(".br") => {}
            Some(request) if request.starts_with('.') || request.starts_with('\'') => {}
            _ => {
                out.push_str("       ");
                out.push_str(&unescape(line));
                out.push('\n');
            }
        }
    }
    out
}

/// A roff text line as the words it shows.
fn unescape(line: &str) -> String {
    let mut out = line.to_owned();
    for (escape, text) in [
        ("\\fB", ""),
        ("\\fI", ""),
        ("\\fR", ""),
        ("\\fP", ""),
        ("\\-", "-"),
        ("\\(bu", "*"),
        ("\\(mu", "x"),
        ("\\(aq", "'"),
        ("\\*(Aq", "'"),
        ("\\(dq", "\""),
        ("\\&", ""),
        ("\\e", "\\"),
    ] {
        out = out.replace(escape, text);
    }
    out
}

/// The table of known servers' stop signals, one `.TP` each.
fn known_servers() -> String {
    let roff = |text: &str| text.replace('\\', "\\e").replace('-', "\\-");
    KNOWN_SERVERS
        .iter()
        .map(|known| {
            let programs: Vec<String> = known
                .programs
                .iter()
                .map(|p| format!("\\fB{}\\fR", roff(p)))
                .collect();
            format!(
                ".TP\n{} ({}): \\fB{}\\fR\n{}\n",
                programs.join(", "),
                roff(known.server),
                known.signal.as_str(),
                roff(known.why)
            )
        })
        .collect()
}

/// `.SH "PROCMUX START"`, what it does, and its options.
fn command_section(sub: &Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let name = sub.get_name();
    out.extend_from_slice(format!(".SH \"PROCMUX {}\"\n", name.to_uppercase()).as_bytes());
    let about = sub
        .get_long_about()
        .or(sub.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    out.extend_from_slice(roff_text(&about).as_bytes());
    out.push(b'\n');
    let mut options = Vec::new();
    clap_mangen::Man::new(sub.clone()).render_options_section(&mut options)?;
    // Its own heading is ours: the options follow the command's words.
    let options = String::from_utf8_lossy(&options).replace(".SH OPTIONS\n", ".PP\nOptions:\n");
    out.extend_from_slice(options.as_bytes());
    out.extend_from_slice(format!(".PP\nSee \\fBprocmux\\-{name}\\fR(1).\n").as_bytes());
    Ok(())
}

/// Plain text as roff: paragraphs kept, leading dots and backslashes escaped.
fn roff_text(text: &str) -> String {
    text.split("\n\n")
        .map(|para| {
            let para = para.replace('\\', "\\\\").replace('-', "\\-");
            let para = para
                .lines()
                .map(|l| {
                    if l.starts_with(['.', '\'']) {
                        format!("\\&{l}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            format!(".PP\n{para}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const SECTIONS: &str = r#".SH PROCFILE
One process type per line, \fBname: command\fR, the name made of \fBA\-Z a\-z 0\-9 _ \-\fR
(at most 100 of them).
Blank lines and lines starting with \fB#\fR are skipped; CRLF line ends and a byte\-order mark
are accepted. Any other line, a duplicate name, an empty Procfile or a NUL byte is an error
naming the file and line. Each instance runs as \fB/bin/sh \-c COMMAND\fR (as \fBexec
COMMAND\fR when it is one simple command) in a process group of its own, with \fBPORT\fR
(base + 100 \(mu type index + instance \- 1), \fBPS\fR (\fBweb.1\fR) and
\fBPROCMUX_TREE\fR set, stdin a pipe that stays open while procmux lives.
.SH "ENV FILES"
\fBKEY=value\fR lines, later files and later keys winning; an optional \fBexport\fR prefix;
keys \fB[A\-Za\-z_][A\-Za\-z0\-9_.\-]*\fR; \fB#\fR comments (a \fB #\fR inside an unquoted
value too); \fB'single quotes'\fR literal; \fB"double quotes"\fR with \fB\en \er \et \e" \e\e
\e$\fR escapes; quoted values may span lines; \fB$VAR\fR, \fB${VAR}\fR and
\fB${VAR:\-default}\fR take \fBPORT\fR, \fBPS\fR and \fBPORT_\fR\fINAME\fR as the process
gets them, then earlier keys, then procmux's environment. Values are never
spliced into commands and never loaded into procmux's own environment.
.SH PROCMUX.TOML
Defaults for \fBstart\fR's options, next to the Procfile (or \fB\-\-config FILE\fR). Keys:
\fBprocfile\fR, \fBroot\fR, \fBenv\fR (list), \fBformation\fR, \fBport\fR, \fBtimeout\fR,
\fBcolor\fR, \fBtimestamp\fR, \fBformat\fR, \fBpty\fR, \fBstderr\fR, \fBstrip_ansi\fR,
\fBcolor_hint\fR, \fBprefix\fR, \fBstatus_line\fR, \fBbell\fR, \fBquiet\fR (list),
\fBcontrol\fR, \fBtail_kib\fR, and per
process \fB[process.NAME]\fR: \fBcount\fR, \fBquiet\fR, \fBpty\fR, \fBstdin\fR, \fBwatch\fR and
\fBwatch_ignore\fR (globs), \fBon_exit\fR (stop\-all, ignore, restart,
restart\-on\-failure), \fBrestart_delay\fR, \fBrestart_delay_max\fR, \fBstable_after\fR,
\fBmax_restarts\fR, \fBrestart_window\fR, \fBon_give_up\fR (stop\-all, leave),
\fBstop_signal\fR, \fBstop_timeout\fR, \fBafter\fR (list), \fBready\fR (tcp:PORT,
tcp:$PORT, http://HOST:PORT/PATH, log:REGEX, exit:0, delay:2s, exec:COMMAND),
\fBready_timeout\fR, \fBready_interval\fR (between two exec: checks, 1s),
\fBcwd\fR (its directory, relative to the root; its \fBwatch\fR globs are relative to
it), \fBenv_file\fR (list, relative to the file, read after the project's env files) and
\fBenv\fR (a table, last; \fB${OTHER}\fR expands as in an env file, \fB\e$\fR is a
literal \fB$\fR; \fBPORT\fR, \fBPS\fR and \fBPORT_\fR\fINAME\fR stay procmux's), \fBphase\fR (release, run),
\fBrestart_with\fR (list: when one of these restarts, this process is stopped first and
started again once it is ready; \fBafter = [{ name = "db", restart = true }]\fR is the same);
and \fB[profile.NAME]\fR: \fBprocesses\fR (names or globs), started by \fBstart
\-\-profile NAME\fR or \fBstart @NAME\fR with what they wait for.
\fB[include.NAME]\fR: \fBprocfile\fR, \fBcwd\fR, \fBenv_file\fR, \fBenv\fR: that Procfile's
entries as \fBNAME.entry\fR, run in its directory with its .env; \fBstart NAME\fR and
\fBrestart NAME\fR take the whole include; \fB[process."NAME.entry"]\fR (quoted) sets one.
.PP
Local overrides, read after the committed files when present: \fBprocmux.local.toml\fR
(its keys replace those of procmux.toml one by one, a \fB[process.NAME]\fR table key by
key) and \fBProcfile.local\fR beside the Procfile (entries added or replaced in place by
name; a \fB!NAME:\fR line removes one). \fBenabled = false\fR in a \fB[process.NAME]\fR
table removes an entry. \fBprocmux check\fR lists the files read, in order, and what each
changed..PP
The release phase: an entry named \fBrelease\fR (unless \fBphase = "run"\fR) or with
\fBphase = "release"\fR runs once, before every other process but what it needs itself
(\fBafter\fR), and nothing else starts until it exits 0; a failure stops the start with its
exit code. \fB\-\-no\-release\fR skips it; \fBprocmux restart\fR runs it again only when it
is named (not by a glob).
.PP
\fBexec:COMMAND\fR runs COMMAND through /bin/sh \-c in the process's environment and
directory until it exits 0 (\fBexec:pg_isready \-h 127.0.0.1 \-p $PORT\fR); an attempt
that takes over 5 s is killed with its group; when readiness times out, the last attempt's
end and output are shown.
Unknown keys and bad values are errors at their line and column. Precedence: flag >
environment variable > procmux.toml > default.
.SH DURATIONS
Every duration (\fBstart \-t\fR, \fBwait \-\-timeout\fR, \fBstart \-D \-\-wait\-timeout\fR,
\fBlogs \-\-since/\-\-until\fR as a time ago, and the durations of procmux.toml, including
\fBready = "delay:..."\fR): a number of seconds (\fB90\fR, \fB1.5\fR; a bare number in
procmux.toml too), or numbers with units \fBms\fR, \fBs\fR, \fBm\fR, \fBh\fR, \fBd\fR
(\fB500ms\fR, \fB1h30m\fR, \fB2d\fR); at most 100 days.
.SH PATTERNS
\fBlogs \-\-grep REGEX\fR and \fBready = "log:REGEX"\fR: Rust regex syntax, on bytes. A
pattern has at most 1000 positions (a character or class is one, \fBx{n}\fR counts its body
n times) and compiles to at most 1 MiB; a larger one is an error. A line is matched on its
first 16 MiB / positions bytes for \-\-grep (all of it for a pattern of up to 16
positions) and 1 MiB / positions bytes for a readiness pattern, so that no line costs more
than a bounded time whatever the pattern.
.SH SIGNALS
SIGINT, SIGTERM and SIGHUP start a graceful shutdown: each process's stop signal to its
group, dependants first; what is left of its tree once its main process is gone; SIGKILL
after its stop timeout; strays last. A second SIGINT or SIGTERM kills at once. SIGUSR1 and
SIGUSR2 are forwarded to every process group. SIGTSTP (Ctrl\-Z) stops every process, then
procmux; SIGCONT resumes them. A SIGHUP inherited as ignored stays ignored.
.PP
Which stop signal: a process's own \fBstop_signal\fR always; else a known server's
graceful signal (below); else the signal the user gave: SIGINT after Ctrl\-C (SIGINT to
procmux), as a terminal would deliver it, and SIGTERM after SIGTERM, SIGHUP,
\fBprocmux stop\fR, \fBrestart\fR, or a process's exit. After SIGINT, what a process's
main process leaves in its group gets SIGTERM (a shell's background jobs ignore SIGINT).
The shutdown line names what is sent (\fBsending SIGINT to db.1, SIGTERM to 6 others\fR);
\fBprocmux check\fR and \fBprocmux status\fR show each process's.
.SH "KNOWN SERVERS"
Recognised by the command's program (its first word, past \fBexec\fR, \fBenv\fR,
\fBVAR=value\fR and \fBbundle exec\fR; a path's last part), where SIGTERM is not a clean
stop:
@KNOWN_SERVERS@.SH "EXIT STATUS"
.TP
\fBN\fR
the exit code of the process whose exit stopped the stack (128 + N for signal N, 127 when it
could not be started), or of \fB\-\-exit\-code\-from\fR's process
.TP
\fB130, 143, 129\fR
SIGINT, SIGTERM or SIGHUP (or the terminal going away) stopped the stack
.TP
\fB0\fR
every process was allowed to exit and did, or the reader of stdout went away
.TP
\fB1\fR
a process was not ready in time, stdout could not be written (a full disk), or the
system refused something procmux needs
.TP
\fB2\fR
a usage or input error; nothing was started (\fBstart\fR), or a NAME given to a control
command (\fBrestart\fR, \fBstop\fR, \fBlogs\fR, \fBattach\fR, \fBwait\fR) matches no
instance of the running stack (all but \fBwait\fR: or no stack runs)
.SH ENVIRONMENT
\fBPROCMUX_*\fR variables stand for \fBstart\fR's options (\fBPROCMUX_PORT\fR,
\fBPROCMUX_TIMEOUT\fR, ...). \fBNO_COLOR\fR, \fBCLICOLOR\fR and \fBCLICOLOR_FORCE\fR decide
colour under \fB\-\-color auto\fR. \fBPORT\fR is the default base port. \fBCOLUMNS\fR and
\fBLINES\fR size ptys when stdout is not a terminal. Children get \fBPORT\fR, \fBPORT_\fR\fINAME\fR (every process type's port), \fBPS\fR,
\fBPROCMUX_TREE\fR and, when procmux colours a pipe, \fBFORCE_COLOR\fR and
\fBCLICOLOR_FORCE\fR.
.SH "CONTROL CHANNEL"
\fBstatus\fR, \fBrestart\fR, \fBstop\fR, \fBlogs\fR and \fBattach\fR talk to the stack of the
project in the current directory, or in the nearest directory above holding a
\fBProcfile\fR or \fBprocmux.toml\fR, over a Linux abstract socket (no file; on macOS,
the one file procmux makes, a socket in \fB$TMPDIR/procmux\-UID/\fR, mode 0700, removed at
exit and replaced when stale). Names are
globs (\fB*\fR, \fB?\fR, \fB[a\-z]\fR, \fB{web,db}\fR). States: \fBwaiting\fR,
\fBstarting\fR, \fBrunning\fR, \fBready\fR, \fBstopping\fR, \fBstopped\fR,
\fBbacking_off\fR, \fBexited\fR, \fBgiven_up\fR. \fBstatus \-\-json\fR: \fBname\fR,
\fBpid\fR, \fBstate\fR, \fBready\fR, \fBexit_code\fR, \fBsignal\fR, \fBuptime_ms\fR,
\fBrestarts\fR, \fBport\fR, \fBlistening\fR (the TCP ports the instance's tree listens on),
\fBstop_signal\fR, \fBinterrupt_signal\fR, \fBwatch\fR.
.PP
Budgets and timeouts: 64 KiB of answer waits per connection; a \fBlogs \-f\fR follower that
falls behind is skipped to the live end with one line saying how many bytes it missed. A
connection must send its request within 2 s; 64 connections at most, 48 of them followers
or attached clients; at the cap, silent connections, then followers that do not read, are
closed first. Clients give up after 5 s, saying so. \fBtail_kib\fR is at most 65536.
\fBlogs\fR prints the main stream's bytes exactly, without colour unless its stdout is a
terminal or \fB\-\-color always\fR.
.PP
procmux's own stdout is written by a thread behind a 128 KiB queue: a stdout nobody reads
holds the children (their pipes fill), never signals or the control channel. Once the stack
has stopped, procmux waits the stop timeout for stdout, then exits and says on stderr how
many bytes it could not deliver.
.SH FILES
\fBProcfile\fR, \fB.env\fR and \fBprocmux.toml\fR in the current directory (or as named by
\fB\-f\fR, \fB\-e\fR, \fB\-\-config\fR). procmux writes no file (on macOS, its control
socket; see \fBCONTROL CHANNEL\fR).
.SH "SEE ALSO"
\fBprocmux\-start\fR(1), \fBprocmux\-run\fR(1), \fBprocmux\-check\fR(1),
\fBprocmux\-status\fR(1), \fBprocmux\-restart\fR(1), \fBprocmux\-stop\fR(1),
\fBprocmux\-logs\fR(1), \fBprocmux\-attach\fR(1), \fBprocmux\-export\fR(1),
\fBprocmux\-completions\fR(1), \fBprocmux\-man\fR(1)
"#;

/// The completion script for `shell`, offering the Procfile's process names where `start`
/// and `run` take one.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Arguments::command(), "procmux", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    let script = match shell {
        Shell::Bash => script + BASH_NAMES,
        Shell::Zsh => zsh_with_names(&script),
        Shell::Fish => script + FISH_NAMES,
        _ => script,
    };
    script.into_bytes()
}

/// Wraps clap's `_procmux`: after `start`/`run`, or an option that takes process names,
/// offer the names (for `run`, commands too).
const BASH_NAMES: &str = r#"
_procmux_names() {
    local i procfile=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -f|--procfile) procfile=(-f "${COMP_WORDS[i+1]}") ;;
        esac
    done
    procmux __names "${procfile[@]}" 2>/dev/null
}
_procmux_with_names() {
    _procmux "$@"
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    [[ "$cur" == -* ]] && return 0
    case "$prev" in
        -q|--quiet|--may-exit|--restart|--restart-on-failure|--exit-code-from)
            COMPREPLY=($(compgen -W "$(_procmux_names)" -- "$cur")); return 0 ;;
        -f|--procfile|-d|--root|-e|--env|--config|-m|--formation|-p|--port|-t|--timeout|--timestamp|--format|--pty|--stderr|--color)
            return 0 ;;
    esac
    case "${COMP_WORDS[1]}" in
        start) COMPREPLY=($(compgen -W "$(_procmux_names)" -- "$cur")) ;;
        run) COMPREPLY=($(compgen -W "$(_procmux_names)" -- "$cur") $(compgen -c -- "$cur")) ;;
    esac
}
complete -F _procmux_with_names -o bashdefault -o default procmux
"#;

const FISH_NAMES: &str = r#"
complete -c procmux -n "__fish_procmux_using_subcommand start" -f -a "(procmux __names 2>/dev/null)" -d 'process type'
complete -c procmux -n "__fish_procmux_using_subcommand run" -a "(procmux __names 2>/dev/null)" -d 'Procfile entry'
"#;

/// clap's zsh script with process names where names are taken.
fn zsh_with_names(script: &str) -> String {
    let names = r#"
_procmux_names() {
    local -a names
    names=(${(f)"$(procmux __names 2>/dev/null)"})
    compadd -a names
}
"#;
    let script = script
        .replace(":NAME:_default'", ":NAME:_procmux_names'")
        .replace(
            "\\[default\\: all\\]:_default'",
            "\\[default\\: all\\]:_procmux_names'",
        )
        .replace(
            "or the name of a Procfile entry:_default'",
            "or the name of a Procfile entry:_procmux_names'",
        );
    match script.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{names}{rest}"),
        None => script,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_has_every_command_and_the_sections_clap_cannot_know() {
        let page = String::from_utf8(page(None).unwrap()).unwrap();
        for needle in [
            ".SH \"PROCMUX START\"",
            ".SH \"PROCMUX RUN\"",
            ".SH \"PROCMUX CHECK\"",
            "\\-\\-exit\\-code\\-from",
            "\\-\\-no\\-deps",
            ".SH PROCFILE",
            ".SH \"ENV FILES\"",
            ".SH PROCMUX.TOML",
            ".SH DURATIONS",
            ".SH PATTERNS",
            ".SH SIGNALS",
            ".SH \"KNOWN SERVERS\"",
            "\\fBpostgres\\fR, \\fBpostmaster\\fR (PostgreSQL): \\fBSIGINT\\fR",
            "\\fBnginx\\fR (nginx): \\fBSIGQUIT\\fR",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH \"CONTROL CHANNEL\"",
            ".SH FILES",
        ] {
            assert!(page.contains(needle), "missing {needle}");
        }
        // Every page it refers to exists.
        for name in PAGES {
            let sub = String::from_utf8(page_of(name)).unwrap();
            assert!(sub.contains(&format!(".TH procmux-{name} 1")), "{sub}");
        }
    }

    #[test]
    fn plain_text_without_man() {
        let page = page(None).unwrap();
        let text = plain(&page);
        assert!(text.contains("\nSIGNALS\n"), "{text}");
        assert!(text.contains("--exit-code-from"), "{text}");
        assert!(
            text.contains("postgres, postmaster (PostgreSQL): SIGINT"),
            "{text}"
        );
        for roff in ["\\f", ".SH", ".TP", "\\-", ".ie"] {
            assert!(!text.contains(roff), "{roff} in {text}");
        }
    }

    fn page_of(name: &str) -> Vec<u8> {
        page(Some(name)).unwrap()
    }

    #[test]
    fn completion_scripts_offer_process_names() {
        for (shell, needle) in [
            (Shell::Bash, "procmux __names"),
            (Shell::Zsh, ":NAME:_procmux_names'"),
            (Shell::Zsh, "\\[default\\: all\\]:_procmux_names'"),
            (
                Shell::Fish,
                "__fish_procmux_using_subcommand start\" -f -a \"(procmux __names",
            ),
        ] {
            let script = String::from_utf8(completions(shell)).unwrap();
            assert!(script.contains(needle), "{shell:?}: {needle}");
        }
    }
}
