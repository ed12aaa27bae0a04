//! `relay-link`: the command-line client of the relay link.
//!
//! See `relay-link --help` and the README's "Command line" section; the
//! contract the scripts rely on is `docs/contract.md` §8.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
