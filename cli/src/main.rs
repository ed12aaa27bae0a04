//! `relay-link`: the command-line client of the relay link.
//!
//! See `relay-link --help` and the README's CLI reference; the contract the
//! scripts rely on is summarised in the README's CLI reference.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
