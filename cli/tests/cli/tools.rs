//! `replay`, `diagram` and `demo`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

#[test]
fn replay_renders_a_recorded_trace_as_text_and_as_json() {
    let connector = connector();
    let trace = tmp("replay");
    let trace_arg = trace.to_string_lossy().into_owned();
    let mut proc = Proc::connect(
        &connector,
        &[
            "--identity",
            "discord:b1",
            "--identity",
            "slack:B2",
            "--record",
            &trace_arg,
        ],
    );
    proc.wait_state("handshaken");
    proc.send_line(r#"{"op":"send","text":"hi"}"#);
    proc.wait_event("the result", |e| e["event"] == "outbound_result");
    proc.sigterm();
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));

    let mut text = Proc::spawn(&["replay", &trace_arg], None, None);
    assert_eq!(text.wait_exit(WAIT).code(), Some(0), "{}", text.stderr());
    let story = text.stdout.join("\n");
    for expected in [
        "start",
        "dial{gen:1, fresh_token}",
        "send{gen:1, hello(discord:b1)}",
        "send{gen:1, hello(slack:B2)}",
        "descriptor{gen:1, discord}",
        "state(handshaken)",
        "platform(connected)",
        "disconnect{budget:",
        "close{gen:1, 1000",
        "state(closed)",
    ] {
        assert!(story.contains(expected), "no {expected:?} in:\n{story}");
    }

    let mut json = Proc::spawn(&["replay", "--json", &trace_arg], None, None);
    assert_eq!(json.wait_exit(WAIT).code(), Some(0), "{}", json.stderr());
    let entries: Vec<Value> = json
        .stdout
        .iter()
        .map(|line| serde_json::from_str(line).expect("each replay line is JSON"))
        .collect();
    let recorded_steps = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        - 1;
    assert_eq!(
        entries.len(),
        recorded_steps,
        "one JSON line per trace entry"
    );
    assert_eq!(entries[0]["input"], "start");
    assert_eq!(entries[0]["state"], "connecting");
    assert!(entries
        .iter()
        .all(|e| e["at_ms"].is_number() && e["commands"].is_array() && e["state"].is_string()));
    let last = entries.last().unwrap();
    assert_eq!(last["state"], "closed", "{last}");
    assert_eq!(last["platform_state"], "disconnected", "{last}");
    assert!(entries.iter().any(|e| e["commands"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().is_some_and(|c| c.starts_with("settle{")))));
}

#[test]
fn replay_reports_a_malformed_trace_line_with_its_number() {
    let path = tmp("malformed");
    std::fs::write(
        &path,
        concat!(
            r#"{"relay_link_trace":1,"seed":7,"config":{"url":"ws://connector.test/relay","gateway_id":"gw-1","auth":true}}"#,
            "\n",
            r#"{"at_ms":0,"input":"start"}"#,
            "\n",
            r#"{"at_ms":20,"input":"dial_succeeded","gen":1}"#,
            "\n",
            "{\"at_ms\": 21, \"input\": \n",
        ),
    )
    .unwrap();
    let path_arg = path.to_string_lossy().into_owned();
    for json in [false, true] {
        let mut args = vec!["replay", path_arg.as_str()];
        if json {
            args.insert(1, "--json");
        }
        let mut proc = Proc::spawn(&args, None, None);
        let status = proc.wait_exit(WAIT);
        // The contract's exit codes are those of `connect`; a replay that
        // cannot read its trace only has to fail (today: 2, bad input).
        assert!(
            status.code().is_some_and(|code| code != 0),
            "{args:?}: {status:?}"
        );
        assert!(proc.stdout.is_empty(), "{args:?}: {:?}", proc.stdout);
        let stderr = proc.stderr();
        assert!(stderr.contains("line 4"), "{args:?}: {stderr}");
    }
}

#[test]
fn diagram_prints_a_mermaid_state_diagram() {
    let mut proc = Proc::spawn(&["diagram"], None, None);
    assert_eq!(proc.wait_exit(WAIT).code(), Some(0));
    let text = proc.stdout.join("\n");
    assert!(
        text.trim_start().starts_with("stateDiagram-v2"),
        "a Mermaid state diagram: {text}"
    );
    assert_eq!(text, relay_link::diagram::mermaid().trim_end_matches('\n'));
    for state in [
        "connecting",
        "handshaken",
        "retrying",
        "revoked",
        "disabled",
    ] {
        assert!(
            text.contains(&format!("--> {state}")),
            "{state} is in the diagram"
        );
    }
}

#[test]
fn demo_walks_the_lifecycle_and_ends_disabled_within_10_seconds() {
    let trace = tmp("demo");
    let trace_arg = trace.to_string_lossy().into_owned();
    let started = Instant::now();
    let mut proc = Proc::spawn(&["demo", "--json", "--record", &trace_arg], None, None);
    let status = proc.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    assert!(started.elapsed() < Duration::from_secs(10));
    let events = proc.all_events();
    check_state_events(&events);
    let states = state_pairs(&events);
    assert_eq!(
        states.last(),
        Some(&("disabled".to_owned(), "disabled".to_owned())),
        "{states:?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "fatal").count(),
        1,
        "{events:?}"
    );
    let recorded = std::fs::read_to_string(&trace).expect("the demo recorded its trace");
    assert!(recorded.lines().count() > 10);
}
