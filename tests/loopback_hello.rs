//! The upgrade request and the `hello`s over loopback: every dial carries
//! `User-Agent: relay-link/<version>`, and an identity's extra `hello`
//! fields reach the connector untouched on every connection.

mod loopback;

use loopback::*;
use relay_link::config::{ConfigBuilder, Identity};
use relay_link::protocol::OutgoingFrame;
use relay_link::{Command, LinkState as S};
use serde_json::{json, Value};

/// A manifest shaped like the upstream gateway's, with nesting, numbers,
/// `null` and non-ASCII text that must all survive untouched.
fn manifest() -> Value {
    json!([
        {"name": "ask", "description": "Ask the bot — ça va?", "options": [
            {"name": "question", "type": 3, "required": true, "choices": null}
        ]},
        {"name": "reset", "default_member_permissions": "8", "dm_permission": false}
    ])
}

/// The fast configuration fronting `discord:b1` with a manifest and
/// `relevance`, then `slack:B2` without extras.
fn config_with_extras(
    connector: &relay_link::testing::Connector,
    relevance: &Value,
) -> ConfigBuilder {
    fast_config(connector)
        .identities(Vec::new())
        .add_identity(
            Identity::new("discord", "b1")
                .hello_extra("command_manifest", manifest())
                .hello_extra("relevance_policy", relevance.clone()),
        )
        .identity("slack", "B2")
}

#[test]
fn every_dial_sends_the_user_agent_and_every_connection_says_hello_with_its_extras() {
    run(async {
        let connector = connector().await;
        let relevance = json!({"mode": "mentions", "channels": ["c1", "c2"], "weight": 0.25});
        let (link, mut watch) = spawn(config_with_extras(&connector, &relevance));
        watch.until_state(S::Handshaken).await;

        // A second connection says hello again, extras included.
        connector.drop_connections(GW);
        wait_seen(&connector, "the hellos of two connections", |seen| {
            seen.frames_of("hello").count() >= 4
        })
        .await;

        let seen = connector.seen();
        let agent = format!("relay-link/{}", env!("CARGO_PKG_VERSION"));
        assert!(seen.dials.len() >= 2, "{:?}", summary(&seen));
        for dial in &seen.dials {
            assert_eq!(dial.header("User-Agent"), Some(agent.as_str()), "{dial:?}");
            assert!(dial.auth_header_present);
            assert_eq!(dial.header("authorization"), None, "never recorded");
        }

        let hellos: Vec<_> = seen.frames_of("hello").take(4).collect();
        let connections: Vec<_> = hellos.iter().map(|f| f.connection).collect();
        assert_eq!(connections[0], connections[1]);
        assert_eq!(connections[2], connections[3]);
        assert_ne!(connections[0], connections[2]);
        for pair in hellos.chunks(2) {
            assert_eq!(
                pair[0].frame,
                json!({
                    "type": "hello", "platform": "discord", "botId": "b1",
                    "command_manifest": manifest(),
                    "relevance_policy": relevance,
                })
            );
            assert_eq!(
                pair[1].frame,
                json!({"type": "hello", "platform": "slack", "botId": "B2"})
            );
        }

        disconnect_and_end(&link, &mut watch).await;
    });
}

#[test]
fn a_recorded_trace_keeps_only_the_extras_keys_and_replays_the_same_decisions() {
    run(async {
        let path = trace_path("hello-extras");
        let connector = connector().await;
        let relevance = json!({"mode": "mentions-only-marker"});
        let (link, mut watch) = spawn_recorded(config_with_extras(&connector, &relevance), &path);
        watch.until_state(S::Handshaken).await;
        disconnect_and_end(&link, &mut watch).await;

        let (text, trace) = read_trace(&path);
        let header = text.lines().next().expect("a header line");
        assert!(
            header.contains(
                r#"{"platform":"discord","bot_id":"b1","hello_extras":["command_manifest","relevance_policy"]}"#
            ),
            "{header}"
        );
        assert!(!text.contains("mentions-only-marker"), "{header}");
        assert!(!text.contains("ça va"), "{header}");

        let steps = replay_steps(&trace);
        let hellos: Vec<&OutgoingFrame> = steps
            .iter()
            .flat_map(|step| &step.commands)
            .filter_map(|command| match command {
                Command::Send { frame, .. } if frame.kind() == "hello" => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(hellos.len(), 2, "one hello per identity");
        for hello in hellos {
            let OutgoingFrame::Hello { extra, .. } = hello else {
                unreachable!()
            };
            assert!(extra.is_empty(), "a replay has the keys only: {hello:?}");
        }
        let states: Vec<_> = steps.iter().map(|step| step.state).collect();
        assert!(states.contains(&S::Handshaken), "{states:?}");
        assert_eq!(states.last(), Some(&S::Closed));
        let _ = std::fs::remove_file(path);
    });
}
