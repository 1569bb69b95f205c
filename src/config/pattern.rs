//! A user's regex (`logs --grep`, `ready = "log:…"`) with a bounded cost per line.
//!
//! The regex crate's lazy DFA matches ordinary patterns in one pass over a line. A pattern
//! whose DFA would be huge (`[01]*1[01]{998}`) makes it give up and fall back to the PikeVM,
//! whose cost is the pattern's size times the line's length: about 20 ns per position per
//! byte in the release build. So both factors are bounded:
//!
//! - a pattern has at most [`MAX_POSITIONS`] positions (a literal character or a class is
//!   one; `x{n}` counts its body n times), and its compiled automaton at most
//!   [`SIZE_LIMIT`] bytes (Unicode classes are large): a larger one is refused;
//! - a line is matched on its first `budget / positions` bytes: the whole of any line
//!   (1 MiB at most) for a small pattern, less for a large one.
//!
//! Measured (release build, patterns built to defeat the DFA such as `[01]*1[01]{993}[^01]`,
//! on lines of random bits and runs of zeros): unbounded, 21 s for one 1 MiB line; with
//! `logs --grep`'s budget at most about 0.35 s per 1 MiB piece of line (1.3 s for a 4 MiB
//! line); with a readiness pattern's, at most about 15 ms a line in the server's loop, and only
//! until the process is ready.

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, HirKind};

/// The most positions a pattern may have.
pub const MAX_POSITIONS: u64 = 1000;
/// The largest compiled pattern, in bytes (the NFA; `\w` alone takes tens of KiB).
pub const SIZE_LIMIT: usize = 1 << 20;
/// Positions × bytes looked at per line, for `logs --grep` (in the client).
pub const GREP_BUDGET: u64 = 1 << 24;
/// Positions × bytes looked at per line, for `ready = "log:…"` (in the server's event loop).
pub const READY_BUDGET: u64 = 1 << 20;

/// A compiled pattern and how much of a line it looks at.
#[derive(Debug, Clone)]
pub struct LinePattern {
    regex: Regex,
    /// The bytes of a line matched: `budget / positions`.
    window: usize,
}

impl LinePattern {
    /// Compiles `pattern` for lines, given a budget of positions × bytes per line. The error
    /// says why in a few words, for the caller to place (flag or file and line).
    pub fn new(pattern: &str, budget: u64) -> Result<LinePattern, String> {
        // The parser regex::bytes uses; a syntax error is left to the regex crate to say.
        let parsed = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern);
        let positions = parsed.map_or(1, |hir| positions(&hir));
        if positions > MAX_POSITIONS {
            return Err(format!(
                "pattern too large: {positions} positions, at most {MAX_POSITIONS} (a character \
                 or class is one, x{{n}} counts n times)"
            ));
        }
        let regex = RegexBuilder::new(pattern)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => format!(
                    "pattern too large: it compiles to more than {} KiB (Unicode classes such \
                     as \\w are large; (?-u:\\w) is ASCII only)",
                    SIZE_LIMIT >> 10
                ),
                e => {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("").trim();
                    format!("invalid regex: {}", why.trim_start_matches("error: "))
                }
            })?;
        let window = budget / positions.max(1);
        Ok(LinePattern {
            regex,
            window: usize::try_from(window).unwrap_or(usize::MAX),
        })
    }

    /// Whether the first bytes of `line` (up to the window) match.
    pub fn is_match(&self, line: &[u8]) -> bool {
        self.regex.is_match(&line[..line.len().min(self.window)])
    }
}

impl fmt::Display for LinePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.regex.as_str())
    }
}

/// The pattern's size as the matcher sees it: characters and classes, each repetition's body
/// counted as many times as it is compiled.
fn positions(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(_) => 1,
        HirKind::Repetition(repetition) => {
            let copies = repetition
                .max
                .unwrap_or(repetition.min.saturating_add(1))
                .max(1);
            positions(&repetition.sub).saturating_mul(u64::from(copies))
        }
        HirKind::Capture(capture) => positions(&capture.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().map(positions).fold(0, u64::saturating_add)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_what_is_compiled() {
        let count = |p: &str| {
            positions(
                &regex_syntax::ParserBuilder::new()
                    .utf8(false)
                    .build()
                    .parse(p)
                    .unwrap(),
            )
        };
        for (pattern, expected) in [
            ("", 0),
            ("^$", 0),
            ("ERROR", 5),
            ("(?i)error", 5),
            ("é", 2),
            (r"\w+", 2),
            ("x{1000}", 1000),
            ("x{2,5}", 5),
            ("x{3,}", 4),
            ("(ab|c){10}", 30),
            ("((x{1000}){1000}){1000}", 1_000_000_000),
            (
                "(((((((x{1000}){1000}){1000}){1000}){1000}){1000}){1000})",
                u64::MAX,
            ),
        ] {
            assert_eq!(count(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn large_patterns_are_refused_small_ones_see_whole_lines() {
        let small = LinePattern::new("ERROR", GREP_BUDGET).unwrap();
        assert!(small.window > (2 << 20) + 5);
        let line = [b"x".repeat(2 << 20), b"ERROR".to_vec()].concat();
        assert!(small.is_match(&line));

        let largest = LinePattern::new("x{1000}", GREP_BUDGET).unwrap();
        assert_eq!(largest.window, (GREP_BUDGET / 1000) as usize);
        let late = [b"y".repeat(largest.window), b"x".repeat(1000)].concat();
        assert!(!largest.is_match(&late), "past the window");
        assert!(largest.is_match(&late[largest.window - 1000..]));

        for (pattern, why) in [
            ("x{1001}", "1001 positions, at most 1000"),
            ("x{100000}", "100000 positions"),
            (
                "(((((((x{1000}){1000}){1000}){1000}){1000}){1000}){1000})",
                "18446744073709551615 positions",
            ),
            (r"\w{1000}", "compiles to more than"),
        ] {
            let error = LinePattern::new(pattern, GREP_BUDGET).unwrap_err();
            assert!(error.starts_with("pattern too large: "), "{error}");
            assert!(error.contains(why), "{pattern}: {error}");
        }
        for bad in ["(", "\\", "x{2,1}"] {
            let error = LinePattern::new(bad, READY_BUDGET).unwrap_err();
            assert!(error.starts_with("invalid regex: "), "{error}");
            assert!(!error.contains("error:"), "{error}");
        }
    }
}
