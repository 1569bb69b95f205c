//! What woke the poll: every registered fd has a [`Token`], and a new kind of fd is a new
//! variant here, not a new special number in the loop.

/// The source of a readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// signal-hook's self-pipe: one or more signals arrived.
    Signals,
    /// An output stream of a child (a pipe or a pty master): an index into the streams.
    Stream(usize),
    /// The connection of an instance's HTTP readiness probe, or the output pipe of its
    /// `exec:` check.
    Probe(usize),
    /// The control socket's listener: a client is connecting.
    Control,
    /// A control client's connection, by slot.
    Client(usize),
    /// procmux's own stdin (`--stdin NAME`).
    Stdin,
    /// The inotify fd of `watch`.
    Watch,
    /// The stdout writer thread: the queue to stdout has room again.
    Output,
}

const SIGNALS: usize = usize::MAX;
const CONTROL: usize = usize::MAX - 1;
const STDIN: usize = usize::MAX - 2;
const WATCH: usize = usize::MAX - 3;
const OUTPUT: usize = usize::MAX - 4;
/// Each kind counts up from its base; they never meet (each needs an fd).
const PROBES: usize = usize::MAX / 2;
const CLIENTS: usize = usize::MAX / 4;

impl From<Token> for mio::Token {
    fn from(token: Token) -> mio::Token {
        match token {
            Token::Signals => mio::Token(SIGNALS),
            Token::Stream(index) => mio::Token(index),
            Token::Probe(instance) => mio::Token(PROBES + instance),
            Token::Control => mio::Token(CONTROL),
            Token::Client(slot) => mio::Token(CLIENTS + slot),
            Token::Stdin => mio::Token(STDIN),
            Token::Watch => mio::Token(WATCH),
            Token::Output => mio::Token(OUTPUT),
        }
    }
}

impl From<mio::Token> for Token {
    fn from(token: mio::Token) -> Token {
        match token.0 {
            SIGNALS => Token::Signals,
            CONTROL => Token::Control,
            STDIN => Token::Stdin,
            WATCH => Token::Watch,
            OUTPUT => Token::Output,
            n if n >= PROBES => Token::Probe(n - PROBES),
            n if n >= CLIENTS => Token::Client(n - CLIENTS),
            index => Token::Stream(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for token in [
            Token::Signals,
            Token::Stream(0),
            Token::Stream(41),
            Token::Probe(0),
            Token::Probe(7),
            Token::Control,
            Token::Stdin,
            Token::Watch,
            Token::Output,
            Token::Client(0),
            Token::Client(63),
        ] {
            assert_eq!(Token::from(mio::Token::from(token)), token);
        }
    }
}
