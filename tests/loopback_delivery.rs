//! Deliveries over real sockets (relay contract §2, §3 and §5 "Buffered
//! delivery"): acks only after acceptance, redeliveries delivered once,
//! going idle and dormant, and the framing rules (split, merged, malformed
//! and oversized input).

mod loopback;

use std::time::{Duration, Instant};

use base64::Engine as _;
use loopback::*;
use relay_link::protocol::{InboundFrame, PassthroughFrame};
use relay_link::shell::{Acceptance, Event};
use relay_link::testing::Delivery;
use relay_link::{LinkState as S, Timer};
use serde_json::{json, Value};

fn chat(text: &str) -> Value {
    json!({
        "text": text,
        "message_type": "text",
        "message_id": 77,
        "source": {"platform": "discord", "chat_id": "c1", "chat_type": "dm", "user_id": "u1"},
        "future_field": {"kept": true},
    })
}

async fn next_inbound(watch: &mut Watch) -> (Box<InboundFrame>, Option<Acceptance>) {
    match watch.expect("an inbound", is_inbound).await {
        Event::Inbound { frame, acceptance } => (frame, acceptance),
        _ => unreachable!(),
    }
}

async fn next_passthrough(watch: &mut Watch) -> (Box<PassthroughFrame>, Option<Acceptance>) {
    match watch
        .expect("a passthrough", |e| matches!(e, Event::Passthrough { .. }))
        .await
    {
        Event::Passthrough { frame, acceptance } => (frame, acceptance),
        _ => unreachable!(),
    }
}

fn buffered_id(delivery: Delivery) -> String {
    match delivery {
        Delivery::Buffered { buffer_id } => buffer_id,
        other => panic!("expected a buffered delivery, got {other:?}"),
    }
}

/// Asserts no inbound or passthrough arrives for a while.
async fn assert_no_delivery(watch: &mut Watch) {
    watch.collect_for(QUIET).await;
    let deliveries: Vec<_> = watch
        .take_backlog()
        .into_iter()
        .filter(|e| matches!(e, Event::Inbound { .. } | Event::Passthrough { .. }))
        .collect();
    assert!(deliveries.is_empty(), "unexpected: {deliveries:?}");
}

#[test]
fn a_buffered_inbound_is_acked_only_after_the_application_accepts_it() {
    run(async {
        let connector = connector().await;
        let id = buffered_id(connector.push_inbound(GW, chat("while you were away")));
        let (_link, mut watch) = spawn(fast_config(&connector));
        let (frame, acceptance) = next_inbound(&mut watch).await;
        assert_eq!(frame.buffer_id.as_deref(), Some(id.as_str()));
        let event = frame.event().expect("a well-typed event");
        assert_eq!(event.text.as_deref(), Some("while you were away"));
        assert_eq!(event.extra["future_field"], json!({"kept": true}));
        let acceptance = acceptance.expect("a buffered delivery needs accepting");
        assert_eq!(acceptance.buffer_id(), id);

        // Not acked while the application holds it.
        sleep(QUIET).await;
        assert!(connector.seen().acks.is_empty());
        assert_eq!(connector.buffered(GW), std::slice::from_ref(&id));

        acceptance.accept();
        wait_seen(&connector, "the ack", |s| !s.acks.is_empty()).await;
        assert_eq!(connector.seen().acks, [id]);
        assert!(connector.buffered(GW).is_empty());
    });
}

#[test]
fn a_redelivered_buffer_id_is_delivered_to_the_application_once() {
    run(async {
        let path = trace_path("redelivery");
        let connector = connector().await;
        let id = buffered_id(connector.push_inbound(GW, chat("once")));
        let (_link, mut watch) = spawn_recorded(fast_config(&connector), &path);
        let (_, acceptance) = next_inbound(&mut watch).await;
        let acceptance = acceptance.expect("buffered");

        // Not accepted yet: the next connection gets it replayed.
        connector.drop_connections(GW);
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Handshaken).await;
        assert_no_delivery(&mut watch).await;
        let (text, _) = read_trace(&path);
        let replays = text
            .lines()
            .filter(|l| l.contains("\"received\"") && l.contains(&id))
            .count();
        assert_eq!(
            replays, 2,
            "the connector replayed it on the new connection"
        );

        // Accepting the first delivery acks it on the current connection.
        acceptance.accept();
        wait_seen(&connector, "the ack", |s| s.acks.len() == 1).await;
        assert!(connector.buffered(GW).is_empty());

        // A redelivery after the ack is re-acked, not delivered.
        let frame = json!({"type": "inbound", "bufferId": id, "event": chat("once")});
        assert_eq!(connector.send_frame(GW, frame), 1);
        wait_seen(&connector, "the second ack", |s| s.acks.len() == 2).await;
        assert_eq!(connector.seen().acks, [id.clone(), id]);
        assert_no_delivery(&mut watch).await;
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn a_buffered_passthrough_is_decoded_and_acked_after_acceptance() {
    run(async {
        let connector = connector().await;
        let body = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
        let id = buffered_id(connector.push_passthrough(
            GW,
            json!({
                "platform": "slack",
                "botId": "B2",
                "method": "POST",
                "path": "/api/events?x=1",
                "headers": [["Content-Type", "application/json"], ["broken"], ["X-Ok", "yes"]],
                "bodyB64": body,
                "profile": {"tier": 2},
                "unknown": "kept",
            }),
        ));
        let (_link, mut watch) = spawn(fast_config(&connector));
        let (frame, acceptance) = next_passthrough(&mut watch).await;
        assert_eq!(frame.buffer_id.as_deref(), Some(id.as_str()));
        let forward = &frame.forward;
        assert_eq!(forward.platform, "slack");
        assert_eq!(forward.bot_id, "B2");
        assert_eq!(forward.method, "POST");
        assert_eq!(forward.path, "/api/events?x=1");
        assert_eq!(forward.body_text(), Some(r#"{"a":1}"#));
        assert_eq!(forward.headers.len(), 2, "the malformed pair is dropped");
        assert_eq!(forward.header("content-type"), Some("application/json"));
        assert_eq!(forward.profile, Some(json!({"tier": 2})));
        assert_eq!(forward.extra["unknown"], "kept");
        sleep(Duration::from_millis(100)).await;
        assert!(connector.seen().acks.is_empty());
        acceptance.expect("buffered").accept();
        wait_seen(&connector, "the ack", |s| s.acks == [id.clone()]).await;
    });
}

#[test]
fn a_live_inbound_needs_no_acceptance_and_is_never_acked() {
    run(async {
        let Online {
            connector,
            mut watch,
            link: _link,
        } = online(|c| c).await;
        let delivery = connector.push_inbound(GW, chat("live"));
        assert!(matches!(delivery, Delivery::Live { .. }), "{delivery:?}");
        let (frame, acceptance) = next_inbound(&mut watch).await;
        assert!(acceptance.is_none());
        assert_eq!(frame.buffer_id, None);
        assert_eq!(
            frame
                .event()
                .expect("a well-typed event")
                .message_id
                .as_ref()
                .unwrap()
                .as_text(),
            "77"
        );
        let delivery = connector.push_passthrough(
            GW,
            json!({"platform": "discord", "botId": "b1", "method": "GET", "path": "/", "headers": [], "bodyB64": "!!"}),
        );
        assert!(matches!(delivery, Delivery::Live { .. }));
        let (frame, acceptance) = next_passthrough(&mut watch).await;
        assert!(acceptance.is_none());
        assert!(frame.forward.body.is_empty(), "a bad body becomes empty");
        sleep(Duration::from_millis(100)).await;
        assert!(connector.seen().acks.is_empty());
    });
}

#[test]
fn going_idle_is_acknowledged_stays_connected_and_buffers_until_the_next_connection() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        assert!(deadline(WAIT, "go_idle", link.go_idle()).await);
        assert_eq!(connector.seen().frames_of("going_idle").count(), 1);
        assert_eq!(link.state(), S::Handshaken);
        // Still serving: requests work while idle.
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result.expect("the connector's result")["success"], true);
        // The connector buffers from now on.
        let id = buffered_id(connector.push_inbound(GW, chat("later")));
        assert_no_delivery(&mut watch).await;
        assert_eq!(dials(&connector), 1);

        connector.drop_connections(GW);
        let (frame, acceptance) = next_inbound(&mut watch).await;
        assert_eq!(frame.buffer_id.as_deref(), Some(id.as_str()));
        acceptance.expect("buffered").accept();
        wait_seen(&connector, "the ack", |s| s.acks == [id.clone()]).await;
        assert_eq!(dials(&connector), 2);
    });
}

#[test]
fn going_idle_without_an_ack_reports_false_and_stays_connected() {
    run(async {
        let going_idle = Duration::from_millis(300);
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.going_idle_timeout(going_idle)).await;
        connector.stall(GW, true);
        let started = Instant::now();
        assert!(!deadline(WAIT, "go_idle", link.go_idle()).await);
        assert!(started.elapsed() >= going_idle);
        let started = Instant::now();
        assert!(!deadline(WAIT, "go_dormant", link.go_dormant()).await);
        assert!(started.elapsed() >= going_idle);
        connector.stall(GW, false);
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result.expect("the connector's result")["success"], true);
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(watch.entered(S::Dormant), 0);
        watch.collect_for(Duration::from_millis(50)).await;
        assert_eq!(watch.entered(S::Retrying), 0, "{:?}", watch.states);
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn going_dormant_closes_the_socket_redials_on_the_dormant_cadence_and_replays_the_buffer() {
    run(async {
        let path = trace_path("dormant");
        let dormant_redial = Duration::from_millis(250);
        let connector = connector().await;
        // A ladder so slow that a re-dial through it would stand out.
        let (link, mut watch) = spawn_recorded(
            fast_config(&connector)
                .backoff_base(Duration::from_secs(10))
                .backoff_max(Duration::from_secs(10))
                .dormant_redial(dormant_redial),
            &path,
        );
        watch.until_state(S::Handshaken).await;
        // The first two dormant re-dials are refused: still the cadence.
        connector.reject_http(GW, 2, 503);
        assert!(deadline(WAIT, "go_dormant", link.go_dormant()).await);
        let dormant_at = watch.until_state(S::Dormant).await;
        wait_seen(&connector, "the dormant close", |s| {
            s.closes.iter().any(|c| c.code == Some(1000)) && s.open_connections(GW) == 0
        })
        .await;
        let close = connector.seen().closes[0].clone();
        assert_eq!(close.reason, "dormant");
        assert!(!close.in_reply);
        // Traffic while dormant is buffered by the connector …
        let id = buffered_id(connector.push_inbound(GW, chat("wake up")));
        // … and replayed on the re-dialed connection.
        let (frame, acceptance) = next_inbound(&mut watch).await;
        assert!(dormant_at.elapsed() >= dormant_redial * 3);
        assert_eq!(frame.buffer_id.as_deref(), Some(id.as_str()));
        acceptance.expect("buffered").accept();
        wait_seen(&connector, "the ack", |s| s.acks == [id.clone()]).await;
        assert_eq!(link.state(), S::Handshaken);
        assert!(watch.fatals.is_empty());
        let seen = connector.seen();
        assert_eq!(seen.dials.len(), 4, "{:?}", summary(&seen));

        // Every wait while dormant was the dormant cadence, never the ladder.
        let (_, trace) = read_trace(&path);
        let steps = replay_steps(&trace);
        let waits: Vec<_> = steps
            .iter()
            .filter(|s| s.state == S::Dormant)
            .filter_map(|s| s.next.map(|(at, timer)| (at.saturating_sub(s.at), timer)))
            .collect();
        assert!(waits.len() >= 3, "{waits:?}");
        assert!(
            waits
                .iter()
                .all(|(wait, timer)| *timer == Timer::Redial && *wait <= dormant_redial),
            "{waits:?}"
        );
        assert!(
            !steps
                .iter()
                .any(|s| matches!(s.next, Some((_, Timer::Backoff)))),
            "no backoff while dormant"
        );
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn malformed_lines_are_skipped_and_the_link_stays_up() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c).await;
        connector.send_garbage(GW);
        connector.send_raw(GW, "\n\n   \n");
        connector.send_raw(
            GW,
            "{\"type\":\"inbound\",\"event\":{\"text\":\"after the junk\"}}\n",
        );
        let (frame, _) = next_inbound(&mut watch).await;
        assert_eq!(
            frame.event().expect("a well-typed event").text.as_deref(),
            Some("after the junk")
        );
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result.expect("the connector's result")["success"], true);
        assert_eq!(link.state(), S::Handshaken);
        assert_eq!(dials(&connector), 1);
        assert!(connector.seen().closes.is_empty());
        assert_eq!(watch.entered(S::Retrying), 0);
    });
}

#[test]
fn frames_split_over_several_messages_are_reassembled() {
    run(async {
        let connector = connector().await;
        connector.split_frames(GW, true);
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(S::Handshaken).await;
        let descriptors = 2;
        for _ in 0..descriptors {
            watch
                .expect("a descriptor", |e| matches!(e, Event::Descriptor(_)))
                .await;
        }
        let result = deadline(
            WAIT,
            "a send",
            link.send(action("send", json!({"text": "é🔌 split"})), None),
        )
        .await;
        assert_eq!(
            result.expect("the connector's result")["echo"]["text"],
            "é🔌 split"
        );
        for text in ["one", "two", "three"] {
            connector.push_inbound(GW, chat(text));
        }
        for text in ["one", "two", "three"] {
            let (frame, _) = next_inbound(&mut watch).await;
            assert_eq!(
                frame.event().expect("a well-typed event").text.as_deref(),
                Some(text)
            );
        }
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn several_frames_in_one_message_are_all_dispatched_in_order() {
    run(async {
        let connector = connector().await;
        connector.merge_frames(GW, true);
        let (link, mut watch) = spawn(fast_config(&connector));
        watch.until_state(S::Handshaken).await;
        let pendings: Vec<_> = (0..5)
            .map(|i| link.request(action("send", json!({"n": i})), None))
            .collect();
        for (i, pending) in pendings.into_iter().enumerate() {
            let result = deadline(WAIT, "a result", pending.settled()).await;
            assert_eq!(result.expect("the connector's result")["echo"]["n"], i);
        }
        let texts = ["a", "b", "c", "d", "e"];
        for text in texts {
            connector.push_inbound(GW, chat(text));
        }
        for text in texts {
            let (frame, _) = next_inbound(&mut watch).await;
            assert_eq!(
                frame.event().expect("a well-typed event").text.as_deref(),
                Some(text)
            );
        }
        // Merged and split at once.
        connector.split_frames(GW, true);
        connector.push_inbound(GW, chat("x"));
        connector.push_inbound(GW, chat("y"));
        for text in ["x", "y"] {
            let (frame, _) = next_inbound(&mut watch).await;
            assert_eq!(
                frame.event().expect("a well-typed event").text.as_deref(),
                Some(text)
            );
        }
        assert_eq!(dials(&connector), 1);
    });
}

#[test]
fn an_oversized_partial_frame_closes_the_connection_with_1009_and_reconnects() {
    run(async {
        let Online {
            connector,
            link,
            mut watch,
        } = online(|c| c.max_frame_size(64 * 1024)).await;
        // A frame under the limit is fine.
        connector.push_inbound(GW, chat(&"x".repeat(40 * 1024)));
        let (frame, _) = next_inbound(&mut watch).await;
        assert_eq!(
            frame
                .event()
                .expect("a well-typed event")
                .text
                .as_ref()
                .map(String::len),
            Some(40 * 1024)
        );

        connector.send_oversized_partial(GW, 100 * 1024);
        wait_seen(&connector, "the 1009 close", |s| {
            s.closes.iter().any(|c| c.code == Some(1009))
        })
        .await;
        let close = connector.seen().closes[0].clone();
        assert!(!close.in_reply, "the gateway closed first");
        watch.until_state(S::Retrying).await;
        watch.until_state(S::Handshaken).await;
        assert_eq!(dials(&connector), 2);
        let result = deadline(WAIT, "a send", link.send(action("send", json!({})), None)).await;
        assert_eq!(result.expect("the connector's result")["success"], true);
    });
}
