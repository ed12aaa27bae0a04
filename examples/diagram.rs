//! Prints the state diagram generated from the machine, in Mermaid syntax.
//!
//! `cargo run --example diagram`
fn main() {
    print!("{}", relay_link::diagram::mermaid());
}
