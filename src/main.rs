//! The `procmux` binary: everything lives in the library so tests can reach it.

fn main() {
    std::process::exit(procmux::run(std::env::args_os()));
}
