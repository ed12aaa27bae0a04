//! A message the shell could not read whole (over the frame limit) is
//! closed with 1009 and counted, like an overlong line.

use std::time::{Duration, Instant};

use relay_link::config::Config;
use relay_link::{Command, Input, Link, LinkState};

fn online() -> (Link, Instant, relay_link::Generation) {
    let config = Config::builder("ws://127.0.0.1:9/")
        .identity("discord", "b1")
        .max_frame_size(64)
        .build()
        .expect("valid");
    let t0 = Instant::now();
    let mut link = Link::new(config, 1, t0);
    link.handle_input(Input::Start, t0);
    let gen = link.generation();
    link.handle_input(Input::DialSucceeded { gen }, t0);
    link.drain_commands();
    (link, t0, gen)
}

fn closes(link: &mut Link) -> Vec<(u16, String)> {
    link.drain_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Close { code, reason, .. } => Some((code, reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_too_large_to_read_is_closed_with_1009_and_counted() {
    let (mut link, t0, gen) = online();
    link.handle_input(Input::TooLarge { gen }, t0 + Duration::from_millis(5));
    assert_eq!(closes(&mut link), [(1009, "frame too large".to_owned())]);
    assert_eq!(link.stats().oversized_frames, 1);
    assert_eq!(link.state(), LinkState::Retrying);
}

#[test]
fn an_overlong_line_is_counted_the_same_way() {
    let (mut link, t0, gen) = online();
    let text = "x".repeat(100);
    link.handle_input(Input::Received { gen, text }, t0 + Duration::from_millis(5));
    assert_eq!(closes(&mut link), [(1009, "frame too large".to_owned())]);
    assert_eq!(link.stats().oversized_frames, 1);
}

#[test]
fn a_too_large_report_about_an_older_connection_is_stale() {
    let (mut link, t0, gen) = online();
    let old = relay_link::Generation(gen.0.wrapping_sub(1));
    link.handle_input(Input::TooLarge { gen: old }, t0);
    assert!(closes(&mut link).is_empty());
    assert_eq!(link.stats().oversized_frames, 0);
    assert_eq!(link.stats().stale_inputs, 1);
}
