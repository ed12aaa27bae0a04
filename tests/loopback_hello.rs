//! The upgrade request and the `hello`s over loopback: every dial carries
//! `User-Agent: relay-link/<version>`, and an identity's extra `hello`
//! fields reach the connector untouched on every connection.

mod loopback;

use loopback::*;
use relay_link::config::Identity;
use relay_link::LinkState as S;
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

#[test]
fn every_dial_sends_the_user_agent_and_every_connection_says_hello_with_its_extras() {
    run(async {
        let connector = connector().await;
        let relevance = json!({"mode": "mentions", "channels": ["c1", "c2"], "weight": 0.25});
        let config = fast_config(&connector)
            .identities(Vec::new())
            .add_identity(
                Identity::new("discord", "b1")
                    .hello_extra("command_manifest", manifest())
                    .hello_extra("relevance_policy", relevance.clone()),
            )
            .identity("slack", "B2");
        let (link, mut watch) = spawn(config);
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
