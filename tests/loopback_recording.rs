//! `Options::record`: a live link writes its trace; the trace parses,
//! replays deterministically, tells the same story the link lived, and
//! holds no credential.

mod loopback;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loopback::*;
use relay_link::shell::{Options, RelayLink, SpawnError};
use relay_link::token::{mint_token, Secret};
use relay_link::trace::{replay, Trace};
use relay_link::{Command, LinkState as S, Settlement};
use serde_json::{json, Value};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The settlement the replayed core gave request `id`.
fn replayed_settlement(commands: &[Command], id: &str) -> Settlement {
    let settles: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Settle { id: i, settlement } if i.to_string() == id => Some(settlement),
            _ => None,
        })
        .collect();
    assert_eq!(settles.len(), 1, "request {id} is settled exactly once");
    settles[0].clone()
}

#[test]
fn a_recorded_trace_replays_deterministically_and_holds_no_credentials() {
    run(async {
        let path = trace_path("recording");
        let first_second = unix_now();
        let connector = connector().await;
        let (link, mut watch) = spawn_recorded(
            fast_config(&connector).outbound_timeout(Duration::from_millis(250)),
            &path,
        );
        watch.until_state(S::Handshaken).await;

        // A result, a live inbound, a provisional strike that recovers, a
        // drop, a timeout, a disconnect.
        let answered = link.request(action("send", json!({"text": "hi"})), Some("discord"));
        let answered_id = answered.id().to_string();
        let answered_result = deadline(WAIT, "the result", answered.settled()).await;
        connector.push_inbound(GW, json!({"text": "hello"}));
        watch.expect("the inbound", is_inbound).await;
        connector.close_with(GW, 4401, "unauthorized");
        watch.until_state(S::Handshaken).await;
        connector.drop_connections(GW);
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Handshaken).await;
        connector.set_result("edit", None);
        let unanswered = link.request(action("edit", json!({})), None);
        let unanswered_id = unanswered.id().to_string();
        let unanswered_result = deadline(WAIT, "the timeout", unanswered.settled()).await;
        disconnect_and_end(&link, &mut watch).await;
        let last_second = unix_now();

        let (text, trace) = read_trace(&path);
        assert_eq!(trace.header.seed, 7);
        assert!(trace.header.config.auth);
        assert_eq!(trace.header.config.gateway_id.as_deref(), Some(GW));
        assert_eq!(trace.header.config.handshake_timeout_ms, 600);
        assert_eq!(trace.header.config.outbound_timeout_ms, 250);

        // No secret and no token, whichever second a dial minted it in.
        assert!(!text.contains(SECRET));
        assert!(!text.to_lowercase().contains("bearer"));
        assert!(!text.to_lowercase().contains("authorization"));
        for second in first_second - 1..=last_second + 1 {
            let token = mint_token(GW, &Secret::new(SECRET), second, 300);
            let token = token.expose();
            assert!(!text.contains(token));
            assert!(!text.contains(&token[..24]), "a token prefix leaked");
        }

        // Deterministic: two replays give the same commands and story.
        let commands = trace.commands().unwrap();
        assert_eq!(commands, trace.commands().unwrap());
        let story = replay(&trace).unwrap();
        assert_eq!(story, replay(&trace).unwrap());
        assert!(!story.contains(SECRET));
        // Re-serialised, it is the same trace.
        assert_eq!(Trace::parse(&trace.to_jsonl()).unwrap(), trace);

        // The replay tells the story the link lived.
        let dials = commands
            .iter()
            .filter(|c| matches!(c, Command::Dial { auth: true, .. }))
            .count();
        assert_eq!(dials, connector.seen().dials.len());
        assert_eq!(dials, 3);
        assert_eq!(
            replayed_settlement(&commands, &answered_id).into_result(),
            answered_result
        );
        assert_eq!(
            replayed_settlement(&commands, &unanswered_id),
            Settlement::TimedOut
        );
        assert_eq!(unanswered_result, Settlement::TimedOut.into_result());
        assert_eq!(
            commands
                .iter()
                .filter(|c| matches!(c, Command::Inbound(_)))
                .count(),
            1
        );
        assert!(commands.contains(&Command::StateChanged(S::Closed)));
        assert!(!commands.iter().any(|c| matches!(c, Command::Fatal(_))));
        // Every line is one JSON object with an offset.
        for line in text.lines().skip(1) {
            let value: Value = serde_json::from_str(line).unwrap();
            assert!(value["at_ms"].is_number(), "{line}");
            assert!(value["input"].is_string(), "{line}");
        }
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn a_trace_file_that_cannot_be_created_fails_the_spawn() {
    let config = relay_link::config::Config::builder("ws://127.0.0.1:9")
        .gateway_id(GW)
        .secret(SECRET)
        .build()
        .unwrap();
    let missing_dir = trace_path("no-such-dir").join("trace.jsonl");
    let result = RelayLink::spawn(
        config,
        Options {
            record: Some(missing_dir),
            ..Options::default()
        },
    );
    assert!(matches!(result, Err(SpawnError::Record(_))), "{result:?}");
}
