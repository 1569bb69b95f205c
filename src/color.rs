//! Whether to colour, decided once, and which colour each process type gets.

use nu_ansi_term::Color;

/// The user's `--color` choice (or `color = "…"` in `procmux.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// foreman's palette, assigned by Procfile order and cycled.
const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Purple,
    Color::Red,
    Color::Blue,
];

/// The colour of procmux's own `system` lines.
pub const SYSTEM: Color = Color::White;

/// The colour of the process type at `index` in the Procfile.
pub fn for_index(index: usize) -> Color {
    PALETTE[index % PALETTE.len()]
}

/// Decides colour once: the flag wins; under `auto`, `NO_COLOR` (any non-empty value) and
/// `CLICOLOR=0` turn it off, `CLICOLOR_FORCE` (non-empty, not `0`) turns it on, and otherwise
/// colour needs stdout to be a terminal whose `TERM` is not `dumb`.
pub fn enabled(
    choice: ColorChoice,
    env: &dyn Fn(&str) -> Option<String>,
    stdout_is_tty: bool,
) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if set("NO_COLOR").is_some() {
                false
            } else if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                true
            } else if set("CLICOLOR").is_some_and(|v| v == "0") {
                false
            } else {
                stdout_is_tty && env("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(choice: ColorChoice, vars: &[(&str, &str)], tty: bool) -> bool {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        enabled(choice, &env, tty)
    }

    #[test]
    fn flag_then_environment_then_terminal() {
        use ColorChoice::*;
        assert!(decide(Always, &[("NO_COLOR", "1")], false));
        assert!(!decide(Never, &[("CLICOLOR_FORCE", "1")], true));
        assert!(decide(Auto, &[], true));
        assert!(!decide(Auto, &[], false));
        assert!(!decide(Auto, &[("TERM", "dumb")], true));
        assert!(!decide(Auto, &[("NO_COLOR", "1")], true));
        assert!(decide(Auto, &[("NO_COLOR", "")], true));
        assert!(decide(Auto, &[("CLICOLOR_FORCE", "1")], false));
        assert!(!decide(Auto, &[("CLICOLOR_FORCE", "0")], false));
        assert!(!decide(
            Auto,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false
        ));
        assert!(!decide(Auto, &[("CLICOLOR", "0")], true));
    }

    #[test]
    fn palette_cycles_in_foreman_order() {
        let codes: Vec<String> = (0..7).map(|i| for_index(i).prefix().to_string()).collect();
        let expected = ["36", "33", "32", "35", "31", "34", "36"].map(|c| format!("\x1b[{c}m"));
        assert_eq!(codes, expected);
        assert_eq!(SYSTEM.prefix().to_string(), "\x1b[37m");
    }
}
