//! Which colour each process type gets (whether to colour at all is decided once, in
//! [`crate::config`]).

use nu_ansi_term::Color;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_cycles_in_foreman_order() {
        let codes: Vec<String> = (0..7).map(|i| for_index(i).prefix().to_string()).collect();
        let expected = ["36", "33", "32", "35", "31", "34", "36"].map(|c| format!("\x1b[{c}m"));
        assert_eq!(codes, expected);
        assert_eq!(SYSTEM.prefix().to_string(), "\x1b[37m");
    }
}
