//! Prints the rendered story of a trace file: `cargo run --example replay_file -- PATH`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: replay_file PATH");
    let text = std::fs::read_to_string(&path).expect("readable trace");
    let trace = relay_link::trace::Trace::parse(&text).expect("valid trace");
    print!(
        "{}",
        relay_link::trace::replay(&trace).expect("replayable trace")
    );
}
