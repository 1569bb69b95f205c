//! Talking to a running stack from another terminal: `procmux status`, `restart`, `stop`,
//! `logs`, `attach`, `wait`.
//!
//! # The channel
//!
//! A Linux abstract-namespace Unix socket: no file (procmux writes nothing to disk), gone when
//! procmux dies (never stale), and a second `bind` of the same name fails, which is how a
//! second `procmux start` of the same Procfile learns that one runs. Any user of the network
//! namespace can connect to an abstract socket, so both ends check the other's uid with
//! `SO_PEERCRED`.
//!
//! # The protocol
//!
//! The client sends one request line of at most 4 KiB: a verb and names, never a command to
//! run ([`Request`]). The server answers with a header line, `ok` or `error\tMESSAGE`, then
//! the body: lines (`restart`, `stop`), one JSON [`Row`] per instance (`status`), the main
//! stream's bytes exactly (`logs`, and for `logs -f` as they come), or an attached session's
//! frames. Each connection is a pure [`Session`] on the server: budgets and timeouts live
//! there. Every client step has a timeout, and says what is likely wrong when it fires.
//!
//! The socket's name is `config`'s (it names the project); this module only talks.

mod attach;
mod client;
mod commands;
mod filter;
mod protocol;
mod session;
mod wait;

pub use self::attach::attach;
pub use self::client::{connect, holder};
pub use self::commands::is_running;
pub use self::commands::{Target, instance_ports, logs, relay, status};
pub use self::filter::filtered;
pub use self::protocol::{Layout, Request, Row, State, select};
pub use self::session::{Framing, Incoming, Reader, Session};
pub use self::wait::{Outcome, await_ready, report_start, wait, with_last_lines};
