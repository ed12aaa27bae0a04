//! First real-socket check of the shell against the test connector.

use std::time::Duration;

use relay_link::config::Config;
use relay_link::shell::{Event, Options, RelayLink};
use relay_link::testing::{Connector, ConnectorOptions};
use relay_link::token::Secret;
use relay_link::{LinkState, PlatformState};
use serde_json::json;
use smol::stream::StreamExt as _;

async fn next_event(events: &mut relay_link::shell::Events) -> Event {
    smol::future::or(
        async { events.next().await.expect("event stream open") },
        async {
            smol::Timer::after(Duration::from_secs(5)).await;
            panic!("no event within 5 s")
        },
    )
    .await
}

#[test]
fn handshake_send_and_revocation_work_over_loopback() {
    smol::block_on(async {
        let connector = Connector::start(ConnectorOptions::default()).await.unwrap();
        connector.add_gateway("gw-1", Secret::new("s3cret"));
        let config = Config::builder(connector.url())
            .gateway_id("gw-1")
            .secret("s3cret")
            .identity("discord", "b1")
            .identity("slack", "b2")
            .backoff_base(Duration::from_millis(20))
            .backoff_max(Duration::from_millis(100))
            .build()
            .unwrap();
        let (link, mut events) = RelayLink::spawn(config, Options::default()).unwrap();
        let mut states = Vec::new();
        loop {
            if let Event::State {
                state, platform, ..
            } = next_event(&mut events).await
            {
                states.push((state, platform));
                if state == LinkState::Handshaken {
                    break;
                }
            }
        }
        assert_eq!(
            states,
            vec![
                (LinkState::Connecting, PlatformState::Connecting),
                (LinkState::Handshaken, PlatformState::Connected)
            ]
        );
        let result = link
            .send(json!({"op": "send", "text": "hi"}), Some("slack"))
            .await
            .expect("the connector's result");
        assert_eq!(result["success"], json!(true), "{result:?}");
        connector.revoke("gw-1");
        let mut fatal = 0;
        let mut last = None;
        while let Some(event) = smol::future::or(events.next(), async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        })
        .await
        {
            match event {
                Event::Fatal(report) => {
                    assert_eq!(report.code, "relay_disabled");
                    fatal += 1;
                }
                Event::State { state, .. } => last = Some(state),
                _ => {}
            }
        }
        assert_eq!(fatal, 1);
        assert_eq!(last, Some(LinkState::Disabled));
        assert_eq!(link.state(), LinkState::Disabled);
        let dials = connector.seen().dials.len();
        smol::Timer::after(Duration::from_millis(300)).await;
        assert_eq!(
            connector.seen().dials.len(),
            dials,
            "no dial after disabled"
        );
    });
}
