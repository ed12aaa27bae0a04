//! The state diagram, generated from the machine itself.
//!
//! [`transitions`] explores the real [`Link`]: starting from a fresh link
//! it applies the lifecycle's stimuli (each application and dial input
//! kind, each close kind, and the earliest due timer) to every distinct
//! situation it reaches, breadth first, and records each change of the
//! machine's state. Frame-level stimuli are not explored: the transitions
//! they cause (a protocol error, an oversized frame or the idle timeout
//! ending a connection or a drain, the last result ending a drain) are in
//! the tables of `docs/state-machine.md`, not in the diagram. [`mermaid`] renders the
//! result as a Mermaid state diagram. Nothing here is hand-written, so the
//! diagram cannot drift from the code.
//!
//! ```
//! let diagram = relay_link::diagram::mermaid();
//! assert!(diagram.starts_with("stateDiagram-v2"));
//! assert!(diagram.contains("revoked --> disabled"));
//! ```

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::input::DialFailure;
use crate::{Input, Link, RequestId};

/// One edge of the state diagram.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Transition {
    /// The state before.
    pub from: &'static str,
    /// The state after (the same state when the stimulus started a new dial).
    pub to: &'static str,
    /// What caused it.
    pub on: String,
}

const DESCRIPTOR: &str = "{\"type\":\"descriptor\",\"descriptor\":{\"contract_version\":1,\"platform\":\"relay\",\"label\":\"Relay\",\"max_message_length\":4096,\"supports_draft_streaming\":false,\"supports_edit\":true,\"supports_threads\":false,\"markdown_dialect\":\"commonmark\",\"len_unit\":\"chars\"}}\n";

/// The stimuli the exploration applies, with their diagram labels.
fn stimuli(link: &Link) -> Vec<(String, Option<Input>)> {
    let gen = link.generation();
    let closed = |code: u16, reason: &str| Input::SocketClosed {
        gen,
        code: Some(code),
        reason: reason.into(),
    };
    let mut out: Vec<(String, Option<Input>)> = vec![
        ("start".into(), Some(Input::Start)),
        ("dial accepted".into(), Some(Input::DialSucceeded { gen })),
        (
            "dial failed".into(),
            Some(Input::DialFailed {
                gen,
                failure: DialFailure::Io {
                    error: crate::IoFailure::Refused,
                    message: "refused".into(),
                },
            }),
        ),
        (
            "first descriptor".into(),
            Some(Input::Received {
                gen,
                text: DESCRIPTOR.into(),
            }),
        ),
        (
            "going_idle_ack".into(),
            Some(Input::Received {
                gen,
                text: "{\"type\":\"going_idle_ack\"}\n".into(),
            }),
        ),
        ("drop".into(), Some(closed(1006, "abnormal"))),
        (
            "4401 unauthorized".into(),
            Some(closed(4401, "unauthorized")),
        ),
        ("4401 expired".into(), Some(closed(4401, "expired"))),
        (
            "send".into(),
            Some(Input::Send {
                id: RequestId::new(format!("r{}", gen.0)),
                action: serde_json::Map::new(),
                platform: None,
            }),
        ),
        ("go_dormant".into(), Some(Input::GoDormant)),
        ("hold_redial".into(), Some(Input::HoldRedial)),
        ("release_redial".into(), Some(Input::ReleaseRedial)),
        (
            "disconnect".into(),
            Some(Input::Disconnect { budget_ms: 3_000 }),
        ),
        ("fatal acknowledged".into(), Some(Input::FatalAcknowledged)),
    ];
    if let Some((_, timer)) = link.poll_timeout() {
        out.push((format!("{timer} timer"), None));
    }
    out
}

/// Every transition the machine makes, found by exploring it.
pub fn transitions() -> Vec<Transition> {
    let config = match Config::builder("ws://127.0.0.1:1")
        .gateway_id("gw")
        .secret("diagram")
        .build()
    {
        Ok(config) => config,
        Err(_) => return Vec::new(),
    };
    let origin = Instant::now();
    let mut edges = BTreeSet::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    let start = Link::new(config, 0, origin);
    seen.insert(start.fingerprint());
    queue.push_back((start, origin));
    while let Some((link, now)) = queue.pop_front() {
        for (label, input) in stimuli(&link) {
            let mut next = link.clone();
            let at = match &input {
                Some(input) => {
                    let at = now + Duration::from_millis(1);
                    next.handle_input(input.clone(), at);
                    at
                }
                None => {
                    let at = next.poll_timeout().map_or(now, |(at, _)| at);
                    next.handle_timeout(at);
                    at
                }
            };
            next.drain_commands();
            let (from, to) = (link.machine_state(), next.machine_state());
            let redialed = next.generation() != link.generation();
            if from != to || redialed {
                edges.insert(Transition {
                    from,
                    to,
                    on: label,
                });
            }
            if seen.insert(next.fingerprint()) {
                queue.push_back((next, at));
            }
        }
    }
    edges.into_iter().collect()
}

/// The state diagram in Mermaid syntax (`stateDiagram-v2`).
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n    [*] --> unstarted\n");
    let mut merged: Vec<(&str, &str, Vec<String>)> = Vec::new();
    for t in transitions() {
        match merged.last_mut() {
            Some((from, to, labels)) if *from == t.from && *to == t.to => labels.push(t.on),
            _ => merged.push((t.from, t.to, vec![t.on])),
        }
    }
    for (from, to, labels) in merged {
        out.push_str(&format!("    {from} --> {to}: {}\n", labels.join(", ")));
    }
    for terminal in ["disabled", "closed"] {
        out.push_str(&format!("    {terminal} --> [*]\n"));
    }
    out
}
